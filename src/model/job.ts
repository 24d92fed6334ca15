/**
 * Job model shared by scheduler, store, drivers and API.
 */
import type { GpuType } from './fleet.js';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed-out'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled', 'timed-out']);

/** Priority classes, Kubernetes-style: a name users pick and a number the scheduler orders by. */
export const PRIORITY_CLASSES = {
  critical: 1000,
  high: 500,
  /** Sessions: ahead of batch work; like every class, it preempts only preemptible jobs. */
  interactive: 300,
  normal: 100,
  low: 50,
  preemptible: 0,
} as const;
export type PriorityClass = keyof typeof PRIORITY_CLASSES;

/** NodeAllocation: GPUs (by index within the node) given to a job on one node. */
export interface NodeAllocation {
  node: string;
  gpus: number[];
  /**
   * Part of ONE GPU (gpus has one index): the milli-GPU it counts for (a time-sliced share, or a MIG
   * instance's compute fraction). Absent: the GPUs are whole.
   */
  milli?: number;
  /** A MIG instance of this profile on the GPU (see model/gpu-sharing.ts). */
  migProfile?: string;
  /** Time-sliced share: GPU memory limit in MiB (CUDA_MPS_PINNED_DEVICE_MEM_LIMIT). */
  memoryMiB?: number;
}

/** Placement of a whole job: all its nodes (a gang lives in one site). */
export interface Placement {
  site: string;
  gpuType: GpuType;
  nodes: NodeAllocation[];
}

/**
 * SchedulingCycle: which scheduling cycle something describes (a pending reason, an explanation).
 * `number` counts the cycles of the scheduler process (it starts again at 1 when the process
 * restarts); `term` is the leader's scheduler-lease fencing token where several replicas share a
 * PostgreSQL database (absent on SQLite); `startedAt` is the cycle's clock time (ms).
 */
export interface SchedulingCycle {
  number: number;
  term?: number;
  startedAt: number;
}

/** newerCycle: whether `a` came after `b` (a later leader's term first, then the number within a term). */
export function newerCycle(a: SchedulingCycle, b: SchedulingCycle): boolean {
  const ta = a.term ?? 0;
  const tb = b.term ?? 0;
  return ta !== tb ? ta > tb : a.number > b.number;
}

/** PendingReason is the machine-readable + human explanation for a job that did not start. */
export interface PendingReason {
  code: PendingReasonCode;
  message: string;
  details?: Record<string, string | number | boolean>;
}

export type PendingReasonCode =
  | 'quota_exhausted'
  | 'no_quota'
  | 'insufficient_capacity'
  | 'topology'
  | 'priority'
  | 'not_yet_scheduled'
  | 'processing_restricted'
  | 'unsatisfiable'
  | 'preempting'
  | 'reserved'
  | 'constraints'
  | 'residency'
  | 'budget_exhausted'
  | 'spread';

/**
 * Key under which a job's registry credentials (spec.registryCredentials, `user:password`) travel in
 * DriverJob.secrets: drivers take it out before building the job's environment and use it only to pull.
 */
export const REGISTRY_AUTH_SECRET = 'GIGAFAB_REGISTRY_AUTH';

/**
 * bytesOf: a size such as 512m or 8Gi in bytes. Single letters are read as podman reads them (binary:
 * 1m = 2^20), the `i` forms as Kubernetes does; both mean the same here.
 */
export function bytesOf(size: string): number {
  const m = /^([0-9]+)([kmgt]i?)?$/i.exec(size);
  if (!m) throw new Error(`not a size: ${size}`);
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit ? 2 ** (10 * ('kmgt'.indexOf(unit[0]) + 1)) : 1);
}
