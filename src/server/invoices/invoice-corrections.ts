/**
 * Settling a reconciliation in a month already invoiced (issue 15). The issued invoice never
 * changes; the difference the corrected run time makes to it is what the invoice run would bill
 * for the month now less what it would have billed just before the correction (both drafts built
 * in the correction's transaction, with the invoice's prices and reserved capacity, so coverage and
 * rounding are the invoice's own). Less: a credit note on that invoice, never more than is left to
 * credit. More: charged on the organisation's next invoice as a correction naming the corrected one.
 * Each is one invoice_corrections row (migration 036), unique per correction and invoice.
 */
import { PriceTimeline } from '../../model/cost.js';
import { type Invoice, type InvoiceCorrection, InvoiceSchema, vatCents } from '../../model/invoices.js';
import { parseJson } from '../../model/json.js';
import type { Db } from '../../store/open-store.js';
import type { Trx } from '../job-events.js';
import { priceVersionsOf } from '../price-book.js';
import { commitmentsOf } from '../reserved-capacity.js';
import { creditedNetCents, insertCreditNote } from './credit-notes.js';
import { buildDraft, type InvoiceDraft } from './invoice-drafts.js';

/** An issued invoice a correction touches. */
export interface TouchedInvoice {
  id: number;
  number: string;
  month: string;
  invoice: Invoice;
}

/**
 * How one touched invoice was settled: `netCents` < 0 credited by `creditNote`, > 0 charged on the
 * next invoice; `uncreditedCents`: less billed that was not credited, the invoice being credited in full.
 */
export interface Settlement {
  invoice: string;
  netCents: number;
  creditNote: string | null;
  uncreditedCents: number;
}

/** issuedInvoices: the organisation's issued invoices of these months, oldest month first. */
export async function issuedInvoices(trx: Trx, org: string, months: readonly string[]): Promise<TouchedInvoice[]> {
  if (months.length === 0) return [];
  const rows = await trx
    .selectFrom('invoices')
    .select(['id', 'number', 'month', 'body'])
    .where('org_id', '=', org)
    .where('month', 'in', [...months])
    .orderBy('month')
    .execute();
  return rows.map((r) => ({ id: r.id, number: r.number, month: r.month, invoice: parseJson(r.body, InvoiceSchema, r.number) }));
}

/**
 * billedNow: the net EUR cents the invoice run would bill the organisation for the invoice's month
 * for one GPU type (its lines and its reservation: what a correction of a segment of that type can
 * change), as `trx` sees the segments.
 */
export async function billedNow(trx: Trx, t: TouchedInvoice, at: number, gpuType: string): Promise<number> {
  const from = Date.parse(t.invoice.period.from);
  const to = Date.parse(t.invoice.period.to);
  const timeline = new PriceTimeline(await priceVersionsOf(trx));
  const commitments = new Map([...(await commitmentsOf(trx, t.invoice.org, t.month))].filter(([type]) => type === gpuType));
  const draft = await buildDraft({ db: trx }, t.invoice.org, t.month, from, to, at, timeline, new Map(), commitments, gpuType);
  return draft.netCents;
}

/** What the settlement records of the correction. */
export interface CorrectionRef {
  usageCorrectionId: number;
  org: string;
  jobId: number;
  attempt: number;
  driver: string;
  at: string;
  actor: string;
}

/** settle: the difference `after − before` on invoice `t`: a credit note, a charge for the next invoice, or nothing. */
export async function settle(trx: Trx, c: CorrectionRef, t: TouchedInvoice, before: number, after: number): Promise<Settlement> {
  let net = after - before;
  let note: { id: string; number: string } | null = null;
  let uncredited = 0;
  if (net < 0) {
    const left = t.invoice.netCents - (await creditedNetCents(trx, String(t.id)));
    const amount = Math.min(-net, Math.max(0, left));
    uncredited = -net - amount;
    net = -amount;
    if (amount > 0) {
      const reason = `job ${c.jobId} run ${c.attempt}: run time reconciled with ${c.driver} (usage correction ${c.usageCorrectionId}) bills less of ${t.month}`;
      note = await insertCreditNote(
        trx,
        { id: String(t.id), org: c.org, netCents: t.invoice.netCents, vatRatePercent: t.invoice.vatRatePercent },
        { netCents: amount, reason },
        c.at,
        c.actor,
      );
    }
  }
  if (net !== 0) {
    await trx
      .insertInto('invoice_corrections')
      .values({
        usage_correction_id: c.usageCorrectionId,
        org_id: c.org,
        invoice_id: t.id,
        month: t.month,
        job_id: c.jobId,
        attempt: c.attempt,
        net_cents: net,
        credit_note_id: note ? Number(note.id) : null,
        charged_invoice_id: null,
        at: c.at,
      })
      .execute();
  }
  return { invoice: t.number, netCents: net, creditNote: note?.number ?? null, uncreditedCents: uncredited };
}

/** Pending charges: positive differences of earlier months not yet on an invoice. */
interface PendingCharge {
  id: number;
  correction: InvoiceCorrection;
}

/** pendingCharges: the organisation's charges an invoice for `month` takes (corrections of earlier months only). */
export async function pendingCharges(trx: Trx, org: string, month: string): Promise<PendingCharge[]> {
  const rows = await trx
    .selectFrom('invoice_corrections as c')
    .innerJoin('invoices as i', 'i.id', 'c.invoice_id')
    .select(['c.id', 'c.invoice_id', 'i.number', 'c.month', 'c.job_id', 'c.attempt', 'c.net_cents', 'c.usage_correction_id'])
    .where('c.org_id', '=', org)
    .where('c.charged_invoice_id', 'is', null)
    .where('c.net_cents', '>', 0)
    .where('c.month', '<', month)
    .orderBy('c.id')
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    correction: {
      invoiceId: String(r.invoice_id),
      invoiceNumber: r.number,
      month: r.month,
      jobId: String(r.job_id),
      attempt: r.attempt,
      netCents: Number(r.net_cents),
      description: `job ${r.job_id} run ${r.attempt}: run time reconciled after ${r.number} was issued (usage correction ${r.usage_correction_id})`,
    },
  }));
}

/** orgsWithPendingCharges: organisations an invoice run for `month` invoices for their pending charges alone. */
export async function orgsWithPendingCharges(db: Db, month: string): Promise<string[]> {
  const rows = await db
    .selectFrom('invoice_corrections')
    .select('org_id')
    .distinct()
    .where('charged_invoice_id', 'is', null)
    .where('net_cents', '>', 0)
    .where('month', '<', month)
    .execute();
  return rows.map((r) => r.org_id);
}

/** withCharges: the draft with the pending charges added (totals and VAT again); unchanged without any. */
export function withCharges(draft: InvoiceDraft, charges: readonly PendingCharge[]): InvoiceDraft {
  if (charges.length === 0) return draft;
  const netCents = draft.netCents + charges.reduce((a, c) => a + c.correction.netCents, 0);
  const vat = vatCents(netCents, draft.vatRatePercent);
  return { ...draft, corrections: charges.map((c) => c.correction), netCents, vatCents: vat, grossCents: netCents + vat };
}

/** markCharged: the charges are on invoice `invoiceId` now. */
export async function markCharged(trx: Trx, charges: readonly PendingCharge[], invoiceId: number): Promise<void> {
  if (charges.length === 0) return;
  await trx
    .updateTable('invoice_corrections')
    .set({ charged_invoice_id: invoiceId })
    .where(
      'id',
      'in',
      charges.map((c) => c.id),
    )
    .execute();
}
