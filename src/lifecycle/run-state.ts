/**
 * A job's run state as one union: what it is doing and, where it waits or stops, why. Meaning lives
 * in the types, never in strings (no "forJobId: ''" for a hold, no reason text to parse back).
 */
import { type Placement, PRIORITY_CLASSES } from '../model/job.js';

/** Why a running job is being stopped; decides what happens once it has stopped. */
export type StopCause =
  /** A user cancelled it: it ends as `cancelled`. */
  | { kind: 'cancel'; by: string }
  /** The scheduler evicts it for another job: requeued, and held until that job has started. */
  | { kind: 'preempt'; forJobId: string; reason: 'reclaim' | 'priority' }
  /** Its organisation's processing was restricted (GDPR Art. 18): requeued; the restriction holds it. */
  | { kind: 'restrict'; reason: string }
  /** A node of it went down: requeued or failed as its spec asks. */
  | { kind: 'node-failure'; node: string; why: string; onNodeFailure: 'requeue' | 'fail' };

/** Why a queued job is kept out of the scheduler's queue for now. */
export type HoldCause =
  /** Preempted for `forJobId`: it may not retake the freed GPUs before that job has started. */
  { kind: 'preempted'; forJobId: string };

/** Run: what a started job holds. */
export interface Run {
  placement: Placement;
  /** Epoch ms of the start. */
  startedAt: number;
  /** Started on capacity borrowed from other projects' idle quota. */
  borrowed: boolean;
  /** Epoch ms of the last checkpoint it reported. */
  lastCheckpointAt?: number;
}

export type RunState =
  | { phase: 'queued' }
  | { phase: 'held'; cause: HoldCause }
  /** Committed to start, being handed to its driver; a stop asked for meanwhile waits in `stop`. */
  | { phase: 'starting'; run: Run; stop: StopCause | null }
  | { phase: 'running'; run: Run }
  | { phase: 'stopping'; run: Run; cause: StopCause };

/** LifecycleJob: what the lifecycle knows of one live (not yet finished) job. */
export interface LifecycleJob {
  id: string;
  org: string;
  project: string;
  /** Numeric priority class (PRIORITY_CLASSES). */
  priority: number;
  maxRuntimeSeconds: number;
  onNodeFailure: 'requeue' | 'fail';
  state: RunState;
}

/**
 * The one rule for "preemptible": a job of the preemptible class, or one that runs on borrowed
 * capacity (its lender may take it back). The server, the simulator and the tests all ask here.
 */
export function isPreemptible(priority: number, borrowed: boolean): boolean {
  return priority <= PRIORITY_CLASSES.preemptible || borrowed;
}

/** The run of a started job (starting, running or stopping), or null. */
export function runOf(state: RunState): Run | null {
  return state.phase === 'starting' || state.phase === 'running' || state.phase === 'stopping' ? state.run : null;
}

/** GPUs a placement holds. */
export function gpusOf(placement: Placement): number {
  let n = 0;
  for (const a of placement.nodes) n += a.gpus.length;
  return n;
}

/** What a stopped job becomes, by the cause of its stop. */
export type AfterStop = { next: 'requeue'; hold: HoldCause | null } | { next: 'finish'; state: 'cancelled' | 'failed' };

export function afterStop(cause: StopCause): AfterStop {
  switch (cause.kind) {
    case 'cancel':
      return { next: 'finish', state: 'cancelled' };
    case 'preempt':
      return { next: 'requeue', hold: { kind: 'preempted', forJobId: cause.forJobId } };
    case 'restrict':
      return { next: 'requeue', hold: null };
    case 'node-failure':
      return cause.onNodeFailure === 'requeue' ? { next: 'requeue', hold: null } : { next: 'finish', state: 'failed' };
  }
}
