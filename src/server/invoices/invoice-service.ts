/**
 * Monthly invoices. An invoice run (operators) issues one invoice per organisation with metered usage
 * in a month that has ended, each in its own transaction with its `invoice.issue` audit record (the
 * SHA-256 of its canonical JSON): a run repeated, or resumed after a crash, issues only what is
 * missing (one invoice per organisation and month, a unique index). Issued invoices never change;
 * credit notes correct them. Tenants read their own organisation's, operators all.
 */
import { z } from 'zod';
import { canSeeOrg, enforce, isOperator, operatorOnly } from '../../model/authz.js';
import type { EnergyStatement, JobEnergy } from '../../model/energy.js';
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
} from '../../model/invoices.js';
import { parseJson } from '../../model/json.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import type { InvoicesTable } from '../../store/schema-invoices.js';
import type { PriceBook } from '../price-book.js';
import { commitmentsOf } from '../reserved-capacity.js';
import { creditedNetCents, insertCreditNote } from './credit-notes.js';
import { energyStatement } from './energy-statement.js';
import { sha256Hex } from './hash.js';
import { markCharged, orgsWithPendingCharges, pendingCharges, withCharges } from './invoice-corrections.js';
import { buildDraft, factorsOf, type InvoiceDraft, orgsWithCommitments, orgsWithUsage } from './invoice-drafts.js';
import type { Commitment } from './invoice-lines.js';

/** The commitments a draft was built with, comparable with those read again when it is issued. */
const commitmentsKey = (m: ReadonlyMap<string, Commitment>) => canonicalJson([...m]);

import { jobEnergy } from './job-energy.js';

const AuditedHash = z.object({ sha256: z.string() });

export { sha256Hex };

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
    const orgs = [
      ...new Set([
        ...(await orgsWithUsage(this.store, from, to)),
        ...(await orgsWithCommitments(this.store, month)),
        ...(await orgsWithPendingCharges(this.store.db, month)),
      ]),
    ].sort();
    const done = new Set(
      (await this.store.db.selectFrom('invoices').select('org_id').where('month', '=', month).execute()).map((r) => r.org_id),
    );
    const timeline = await this.prices.timeline();
    const factors = await factorsOf(this.store, month);
    const issued: InvoiceSummary[] = [];
    for (const org of orgs) {
      if (done.has(org)) continue;
      // A commitment set between the draft and its issue makes the draft stale: build it again.
      for (let attempt = 0; ; attempt++) {
        const commitments = await commitmentsOf(this.store.db, org, month);
        const invoice = await buildDraft(this.store, org, month, from, to, now, timeline, factors, commitments);
        const summary = await this.issue(ctx, invoice, commitmentsKey(commitments));
        if (summary === 'stale' && attempt < 3) continue;
        if (summary === 'stale') {
          throw conflict(
            'invoice_run_conflict',
            `${org}'s reserved capacity for ${month} kept changing during the run; run it again`,
          );
        }
        if (summary) issued.push(summary);
        break;
      }
    }
    return { month, issued, alreadyIssued: orgs.length - issued.length };
  }

  /** issue: one transaction: the invoice (unless one exists for the org and month) and its audit record. */
  private async issue(ctx: RequestContext, usage: InvoiceDraft, commitments: string): Promise<InvoiceSummary | null | 'stale'> {
    const issuedAt = new Date(this.now()).toISOString();
    return this.store.write(async (trx) => {
      const exists = await trx
        .selectFrom('invoices')
        .select('id')
        .where('org_id', '=', usage.org)
        .where('month', '=', usage.month)
        .executeTakeFirst();
      if (exists) return null;
      if (commitmentsKey(await commitmentsOf(trx, usage.org, usage.month)) !== commitments) return 'stale';
      // Reconciled run time that raised an earlier invoice is charged here, read in this transaction.
      const charges = await pendingCharges(trx, usage.org, usage.month);
      const draft = withCharges(usage, charges);
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
      await markCharged(trx, charges, id);
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

  /** energyStatement: an organisation's kWh, PUE, renewable share and CO₂ for a calendar year. */
  energyStatement(p: Principal, org: string, year: string): Promise<EnergyStatement> {
    return energyStatement(this.store, p, org, year, this.now());
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
      const credited = await creditedNetCents(trx, invoice.id);
      if (credited + input.netCents > invoice.netCents) {
        throw invalid(
          'credit_exceeds_invoice',
          `invoice ${invoice.number} has net EUR cents ${invoice.netCents}, of which ${credited} are credited already; at most ${invoice.netCents - credited} can be credited`,
          [{ path: 'netCents', message: `at most ${invoice.netCents - credited}` }],
        );
      }
      return insertCreditNote(trx, invoice, input, issuedAt, ctx.principal.userId, ctx.requestId);
    });
  }
}
