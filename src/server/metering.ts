/**
 * Metering: the one place usage records are written. A run segment is opened inside the
 * transaction that commits a job's start and closed inside the one that records its stop (finish,
 * requeue after preemption or restriction, node failure), so a segment exists exactly when the
 * store says the job ran. Both are idempotent: one segment per (job, attempt), and only an open
 * segment is closed, so a replayed start or a second report of the same exit changes nothing.
 * A closed segment may afterwards be corrected to the run time its driver reports (usage-reconcile.ts,
 * the one other writer of usage records, through this module's rollup helpers).
 */

import { type Selectable, sql, type Transaction } from 'kysely';
import { placementGpuEquivalents } from '../model/gpu-sharing.js';
import type { Placement } from '../model/job.js';
import { usageClass } from '../model/usage.js';
import { dailyPieces, granularityTimeline, utcDayName } from '../model/usage-daily.js';
import type { WorkloadKind } from '../model/workloads.js';
import { afterInserts, defers, insertLater } from '../store/deferred-insert.js';
import type { Database } from '../store/schema.js';
import type { UsageDailyTable } from '../store/schema-usage.js';

type Trx = Transaction<Database>;

/** What openSegment needs of the job's row, as the start's own UPDATE … RETURNING gives it (no second read). */
export interface StartedJobRow {
  org_id: string;
  project_id: string;
  attempt: number;
  priority: number;
  borrowed: number;
  /** The start's lenders as stored on the job (model/lenders.ts); null: none. */
  lenders: string | null;
}

/**
 * openSegment records the start of the job's current attempt (`job` read after jobs.attempt was
 * counted up); `kind` (the spec's) bills a session as `interactive` and a service replica as `service`.
 */
export async function openSegment(
  trx: Trx,
  jobId: string,
  job: StartedJobRow,
  placement: Placement,
  at: string,
  kind: WorkloadKind = 'batch',
): Promise<void> {
  // Deferred on PostgreSQL: the batch's segments go in one INSERT before COMMIT (deferred-insert.ts).
  await insertLater(
    trx,
    'usage_records',
    {
      org_id: job.org_id,
      project_id: job.project_id,
      job_id: Number(jobId),
      attempt: job.attempt,
      gpu_type: placement.gpuType,
      site: placement.site,
      // GPU-equivalents: a 250-milli share meters a quarter of a GPU.
      gpus: placementGpuEquivalents(placement),
      class: usageClass(job.priority, job.borrowed === 1, kind),
      lenders: job.lenders,
      started_at: at,
    },
    { ignoreConflictOn: ['job_id', 'attempt'] },
  );
}

/**
 * closeSegment ends the job's open segment at `at` (never before it started) with its GPU-seconds,
 * and adds it to the daily rollup (usage_daily) in the same transaction: its run and billed time on
 * each UTC day it touches, billed as the report bills it (rounded up to the granularity in effect at
 * its start, which no later price version can change). `attempt`, when the caller knows the run that
 * ended: only segments up to it close (a start later in the same transaction opens the next one).
 * `measuredJoules`: the energy the driver measured for the run (Slurm's sacct), kept on the segment
 * beside the power model's figure.
 *
 * On PostgreSQL the close waits for the transaction's flush (deferred-insert.ts, afterInserts): a
 * group commit that ends many jobs closes all their segments in three statements, not three each.
 */
export async function closeSegment(
  trx: Trx,
  jobId: string,
  at: string,
  attempt?: number,
  measuredJoules?: number,
): Promise<void> {
  const close: PendingClose = { jobId: Number(jobId), at, attempt: attempt ?? null, measuredJoules: measuredJoules ?? null };
  if (!defers(trx)) return closeSegments(trx, [close]);
  let pending = closesByTx.get(trx);
  if (!pending) {
    pending = [];
    closesByTx.set(trx, pending);
  }
  pending.push(close);
  afterInserts(trx, 'metering.close', closePending);
}

interface PendingClose {
  jobId: number;
  at: string;
  /** The last attempt to close (null: every open segment of the job). */
  attempt: number | null;
  /** Joules the driver measured for the run (null: not measured). */
  measuredJoules: number | null;
}

const closesByTx = new WeakMap<object, PendingClose[]>();

async function closePending(trx: Trx): Promise<void> {
  const pending = closesByTx.get(trx) ?? [];
  closesByTx.delete(trx);
  if (pending.length > 0) await closeSegments(trx, pending);
}

type OpenSegment = {
  id: number;
  job_id: number;
  attempt: number;
  org_id: string;
  project_id: string;
  gpu_type: string;
  site: string;
  class: string;
  gpus: number;
  started_at: string;
};

/** closeSegments: the segments the closes end, each closed and added to the rollup (see closeSegment). */
async function closeSegments(trx: Trx, closes: readonly PendingClose[]): Promise<void> {
  const byJob = new Map<number, PendingClose>();
  for (const c of closes) if (!byJob.has(c.jobId)) byJob.set(c.jobId, c); // a repeated close changes nothing
  const open: OpenSegment[] = [];
  const ids = [...byJob.keys()];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await trx
      .selectFrom('usage_records')
      .select(['id', 'job_id', 'attempt', 'org_id', 'project_id', 'gpu_type', 'site', 'class', 'gpus', 'started_at'])
      .where('job_id', 'in', ids.slice(i, i + 500))
      .where('ended_at', 'is', null)
      .execute();
    open.push(...rows);
  }
  const ended: Ended[] = [];
  const daily = new Map<string, DailyRow>();
  for (const s of open) {
    const c = byJob.get(s.job_id)!;
    if (c.attempt !== null && s.attempt > c.attempt) continue; // the next run, opened after this end
    // biome-ignore lint/complexity/useMathMinMax: ISO date-times, the later of two as text
    const end = c.at < s.started_at ? s.started_at : c.at;
    const start = Date.parse(s.started_at);
    // The measurement is the run's that ended: its own segment's, not an earlier attempt's still open.
    const measured = c.attempt === null || s.attempt === c.attempt ? c.measuredJoules : null;
    ended.push({ id: s.id, ended_at: end, gpu_seconds: (s.gpus * (Date.parse(end) - start)) / 1000, measured_joules: measured });
    // The granularity in effect at the start, as PriceTimeline picks it (the report's own rule).
    const billedEnd = granularityTimeline(await priceVersionsIn(trx)).billedEnd(start, Date.parse(end));
    for (const p of dailyPieces(s.gpus, start, Date.parse(end), billedEnd, measured)) {
      const day = utcDayName(p.day);
      const k = [s.org_id, s.project_id, s.gpu_type, s.site, s.class, day].join('\u0000');
      const d = daily.get(k);
      if (!d) {
        daily.set(k, {
          org_id: s.org_id,
          project_id: s.project_id,
          gpu_type: s.gpu_type,
          site: s.site,
          class: s.class,
          day,
          run_mms: p.runMms,
          billed_mms: p.billedMms,
          pieces: p.pieces,
          starts: p.starts,
          earliest_start: s.started_at,
          measured_mms: p.measuredMms,
          measured_kwh: p.measuredKwh,
        });
        continue;
      }
      // One row per key and statement (PostgreSQL refuses to upsert a row twice in one INSERT).
      d.run_mms += p.runMms;
      d.billed_mms += p.billedMms;
      d.pieces += p.pieces;
      d.starts += p.starts;
      d.measured_mms += p.measuredMms;
      d.measured_kwh += p.measuredKwh;
      if (s.started_at < d.earliest_start) d.earliest_start = s.started_at;
    }
  }
  await endSegments(trx, ended);
  const rows = [...daily.values()];
  for (let i = 0; i < rows.length; i += 500) await addToRollup(trx, rows.slice(i, i + 500));
}

/** A row to add to the daily rollup (metering's close; usage-reconcile.ts adds differences). */
export type DailyRow = Selectable<UsageDailyTable>;

type Ended = { id: number; ended_at: string; gpu_seconds: number; measured_joules: number | null };

/** endSegments: PostgreSQL in one statement per 1,000 segments; SQLite row by row (in-process). */
async function endSegments(trx: Trx, ended: readonly Ended[]): Promise<void> {
  if (!defers(trx)) {
    for (const e of ended)
      await trx
        .updateTable('usage_records')
        .set({
          ended_at: e.ended_at,
          gpu_seconds: e.gpu_seconds,
          ...(e.measured_joules !== null ? { measured_joules: e.measured_joules } : {}),
        })
        .where('id', '=', e.id)
        .execute();
    return;
  }
  for (let i = 0; i < ended.length; i += 1000) {
    const rows = JSON.stringify(ended.slice(i, i + 1000));
    await sql`
      update usage_records as u set ended_at = s.ended_at, gpu_seconds = s.gpu_seconds,
        measured_joules = coalesce(s.measured_joules, u.measured_joules)
      from json_to_recordset(${rows}::json) as s(id bigint, ended_at text, gpu_seconds double precision, measured_joules double precision)
      where u.id = s.id`.execute(trx);
  }
}

/** addToRollup adds each row's amounts to the rollup (usage_daily), creating rows as needed. */
export async function addToRollup(trx: Trx, rows: DailyRow[]): Promise<void> {
  if (rows.length === 0) return;
  await trx
    .insertInto('usage_daily')
    .values(rows)
    .onConflict((oc) =>
      oc.columns(['org_id', 'project_id', 'gpu_type', 'site', 'class', 'day']).doUpdateSet({
        run_mms: sql`usage_daily.run_mms + excluded.run_mms`,
        billed_mms: sql`usage_daily.billed_mms + excluded.billed_mms`,
        pieces: sql`usage_daily.pieces + excluded.pieces`,
        starts: sql`usage_daily.starts + excluded.starts`,
        measured_mms: sql`usage_daily.measured_mms + excluded.measured_mms`,
        measured_kwh: sql`usage_daily.measured_kwh + excluded.measured_kwh`,
        earliest_start: sql`CASE WHEN excluded.earliest_start < usage_daily.earliest_start THEN excluded.earliest_start ELSE usage_daily.earliest_start END`,
      }),
    )
    .execute();
}

type GranularityRow = { version: number; effective_from: string; granularity: string };
const versionsByTx = new WeakMap<object, Promise<GranularityRow[]>>();

/**
 * priceVersionsIn: the price versions' granularities, read once per transaction (a group commit
 * closing many segments reads them once). A price change in the same transaction forgets them
 * (forgetPriceVersions), so a later segment reads the new list.
 */
export function priceVersionsIn(trx: Trx): Promise<GranularityRow[]> {
  let v = versionsByTx.get(trx);
  if (!v) {
    v = trx.selectFrom('price_versions').select(['version', 'effective_from', 'granularity']).execute();
    versionsByTx.set(trx, v);
  }
  return v;
}

/** forgetPriceVersions: `trx` wrote a price version; segments closed after it in `trx` read them again. */
export function forgetPriceVersions(trx: Trx): void {
  versionsByTx.delete(trx);
}
