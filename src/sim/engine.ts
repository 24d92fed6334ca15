/**
 * Discrete-event simulator around the real scheduler (`scheduleCycle` + `ClusterModel`, the code
 * the live server runs). Virtual clock only: no sleeping, no wall-clock reads, no randomness, so a
 * given (fleet, trace, options) always gives the same result.
 *
 * Events: arrivals (pulled one at a time from a sync or async stream), completions (a min-heap on
 * (time, start order)), scheduling cycles. At each virtual instant the engine applies every
 * completion, then every arrival at that instant, then (cycle mode `event`) runs one cycle, or
 * (mode `interval`) runs cycles on a fixed virtual grid while jobs are queued.
 *
 * Exact shortcut (`incremental`, default on): when nothing was released since the last cycle, the
 * jobs left pending by it would fail again (a cycle only adds allocations; quotas do not change),
 * so the cycle is fed only the jobs that arrived since. After releases, it is fed only the queued
 * jobs that ask for no more GPUs than are free (of their GPU type), at most floor(free / GPUs)
 * per equivalence class, the first ones in cycle order (queued jobs are kept per class for that):
 * the others cannot start in this cycle either (a class that failed stays failed within a cycle),
 * and leaving out a job that fails changes no other job's outcome.
 * test/sim/engine.test.ts checks that the results are identical with the shortcut off.
 */
import {
  admit as admitJob,
  applyCycle,
  type Effect,
  handedOver,
  LifecycleState,
  observeExit,
  releaseHolds,
  runningView,
  runOf,
  schedulable,
} from '../lifecycle/index.js';
import type { Fleet } from '../model/fleet.js';
import type { PendingReason } from '../model/job.js';
import {
  ClusterModel,
  chargeUsage,
  compareJobs,
  decayUsage,
  type FairShareInput,
  type PolicySettings,
  type PreemptionInput,
  policySettings,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
  validateJobFitsFleet,
} from '../scheduler/index.js';
import { type SimBudgetOptions, SimBudgets } from './budgets.js';
import { MetricsCollector, type SimDistributions, type SimSeries, type SimSummary, tenantKey } from './metrics.js';
import { getPolicy, type Policy, QuotaBook } from './policies.js';
import type { JobSource, SimJob } from './types.js';

export type CycleMode = { mode: 'event' } | { mode: 'interval'; seconds: number };

export interface SimOptions {
  fleet: Fleet;
  /** Policy name (policies.ts) or a Policy object. Default `default`. */
  policy?: string | Policy;
  cycle?: CycleMode;
  /** Tenant key (`org/project`) -> entitlement weight. Missing tenants weigh 1. */
  entitlements?: ReadonlyMap<string, number>;
  /** For `entitlement` quotas of tenants not in `entitlements`: share = 1 / expectedTenants. */
  expectedTenants?: number;
  /** Arrival-rate multiplier: submit' = t0 + (submit - t0) / scaleLoad. Default 1. */
  scaleLoad?: number;
  /** Feed cycles only new arrivals when nothing was released (exact, see module comment). Default true. */
  incremental?: boolean;
  /** Points per time series (even). Default 512. */
  seriesPoints?: number;
  /** Called every `progressEvery` arrivals with the arrivals so far. */
  onProgress?: (arrivals: number) => void;
  progressEvery?: number;
  /** Called for every start (tests use it to check exact start times). */
  onStart?: (job: SimJob, start: number, end: number) => void;
  /** Called for every start, preemption and requeue, in order (the server equivalence test compares them). */
  onTransition?: (t: SimTransition) => void;
  /** Budgets for the run, held by the scheduler's budget gate as on the server (budgets.ts). */
  budgets?: SimBudgetOptions;
}

/** SimTransition: a start (with its nodes), a preemption decision or a requeue of a trace job, at virtual seconds. */
export type SimTransition =
  | { kind: 'start'; jobId: string; at: number; nodes: string[]; borrowed: boolean }
  | { kind: 'preempt'; jobId: string; at: number; forJobId: string }
  | { kind: 'requeue'; jobId: string; at: number };

export interface SimResult {
  policy: string;
  summary: SimSummary;
  series: SimSeries;
  distributions: SimDistributions;
}

interface JobRecord {
  job: SimJob;
  sched: SchedJob;
  start: number;
  /** Bumped when a planned completion is superseded (eviction): stale heap entries are skipped. */
  gen: number;
  /** Started before and preempted (its queueing delay was counted at the first start). */
  restarted: boolean;
  info: RunningJobInfo | null;
}

/** CompletionHeap: binary min-heap on (time, seq), parallel arrays, sift with a hole (no swaps). */
class CompletionHeap {
  private times: number[] = [];
  private seqs: number[] = [];
  private recs: JobRecord[] = [];
  private gens: number[] = [];
  /** Generation of the record when the entry last popped was pushed. */
  poppedGen = 0;

  get size(): number {
    return this.times.length;
  }

  peekTime(): number {
    return this.times.length > 0 ? this.times[0] : Number.POSITIVE_INFINITY;
  }

  push(t: number, seq: number, rec: JobRecord): void {
    const { times, seqs, recs, gens } = this;
    const gen = rec.gen;
    let i = times.length;
    times.push(t);
    seqs.push(seq);
    recs.push(rec);
    gens.push(gen);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (times[p] < t || (times[p] === t && seqs[p] < seq)) break;
      times[i] = times[p];
      seqs[i] = seqs[p];
      recs[i] = recs[p];
      gens[i] = gens[p];
      i = p;
    }
    times[i] = t;
    seqs[i] = seq;
    recs[i] = rec;
    gens[i] = gen;
  }

  pop(): JobRecord {
    const { times, seqs, recs, gens } = this;
    const top = recs[0];
    this.poppedGen = gens[0];
    const t = times.pop()!;
    const seq = seqs.pop()!;
    const rec = recs.pop()!;
    const gen = gens.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && (times[r] < times[l] || (times[r] === times[l] && seqs[r] < seqs[l])) ? r : l;
        if (t < times[m] || (t === times[m] && seq < seqs[m])) break;
        times[i] = times[m];
        seqs[i] = seqs[m];
        recs[i] = recs[m];
        gens[i] = gens[m];
        i = m;
      }
      times[i] = t;
      seqs[i] = seq;
      recs[i] = rec;
      gens[i] = gen;
    }
    return top;
  }
}

/** Puller turns a sync or async job stream into `next()`; sync streams avoid a promise per job. */
class Puller {
  private readonly sync: Iterator<SimJob> | null;
  private readonly async: AsyncIterator<SimJob> | null;

  constructor(source: JobSource) {
    if (Symbol.iterator in source) {
      this.sync = (source as Iterable<SimJob>)[Symbol.iterator]();
      this.async = null;
    } else {
      this.sync = null;
      this.async = (source as AsyncIterable<SimJob>)[Symbol.asyncIterator]();
    }
  }

  next(): SimJob | undefined | Promise<SimJob | undefined> {
    if (this.sync) {
      const r = this.sync.next();
      return r.done ? undefined : r.value;
    }
    return this.async!.next().then((r) => (r.done ? undefined : r.value));
  }
}

/** ClassQueue: the queued jobs of one equivalence class in cycle order (compareJobs), with a head index. */
class ClassQueue {
  private jobs: SchedJob[] = [];
  private head = 0;

  constructor(
    readonly key: string,
    readonly gpuType: string | null,
    readonly gpus: number,
  ) {}

  get size(): number {
    return this.jobs.length - this.head;
  }

  insert(j: SchedJob): void {
    const a = this.jobs;
    let i = a.length;
    while (i > this.head && compareJobs(a[i - 1], j) > 0) i--;
    if (i === a.length) a.push(j);
    else a.splice(i, 0, j);
  }

  /** take appends the first `n` jobs to `out`. */
  take(n: number, out: SchedJob[]): void {
    const end = Math.min(this.jobs.length, this.head + n);
    for (let i = this.head; i < end; i++) out.push(this.jobs[i]);
  }

  remove(j: SchedJob): void {
    const a = this.jobs;
    if (a[this.head] === j) {
      this.head++;
      if (this.head > 1024 && this.head * 2 > a.length) {
        this.jobs = a.slice(this.head);
        this.head = 0;
      }
      return;
    }
    const i = a.indexOf(j, this.head);
    if (i >= 0) a.splice(i, 1);
  }
}

export class TraceOrderError extends Error {}

/** simulate runs the whole stream through the scheduler and returns metrics (see module comment). */
export async function simulate(source: JobSource, opts: SimOptions): Promise<SimResult> {
  const fleet = opts.fleet;
  const policy = typeof opts.policy === 'object' ? opts.policy : getPolicy(opts.policy ?? 'default');
  const cycle = opts.cycle ?? { mode: 'event' };
  if (cycle.mode === 'interval' && !(cycle.seconds > 0)) throw new Error('cycle interval must be > 0');
  const scaleLoad = opts.scaleLoad ?? 1;
  if (!(scaleLoad > 0)) throw new Error('scaleLoad must be > 0');
  // The shortcut's argument holds for v1 semantics only: policies with extra inputs always get the full queue.
  const settings = policySettings(policy.scheduling);
  // Budgets too: a job held for money may take a class's capacity slot that another project's job could use.
  const incremental =
    (opts.incremental ?? true) &&
    !settings.fairShare &&
    !settings.preemption &&
    !settings.borrowing &&
    !settings.backfill &&
    !opts.budgets;
  const budgets = opts.budgets ? new SimBudgets(opts.budgets) : null;
  const dynamic = new DynamicInputs(settings);
  const entitlements = opts.entitlements ?? new Map<string, number>();
  const cluster = new ClusterModel(fleet);
  const metrics = new MetricsCollector(fleet, cluster, entitlements, 1, opts.seriesPoints ?? 512);
  const quotas = new QuotaBook(fleet, policy.quotaMode, entitlements, opts.expectedTenants ?? Math.max(1, entitlements.size));
  const fitCache = new Map<string | number, PendingReason | null>();
  const records = new Map<string, JobRecord>();
  const heap = new CompletionHeap();
  /** The job lifecycle the server runs (src/lifecycle): starts, evictions, requeues and holds. */
  const lifecycle = new LifecycleState();
  const graceSeconds = settings.graceSeconds;
  const progressEvery = opts.progressEvery ?? 4096;

  /** Full queue in arrival order; kept only with the shortcut off. */
  let queue: SchedJob[] = [];
  let queued = 0;
  /**
   * Queued jobs by equivalence class, each in cycle order (compareJobs). Classes are per
   * (type, shape) when quotas are unlimited (capacity failures are shared across projects and
   * quota never fails), else per (project, type, shape).
   */
  const classes = new Map<string, ClassQueue>();
  const perProjectClasses = policy.quotaMode !== 'unlimited';
  let fresh: SchedJob[] = [];
  let dirty = false;
  let seq = 0;
  let startSeq = 0;
  let arrivals = 0;
  let firstRaw = Number.NaN;
  let lastRaw = Number.NEGATIVE_INFINITY;
  let lastCycleAt = Number.NEGATIVE_INFINITY;
  let now = 0;

  const puller = new Puller(source);
  const pull = async (): Promise<SimJob | undefined> => {
    const r = puller.next();
    const job = r instanceof Promise ? await r : r;
    if (!job) return undefined;
    if (job.submitTime < lastRaw) {
      throw new TraceOrderError(`trace not sorted by submit time: job ${job.id} at ${job.submitTime} after ${lastRaw}`);
    }
    lastRaw = job.submitTime;
    if (Number.isNaN(firstRaw)) firstRaw = job.submitTime;
    if (scaleLoad === 1) return job;
    return { ...job, submitTime: firstRaw + (job.submitTime - firstRaw) / scaleLoad };
  };

  const admit = (job: SimJob, t: number): void => {
    arrivals++;
    const project = tenantKey(job);
    metrics.onArrival(project, t);
    const shapeKey =
      job.gpuType === null ? job.gpusPerNode * 1048576 + job.nodes : `${job.gpuType}\u0000${job.gpusPerNode}\u0000${job.nodes}`;
    let never = fitCache.get(shapeKey);
    if (never === undefined) {
      never = validateJobFitsFleet(fleet, job);
      fitCache.set(shapeKey, never);
    }
    if (never) {
      metrics.onRejected(job);
      return;
    }
    quotas.ensure(project);
    const id = String(seq);
    const sched: SchedJob = {
      id,
      seq: seq++,
      org: job.org,
      project,
      gpuType: job.gpuType,
      gpusPerNode: job.gpusPerNode,
      nodes: job.nodes,
      priority: job.priority ?? 100,
      submittedAt: Math.round(job.submitTime * 1000),
      maxRuntimeSeconds: job.wallLimit,
    };
    records.set(id, { job, sched, start: -1, gen: 0, restarted: false, info: null });
    admitJob(lifecycle, {
      id,
      org: sched.org,
      project,
      priority: sched.priority,
      maxRuntimeSeconds: sched.maxRuntimeSeconds,
      onNodeFailure: 'requeue',
    });
    queued++;
    if (incremental) classOf(sched, true)!.insert(sched);
    else queue.push(sched);
    fresh.push(sched);
    metrics.onQueued(job);
  };

  const classKey = (j: SchedJob): string =>
    `${perProjectClasses ? j.project : ''}\u0000${j.gpuType ?? '*'}\u0000${j.gpusPerNode}\u0000${j.nodes}`;
  const classOf = (j: SchedJob, create: boolean): ClassQueue | undefined => {
    const key = classKey(j);
    let c = classes.get(key);
    if (!c && create) {
      c = new ClassQueue(key, j.gpuType, j.gpusPerNode * j.nodes);
      classes.set(key, c);
    }
    return c;
  };

  /** capacityFiltered: per class, the first floor(free / GPUs) jobs (see module comment). */
  const capacityFiltered = (): SchedJob[] => {
    const freeAll = cluster.freeGpus();
    const freeByType = new Map<string, number>();
    for (const type of fleet.gpuTypes) freeByType.set(type, cluster.freeGpus({ gpuType: type }));
    const out: SchedJob[] = [];
    for (const c of classes.values()) {
      const free = c.gpuType === null ? freeAll : (freeByType.get(c.gpuType) ?? 0);
      if (c.gpus > free) continue;
      c.take(Math.floor(free / c.gpus), out);
    }
    return out;
  };

  const runCycle = (t: number): void => {
    if (!incremental) releaseHolds(lifecycle);
    const input = {
      ...(settings.borrowing ? { borrowing: settings.borrowing } : {}),
      ...(settings.backfill ? { backfill: settings.backfill } : {}),
      ...dynamic.inputs(t, queue),
      queue: !incremental ? queue.filter((j) => schedulable(lifecycle, j.id)) : dirty ? capacityFiltered() : fresh,
      quotas: quotas.quotas,
      now: Math.round(t * 1000),
    };
    if (budgets) Object.assign(input, { budgets: budgets.input(input.queue, (id) => records.get(id)?.job) });
    const res = scheduleCycle(cluster, input);
    lastCycleAt = t;
    fresh = [];
    dirty = false;
    execute(applyCycle(lifecycle, res, Math.round(t * 1000), graceSeconds).effects, t);
    if (!incremental) queue = queue.filter((j) => waiting(j.id));
  };

  /** waiting: queued, or held back behind the job it was preempted for. */
  const waiting = (id: string): boolean => {
    const phase = lifecycle.get(id)?.state.phase;
    return phase === 'queued' || phase === 'held';
  };

  /** execute carries out the lifecycle's effects on the virtual clock (persisting is the metrics' business). */
  const execute = (effects: readonly Effect[], t: number): void => {
    for (const e of effects) {
      if (e.type === 'charge-usage') continue;
      const rec = records.get(e.jobId);
      if (!rec) continue;
      switch (e.type) {
        case 'start-on-driver': {
          rec.start = t;
          queued--;
          if (incremental) {
            const c = classOf(rec.sched, false)!;
            c.remove(rec.sched);
            if (c.size === 0) classes.delete(c.key);
          }
          const run = Math.min(rec.job.duration, rec.job.wallLimit);
          heap.push(t + run, startSeq++, rec);
          budgets?.started(rec.job, t);
          metrics.onStart(rec.job, rec.sched.project, t, rec.restarted);
          handedOver(lifecycle, rec.sched.id, graceSeconds);
          track(rec);
          opts.onStart?.(rec.job, t, t + run);
          opts.onTransition?.({
            kind: 'start',
            jobId: rec.job.id,
            at: t,
            nodes: e.placement.nodes.map((n) => n.node),
            borrowed: runOf(lifecycle.get(rec.sched.id)?.state ?? { phase: 'queued' })?.borrowed === true,
          });
          break;
        }
        case 'persist-stop':
          if (e.cause.kind === 'preempt')
            opts.onTransition?.({
              kind: 'preempt',
              jobId: rec.job.id,
              at: t,
              forJobId: records.get(e.cause.forJobId)?.job.id ?? e.cause.forJobId,
            });
          break;
        case 'stop-on-driver':
          // A simulated job checkpoints instantly and honours the stop at once (as the server's
          // SimDriver does): its planned completion is superseded by an exit at this instant, after
          // which the engine runs another cycle at the same instant (the capacity came free).
          rec.gen++;
          heap.push(t, startSeq++, rec);
          track(rec);
          break;
        case 'release':
          cluster.release(rec.sched.id);
          budgets?.released(rec.job, t);
          if (rec.info) dynamic.ended(rec.info);
          rec.info = null;
          dirty = true;
          break;
        case 'persist-requeue':
          // Back to the queue with its history (submit time, id), to run again from scratch.
          metrics.onPreempted(rec.job, rec.sched.project, rec.start, t);
          rec.restarted = true;
          rec.start = -1;
          rec.gen++;
          queued++;
          queue.push(rec.sched);
          opts.onTransition?.({ kind: 'requeue', jobId: rec.job.id, at: t });
          break;
        case 'persist-finish':
          records.delete(rec.sched.id);
          metrics.onEnd(rec.job, rec.sched.project, rec.start, t, rec.job.duration > rec.job.wallLimit);
          break;
      }
    }
  };

  /** track refreshes a started job's view for the scheduler (preemption, backfill, fair share). */
  const track = (rec: JobRecord): void => {
    if (!dynamic.tracksRunning) return;
    const j = lifecycle.get(rec.sched.id);
    const view = j ? runningView(j) : null;
    if (rec.info) dynamic.ended(rec.info);
    rec.info = view;
    if (view) dynamic.started(view, cluster.allocationOf(rec.sched.id)?.gpuType ?? '*');
  };

  let next = await pull();
  for (;;) {
    const tArr = next ? next.submitTime : Number.POSITIVE_INFINITY;
    const tEnd = heap.peekTime();
    let tTick = Number.POSITIVE_INFINITY;
    if (cycle.mode === 'interval' && queued > 0) {
      tTick = Math.ceil(now / cycle.seconds) * cycle.seconds;
      if (tTick <= lastCycleAt) tTick = lastCycleAt + cycle.seconds;
    }
    const t = Math.min(tArr, tEnd, tTick);
    if (t === Number.POSITIVE_INFINITY) break;
    now = t;
    while (heap.peekTime() === t) {
      const rec = heap.pop();
      if (heap.poppedGen !== rec.gen) continue; // superseded by an eviction
      const stopping = lifecycle.get(rec.sched.id)?.state.phase === 'stopping';
      const exit = stopping
        ? ({ outcome: 'cancelled', exitCode: 143 } as const)
        : rec.job.duration > rec.job.wallLimit
          ? ({ outcome: 'timed-out', exitCode: null } as const)
          : ({ outcome: 'completed', exitCode: 0 } as const);
      execute(observeExit(lifecycle, rec.sched.id, exit, Math.round(t * 1000)).effects, t);
    }
    let arrived = false;
    while (next && next.submitTime === t) {
      admit(next, t);
      arrived = true;
      if (opts.onProgress && arrivals % progressEvery === 0) opts.onProgress(arrivals);
      next = await pull();
    }
    let ran = false;
    if (cycle.mode === 'event') {
      if (queued > 0 && (arrived || dirty)) {
        runCycle(t);
        ran = true;
      }
    } else if (t === tTick) {
      runCycle(t);
      ran = true;
    }
    metrics.onInstant(t, cluster, ran);
  }
  opts.onProgress?.(arrivals);
  const out = metrics.finish(now);
  return { policy: policy.name, ...out };
}

/**
 * DynamicInputs: the cycle inputs that change with the run: the running jobs (preemption, backfill)
 * and the decayed fair-share usage, charged for the GPUs each tenant held since the previous cycle.
 */
class DynamicInputs {
  readonly tracksRunning: boolean;
  private readonly running: RunningJobInfo[] = [];
  private readonly runningIndex = new Map<string, number>();
  /** tenant and GPU type -> GPUs held now (charged per second of virtual time, weighted per type). */
  private readonly held = new Map<string, { project: string; gpuType: string; gpus: number }>();
  private readonly heldKey = new Map<string, string>();
  private usage = new Map<string, number>();
  private usageAt = Number.NaN;

  constructor(private readonly settings: PolicySettings) {
    // Borrowing needs them too: a borrowed job's GPUs do not count against its project's guarantee.
    this.tracksRunning =
      settings.fairShare !== undefined ||
      settings.preemption !== undefined ||
      settings.backfill !== undefined ||
      settings.borrowing !== undefined;
  }

  started(info: RunningJobInfo, gpuType: string): void {
    this.runningIndex.set(info.id, this.running.length);
    this.running.push(info);
    const key = `${info.project}\u0000${gpuType}`;
    this.heldKey.set(info.id, key);
    const h = this.held.get(key) ?? { project: info.project, gpuType, gpus: 0 };
    h.gpus += info.gpus;
    this.held.set(key, h);
  }

  ended(info: RunningJobInfo): void {
    const i = this.runningIndex.get(info.id);
    if (i === undefined) return;
    const last = this.running.pop()!;
    if (last !== info) {
      this.running[i] = last;
      this.runningIndex.set(last.id, i);
    }
    this.runningIndex.delete(info.id);
    const h = this.held.get(this.heldKey.get(info.id) ?? '');
    if (h) h.gpus -= info.gpus;
    this.heldKey.delete(info.id);
  }

  /**
   * shares: the fair-share weights of the tenants with live jobs (waiting or started), by the
   * server's rule: the policy file's share where it names the org or project, else 1. Siblings are
   * normalised over live tenants only, as the server's cycle does.
   */
  private shares(waiting: readonly SchedJob[]): { orgShares: Map<string, number>; projectShares: Map<string, number> } {
    const fs = this.settings.fairShare;
    const orgShares = new Map<string, number>();
    const projectShares = new Map<string, number>();
    const share = (project: string, org: string) => {
      if (!projectShares.has(project)) projectShares.set(project, fs?.projectShares[project] ?? 1);
      if (!orgShares.has(org)) orgShares.set(org, fs?.orgShares[org] ?? 1);
    };
    for (const j of waiting) share(j.project, j.org);
    for (const r of this.running) share(r.project, r.org);
    return { orgShares, projectShares };
  }

  inputs(
    t: number,
    waiting: readonly SchedJob[],
  ): { running?: readonly RunningJobInfo[]; fairShare?: FairShareInput; preemption?: PreemptionInput } {
    const out: { running?: readonly RunningJobInfo[]; fairShare?: FairShareInput; preemption?: PreemptionInput } = {};
    if (this.tracksRunning) out.running = this.running;
    const fs = this.settings.fairShare;
    if (fs) {
      const elapsed = Number.isNaN(this.usageAt) ? 0 : t - this.usageAt;
      this.usageAt = t;
      if (elapsed > 0) {
        const charges = [];
        for (const h of this.held.values()) if (h.gpus > 0) charges.push({ ...h, seconds: elapsed });
        this.usage = chargeUsage(decayUsage(this.usage, elapsed, fs.halfLifeSeconds), charges, fs.gpuTypeWeights);
      }
      out.fairShare = {
        ...this.shares(waiting),
        usage: this.usage,
        weights: fs.weights,
        gpuTypeWeights: fs.gpuTypeWeights,
        maxAgeSeconds: fs.maxAgeSeconds,
      };
    }
    if (this.settings.preemption) out.preemption = this.settings.preemption;
    return out;
  }
}
