/**
 * Monthly invoices. An invoice run (operators) issues one invoice per organisation with metered usage
 * in a month that has ended, each in its own transaction with its `invoice.issue` audit record (the
 * SHA-256 of its canonical JSON): a run repeated, or resumed after a crash, issues only what is
 * missing (one invoice per organisation and month, a unique index). Issued invoices never change;
 * credit notes correct them. Tenants read their own organisation's, operators all.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canSeeOrg, enforce, isOperator, operatorOnly } from '../../model/authz.js';
import { type JobEnergy, POWER_MODEL_NAME } from '../../model/energy.js';
import { conflict, invalid, notFound } from '../../model/errors.js';
import {
  type CreditNote,
  CreditNoteSchema,
  canonicalJson,
  type Invoice,
  type InvoiceRun,
  InvoiceSchema,
  type InvoiceSummary,
  type InvoiceVerification,
  type IssuedInvoice,
  isMonth,
  vatCents,
  vatFor,
} from '../../model/invoices.js';
import { parseJson } from '../../model/json.js';
import { GRANULARITY_MS } from '../../model/prices.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import { USAGE_CLASSES, type UsageClass } from '../../model/usage.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import type { InvoicesTable } from '../../store/schema-invoices.js';
import type { PriceBook } from '../price-book.js';
import { InvoiceLineBuilder, type SiteFactors } from './invoice-lines.js';
import { jobEnergy } from './job-energy.js';

const BATCH = 5000;
const AuditedHash = z.object({ sha256: z.string() });
const isClass = (c: string): c is UsageClass => (USAGE_CLASSES as readonly string[]).includes(c);
export const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** monthRange: [from, to) of a YYYY-MM calendar month (UTC), or a 422 invalid_month. */
export function monthRange(month: string): { from: number; to: number } {
  if (!isMonth(month)) {
    throw invalid('invalid_month', `month is a calendar month as YYYY-MM, not ${month}`, [
      { path: 'month', message: 'e.g. 2026-11' },
    ]);
  }
  const [y, m] = month.split('-').map(Number);
  return { from: Date.UTC(y!, m! - 1, 1), to: Date.UTC(y!, m!, 1) };
}

type InvoiceRow = Pick<
  InvoicesTable,
  'org_id' | 'month' | 'number' | 'issued_at' | 'net_cents' | 'gross_cents' | 'sha256' | 'body'
> & {
  id: number;
};

export class InvoiceService {
  constructor(
    private readonly store: Store,
    private readonly prices: Pick<PriceBook, 'timeline'>,
    private readonly now: () => number,
  ) {}

  /** run issues the month's missing invoices; a month that has not ended answers 422 month_not_ended. */
  async run(ctx: RequestContext, month: string): Promise<InvoiceRun> {
    enforce(operatorOnly(ctx.principal), 'only platform operators run invoicing');
    const { from, to } = monthRange(month);
    const now = this.now();
    if (to > now) {
      throw invalid(
        'month_not_ended',
        `${month} has not ended yet (it ends ${new Date(to).toISOString()}); invoice it afterwards`,
        [{ path: 'month', message: 'a month that has ended' }],
      );
    }
    const orgs = await this.orgsWithUsage(from, to);
    const done = new Set(
      (await this.store.db.selectFrom('invoices').select('org_id').where('month', '=', month).execute()).map((r) => r.org_id),
    );
    const timeline = await this.prices.timeline();
    const factors = await this.factorsOf(month);
    const issued: InvoiceSummary[] = [];
    for (const org of orgs) {
      if (done.has(org)) continue;
      const invoice = await this.build(org, month, from, to, now, timeline, factors);
      const summary = await this.issue(ctx, invoice);
      if (summary) issued.push(summary);
    }
    return { month, issued, alreadyIssued: orgs.length - issued.length };
  }

  /**
   * orgsWithUsage: organisations with a segment still open or ending after the month began, found
   * by seeks on the (org_id, ended_at) index (the next organisation, then one matching segment of
   * it): the cost grows with the organisations, not with the records.
   */
  private async orgsWithUsage(from: number, to: number): Promise<string[]> {
    const since = new Date(from - GRANULARITY_MS.minute).toISOString();
    const toIso = new Date(to).toISOString();
    const orgs: string[] = [];
    for (let after = ''; ; ) {
      const next = await this.store.db
        .selectFrom('usage_records')
        .select('org_id')
        .where('org_id', '>', after)
        .orderBy('org_id')
        .limit(1)
        .executeTakeFirst();
      if (!next) return orgs;
      after = next.org_id;
      // Two index ranges (open; ended since the month began), each checked for a start before its end.
      const open = await this.store.db
        .selectFrom('usage_records')
        .select('started_at')
        .where('org_id', '=', after)
        .where('ended_at', 'is', null)
        .execute();
      const closed = await this.store.db
        .selectFrom('usage_records')
        .select((eb) => eb.fn.min('started_at').as('first'))
        .where('org_id', '=', after)
        .where('ended_at', '>', since)
        .executeTakeFirst();
      const hit = open.some((r) => r.started_at < toIso) || (closed?.first != null && closed.first < toIso);
      if (hit) orgs.push(after);
    }
  }

  private async factorsOf(month: string): Promise<Map<string, SiteFactors>> {
    const rows = await this.store.db.selectFrom('energy_factors').selectAll().where('month', '=', month).execute();
    return new Map(rows.map((r) => [r.site, { pue: r.pue, gridGCo2PerKwh: r.grid_g_co2_per_kwh }]));
  }

  /** build: the invoice of `org` for the month, from its segments read in batches (open ones up to now). */
  private async build(
    org: string,
    month: string,
    from: number,
    to: number,
    now: number,
    timeline: Awaited<ReturnType<PriceBook['timeline']>>,
    factors: ReadonlyMap<string, SiteFactors>,
  ): Promise<Omit<Invoice, 'id' | 'number' | 'issuedAt'>> {
    const lines = new InvoiceLineBuilder(from, to, timeline, factors);
    const toIso = new Date(to).toISOString();
    const billedSince = new Date(from - GRANULARITY_MS.minute).toISOString();
    const add = (r: {
      gpu_type: string;
      site: string;
      class: string;
      gpus: number;
      started_at: string;
      ended_at: string | null;
    }) =>
      lines.add({
        gpuType: r.gpu_type,
        site: r.site,
        class: isClass(r.class) ? r.class : 'on-demand',
        gpus: r.gpus,
        start: Date.parse(r.started_at),
        end: r.ended_at === null ? now : Date.parse(r.ended_at),
      });
    const columns = ['id', 'gpu_type', 'site', 'class', 'gpus', 'started_at', 'ended_at'] as const;
    // Open segments first (few), then closed ones that end after the month began, in keyset pages
    // on the (org_id, ended_at) index: reading costs the records since the month began, not the
    // organisation's whole history, and each page continues where the last stopped.
    const open = await this.store.db
      .selectFrom('usage_records')
      .select(columns)
      .where('org_id', '=', org)
      .where('ended_at', 'is', null)
      .execute();
    for (const r of open) if (r.started_at < toIso) add(r);
    for (let after: [string, number] = [billedSince, Number.MAX_SAFE_INTEGER]; ; ) {
      const rows = await this.store.db
        .selectFrom('usage_records')
        .select(columns)
        .where('org_id', '=', org)
        .where((eb) => eb(eb.refTuple('ended_at', 'id'), '>', eb.tuple(after[0], after[1])))
        .where('started_at', '<', toIso)
        .orderBy('ended_at')
        .orderBy('id')
        .limit(BATCH)
        .execute();
      for (const r of rows) add(r);
      if (rows.length < BATCH) break;
      const last = rows[rows.length - 1]!;
      after = [last.ended_at ?? billedSince, last.id];
    }
    const profile = await this.store.db.selectFrom('billing_profiles').selectAll().where('org_id', '=', org).executeTakeFirst();
    const customer = { country: profile?.country ?? 'DE', vatId: profile?.vat_id ?? null };
    const vat = vatFor(customer.country, customer.vatId);
    const r = lines.result();
    const vatAmount = vatCents(r.netCents, vat.ratePercent);
    return {
      org,
      month,
      period: { from: new Date(from).toISOString(), to: toIso },
      currency: 'EUR',
      customer,
      lines: r.lines,
      netCents: r.netCents,
      vatRatePercent: vat.ratePercent,
      vatCents: vatAmount,
      grossCents: r.netCents + vatAmount,
      vatNote: vat.note,
      unpricedGpuSeconds: r.unpricedGpuSeconds,
      energy: { ...r.energy, powerModel: POWER_MODEL_NAME },
    };
  }

  /** issue: one transaction: the invoice (unless one exists for the org and month) and its audit record. */
  private async issue(ctx: RequestContext, draft: Omit<Invoice, 'id' | 'number' | 'issuedAt'>): Promise<InvoiceSummary | null> {
    const issuedAt = new Date(this.now()).toISOString();
    return this.store.write(async (trx) => {
      const exists = await trx
        .selectFrom('invoices')
        .select('id')
        .where('org_id', '=', draft.org)
        .where('month', '=', draft.month)
        .executeTakeFirst();
      if (exists) return null;
      const last = await trx.selectFrom('invoices').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
      const id = (last?.id ?? 0) + 1;
      const number = `GF-${draft.month}-${String(id).padStart(6, '0')}`;
      const invoice: Invoice = { id: String(id), number, issuedAt, ...draft };
      const body = canonicalJson(invoice);
      const sha256 = sha256Hex(body);
      await trx
        .insertInto('invoices')
        .values({
          id,
          org_id: draft.org,
          month: draft.month,
          number,
          issued_at: issuedAt,
          net_cents: draft.netCents,
          gross_cents: draft.grossCents,
          body,
          sha256,
        })
        .execute();
      await appendAudit(trx, {
        at: issuedAt,
        actor: ctx.principal.userId,
        org: draft.org,
        action: 'invoice.issue',
        objectType: 'invoice',
        objectId: String(id),
        after: { number, month: draft.month, netCents: draft.netCents, grossCents: draft.grossCents, sha256 },
        requestId: ctx.requestId,
      });
      return {
        id: String(id),
        number,
        org: draft.org,
        month: draft.month,
        issuedAt,
        netCents: draft.netCents,
        grossCents: draft.grossCents,
        creditedCents: 0,
        sha256,
      };
    });
  }

  /** list: the caller's organisation's invoices (operators: all, or `org`), newest first. */
  async list(p: Principal, q: { org?: string; month?: string }): Promise<InvoiceSummary[]> {
    if (q.org !== undefined && !canSeeOrg(p, q.org).allowed) throw notFound('org', q.org);
    const org = isOperator(p) ? q.org : (p.org ?? '');
    let sel = this.store.db
      .selectFrom('invoices')
      .select(['id', 'org_id', 'month', 'number', 'issued_at', 'net_cents', 'gross_cents', 'sha256']);
    if (org !== undefined) sel = sel.where('org_id', '=', org);
    if (q.month !== undefined) sel = sel.where('month', '=', q.month);
    const rows = await sel.orderBy('id', 'desc').limit(1000).execute();
    const credits = await this.creditedByInvoice(rows.map((r) => r.id));
    return rows.map((r) => ({
      id: String(r.id),
      number: r.number,
      org: r.org_id,
      month: r.month,
      issuedAt: r.issued_at,
      netCents: Number(r.net_cents),
      grossCents: Number(r.gross_cents),
      creditedCents: credits.get(r.id) ?? 0,
      sha256: r.sha256,
    }));
  }

  private async creditedByInvoice(ids: number[]): Promise<Map<number, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.store.db
      .selectFrom('credit_notes')
      .select(['invoice_id', 'gross_cents'])
      .where('invoice_id', 'in', ids)
      .execute();
    const m = new Map<number, number>();
    for (const r of rows) m.set(r.invoice_id, (m.get(r.invoice_id) ?? 0) + Number(r.gross_cents));
    return m;
  }

  private async row(p: Principal, id: string): Promise<InvoiceRow> {
    const n = /^\d{1,15}$/.test(id) ? Number(id) : -1;
    const row = await this.store.db.selectFrom('invoices').selectAll().where('id', '=', n).executeTakeFirst();
    if (!row || !canSeeOrg(p, row.org_id).allowed) throw notFound('invoice', id);
    return row;
  }

  /** jobEnergy: a job's kWh and CO₂ per run segment (the caller has checked that it may read the job). */
  jobEnergy(jobId: string): Promise<JobEnergy> {
    return jobEnergy(this.store, jobId, this.now());
  }

  /** verify: does the stored invoice still hash to what its audit record holds? */
  async verify(p: Principal, id: string): Promise<InvoiceVerification> {
    return this.check(await this.row(p, id));
  }

  private async check(row: InvoiceRow): Promise<InvoiceVerification> {
    const sha256 = sha256Hex(row.body);
    const audit = await this.store.db
      .selectFrom('audit')
      .select(['id', 'after'])
      .where('action', '=', 'invoice.issue')
      .where('object_id', '=', String(row.id))
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    const audited = audit?.after ? parseJson(audit.after, AuditedHash, `audit record ${audit.id}`).sha256 : null;
    const problem =
      audited === null
        ? 'no audit record of its issue'
        : sha256 !== audited
          ? 'the stored invoice does not hash to the SHA-256 its audit record holds: it was altered after it was issued'
          : row.sha256 !== audited
            ? 'the stored hash column differs from the audited hash'
            : null;
    return { id: String(row.id), ok: problem === null, sha256, auditedSha256: audited, auditId: audit?.id ?? null, problem };
  }

  /** get: the issued invoice with its credit notes; one that fails verification answers 409 invoice_altered. */
  async get(p: Principal, id: string): Promise<IssuedInvoice> {
    const row = await this.row(p, id);
    const v = await this.check(row);
    if (!v.ok) throw conflict('invoice_altered', `invoice ${id} fails verification: ${v.problem}`);
    const invoice = parseJson(row.body, InvoiceSchema, `invoice ${id}`);
    const notes = await this.store.db
      .selectFrom('credit_notes')
      .selectAll()
      .where('invoice_id', '=', row.id)
      .orderBy('id')
      .execute();
    return {
      ...invoice,
      sha256: row.sha256,
      creditNotes: notes.map((n) => ({ ...parseJson(n.body, CreditNoteSchema, `credit note ${n.id}`), sha256: n.sha256 })),
    };
  }

  /** creditNote (operators): credits part of an invoice's net amount, at its VAT rate; never more than is left. */
  async creditNote(ctx: RequestContext, id: string, input: { netCents: number; reason: string }): Promise<CreditNote> {
    enforce(operatorOnly(ctx.principal), 'only platform operators issue credit notes');
    const invoice = await this.get(ctx.principal, id);
    const issuedAt = new Date(this.now()).toISOString();
    return this.store.write(async (trx) => {
      const earlier = await trx.selectFrom('credit_notes').select('body').where('invoice_id', '=', Number(id)).execute();
      const credited = earlier.reduce((a, n) => a + parseJson(n.body, CreditNoteSchema, 'credit note').netCents, 0);
      if (credited + input.netCents > invoice.netCents) {
        throw invalid(
          'credit_exceeds_invoice',
          `invoice ${invoice.number} has net EUR cents ${invoice.netCents}, of which ${credited} are credited already; at most ${invoice.netCents - credited} can be credited`,
          [{ path: 'netCents', message: `at most ${invoice.netCents - credited}` }],
        );
      }
      const last = await trx.selectFrom('credit_notes').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
      const noteId = (last?.id ?? 0) + 1;
      const vat = vatCents(input.netCents, invoice.vatRatePercent);
      const note: CreditNote = {
        id: String(noteId),
        number: `GF-CN-${String(noteId).padStart(6, '0')}`,
        invoiceId: invoice.id,
        org: invoice.org,
        issuedAt,
        reason: input.reason,
        netCents: input.netCents,
        vatRatePercent: invoice.vatRatePercent,
        vatCents: vat,
        grossCents: input.netCents + vat,
      };
      const body = canonicalJson(note);
      const sha256 = sha256Hex(body);
      await trx
        .insertInto('credit_notes')
        .values({
          id: noteId,
          invoice_id: Number(id),
          org_id: invoice.org,
          number: note.number,
          issued_at: issuedAt,
          gross_cents: note.grossCents,
          body,
          sha256,
        })
        .execute();
      await appendAudit(trx, {
        at: issuedAt,
        actor: ctx.principal.userId,
        org: invoice.org,
        action: 'invoice.credit-note',
        objectType: 'credit_note',
        objectId: String(noteId),
        after: { number: note.number, invoiceId: invoice.id, netCents: note.netCents, grossCents: note.grossCents, sha256 },
        requestId: ctx.requestId,
      });
      return note;
    });
  }
}
