/**
 * The job lifecycle shared by the server, the simulator and the tests: the scheduler's decisions
 * and the drivers' observations go in, the new run states and the effects to carry out come out,
 * as typed data. Pure: no I/O, no clock (the caller passes `now`), no timers. The server executes
 * the effects in one store transaction and then calls its drivers; the simulator executes them on
 * its virtual clock; the property tests execute them at once.
 *
 * State is updated in place (the simulator runs millions of jobs) and returned with the effects.
 */
import type { JobState, Placement } from '../model/job.js';
import {
  afterStop,
  gpusOf,
  type HoldCause,
  isPreemptible,
  type LifecycleJob,
  type Run,
  type RunState,
  runOf,
  type StopCause,
} from './run-state.js';

/** The decisions of one scheduling cycle (the scheduler's CycleResult fits this shape). */
export interface CycleDecisions {
  starts: readonly { jobId: string; placement: Placement; borrowed?: boolean }[];
  preemptions?: readonly { victimId: string; forJobId: string; reason: 'reclaim' | 'priority' }[];
}

export type FinalState = Exclude<JobState, 'queued' | 'running'>;

/** UsageCharge: GPU-seconds one project used on one GPU type (fair share). */
export interface UsageCharge {
  project: string;
  gpuType: string;
  gpus: number;
  seconds: number;
}

/** Effect: one thing the caller must do, as data. */
export type Effect =
  /** Record the start (state running, placement, borrowed) and its event. */
  | { type: 'persist-start'; jobId: string; placement: Placement; borrowed: boolean; at: number }
  /** Hand the job to its driver; report back with `handedOver`. */
  | { type: 'start-on-driver'; jobId: string; placement: Placement; startedAt: number }
  /** Record that the job is being stopped and why (the preemption decision). */
  | { type: 'persist-stop'; jobId: string; cause: StopCause; at: number }
  /** Tell the driver to stop the job (grace period, then kill). */
  | { type: 'stop-on-driver'; jobId: string; graceSeconds: number }
  /** The job's GPUs are free again (cluster model). */
  | { type: 'release'; jobId: string }
  /** Record the job queued again, with its history and submission order. */
  | { type: 'persist-requeue'; jobId: string; cause: StopCause; hold: HoldCause | null; at: number }
  /** Record the job's end. */
  | { type: 'persist-finish'; jobId: string; state: FinalState; exitCode: number | null; cause: StopCause | null; at: number }
  /** Charge fair-share usage. */
  | { type: 'charge-usage'; charges: UsageCharge[] };

/** ExitObservation: a driver reports that a job's process ended. */
export interface ExitObservation {
  outcome: 'completed' | 'timed-out' | 'cancelled' | 'lost';
  exitCode: number | null;
}

/** LifecycleState: every live job by id, and the held ones for a quick scan each cycle. */
export class LifecycleState {
  readonly jobs = new Map<string, LifecycleJob>();
  readonly held = new Set<string>();

  get(id: string): LifecycleJob | undefined {
    return this.jobs.get(id);
  }
}

export interface StepResult {
  state: LifecycleState;
  effects: Effect[];
}

/** admit adds a queued job (submission, recovery). */
export function admit(state: LifecycleState, job: Omit<LifecycleJob, 'state'>): LifecycleJob {
  const j: LifecycleJob = { ...job, state: { phase: 'queued' } };
  state.jobs.set(j.id, j);
  return j;
}

/** recoverRunning adds a job found running after a restart. */
export function recoverRunning(state: LifecycleState, job: Omit<LifecycleJob, 'state'>, run: Run): LifecycleJob {
  const j: LifecycleJob = { ...job, state: { phase: 'running', run } };
  state.jobs.set(j.id, j);
  return j;
}

/** forget drops a job that left the queue without running (cancelled while queued). */
export function forget(state: LifecycleState, id: string): void {
  state.jobs.delete(id);
  state.held.delete(id);
}

/**
 * releaseHolds lets held jobs back into the queue once the job they made room for has started or
 * left the queue. Call before building the scheduler's queue; returns the ids released.
 */
export function releaseHolds(state: LifecycleState): string[] {
  const out: string[] = [];
  for (const id of state.held) {
    const j = state.jobs.get(id);
    if (j?.state.phase !== 'held') {
      state.held.delete(id);
      continue;
    }
    const phase = state.jobs.get(j.state.cause.forJobId)?.state.phase;
    if (phase === 'queued' || phase === 'held') continue;
    j.state = { phase: 'queued' };
    state.held.delete(id);
    out.push(id);
  }
  return out;
}

/** schedulable: whether a job goes into this cycle's queue. */
export function schedulable(state: LifecycleState, id: string): boolean {
  return state.jobs.get(id)?.state.phase === 'queued';
}

/**
 * applyCycle carries a cycle's decisions out: queued jobs start (persist, then hand to the driver),
 * victims are told to stop (persist the decision, then stop on the driver, or once handed over).
 * Decisions about jobs that changed meanwhile (cancelled, already stopping) are dropped.
 */
export function applyCycle(state: LifecycleState, decisions: CycleDecisions, now: number, graceSeconds: number): StepResult {
  const effects: Effect[] = [];
  for (const p of decisions.preemptions ?? []) {
    const cause: StopCause = { kind: 'preempt', forJobId: p.forJobId, reason: p.reason };
    const victim = state.jobs.get(p.victimId);
    if (!victim) continue;
    if (victim.state.phase === 'running') {
      victim.state = { phase: 'stopping', run: victim.state.run, cause };
      effects.push({ type: 'persist-stop', jobId: victim.id, cause, at: now });
      effects.push({ type: 'stop-on-driver', jobId: victim.id, graceSeconds });
    } else if (victim.state.phase === 'starting' && !victim.state.stop) {
      victim.state = { ...victim.state, stop: cause };
      effects.push({ type: 'persist-stop', jobId: victim.id, cause, at: now });
    }
  }
  for (const s of decisions.starts) {
    const j = state.jobs.get(s.jobId);
    if (j?.state.phase !== 'queued') continue;
    const run: Run = { placement: s.placement, startedAt: now, borrowed: s.borrowed === true };
    j.state = { phase: 'starting', run, stop: null };
    effects.push({ type: 'persist-start', jobId: j.id, placement: s.placement, borrowed: run.borrowed, at: now });
    effects.push({ type: 'start-on-driver', jobId: j.id, placement: s.placement, startedAt: now });
  }
  return { state, effects };
}

/** notStarted: the start could not be committed (refused in its transaction): the job is queued again. */
export function notStarted(state: LifecycleState, id: string): StepResult {
  const j = state.jobs.get(id);
  if (j?.state.phase === 'starting') j.state = { phase: 'queued' };
  return { state, effects: [{ type: 'release', jobId: id }] };
}

/** handedOver: the driver took the job; a stop asked for meanwhile is sent now. */
export function handedOver(state: LifecycleState, id: string, graceSeconds: number): StepResult {
  const j = state.jobs.get(id);
  if (j?.state.phase !== 'starting') return { state, effects: [] };
  const { run, stop } = j.state;
  if (!stop) {
    j.state = { phase: 'running', run };
    return { state, effects: [] };
  }
  j.state = { phase: 'stopping', run, cause: stop };
  return { state, effects: [{ type: 'stop-on-driver', jobId: id, graceSeconds: graceFor(stop, graceSeconds) }] };
}

/**
 * requestStop asks a started job to stop (cancel, restriction, node failure). The caller records
 * the request in its own audited transaction; the effects only reach the driver. A job already
 * stopping keeps its first cause (a node failure overrides it: the node is gone either way).
 * Returns no effects for a job that is not running.
 */
export function requestStop(state: LifecycleState, id: string, cause: StopCause, graceSeconds: number): StepResult {
  const j = state.jobs.get(id);
  if (!j) return { state, effects: [] };
  const s = j.state;
  if (s.phase === 'running' || (s.phase === 'stopping' && cause.kind === 'node-failure' && s.cause.kind !== 'node-failure')) {
    j.state = { phase: 'stopping', run: s.run, cause };
    return { state, effects: [{ type: 'stop-on-driver', jobId: id, graceSeconds: graceFor(cause, graceSeconds) }] };
  }
  if (s.phase === 'starting' && (!s.stop || cause.kind === 'node-failure')) j.state = { ...s, stop: cause };
  return { state, effects: [] };
}

/** A job on a node that went down has nothing to hand over: it is stopped at once. */
const graceFor = (cause: StopCause, grace: number) => (cause.kind === 'node-failure' ? 0 : grace);

/** stopCauseOf: why a started job is stopping (or will stop once handed over), or null. */
export function stopCauseOf(s: RunState): StopCause | null {
  if (s.phase === 'stopping') return s.cause;
  if (s.phase === 'starting') return s.stop;
  return null;
}

/**
 * observeExit turns a driver's "the job ended" into its next state: a job stopped for preemption
 * or a restriction is requeued (held back behind the job it made room for), one stopped for a
 * node failure requeued or failed as its spec asks; otherwise the outcome decides. A job that
 * finished on its own before its stop took effect keeps its own outcome.
 */
export function observeExit(state: LifecycleState, id: string, exit: ExitObservation, now: number): StepResult {
  const j = state.jobs.get(id);
  if (!j || !runOf(j.state)) return { state, effects: [] };
  const cause = stopCauseOf(j.state);
  const effects: Effect[] = [{ type: 'release', jobId: id }];
  const next = exitDecision(cause, exit);
  if (cause && next.next === 'requeue') {
    effects.push({ type: 'persist-requeue', jobId: id, cause, hold: next.hold, at: now });
    j.state = next.hold ? { phase: 'held', cause: next.hold } : { phase: 'queued' };
    if (next.hold) state.held.add(id);
    return { state, effects };
  }
  const final = next.next === 'finish' ? next.state : finalStateOf(exit);
  effects.push({ type: 'persist-finish', jobId: id, state: final, exitCode: exit.exitCode, cause, at: now });
  state.jobs.delete(id);
  return { state, effects };
}

/** ExitDecision: what a job whose process ended becomes. */
export type ExitDecision = { next: 'requeue'; hold: HoldCause | null } | { next: 'finish'; state: FinalState };

/**
 * exitDecision: the one rule for a job whose process ended, given why it was being stopped (null:
 * it was not). Stopped for preemption or a restriction and it did stop (cancelled or completed):
 * requeued, held back behind a preemptor. Stopped for a node failure and it did not succeed:
 * requeued or failed as its spec asks. Otherwise its own outcome decides (finalStateOf). The server
 * (src/server/cycle/observations.ts) and the simulator both ask here.
 */
export function exitDecision(cause: StopCause | null, exit: ExitObservation): ExitDecision {
  const succeeded = exit.outcome === 'completed' && exit.exitCode === 0;
  const stoppedByUs = exit.outcome === 'cancelled' || exit.outcome === 'completed';
  const then = cause ? afterStop(cause) : null;
  if (cause && then?.next === 'requeue' && (cause.kind === 'node-failure' ? !succeeded : stoppedByUs)) return then;
  if (cause?.kind === 'node-failure' && !succeeded) return { next: 'finish', state: 'failed' };
  return { next: 'finish', state: finalStateOf(exit) };
}

/** finalStateOf: a job's end state from its driver's outcome. */
export function finalStateOf(exit: ExitObservation): FinalState {
  switch (exit.outcome) {
    case 'completed':
      return exit.exitCode === 0 ? 'succeeded' : 'failed';
    case 'timed-out':
      return 'timed-out';
    case 'cancelled':
      return 'cancelled';
    case 'lost':
      return 'failed';
  }
}

/** observeCheckpoint notes a checkpoint a running job reported (preemption prefers recent ones). */
export function observeCheckpoint(state: LifecycleState, id: string, at: number): void {
  const run = runOf(state.jobs.get(id)?.state ?? { phase: 'queued' });
  if (run) run.lastCheckpointAt = at;
}

/** chargeUsage: GPU-seconds every started job used over the last `seconds`, per project and GPU type. */
export function chargeUsage(state: LifecycleState, seconds: number): Effect | null {
  if (!(seconds > 0)) return null;
  const charges: UsageCharge[] = [];
  for (const j of state.jobs.values()) {
    const run = runOf(j.state);
    if (run) charges.push({ project: j.project, gpuType: run.placement.gpuType, gpus: gpusOf(run.placement), seconds });
  }
  return { type: 'charge-usage', charges };
}

/** RunningView: a started job as the scheduler's preemption and backfill read it (RunningJobInfo). */
export interface RunningView {
  id: string;
  project: string;
  org: string;
  priority: number;
  gpus: number;
  startedAt: number;
  lastCheckpointAt?: number;
  borrowed: boolean;
  preemptible: boolean;
  /** Present (true) only while it is being stopped: its GPUs count as coming free. */
  evicting?: true;
  maxRuntimeSeconds: number;
}

/**
 * runningView describes a started job to the scheduler. `runtimeScale` converts its wall-clock
 * limit into the time of the clock `now` is read from (a simulated site at `--time-scale 60` runs
 * 60 simulated seconds per real second: its jobs end 60 times sooner than their limits say).
 */
export function runningView(j: LifecycleJob, runtimeScale = 1): RunningView | null {
  const run = runOf(j.state);
  if (!run) return null;
  return {
    id: j.id,
    project: j.project,
    org: j.org,
    priority: j.priority,
    gpus: gpusOf(run.placement),
    startedAt: run.startedAt,
    ...(run.lastCheckpointAt !== undefined ? { lastCheckpointAt: Math.max(run.lastCheckpointAt, run.startedAt) } : {}),
    borrowed: run.borrowed,
    preemptible: isPreemptible(j.priority, run.borrowed),
    ...(stopCauseOf(j.state) !== null ? { evicting: true as const } : {}),
    maxRuntimeSeconds: j.maxRuntimeSeconds / runtimeScale,
  };
}
