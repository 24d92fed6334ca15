/**
 * Metering: the one place usage records are written. A run segment is opened inside the
 * transaction that commits a job's start and closed inside the one that records its stop (finish,
 * requeue after preemption or restriction, node failure), so a segment exists exactly when the
 * store says the job ran. Both are idempotent: one segment per (job, attempt), and only an open
 * segment is closed, so a replayed start or a second report of the same exit changes nothing.
 */

import type { Transaction } from 'kysely';
import { placementGpuEquivalents } from '../model/gpu-sharing.js';
import type { Placement } from '../model/job.js';
import { usageClass } from '../model/usage.js';
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

/** closeSegment ends the job's open segment at `at` (never before it started) with its GPU-seconds. */
export async function closeSegment(trx: Trx, jobId: string, at: string): Promise<void> {
  // A segment opened earlier in this transaction (a start and an end in one group commit) must be seen.
  await flushDeferred(trx);
  const open = await trx
    .selectFrom('usage_records')
    .select(['id', 'gpus', 'started_at'])
    .where('job_id', '=', Number(jobId))
    .where('ended_at', 'is', null)
    .execute();
  for (const s of open) {
    const end = at < s.started_at ? s.started_at : at;
    const gpuSeconds = (s.gpus * (Date.parse(end) - Date.parse(s.started_at))) / 1000;
    await trx.updateTable('usage_records').set({ ended_at: end, gpu_seconds: gpuSeconds }).where('id', '=', s.id).execute();
  }
}
