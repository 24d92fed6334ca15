/**
 * The scheduler's input and output types. The scheduler is pure and deterministic:
 * it reads these values (and the incremental ClusterModel the caller keeps up to date)
 * and returns decisions. No I/O, no clock, no unseeded randomness.
 */
import type { GpuType } from '../model/fleet.js';
import type { PendingReason, Placement } from '../model/job.js';

/** SchedJob is what the scheduler needs to know about a queued job. */
export interface SchedJob {
  id: string;
  /** Submission order; unique and increasing. Ties in priority are broken by it. */
  seq: number;
  org: string;
  project: string;
  /** null: any GPU type the fleet has. */
  gpuType: GpuType | null;
  gpusPerNode: number;
  /** Node count; >1 makes the job a gang (all nodes start together or none). */
  nodes: number;
  /** Numeric priority (from the priority class); higher first. */
  priority: number;
  /** Epoch milliseconds. */
  submittedAt: number;
  /** Wall-clock limit in seconds (used for backfill planning). */
  maxRuntimeSeconds: number;
}

/** Quotas: project -> GPU type -> guaranteed GPUs. A missing entry means no quota (0). */
export type QuotaTable = ReadonlyMap<string, ReadonlyMap<GpuType, number>>;

/** CycleInput is everything a cycle reads besides the cluster model. */
export interface CycleInput {
  /** Queued jobs, in any order; the scheduler orders them. */
  queue: readonly SchedJob[];
  quotas: QuotaTable;
  /** Logical time of the cycle, epoch milliseconds, supplied by the caller. */
  now: number;
}

/** StartDecision: start this job with this placement. */
export interface StartDecision {
  jobId: string;
  placement: Placement;
}

/** CycleResult is the cycle's output: jobs to start and a reason for every job left queued. */
export interface CycleResult {
  starts: StartDecision[];
  pending: Map<string, PendingReason>;
  stats: { considered: number; started: number; equivalenceHits: number };
}
