/**
 * Benchmark: scheduler cycles at scale with every policy on (multifactor fair share, cohort
 * borrowing, preemption, EASY backfill with reservations, a capacity window, explain). Fleets: the demo fleet
 * (10,240 GPUs) and the demo fleet x10 (102,400 GPUs). Queues: 1,000 / 10,000 / 50,000 pending.
 *
 * Each configuration prefills the fleet to ~75% with a realistic running mix (partial nodes, whole
 * nodes, gangs up to 32 nodes; limits 30 min to 24 h; some borrowed), then runs timed cycles:
 * jobs reaching their end or finishing early are released, preemption victims drain by the next
 * cycle and are requeued, arrivals top the queue back up, fair-share usage decays and accrues.
 * Only scheduleCycle is timed. Two modes:
 * - `interval`: cycles 30 simulated seconds apart (the live server's cadence on a busy fleet). The
 *   fleet is full, so starts per cycle are bounded by the few jobs that end in 30 s: this measures
 *   cycle latency, not admission throughput.
 * - `turnover`: sustained admissions. Each cycle runs when the next TURNOVER running jobs have
 *   ended (simulated time jumps to that end), so every cycle finds capacity to refill; admissions
 *   per second = starts / seconds of scheduleCycle wall time, in that steady state.
 *   `--turnover N` sets the jobs ended per cycle (default 100, the historical figure, whatever the
 *   fleet); `--turnover auto` scales it with the fleet (100 per 10,240 GPUs: 1,000 at 102,400),
 *   since with the same job durations a fleet ten times larger ends ten times as many jobs per
 *   unit of time. Rows say which (`turnoverJobs`, `turnoverRule`).
 *
 * Run: `npm run bench -- scheduler-scale` (bench/run.ts writes the rows and the plot
 * bench/results/scheduler-scale.svg), or `npx tsc -p . && node dist/bench/scheduler-scale.js`
 * (prints a table and JSON). SCALE_TRACE=1 prints every timed cycle's wall and CPU time. `--digest` adds to each
 * row a hash of every decision of every cycle (warm-up included; SCALE_DIGEST_TRACE=1 prints them
 * per cycle): two builds that print the same digest decided alike, bit for bit. `--warm-runs N`
 * runs each configuration N times first and discards those runs (rows carry `warmRuns`): the
 * timed run then meets JIT-optimised code, as in a server that has been scheduling for a while.
 * Without it, the first tens of cycles of a fresh process still pay for V8's tiering up (the
 * 102,400-GPU turnover cycle costs ~1.5x more CPU cold than warm, 2026-12-07).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { expandFleet, loadFleetFile } from '../src/fleet/load-fleet.js';
import type { Fleet, GpuType } from '../src/model/fleet.js';
import { PRIORITY_CLASSES } from '../src/model/job.js';
import { mulberry32 } from '../src/model/prng.js';
import {
  ClusterModel,
  type CycleInput,
  chargeUsage,
  decayUsage,
  type FairShareInput,
  IncrementalScheduler,
  type QuotaTable,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
  type UsageCharge,
} from '../src/scheduler/index.js';
import { orderIndexes } from '../src/scheduler/order.js';

const ORGS: Record<string, string[]> = {
  acme: ['robotics', 'vision', 'llm-pretrain'],
  helix: ['speech', 'drug-discovery'],
  gaia: ['climate', 'finance', 'edu'],
};
const PROJECTS = Object.values(ORGS).flat();
const ORG_OF = new Map(Object.entries(ORGS).flatMap(([org, ps]) => ps.map((p) => [p, org] as [string, string])));
/** Share of the fleet per project, B200 and RTX (sums to ~1.2x: quotas are oversubscribed). */
const B200_SHARE = [0.25, 0.15, 0.3, 0.08, 0.12, 0.12, 0.06, 0.03];
const RTX_SHARE = [0.1, 0.2, 0.1, 0.2, 0.1, 0.1, 0.1, 0.2];

function quotasFor(fleet: Fleet): QuotaTable {
  const total = (t: GpuType) => fleet.nodes.filter((n) => n.gpuType === t).reduce((a, n) => a + n.gpus, 0);
  const b200 = total('B200');
  const rtx = total('RTX-PRO-6000');
  return new Map(
    PROJECTS.map((p, i) => [
      p,
      new Map<GpuType, number>([
        ['B200', Math.round(B200_SHARE[i] * b200)],
        ['RTX-PRO-6000', Math.round(RTX_SHARE[i] * rtx)],
      ]),
    ]),
  );
}

const RUNTIMES = [1800, 3600, 3600, 4 * 3600, 8 * 3600, 24 * 3600];
const PRIORITIES = [
  PRIORITY_CLASSES.preemptible,
  PRIORITY_CLASSES.low,
  PRIORITY_CLASSES.normal,
  PRIORITY_CLASSES.normal,
  PRIORITY_CLASSES.normal,
  PRIORITY_CLASSES.high,
];

function jobGenerator(rand: () => number, scale: number): (now: number) => SchedJob {
  let seq = 0;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  return (now) => {
    seq++;
    const r = rand();
    const t = rand();
    let gpuType: GpuType | null = t < 0.8 ? 'B200' : t < 0.95 ? 'RTX-PRO-6000' : null;
    let gpusPerNode: number;
    let nodes = 1;
    if (r < 0.4) gpusPerNode = pick([1, 1, 2, 2, 4]);
    else if (r < 0.65) gpusPerNode = 8;
    else if (r < 0.95) {
      gpusPerNode = 8;
      nodes = pick([2, 2, 4, 4, 4, 8, 8, 16, 32]);
      if (scale > 1 && rand() < 0.1) nodes = 64;
      if (gpuType !== 'B200') nodes = Math.min(nodes, 8);
    } else {
      gpusPerNode = 4;
      nodes = pick([2, 3, 4]);
    }
    if (gpuType === null && nodes > 8) gpuType = 'B200';
    const project = pick(PROJECTS);
    return {
      id: `job-${seq}`,
      seq,
      org: ORG_OF.get(project) ?? 'acme',
      project,
      gpuType,
      gpusPerNode,
      nodes,
      priority: pick(PRIORITIES),
      submittedAt: now - Math.floor(rand() * 3600_000),
      maxRuntimeSeconds: pick(RUNTIMES),
    };
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const round = (x: number) => Math.round(x * 100) / 100;

interface Live {
  job: SchedJob;
  info: RunningJobInfo;
  /** Simulated end (may be before the limit). */
  endsAt: number;
}

/** TURNOVER: running jobs that end between two cycles in `turnover` mode (the default, fixed figure). */
const TURNOVER = 100;

/** Turnover: jobs ended per cycle in `turnover` mode: a fixed count, or `auto` (scaled with the fleet). */
export type Turnover = number | 'auto';

/** turnoverJobs: the jobs a cycle waits for; `auto` is TURNOVER per 10,240 GPUs of the fleet. */
export function turnoverJobs(turnover: Turnover, fleetGpus: number): number {
  if (turnover === 'auto') return Math.max(1, Math.round((TURNOVER * fleetGpus) / 10_240));
  if (!Number.isInteger(turnover) || turnover < 1) throw new Error(`--turnover: ${turnover} is not a positive integer or auto`);
  return turnover;
}

/** Mode: see the module comment. */
export type ScaleMode = 'interval' | 'turnover';

/**
 * SchedulerKind: `scratch` runs scheduleCycle over the whole queue every cycle; `incremental` runs
 * an IncrementalScheduler (queue and order kept between cycles, explanations for a 200-job head
 * and on request, fair-share usage bucketed at 5%: see src/scheduler/incremental.ts).
 */
export type SchedulerKind = 'scratch' | 'incremental';

/** INCREMENTAL_OPTIONS: the incremental scheduler's settings in this bench. */
const INCREMENTAL_OPTIONS = { explainHead: 200, usageTolerance: 0.05 };

/** runScale runs one configuration and returns its row. */
function runScale(
  fleet: Fleet,
  scale: number,
  targetPending: number,
  cycles: number,
  seed: number,
  explain: boolean,
  mode: ScaleMode,
  scheduler: SchedulerKind = 'scratch',
  turnover: Turnover = TURNOVER,
  digest = false,
): Record<string, unknown> {
  // --digest: one hash per timed cycle of every decision, and of their chain, to check two builds decide alike.
  const digests: string[] = [];
  const chain = createHash('sha256');
  const ending = turnoverJobs(turnover, fleet.totalGpus);
  const rand = mulberry32(seed);
  const incremental = scheduler === 'incremental' ? new IncrementalScheduler(INCREMENTAL_OPTIONS) : undefined;
  const orderings = { kept: 0, merged: 0, sorted: 0, classes: 0 };
  const cluster = new ClusterModel(fleet);
  const quotas = quotasFor(fleet);
  const gen = jobGenerator(rand, scale);
  const live = new Map<string, Live>();
  let now = 1_800_000_000_000;
  const simStart = now;
  let usage = new Map<string, number>(PROJECTS.map((p, i) => [p, (i + 1) * 1e7 * scale]));
  const gpuTypeWeights = new Map<GpuType, number>([
    ['B200', 1],
    ['RTX-PRO-6000', 0.4],
  ]);

  const track = (job: SchedJob, borrowed: boolean, startedAt: number) => {
    const actual = job.maxRuntimeSeconds * (0.3 + 0.7 * rand());
    live.set(job.id, {
      job,
      endsAt: startedAt + actual * 1000,
      info: {
        id: job.id,
        project: job.project,
        org: job.org,
        priority: job.priority,
        gpus: job.gpusPerNode * job.nodes,
        startedAt,
        lastCheckpointAt: startedAt + Math.floor(rand() * 600_000),
        borrowed,
        preemptible: job.priority < PRIORITY_CLASSES.high,
        maxRuntimeSeconds: job.maxRuntimeSeconds,
      },
    });
  };

  // Prefill to ~75% with borrowing on (so some running jobs are borrowed), started up to 2 h ago.
  const target = 0.75 * fleet.totalGpus;
  let guard = 0;
  while (cluster.allocatedGpus() < target && guard++ < 5000) {
    const batch: SchedJob[] = [];
    for (let i = 0; i < 100; i++) batch.push(gen(now));
    const r = scheduleCycle(cluster, { queue: batch, quotas, now, borrowing: { enabled: true } });
    const byId = new Map(batch.map((j) => [j.id, j]));
    for (const s of r.starts) {
      const job = byId.get(s.jobId);
      if (job) track(job, s.borrowed === true, now - Math.floor(rand() * 7200_000));
    }
  }
  const prefillPct = (100 * cluster.allocatedGpus()) / fleet.totalGpus;

  let queue: SchedJob[] = [];
  // Queued jobs by id, kept up to date (rebuilding a 50,000-entry map per cycle would add garbage
  // the collector then reclaims inside the timed cycles).
  const queued = new Map<string, SchedJob>();
  const enqueue = (job: SchedJob) => {
    queue.push(job);
    queued.set(job.id, job);
    incremental?.submit(job);
  };
  while (queue.length < targetPending) enqueue(gen(now));

  const times: number[] = [];
  // performance.now() window of each timed cycle, to attribute garbage collections afterwards.
  const windows: [number, number][] = [];
  // CPU time of the process during each cycle (all threads, GC included): on a shared machine the
  // wall clock also counts time the cycle waited for a core.
  const cpuTimes: number[] = [];
  let totalCpuMs = 0;
  let tailMs = 0;
  let starts = 0;
  let preemptions = 0;
  let reservations = 0;
  let windowsHeld = 0;
  // Jobs a cycle never visited (stop scanning, incremental only).
  let unscanned = 0;
  let totalMs = 0;
  let draining: string[] = [];
  const warmup = 5;
  const stepMs = 30_000;
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  for (let c = 0; c < warmup + cycles; c++) {
    const prevNow = now;
    if (mode === 'interval') now += stepMs;
    else {
      // Jump to the end of the `ending`-th next running job (at least 1 ms on).
      const ends = [...live.values()].map((l) => l.endsAt).sort((a, b) => a - b);
      // Whole milliseconds, as a real clock (Date.now()) gives them.
      now = Math.max(now + 1, Math.ceil(ends[Math.min(ends.length - 1, ending - 1)] ?? now + stepMs));
    }
    const elapsedMs = now - prevNow;
    // Victims of the last cycle have drained: release and requeue them.
    for (const id of draining) {
      const l = live.get(id);
      cluster.release(id);
      live.delete(id);
      if (l) enqueue(l.job);
    }
    draining = [];
    // Finished jobs: those past their simulated end.
    const charges: UsageCharge[] = [];
    for (const [id, l] of live) {
      const p = cluster.allocationOf(id);
      if (p) charges.push({ project: l.job.project, gpuType: p.gpuType, gpus: l.info.gpus, seconds: elapsedMs / 1000 });
      if (l.endsAt <= now) {
        cluster.release(id);
        live.delete(id);
      }
    }
    usage = chargeUsage(decayUsage(usage, elapsedMs / 1000), charges, gpuTypeWeights);
    while (queue.length < targetPending) enqueue(gen(now));

    const fairShare: FairShareInput = {
      orgShares: new Map([
        ['acme', 5],
        ['helix', 3],
        ['gaia', 2],
      ]),
      projectShares: new Map(PROJECTS.map((p, i) => [p, 1 + (i % 3)])),
      projectOrgs: ORG_OF,
      usage,
      weights: { fairShare: 10_000, age: 1000, priorityClass: 5000, size: 500 },
      gpuTypeWeights,
    };
    const input: CycleInput = {
      queue,
      quotas,
      now,
      fairShare,
      borrowing: { enabled: true },
      running: [...live.values()].map((l) => l.info),
      preemption: { enabled: true },
      backfill: { enabled: true, reservations: 2 },
      capacityWindows: [
        {
          id: 'gaia-training-day',
          org: 'gaia',
          gpuType: 'B200',
          gpusPerNode: 8,
          nodes: 8 * scale,
          start: simStart + 3600_000,
          end: simStart + 5 * 3600_000,
        },
      ],
      explain,
    };
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const ri = incremental?.cycle(cluster, input);
    const r = ri ?? scheduleCycle(cluster, input);
    const t1 = performance.now();
    if (ri && c >= warmup) orderings[ri.ordering]++;
    const ms = t1 - t0;
    const used = process.cpuUsage(c0);
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);

    const started = new Set<string>();
    for (const s of r.starts) {
      started.add(s.jobId);
      const job = queued.get(s.jobId);
      queued.delete(s.jobId);
      if (job) track(job, s.borrowed === true, now);
    }
    for (const p of r.preemptions ?? []) {
      const l = live.get(p.victimId);
      if (l) l.info.evicting = true;
      draining.push(p.victimId);
    }
    if (digest) {
      // Before the queue drops this cycle's starts: every queued job's reason, explanation and priority.
      const d = decisionDigest(r, queue);
      digests.push(d);
      chain.update(d);
      if (process.env.SCALE_DIGEST_TRACE)
        console.log(`digest ${scheduler} ${mode} ${fleet.totalGpus} ${targetPending} cycle ${c} ${d}`);
    }
    if (started.size > 0) queue = queue.filter((j) => !started.has(j.id));
    if (c < warmup) continue;
    if (c === warmup + cycles - 1) {
      // Reading a job beyond the eagerly built head computes the whole tail of explain and of
      // priorities (once per cycle result): what the first `job explain` after a cycle pays.
      const lastId = queue[queue.length - 1]?.id ?? '';
      const t1 = performance.now();
      r.explain?.get(lastId);
      r.priorities?.get(lastId);
      tailMs = performance.now() - t1;
    }
    times.push(ms);
    windows.push([t0, t1]);
    if (process.env.SCALE_TRACE)
      console.log(
        `cycle ${c} wall ${ms.toFixed(1)} cpu ${((used.user + used.system) / 1000).toFixed(1)} starts ${r.starts.length}`,
      );
    cpuTimes.push((used.user + used.system) / 1000);
    totalMs += ms;
    totalCpuMs += (used.user + used.system) / 1000;
    starts += r.starts.length;
    preemptions += r.preemptions?.length ?? 0;
    reservations += r.reservations?.length ?? 0;
    unscanned += r.stats.unscanned ?? 0;
    windowsHeld = r.windows?.length ?? 0;
  }
  const sorted = [...times].sort((a, b) => a - b);
  const cpuSorted = [...cpuTimes].sort((a, b) => a - b);
  return {
    scheduler,
    mode,
    fleetGpus: fleet.totalGpus,
    pending: targetPending,
    cycles,
    prefillPct: round(prefillPct),
    allocatedPct: round((100 * cluster.allocatedGpus()) / fleet.totalGpus),
    runningJobs: live.size,
    ...(mode === 'turnover' ? { turnoverJobs: ending, turnoverRule: turnover === 'auto' ? 'auto' : 'fixed' } : {}),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
    cpuP50Ms: round(percentile(cpuSorted, 50)),
    cpuP99Ms: round(percentile(cpuSorted, 99)),
    startsPerCycle: round(starts / Math.max(1, cycles)),
    admissionsPerSec: Math.round(starts / Math.max(1e-9, totalMs / 1000)),
    admissionsPerCpuSec: Math.round(starts / Math.max(1e-9, totalCpuMs / 1000)),
    preemptionsPerCycle: round(preemptions / Math.max(1, cycles)),
    reservationsPerCycle: round(reservations / Math.max(1, cycles)),
    windowsHeld: windowsHeld,
    explainTailMs: round(tailMs),
    heapUsedMB: round(process.memoryUsage().heapUsed / 2 ** 20),
    heapPeakMB: round(heapPeak / 2 ** 20),
    loadAvg1m: round(loadavg()[0]),
    ...(incremental ? { unscannedPerCycle: round(unscanned / Math.max(1, cycles)) } : {}),
    ...(incremental
      ? {
          orderKept: orderings.kept,
          orderMerged: orderings.merged,
          orderSorted: orderings.sorted,
          orderClasses: orderings.classes,
        }
      : {}),
    ...(digest ? { digest: chain.digest('hex').slice(0, 16), cycleDigests: digests.map((d) => d.slice(0, 12)) } : {}),
    windows,
    cycleTimes: times,
  };
}

/**
 * decisionDigest hashes everything a cycle decided: starts with their placements, borrowing and
 * lenders, preemptions, reservations, windows, stats, and per queued job (in the caller's queue
 * order) its pending reason, explanation and priority (reading the lazy tails in full).
 */
function decisionDigest(r: ReturnType<typeof scheduleCycle>, queue: readonly SchedJob[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([r.starts, r.preemptions, r.reservations, r.windows, r.stats]));
  for (const j of queue) {
    h.update(JSON.stringify([j.id, r.pending.get(j.id), r.explain?.get(j.id), r.priorities?.get(j.id)]));
  }
  return h.digest('hex');
}

/**
 * GcRecorder collects V8's garbage-collection entries. They are delivered when the event loop turns
 * (after a configuration), with their start and duration, so each is attributed afterwards to the
 * timed cycle it fell in: the answer to "is the slow tail GC?".
 */
class GcRecorder {
  private readonly entries: { start: number; end: number; major: boolean }[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.entries.push(gcEntry(e));
  });

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /** attribute replaces a row's cycle windows by GC figures per cycle and the p99 without major GCs. */
  attribute(row: Record<string, unknown>): void {
    const windows = row.windows as [number, number][];
    const times = row.cycleTimes as number[];
    delete row.windows;
    delete row.cycleTimes;
    const gcMs: number[] = [];
    const withoutMajor: number[] = [];
    let majorCycles = 0;
    windows.forEach(([t0, t1], i) => {
      let ms = 0;
      let major = false;
      for (const e of this.entries) {
        if (e.end <= t0 || e.start >= t1) continue;
        ms += Math.min(e.end, t1) - Math.max(e.start, t0);
        major ||= e.major;
      }
      gcMs.push(ms);
      if (major) majorCycles++;
      else withoutMajor.push(times[i]);
    });
    const gcSorted = [...gcMs].sort((a, b) => a - b);
    row.gcP50Ms = round(percentile(gcSorted, 50));
    row.gcP99Ms = round(percentile(gcSorted, 99));
    row.gcShare = round(
      gcMs.reduce((a, b) => a + b, 0) /
        Math.max(
          1e-9,
          times.reduce((a, b) => a + b, 0),
        ),
    );
    row.majorGcCycles = majorCycles;
    row.p99NoMajorGcMs = round(
      percentile(
        withoutMajor.sort((a, b) => a - b),
        99,
      ),
    );
  }

  clear(): void {
    this.entries.length = 0;
  }

  stop(): void {
    this.observer.disconnect();
  }
}

/** gcEntry: a gc PerformanceEntry's window and whether it was a full (mark-compact) collection. */
function gcEntry(e: PerformanceEntry): { start: number; end: number; major: boolean } {
  const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
  // NODE_PERFORMANCE_GC_MAJOR = 4 (perf_hooks.constants).
  return { start: e.startTime, end: e.startTime + e.duration, major: kind === 4 };
}

/**
 * benchSchedulerScale runs the grid {demo fleet, demo x10} x {1,000, 10,000, 50,000 pending} in both
 * modes and returns one row per configuration (milliseconds per cycle, admissions per second of
 * cycle time, heap in MiB).
 */
export async function benchSchedulerScale(
  opts: {
    cycles?: number;
    pendings?: number[];
    scales?: number[];
    explain?: boolean;
    modes?: ScaleMode[];
    schedulers?: SchedulerKind[];
    turnover?: Turnover;
    digest?: boolean;
    /** Discarded runs of each configuration before the timed one (JIT warm-up); default 0. */
    warmRuns?: number;
  } = {},
): Promise<Record<string, unknown>[]> {
  const demo = loadFleetFile();
  const rows: Record<string, unknown>[] = [];
  const gc = new GcRecorder();
  try {
    for (const mode of opts.modes ?? (['interval', 'turnover'] as const)) {
      for (const scale of opts.scales ?? [1, 10]) {
        const fleet = scale === 1 ? demo : expandFleet(demo.spec, scale);
        for (const pending of opts.pendings ?? [1000, 10_000, 50_000]) {
          // Side by side: the same seed, so both schedulers see the same fleet, jobs and history.
          for (const scheduler of opts.schedulers ?? ['scratch']) {
            const cycles = opts.cycles ?? 100;
            // --warm-runs: the same configuration run first and thrown away, so that the timed run
            // meets code V8 has already optimised, as a server that has run for a while does.
            const warmRuns = opts.warmRuns ?? 0;
            for (let w = 0; w < warmRuns; w++) {
              runScale(fleet, scale, pending, cycles, 7 + scale + pending, opts.explain ?? true, mode, scheduler, opts.turnover);
            }
            if (warmRuns > 0) {
              await new Promise((resolve) => setTimeout(resolve, 20));
              gc.clear();
            }
            const calibrationMs = calibrate();
            const row = {
              scale,
              calibrationMs,
              warmRuns,
              ...runScale(
                fleet,
                scale,
                pending,
                cycles,
                7 + scale + pending,
                opts.explain ?? true,
                mode,
                scheduler,
                opts.turnover,
                opts.digest,
              ),
            };
            // Let the observer deliver this configuration's GC entries (on a timer turn), then attribute them.
            await new Promise((resolve) => setTimeout(resolve, 20));
            gc.attribute(row);
            gc.clear();
            rows.push(row);
          }
        }
      }
    }
  } finally {
    gc.stop();
  }
  return rows;
}

/**
 * calibrate times a fixed piece of the scheduler's own work (ordering 100,000 random scores, the
 * radix sort of every cycle) 15 times and returns the median in ms. Recorded beside each run, it
 * tells a slower machine or a contended core apart from slower code: the ratio cycle / calibration
 * is comparable between runs, the raw milliseconds are not.
 */
export function calibrate(): number {
  const rand = mulberry32(42);
  const n = 100_000;
  const scores = new Float64Array(n);
  const seqs = new Float64Array(n);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    scores[i] = Math.floor(rand() * 1000) / 7;
    seqs[i] = i;
    ids.push(`job-${i}`);
  }
  const ms: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    orderIndexes(scores, seqs, ids);
    ms.push(performance.now() - t0);
  }
  return round(
    percentile(
      ms.sort((a, b) => a - b),
      50,
    ),
  );
}

/**
 * measureMemory reports retained memory, V8 heap plus array buffers (after full collections; needs `node --expose-gc`, else
 * undefined) per node of the ClusterModel, per queued SchedJob (the caller's objects), and per
 * pending job for a cycle result with every policy and explain on, before and after its lazy tail
 * is read. Two cycles: the first fills the empty fleet, the second (measured) sees a full one.
 */
export async function measureMemory(
  scale: number,
  pending: number,
  scheduler: SchedulerKind = 'scratch',
): Promise<Record<string, unknown> | undefined> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  // Some memory (array buffers, weak references) is only freed after the event loop turns.
  const heap = async () => {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();
    // Typed arrays' backing stores live outside the V8 heap: count them too.
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const demo = loadFleetFile();
  const fleet = scale === 1 ? demo : expandFleet(demo.spec, scale);
  const rand = mulberry32(11 + scale);
  const gen = jobGenerator(rand, scale);
  const now = 1_800_000_000_000;
  const quotas = quotasFor(fleet);
  // Held through an object only, so dropping it (below) leaves no other reference.
  const holder: { cluster?: ClusterModel } = { cluster: new ClusterModel(fleet) };
  const model = () => holder.cluster as ClusterModel;
  let queue: SchedJob[] = [];
  const input = (explain: boolean): CycleInput => ({
    queue,
    quotas,
    now,
    fairShare: {
      orgShares: new Map([
        ['acme', 5],
        ['helix', 3],
        ['gaia', 2],
      ]),
      projectShares: new Map(PROJECTS.map((p, i) => [p, 1 + (i % 3)])),
      projectOrgs: ORG_OF,
      usage: new Map(PROJECTS.map((p, i) => [p, (i + 1) * 1e7 * scale])),
      weights: { fairShare: 10_000, age: 1000, priorityClass: 5000, size: 500 },
    },
    borrowing: { enabled: true },
    running: [],
    preemption: { enabled: true },
    backfill: { enabled: true, reservations: 2 },
    explain,
  });
  for (let i = 0; i < pending; i++) queue.push(gen(now));
  const started = new Set(scheduleCycle(model(), input(false)).starts.map((st) => st.jobId));
  queue = queue.filter((j) => !started.has(j.id));
  while (queue.length < pending) queue.push(gen(now));
  // The caller's job objects: measured on a second, throw-away batch of the same size.
  let batch: SchedJob[] | undefined = [];
  for (let i = 0; i < pending; i++) batch.push(gen(now));
  const h1 = await heap();
  // A read after the measurement keeps the batch alive until then (an unread variable may be collected).
  if (batch.length !== pending) throw new Error('batch size');
  batch = undefined;
  const h2 = await heap();
  // Incremental: the scheduler's own state (queue, id index, last order, last result) counts too.
  let incremental: IncrementalScheduler | undefined;
  if (scheduler === 'incremental') {
    incremental = new IncrementalScheduler(INCREMENTAL_OPTIONS);
    for (const j of queue) incremental.submit(j);
  }
  let r: ReturnType<typeof scheduleCycle> | undefined = incremental
    ? incremental.cycle(model(), input(true))
    : scheduleCycle(model(), input(true));
  const h3 = await heap();
  r.explain?.get(queue[queue.length - 1].id);
  r.priorities?.get(queue[queue.length - 1].id);
  const h4 = await heap();
  const startedNow = r.starts.length;
  const allocatedPct = round((100 * model().allocatedGpus()) / fleet.totalGpus);
  r = undefined;
  incremental = undefined;
  queue = [];
  const h5 = await heap();
  holder.cluster = undefined;
  const h6 = await heap();
  const per = (bytes: number, n: number) => Math.round(bytes / Math.max(1, n));
  return {
    scheduler,
    fleetGpus: fleet.totalGpus,
    nodes: fleet.nodes.length,
    pending,
    allocatedPct,
    clusterBytesPerNode: per(h5 - h6, fleet.nodes.length),
    jobBytesPerPending: per(h1 - h2, pending),
    resultBytesPerPending: per(h3 - h2, pending),
    resultWithTailBytesPerPending: per(h4 - h2, pending),
    heapMB: round(h4 / 2 ** 20),
    started: startedNow,
  };
}

/**
 * plotSvg draws p50 and p99 cycle time against queue length (log scale) per fleet, for the rows of
 * one mode, with the 100 ms target: a dependency-free SVG line chart.
 */
export function plotSvg(
  rows: readonly Record<string, unknown>[],
  mode: ScaleMode = 'interval',
  series: 'all' | 'cpu' = 'all',
  bySchedulerToo = false,
): string {
  const W = 760;
  const H = 360;
  const L = 60;
  const R = 200;
  const T = 30;
  const B = 50;
  const pts = rows.filter((r) => r.mode === mode);
  const pendings = [...new Set(pts.map((r) => Number(r.pending)))].sort((a, b) => a - b);
  // 'cpu': CPU time only, for a shared machine where the wall clock mostly measures waiting for a core.
  const lines = (
    [
      ['p99Ms', '', 'p99'],
      ['cpuP99Ms', '8 3', 'p99 CPU time'],
      ['p50Ms', '2 3', 'p50'],
      ['cpuP50Ms', '1 5', 'p50 CPU time'],
    ] as const
  ).filter(([key]) => series === 'all' || key.startsWith('cpu'));
  const maxMs = Math.max(120, ...pts.flatMap((r) => lines.map(([key]) => Number(r[key])))) * 1.1;
  const lx = (p: number) => {
    const lo = Math.log10(pendings[0] ?? 1);
    const hi = Math.log10(pendings[pendings.length - 1] ?? 10);
    return L + ((Math.log10(p) - lo) / Math.max(1e-9, hi - lo)) * (W - L - R);
  };
  const ly = (ms: number) => T + (1 - ms / maxMs) * (H - T - B);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>Scheduler cycle time p50 and p99 vs pending jobs, ${mode} mode</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="18" font-size="14">Scheduler cycle time vs pending jobs (all policies on, ${mode} mode; ${series === 'cpu' ? 'CPU time' : 'wall clock unless marked'})</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
  ];
  for (let ms = 0; ms <= maxMs; ms += maxMs > 1500 ? 500 : maxMs > 300 ? 100 : 25) {
    const y = ly(ms).toFixed(1);
    out.push(`<line x1="${L - 4}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${L - 8}" y="${(ly(ms) + 4).toFixed(1)}" text-anchor="end">${ms}</text>`);
  }
  for (const p of pendings) {
    out.push(`<text x="${lx(p).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${p.toLocaleString('en-US')}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">pending jobs (log scale)</text>`);
  out.push(
    `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">ms per cycle</text>`,
  );
  out.push(
    `<line x1="${L}" y1="${ly(100).toFixed(1)}" x2="${W - R}" y2="${ly(100).toFixed(1)}" stroke="#c00" stroke-dasharray="6 4"/>`,
    `<text x="${W - R + 6}" y="${(ly(100) + 4).toFixed(1)}" fill="#c00">target p99 100 ms</text>`,
  );
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd'];
  // One line per fleet, or per (fleet, scheduler) when comparing schedulers.
  const seriesKey = (r: Record<string, unknown>) =>
    `${Number(r.fleetGpus).toLocaleString('en-US')} GPUs${bySchedulerToo ? ` ${String(r.scheduler)}` : ''}`;
  const fleets = [...new Set(pts.map(seriesKey))];
  let legendY = T + 30;
  fleets.forEach((gpus, i) => {
    const series = pts.filter((r) => seriesKey(r) === gpus).sort((a, b) => Number(a.pending) - Number(b.pending));
    for (const [key, dash, label] of lines) {
      const d = series.map(
        (r, k) => `${k === 0 ? 'M' : 'L'}${lx(Number(r.pending)).toFixed(1)},${ly(Number(r[key])).toFixed(1)}`,
      );
      out.push(
        `<path d="${d.join(' ')}" fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" stroke-dasharray="${dash}"/>`,
      );
      for (const r of series) {
        out.push(
          `<circle cx="${lx(Number(r.pending)).toFixed(1)}" cy="${ly(Number(r[key])).toFixed(1)}" r="3" fill="${colors[i % colors.length]}"/>`,
        );
      }
      out.push(
        `<line x1="${W - R + 6}" y1="${legendY}" x2="${W - R + 30}" y2="${legendY}" stroke="${colors[i % colors.length]}" stroke-width="2" stroke-dasharray="${dash}"/>`,
        `<text x="${W - R + 36}" y="${legendY + 4}">${gpus} ${label}</text>`,
      );
      legendY += 18;
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const list = (v: string | undefined) => v?.split(',').map(Number);
  // Optional: --pendings 50000,100000 --scales 1,10 --modes interval --cycles 30 --no-explain
  const { values } = parseArgs({
    options: {
      pendings: { type: 'string' },
      scales: { type: 'string' },
      modes: { type: 'string' },
      cycles: { type: 'string' },
      'no-explain': { type: 'boolean' },
      memory: { type: 'boolean' },
      schedulers: { type: 'string' },
      svg: { type: 'string' },
      'svg-cpu': { type: 'string' },
      turnover: { type: 'string' },
      'warm-runs': { type: 'string' },
      digest: { type: 'boolean' },
    },
  });
  // --schedulers scratch,incremental: both, side by side, per configuration.
  const schedulers = values.schedulers?.split(',').map((k): SchedulerKind => {
    if (k !== 'scratch' && k !== 'incremental') throw new Error(`--schedulers: unknown scheduler ${k}`);
    return k;
  });
  if (values.memory) {
    // node --expose-gc dist/bench/scheduler-scale.js --memory --scales 10 --pendings 100000
    const rows: Record<string, unknown>[] = [];
    for (const scale of list(values.scales) ?? [1, 10]) {
      for (const p of list(values.pendings) ?? [100_000]) {
        for (const kind of schedulers ?? ['scratch' as const]) {
          rows.push((await measureMemory(scale, p, kind)) ?? { error: 'run node with --expose-gc' });
        }
      }
    }
    console.log(JSON.stringify(rows, null, 2));
    process.exit(0);
  }
  const t0 = performance.now();
  benchSchedulerScale({
    pendings: list(values.pendings),
    scales: list(values.scales),
    modes: values.modes?.split(',') as ScaleMode[] | undefined,
    cycles: values.cycles ? Number(values.cycles) : undefined,
    explain: values['no-explain'] ? false : undefined,
    schedulers,
    turnover: values.turnover === undefined || values.turnover === 'auto' ? values.turnover : Number(values.turnover),
    digest: values.digest,
    warmRuns: values['warm-runs'] ? Number(values['warm-runs']) : undefined,
  }).then(
    (rows) => {
      // --svg path: cycle time vs pending, one line per (fleet, scheduler), first mode run.
      const mode = rows[0]?.mode === 'turnover' ? 'turnover' : 'interval';
      if (values.svg) writeFileSync(values.svg, plotSvg(rows, mode, 'all', schedulers !== undefined));
      // --svg-cpu path: the same with CPU time only (for a shared machine).
      if (values['svg-cpu']) writeFileSync(values['svg-cpu'], plotSvg(rows, mode, 'cpu', schedulers !== undefined));
      console.table(rows);
      console.log(JSON.stringify({ wallSeconds: round((performance.now() - t0) / 1000), rows }, null, 2));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
