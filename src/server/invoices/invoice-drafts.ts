/**
 * The drafts of an invoice run: which organisations have usage in the month, the sites' energy
 * factors of the month, and an organisation's invoice before it is numbered and issued (its
 * segments read in keyset pages, lines by invoice-lines.ts, VAT by its billing profile).
 */

import type { PriceTimeline } from '../../model/cost.js';
import { POWER_MODEL_NAME } from '../../model/energy.js';
import { type Invoice, vatCents, vatFor } from '../../model/invoices.js';
import { parseLenders } from '../../model/lenders.js';
import { GRANULARITY_MS } from '../../model/prices.js';
import { USAGE_CLASSES, type UsageClass } from '../../model/usage.js';
import type { Store } from '../../store/open-store.js';
import type { UsageSegmentRow } from '../usage-read.js';
import { type Commitment, InvoiceLineBuilder, type SiteFactors } from './invoice-lines.js';

const BATCH = 5000;
const isClass = (c: string): c is UsageClass => (USAGE_CLASSES as readonly string[]).includes(c);
export type InvoiceDraft = Omit<Invoice, 'id' | 'number' | 'issuedAt'>;

/**
 * orgsWithUsage: organisations with a segment still open or ending after the month began, found
 * by seeks on the (org_id, ended_at) index (the next organisation, then one matching segment of
 * it): the cost grows with the organisations, not with the records.
 */
export async function orgsWithUsage(store: Store, from: number, to: number): Promise<string[]> {
  const since = new Date(from - GRANULARITY_MS.minute).toISOString();
  const toIso = new Date(to).toISOString();
  const orgs: string[] = [];
  for (let after = ''; ; ) {
    const next = await store.db
      .selectFrom('usage_records')
      .select('org_id')
      .where('org_id', '>', after)
      .orderBy('org_id')
      .limit(1)
      .executeTakeFirst();
    if (!next) return orgs;
    after = next.org_id;
    // Two index ranges (open; ended since the month began), each checked for a start before its end.
    const open = await store.db
      .selectFrom('usage_records')
      .select('started_at')
      .where('org_id', '=', after)
      .where('ended_at', 'is', null)
      .execute();
    const closed = await store.db
      .selectFrom('usage_records')
      .select((eb) => eb.fn.min('started_at').as('first'))
      .where('org_id', '=', after)
      .where('ended_at', '>', since)
      .executeTakeFirst();
    const hit = open.some((r) => r.started_at < toIso) || (closed?.first != null && closed.first < toIso);
    if (hit) orgs.push(after);
  }
}

export async function factorsOf(store: Store, month: string): Promise<Map<string, SiteFactors>> {
  const rows = await store.db.selectFrom('energy_factors').selectAll().where('month', '=', month).execute();
  return new Map(rows.map((r) => [r.site, { pue: r.pue, gridGCo2PerKwh: r.grid_g_co2_per_kwh }]));
}

/** orgsWithCommitments: organisations with reserved capacity in the month (invoiced even without usage). */
export async function orgsWithCommitments(store: Store, month: string): Promise<string[]> {
  const rows = await store.db
    .selectFrom('reserved_capacity')
    .select('org_id')
    .distinct()
    .where('month', '=', month)
    .orderBy('org_id')
    .execute();
  return rows.map((r) => r.org_id);
}

/** build: the invoice of `org` for the month, from its segments read in batches (open ones up to now); `store` may be a transaction's `{ db: trx }`. */
export async function buildDraft(
  store: Pick<Store, 'db'>,
  org: string,
  month: string,
  from: number,
  to: number,
  now: number,
  timeline: PriceTimeline,
  factors: ReadonlyMap<string, SiteFactors>,
  commitments: ReadonlyMap<string, Commitment> = new Map(),
  /** Only this GPU type's segments (a reconciliation's difference: invoice-corrections.ts). */
  gpuType?: string,
): Promise<InvoiceDraft> {
  const lines = new InvoiceLineBuilder(from, to, timeline, factors, commitments);
  const toIso = new Date(to).toISOString();
  const billedSince = new Date(from - GRANULARITY_MS.minute).toISOString();
  const add = (r: Omit<UsageSegmentRow, 'id' | 'org_id' | 'project_id'>) =>
    lines.add({
      gpuType: r.gpu_type,
      site: r.site,
      class: isClass(r.class) ? r.class : 'on-demand',
      gpus: r.gpus,
      start: Date.parse(r.started_at),
      end: r.ended_at === null ? now : Date.parse(r.ended_at),
      measuredJoules: r.measured_joules,
    });
  const columns = ['id', 'gpu_type', 'site', 'class', 'gpus', 'started_at', 'ended_at', 'measured_joules'] as const;
  // Open segments first (few), then closed ones that end after the month began, in keyset pages
  // on the (org_id, ended_at) index: reading costs the records since the month began, not the
  // organisation's whole history, and each page continues where the last stopped.
  let openSel = store.db.selectFrom('usage_records').select(columns).where('org_id', '=', org).where('ended_at', 'is', null);
  if (gpuType !== undefined) openSel = openSel.where('gpu_type', '=', gpuType);
  const open = await openSel.execute();
  for (const r of open) if (r.started_at < toIso) add(r);
  for (let after: [string, number] = [billedSince, Number.MAX_SAFE_INTEGER]; ; ) {
    let sel = store.db
      .selectFrom('usage_records')
      .select(columns)
      .where('org_id', '=', org)
      .where((eb) => eb(eb.refTuple('ended_at', 'id'), '>', eb.tuple(after[0], after[1])))
      .where('started_at', '<', toIso);
    if (gpuType !== undefined) sel = sel.where('gpu_type', '=', gpuType);
    const rows = await sel.orderBy('ended_at').orderBy('id').limit(BATCH).execute();
    for (const r of rows) add(r);
    if (rows.length < BATCH) break;
    const last = rows[rows.length - 1]!;
    after = [last.ended_at ?? billedSince, last.id];
  }
  if (commitments.size > 0) await addLent(store, lines, org, [...commitments.keys()], billedSince, toIso, now);
  const profile = await store.db.selectFrom('billing_profiles').selectAll().where('org_id', '=', org).executeTakeFirst();
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
    ...(r.reservations.length > 0 ? { reservedCapacity: r.reservations } : {}),
    ...(r.lentCredits.length > 0 ? { lentCredits: r.lentCredits, lentCreditCents: r.lentCreditCents } : {}),
    netCents: r.netCents,
    vatRatePercent: vat.ratePercent,
    vatCents: vatAmount,
    grossCents: r.netCents + vatAmount,
    vatNote: vat.note,
    unpricedGpuSeconds: r.unpricedGpuSeconds,
    energy: { ...r.energy, powerModel: POWER_MODEL_NAME },
  };
}

/**
 * addLent: other organisations' borrowed segments of the reserved types that ran in the month with
 * GPUs attributed to `org`'s projects (model/lenders.ts), read in id pages on the partial index of
 * segments with lenders (migration 034). Borrowers of the organisation itself give no credit.
 */
async function addLent(
  store: Pick<Store, 'db'>,
  lines: InvoiceLineBuilder,
  org: string,
  gpuTypes: string[],
  billedSince: string,
  toIso: string,
  now: number,
): Promise<void> {
  const mine = new Set((await store.db.selectFrom('projects').select('id').where('org_id', '=', org).execute()).map((p) => p.id));
  for (let after = 0; ; ) {
    const rows = await store.db
      .selectFrom('usage_records')
      .select(['id', 'gpu_type', 'started_at', 'ended_at', 'lenders'])
      .where('lenders', 'is not', null)
      .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>', billedSince)]))
      .where('started_at', '<', toIso)
      .where('org_id', '!=', org)
      .where('gpu_type', 'in', gpuTypes)
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    for (const r of rows) {
      const gpus = parseLenders(r.lenders, `lenders of usage record ${r.id}`)
        .filter((l) => mine.has(l.project))
        .reduce((sum, l) => sum + l.gpus, 0);
      if (gpus <= 0) continue;
      const end = r.ended_at === null ? now : Date.parse(r.ended_at);
      lines.addLent({ gpuType: r.gpu_type, gpus, start: Date.parse(r.started_at), end });
    }
    if (rows.length < BATCH) return;
    after = rows[rows.length - 1]!.id;
  }
}
