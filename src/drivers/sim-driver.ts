/**
 * SimDriver: runs jobs on the simulated fleet. A job "runs" for its simulated duration divided by
 * the time scale (60 = one simulated minute per real second), then exits with its simulated exit
 * code — or is stopped as timed-out when its duration exceeds its wall-clock limit.
 * Completion is derived from the persisted start time, so a restarted control plane neither
 * forgets nor restarts a running job. With `simulation.checkpointEverySeconds` the job reports a
 * checkpoint (step 1, 2, ... counted from its start) at that simulated interval. With
 * `simulation.gpuUtilisation` a run's exit carries its energy by the power model at that utilisation
 * (model/energy.ts gpuWatts), as a real engine reports what it measured.
 */
import { gpuWatts } from '../model/energy.js';
import { exposesPort } from '../model/workloads.js';
import type { CheckpointObservation, DriverJob, ExecutionDriver, Observation } from './driver.js';
import { realTimers, type TimerHandle, type Timers } from './timers.js';

export class SimDriver implements ExecutionDriver {
  readonly name = 'sim';
  private readonly timers = new Map<string, TimerHandle>();
  /** The runs armed, for their energy at a stop. */
  private readonly running = new Map<string, DriverJob>();
  private listeners: ((o: Observation) => void)[] = [];
  private readonly checkpointTimers = new Map<string, TimerHandle>();
  private checkpointListeners: ((o: CheckpointObservation) => void)[] = [];

  constructor(
    private readonly timeScale: number,
    /** Real timers by default; a VirtualClock runs the driver on simulated time (tests, equivalence). */
    private readonly clock: Timers = realTimers,
  ) {}

  runtimeScale(_site: string): number {
    return this.timeScale;
  }

  onObservation(listener: (o: Observation) => void): void {
    this.listeners.push(listener);
  }

  onCheckpoint(listener: (o: CheckpointObservation) => void): void {
    this.checkpointListeners.push(listener);
  }

  async start(job: DriverJob): Promise<void> {
    const nodes = job.placement.nodes.map((n) => n.node);
    this.emit({
      type: 'started',
      jobId: job.id,
      at: this.clock.now(),
      message: `started on ${nodes.length} node(s) in ${job.placement.site}: ${summariseNodes(nodes)}`,
      // A simulated session or service serves nothing: a reserved name that never resolves (RFC 6761).
      ...(exposesPort(job.spec) ? { endpoint: { host: `job-${job.id}.sim.invalid`, port: 80 } } : {}),
    });
    this.arm(job);
  }

  async reattach(jobs: DriverJob[]): Promise<void> {
    for (const job of jobs) this.arm(job);
  }

  async stop(jobId: string, _graceSeconds: number): Promise<void> {
    const t = this.timers.get(jobId);
    if (!t) return;
    t.clear();
    this.timers.delete(jobId);
    this.stopCheckpoints(jobId);
    const job = this.running.get(jobId);
    this.running.delete(jobId);
    const at = this.clock.now();
    // A simulated job checkpoints instantly: it honours the stop signal at once.
    this.emit({
      type: 'exited',
      jobId,
      at,
      outcome: 'cancelled',
      exitCode: 143,
      message: 'stopped (SIGTERM)',
      ...(job ? simulatedEnergy(job, at) : {}),
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers.values()) t.clear();
    this.timers.clear();
    this.running.clear();
    for (const id of [...this.checkpointTimers.keys()]) this.stopCheckpoints(id);
  }

  private arm(job: DriverJob): void {
    const sim = job.spec.simulation ?? { durationSeconds: 600, exitCode: 0 };
    const limit = job.spec.maxRuntimeSeconds;
    const timedOut = sim.durationSeconds > limit;
    const runSeconds = timedOut ? limit : sim.durationSeconds;
    const endAt = job.startedAt + (runSeconds * 1000) / this.timeScale;
    const delay = Math.max(0, endAt - this.clock.now());
    const timer = this.clock.after(delay, () => {
      this.timers.delete(job.id);
      this.running.delete(job.id);
      this.stopCheckpoints(job.id);
      const at = this.clock.now();
      const energy = simulatedEnergy(job, at);
      this.emit(
        timedOut
          ? {
              type: 'exited',
              jobId: job.id,
              at,
              outcome: 'timed-out',
              exitCode: null,
              message: `wall-clock limit of ${limit}s reached`,
              ...energy,
            }
          : {
              type: 'exited',
              jobId: job.id,
              at,
              outcome: 'completed',
              exitCode: sim.exitCode,
              message: `exited with code ${sim.exitCode}`,
              ...energy,
            },
      );
    });
    this.timers.set(job.id, timer);
    this.running.set(job.id, job);
    this.armCheckpoints(job, endAt);
  }

  /** armCheckpoints reports a checkpoint every `checkpointEverySeconds` (simulated) until the job ends. */
  private armCheckpoints(job: DriverJob, endAt: number): void {
    const every = job.spec.simulation?.checkpointEverySeconds;
    if (!every) return;
    const periodMs = (every * 1000) / this.timeScale;
    // The step is counted, not re-derived from the clock: a timer may fire a millisecond early, and
    // re-deriving would then report the same step twice.
    const tick = (step: number) => {
      const next = job.startedAt + (step + 1) * periodMs;
      if (next >= endAt) {
        this.checkpointTimers.delete(job.id);
        return;
      }
      const t = this.clock.after(Math.max(0, next - this.clock.now()), () => {
        for (const l of this.checkpointListeners) l({ type: 'checkpoint', jobId: job.id, at: this.clock.now(), step: step + 1 });
        tick(step + 1);
      });
      this.checkpointTimers.set(job.id, t);
    };
    // A reattached job resumes counting from the steps it has already passed.
    tick(Math.max(0, Math.floor((this.clock.now() - job.startedAt) / periodMs)));
  }

  private stopCheckpoints(jobId: string): void {
    const t = this.checkpointTimers.get(jobId);
    t?.clear();
    this.checkpointTimers.delete(jobId);
  }

  private emit(o: Observation): void {
    for (const l of this.listeners) l(o);
  }
}

/**
 * simulatedEnergy: with a utilisation in the job's simulation, the run's joules from its start to `at`
 * on the control plane's clock (as its metered segment) — its GPU-equivalents (a share: milli / 1000)
 * at gpuWatts(type, utilisation). Without one: nothing (the power model counts full utilisation).
 */
export function simulatedEnergy(job: DriverJob, at: number): { energyJoules?: number } {
  const u = job.spec.simulation?.gpuUtilisation;
  if (u === undefined) return {};
  const gpus = job.placement.nodes.reduce((a, n) => a + (n.milli !== undefined ? n.milli / 1000 : n.gpus.length), 0);
  return { energyJoules: gpus * gpuWatts(job.placement.gpuType, u) * (Math.max(0, at - job.startedAt) / 1000) };
}

function summariseNodes(nodes: string[]): string {
  return nodes.length <= 4 ? nodes.join(', ') : `${nodes.slice(0, 3).join(', ')}, … (+${nodes.length - 3})`;
}
