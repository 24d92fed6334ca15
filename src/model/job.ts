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
  normal: 100,
  low: 50,
  preemptible: 0,
} as const;
export type PriorityClass = keyof typeof PRIORITY_CLASSES;

/** NodeAllocation: GPUs (by index within the node) given to a job on one node. */
export interface NodeAllocation {
  node: string;
  gpus: number[];
}

/** Placement of a whole job: all its nodes (a gang lives in one site). */
export interface Placement {
  site: string;
  gpuType: GpuType;
  nodes: NodeAllocation[];
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
  | 'residency';
