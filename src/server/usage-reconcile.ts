/**
 * Reconciling metered run time with what a driver reports afterwards (issue 15): a run segment is
 * metered from the control plane's start commit to its exit commit; an execution engine that knows
 * when the run really started and ended (Slurm's sacct Start and End, after queueing on the
 * cluster, a poll's delay at the end) reports it with the exit, and the segment is corrected to it
 * in the exit's own transaction (reconcileSegment, below), with the job event
 * `usage_reconciled` (before and after, in seconds) and the audit record `usage.reconcile`.
 */
import type { JobEvent } from '../model/schemas.js';
import { dailyPieces, granularityTimeline, utcDayName } from '../model/usage-daily.js';
import { appendAudit } from '../store/audit.js';
import { defers, flushDeferred } from '../store/deferred-insert.js';
import { billedNow, issuedInvoices, type Settlement, settle } from './invoices/invoice-corrections.js';
import { insertEvent, type Trx } from './job-events.js';
import { addToRollup, type DailyRow, priceVersionsIn } from './metering.js';

const secs = (n: number) => `${Math.round(n * 1000) / 1000} s`;

/** reconcileMessage: the event's sentence (operational: composed from times only). */
export function reconcileMessage(r: ReportedRun, c: Reconciliation): string {
  const invoiced = c.settlements.length ? `; ${c.settlements.map(settlementMessage).join('; ')}` : '';
  return `run time reconciled with ${r.driver}: ${secs(c.before.seconds)} metered (${c.before.startedAt} to ${c.before.endedAt}), ${secs(c.after.seconds)} reported (${c.after.startedAt} to ${c.after.endedAt}); GPU-seconds ${secs(c.before.gpuSeconds)} → ${secs(c.after.gpuSeconds)}${invoiced}`;
}

const eur = (cents: number) => `EUR ${(Math.abs(cents) / 100).toFixed(2)}`;

/** settlementMessage: what became of the difference on one issued invoice. */
export function settlementMessage(x: Settlement): string {
  const issued = `invoice ${x.invoice} was already issued and stays as issued`;
  const rest = ' is not credited, the invoice is credited in full';
  if (x.creditNote) {
    const more = x.uncreditedCents > 0 ? ` (${eur(x.uncreditedCents)} more${rest})` : '';
    return `${issued}: credit note ${x.creditNote} credits ${eur(x.netCents)} net${more}`;
  }
  if (x.netCents > 0) return `${issued}: ${eur(x.netCents)} net is charged on the organisation's next invoice`;
  if (x.uncreditedCents > 0) return `${issued}: no credit note: ${eur(x.uncreditedCents)} net${rest}`;
  return `${issued}: what it bills does not change`;
}

/**
 * recordReconciliation: the correction, its job event and its audit record, in `trx`; null when
 * nothing differed (a repeated report, a run within the tolerance, a segment not closed).
 */
export async function recordReconciliation(trx: Trx, r: ReportedRun, at: string, actor: string): Promise<JobEvent | null> {
  const c = await reconcileSegment(trx, r, at, actor);
  if (!c) return null;
  const data = {
    attempt: r.attempt,
    driver: r.driver,
    before: c.before,
    after: c.after,
    beforeSeconds: c.before.seconds,
    afterSeconds: c.after.seconds,
    ...(c.invoiced.length ? { invoiced: c.invoiced, settlements: c.settlements } : {}),
  };
  const event = await insertEvent(trx, r.jobId, at, 'usage_reconciled', reconcileMessage(r, c), data);
  await appendAudit(trx, {
    at,
    actor,
    org: c.org,
    action: 'usage.reconcile',
    objectType: 'job',
    objectId: r.jobId,
    before: { attempt: r.attempt, ...c.before },
    after: {
      attempt: r.attempt,
      driver: r.driver,
      ...c.after,
      ...(c.invoiced.length ? { invoiced: c.invoiced, settlements: c.settlements } : {}),
    },
  });
  return event;
}

/** What a driver reported afterwards about one run (job, attempt): when it really started and ended. */
export interface ReportedRun {
  jobId: string;
  attempt: number;
  /** Epoch ms. */
  start: number;
  /** Epoch ms, not before `start`. */
  end: number;
  /** The driver's name (recorded with the correction). */
  driver: string;
}

/** A segment's figures: its start, end, run seconds and GPU-seconds. */
export interface SegmentFigures {
  startedAt: string;
  endedAt: string;
  seconds: number;
  gpuSeconds: number;
}

/**
 * What reconcileSegment changed. `invoiced`: issued invoices of months it touches, which it did not
 * change; `settlements`: how the difference on each was settled (a credit note, a charge on the next invoice).
 */
export interface Reconciliation {
  org: string;
  before: SegmentFigures;
  after: SegmentFigures;
  invoiced: string[];
  settlements: Settlement[];
}

/** Differences below this are the clocks' and the engine's rounding (sacct reports whole seconds), not a correction. */
export const RECONCILE_TOLERANCE_MS = 1000;

const figures = (gpus: number, start: number, end: number): SegmentFigures => ({
  startedAt: new Date(start).toISOString(),
  endedAt: new Date(end).toISOString(),
  seconds: (end - start) / 1000,
  gpuSeconds: (gpus * (end - start)) / 1000,
});

/**
 * reconcileSegment corrects the closed segment of (job, attempt) to the run time its driver reported
 * afterwards, when its start or end differs by a second or more: the segment's started_at, ended_at
 * and gpu_seconds become the reported ones, the daily rollup loses the metered pieces and gains the
 * reported ones (billed as the close bills, at the granularity in effect at the new start), and a
 * usage_corrections row keeps what was metered, what was reported, when and by which driver — all in
 * the caller's transaction, which also writes the caller's audit record and event from the answer.
 * null: nothing to correct (no such segment, still open, within the tolerance, or a report that
 * ends before it starts), so a second identical report changes nothing.
 *
 * Issued invoices are never recomputed (their bodies are stored): a correction in a month already
 * invoiced names that invoice in `invoiced` and settles the difference it makes to what that
 * invoice bills in the same transaction (invoices/invoice-corrections.ts: a credit note when less,
 * a charge on the next invoice when more), as `actor`.
 *
 * On PostgreSQL the transaction's deferred rows and segment closes are flushed first (a close in the
 * same transaction is otherwise still pending: deferred-insert.ts); reconciliation is rare (a driver
 * that reports run times, once per run), so the flush it forces costs little.
 */
export async function reconcileSegment(
  trx: Trx,
  r: ReportedRun,
  at: string,
  actor = `system:driver:${r.driver}`,
): Promise<Reconciliation | null> {
  if (!Number.isFinite(r.start) || !Number.isFinite(r.end) || r.end < r.start) return null;
  if (defers(trx)) await flushDeferred(trx);
  const s = await trx
    .selectFrom('usage_records')
    .select(['id', 'org_id', 'project_id', 'gpu_type', 'site', 'class', 'gpus', 'started_at', 'ended_at', 'measured_joules'])
    .where('job_id', '=', Number(r.jobId))
    .where('attempt', '=', r.attempt)
    .executeTakeFirst();
  if (!s || s.ended_at === null) return null;
  const oldStart = Date.parse(s.started_at);
  const oldEnd = Date.parse(s.ended_at);
  if (Math.abs(oldStart - r.start) < RECONCILE_TOLERANCE_MS && Math.abs(oldEnd - r.end) < RECONCILE_TOLERANCE_MS) return null;
  const gpus = Number(s.gpus);
  const before = figures(gpus, oldStart, oldEnd);
  const after = figures(gpus, r.start, r.end);
  const timeline = granularityTimeline(await priceVersionsIn(trx));
  // Months whose invoice is issued: the billed time of either version touches them. What each
  // would bill is read before the segment changes, to settle the difference after (invoice-corrections.ts).
  const months = new Set<string>();
  for (const [a, b] of [
    [oldStart, timeline.billedEnd(oldStart, oldEnd)],
    [r.start, timeline.billedEnd(r.start, r.end)],
  ] as const) {
    for (let m = monthStart(a); m === monthStart(a) || m < b; m = nextMonth(m)) months.add(new Date(m).toISOString().slice(0, 7));
  }
  const touched = await issuedInvoices(trx, s.org_id, [...months]);
  // Only a month whose billed time the correction changes is priced again (twice, for the segment's
  // GPU type only: other types' lines and reservations do not move); a run across the month's end
  // whose end alone moved leaves the invoiced month as it was.
  const oldBilled = [oldStart, timeline.billedEnd(oldStart, oldEnd)] as const;
  const newBilled = [r.start, timeline.billedEnd(r.start, r.end)] as const;
  const changes = touched.map((t) => {
    const [a, b] = [Date.parse(t.invoice.period.from), Date.parse(t.invoice.period.to)];
    const clip = ([x, y]: readonly [number, number]) => {
      const [p, q] = [Math.max(x, a), Math.min(y, b)];
      return p < q ? `${p}/${q}` : '';
    };
    return clip(oldBilled) !== clip(newBilled);
  });
  const billedBefore: number[] = [];
  for (const [i, t] of touched.entries()) billedBefore.push(changes[i] ? await billedNow(trx, t, Date.parse(at), s.gpu_type) : 0);
  // The rollup: the metered pieces out, the reported ones in, netted per row.
  const daily = new Map<string, DailyRow>();
  const add = (start: number, end: number, sign: 1 | -1) => {
    // A measured energy stays the run's: it spreads over the reported run as it did over the metered one.
    for (const p of dailyPieces(gpus, start, end, timeline.billedEnd(start, end), s.measured_joules)) {
      const day = utcDayName(p.day);
      const d = daily.get(day) ?? {
        org_id: s.org_id,
        project_id: s.project_id,
        gpu_type: s.gpu_type,
        site: s.site,
        class: s.class,
        day,
        run_mms: 0,
        billed_mms: 0,
        pieces: 0,
        starts: 0,
        earliest_start: after.startedAt,
        measured_mms: 0,
        measured_kwh: 0,
      };
      d.run_mms += sign * p.runMms;
      d.billed_mms += sign * p.billedMms;
      d.pieces += sign * p.pieces;
      d.starts += sign * p.starts;
      d.measured_mms += sign * p.measuredMms;
      d.measured_kwh += sign * p.measuredKwh;
      daily.set(day, d);
    }
  };
  add(oldStart, oldEnd, -1);
  add(r.start, r.end, 1);
  // Rows whose amounts change; and when the run now starts earlier, every row it touches, even one
  // that nets to nothing: a row's earliest start bounds a partial day's raw read and must move back
  // with it. It never moves forward (an earlier one only widens that read).
  const changed = [...daily.values()].filter(
    (d) =>
      r.start < oldStart ||
      d.run_mms !== 0 ||
      d.billed_mms !== 0 ||
      d.pieces !== 0 ||
      d.starts !== 0 ||
      // A measured run's energy moves between days even where its time on a day stays the same.
      d.measured_kwh !== 0,
  );
  await addToRollup(trx, changed);
  // A day the run no longer touches: its row, if nothing else is left in it, goes (as if never added).
  if (changed.length)
    await trx
      .deleteFrom('usage_daily')
      .where('org_id', '=', s.org_id)
      .where('project_id', '=', s.project_id)
      .where('gpu_type', '=', s.gpu_type)
      .where('site', '=', s.site)
      .where('class', '=', s.class)
      .where(
        'day',
        'in',
        changed.map((d) => d.day),
      )
      .where('run_mms', '=', 0)
      .where('billed_mms', '=', 0)
      .where('pieces', '=', 0)
      .where('starts', '=', 0)
      .execute();
  await trx
    .updateTable('usage_records')
    .set({ started_at: after.startedAt, ended_at: after.endedAt, gpu_seconds: after.gpuSeconds })
    .where('id', '=', s.id)
    .execute();
  const invoiced = touched.map((t) => t.number);
  const correction = await trx
    .insertInto('usage_corrections')
    .values({
      usage_record_id: s.id,
      org_id: s.org_id,
      job_id: Number(r.jobId),
      attempt: r.attempt,
      metered_started_at: before.startedAt,
      metered_ended_at: before.endedAt,
      metered_gpu_seconds: before.gpuSeconds,
      reported_started_at: after.startedAt,
      reported_ended_at: after.endedAt,
      reported_gpu_seconds: after.gpuSeconds,
      driver: r.driver,
      at,
      invoiced: invoiced.length ? invoiced.join(',') : null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const ref = {
    usageCorrectionId: Number(correction.id),
    org: s.org_id,
    jobId: Number(r.jobId),
    attempt: r.attempt,
    driver: r.driver,
    at,
    actor,
  };
  const settlements: Settlement[] = [];
  for (const [i, t] of touched.entries()) {
    const after = changes[i] ? await billedNow(trx, t, Date.parse(at), s.gpu_type) : 0;
    settlements.push(await settle(trx, ref, t, billedBefore[i]!, after));
  }
  return { org: s.org_id, before, after, invoiced, settlements };
}

const monthStart = (t: number): number => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
};
const nextMonth = (m: number): number => {
  const d = new Date(m);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};
