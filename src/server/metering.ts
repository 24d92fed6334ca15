/**
 * Metering: the one place usage records are written. A run segment is opened inside the
 * transaction that commits a job's start and closed inside the one that records its stop (finish,
 * requeue after preemption or restriction, node failure), so a segment exists exactly when the
 * store says the job ran. Both are idempotent: one segment per (job, attempt), and only an open
 * segment is closed, so a replayed start or a second report of the same exit changes nothing.
 */

import { sql, type Transaction } from 'kysely';
import { placementGpuEquivalents } from '../model/gpu-sharing.js';
import type { Placement } from '../model/job.js';
import { usageClass } from '../model/usage.js';
import { dailyPieces, granularityTimeline, utcDayName } from '../model/usage-daily.js';
import { flushDeferred, insertLater } from '../store/deferred-insert.js';
import type { Database } from '../store/schema.js';

type Trx = Transaction<Database>;

/** What openSegment needs of the job's row, as the start's own UPDATE … RETURNING gives it (no second read). */
export interface StartedJobRow {
  org_id: string;
  project_id: string;
  attempt: number;
  priority: number;
  borrowed: number;
}

/** openSegment records the start of the job's current attempt (`job` read after jobs.attempt was counted up). */
export async function openSegment(trx: Trx, jobId: string, job: StartedJobRow, placement: Placement, at: string): Promise<void> {
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
      class: usageClass(job.priority, job.borrowed === 1),
      started_at: at,
    },
    { ignoreConflictOn: ['job_id', 'attempt'] },
  );
}

/**
 * closeSegment ends the job's open segment at `at` (never before it started) with its GPU-seconds,
 * and adds it to the daily rollup (usage_daily) in the same transaction: its run and billed time on
 * each UTC day it touches, billed as the report bills it (rounded up to the granularity in effect at
 * its start, which no later price version can change).
 */
export async function closeSegment(trx: Trx, jobId: string, at: string): Promise<void> {
  // A segment opened earlier in this transaction (a start and an end in one group commit) must be seen.
  await flushDeferred(trx);
  const open = await trx
    .selectFrom('usage_records')
    .select(['id', 'org_id', 'project_id', 'gpu_type', 'site', 'class', 'gpus', 'started_at'])
    .where('job_id', '=', Number(jobId))
    .where('ended_at', 'is', null)
    .execute();
  for (const s of open) {
    const end = at < s.started_at ? s.started_at : at;
    const start = Date.parse(s.started_at);
    const gpuSeconds = (s.gpus * (Date.parse(end) - start)) / 1000;
    await trx.updateTable('usage_records').set({ ended_at: end, gpu_seconds: gpuSeconds }).where('id', '=', s.id).execute();
    // The granularity in effect at the start, as PriceTimeline picks it (the report's own rule).
    const versions = await trx.selectFrom('price_versions').select(['version', 'effective_from', 'granularity']).execute();
    const billedEnd = granularityTimeline(versions).billedEnd(start, Date.parse(end));
    const days = dailyPieces(s.gpus, start, Date.parse(end), billedEnd);
    if (days.length === 0) continue;
    await trx
      .insertInto('usage_daily')
      .values(
        days.map((p) => ({
          org_id: s.org_id,
          project_id: s.project_id,
          gpu_type: s.gpu_type,
          site: s.site,
          class: s.class,
          day: utcDayName(p.day),
          run_mms: p.runMms,
          billed_mms: p.billedMms,
          pieces: p.pieces,
          starts: p.starts,
          earliest_start: s.started_at,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['org_id', 'project_id', 'gpu_type', 'site', 'class', 'day']).doUpdateSet({
          run_mms: sql`usage_daily.run_mms + excluded.run_mms`,
          billed_mms: sql`usage_daily.billed_mms + excluded.billed_mms`,
          pieces: sql`usage_daily.pieces + excluded.pieces`,
          starts: sql`usage_daily.starts + excluded.starts`,
          earliest_start: sql`CASE WHEN excluded.earliest_start < usage_daily.earliest_start THEN excluded.earliest_start ELSE usage_daily.earliest_start END`,
        }),
      )
      .execute();
  }
}
