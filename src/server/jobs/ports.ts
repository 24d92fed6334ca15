/**
 * JobCycle: the narrow view of the scheduling cycle the job service needs (src/server/cycle
 * implements it in job-cycle.ts). The job service records changes in the store; the cycle holds
 * the live queue, the last cycle's reasons and the running jobs.
 */
import type { PendingReason, SchedulingCycle } from '../../model/job.js';
import type { JobSpec } from '../../model/schemas.js';
import type { JobExplain, JobPriority } from '../../scheduler/index.js';
import type { JobRow } from '../job-rows.js';

export interface JobCycle {
  /** Queued jobs of one organisation (the per-org queue cap). */
  queuedCount(org: string): number;
  /** A committed submission enters the queue; the next cycle considers it. */
  enqueue(id: string, row: JobRow, spec: JobSpec): void;
  /** A job cancelled while queued leaves the queue. */
  dequeue(id: string): void;
  /** A started job is told to stop (now, or right after its hand-over to the driver). */
  stop(id: string, graceSeconds: number): Promise<void>;
  /** Whether the job holds GPUs (committed start, not yet ended). */
  isRunning(id: string): boolean;
  /** A checkpoint of a running job (preemption prefers the jobs that lose least work). */
  noteCheckpoint(id: string, at: number): void;
  /** The last cycle's reason a queued job waits, or null. */
  pendingReason(id: string): PendingReason | null;
  /** The cycle that gave the job its pending reason (the newest cycle), or null: none yet. */
  reasonCycle(id: string): SchedulingCycle | null;
  /**
   * The latest explanation (refreshed every `explainIntervalSeconds`), when it was computed (0:
   * never) and by which cycle (null: none yet); that cycle may be older than `reasonCycle`'s.
   */
  explanation(id: string): {
    explain: JobExplain | undefined;
    priority: JobPriority | undefined;
    computedAt: number;
    cycle: SchedulingCycle | null;
  };
}
