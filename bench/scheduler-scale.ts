/**
 * Benchmark: scheduler cycles at scale with every policy on (multifactor fair share, cohort
 * borrowing, preemption, EASY backfill with reservations, a capacity window, explain). Fleets: the demo fleet
 * (10,240 GPUs) and the demo fleet x10 (102,400 GPUs). Queues: 1,000 / 10,000 / 50,000 pending.
 *
 * Each configuration prefills the fleet to ~75% with a realistic running mix (partial nodes, whole
 * nodes, gangs up to 32 nodes; limits 30 min to 24 h; some borrowed), then runs timed cycles 30
 * simulated seconds apart: jobs reaching their end or finishing early are released, preemption
 * victims drain by the next cycle and are requeued, arrivals top the queue back up, fair-share
 * usage decays and accrues. Only scheduleCycle is timed.
 *
 * Run: `npx tsc -p . && node dist/bench/scheduler-scale.js` (prints a table and JSON).
 */
import { pathToFileURL } from 'node:url';
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
  type QuotaTable,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
  type UsageCharge,
} from '../src/scheduler/index.js';

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

/** runScale runs one configuration and returns its row. */
function runScale(
  fleet: Fleet,
  scale: number,
  targetPending: number,
  cycles: number,
  seed: number,
  explain: boolean,
): Record<string, unknown> {
  const rand = mulberry32(seed);
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
  while (queue.length < targetPending) queue.push(gen(now));

  const times: number[] = [];
  let starts = 0;
  let preemptions = 0;
  let reservations = 0;
  let windowsHeld = 0;
  let totalMs = 0;
  let draining: string[] = [];
  const warmup = 2;
  const stepMs = 30_000;
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  for (let c = 0; c < warmup + cycles; c++) {
    now += stepMs;
    // Victims of the last cycle have drained: release and requeue them.
    for (const id of draining) {
      const l = live.get(id);
      cluster.release(id);
      live.delete(id);
      if (l) queue.push(l.job);
    }
    draining = [];
    // Finished jobs: those past their simulated end.
    const charges: UsageCharge[] = [];
    for (const [id, l] of live) {
      const p = cluster.allocationOf(id);
      if (p) charges.push({ project: l.job.project, gpuType: p.gpuType, gpus: l.info.gpus, seconds: stepMs / 1000 });
      if (l.endsAt <= now) {
        cluster.release(id);
        live.delete(id);
      }
    }
    usage = chargeUsage(decayUsage(usage, stepMs / 1000), charges, gpuTypeWeights);
    while (queue.length < targetPending) queue.push(gen(now));

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
    const t0 = performance.now();
    const r = scheduleCycle(cluster, input);
    const ms = performance.now() - t0;
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);

    const started = new Set<string>();
    const byId = new Map(queue.map((j) => [j.id, j]));
    for (const s of r.starts) {
      started.add(s.jobId);
      const job = byId.get(s.jobId);
      if (job) track(job, s.borrowed === true, now);
    }
    for (const p of r.preemptions ?? []) {
      const l = live.get(p.victimId);
      if (l) l.info.evicting = true;
      draining.push(p.victimId);
    }
    queue = queue.filter((j) => !started.has(j.id));
    if (c < warmup) continue;
    times.push(ms);
    totalMs += ms;
    starts += r.starts.length;
    preemptions += r.preemptions?.length ?? 0;
    reservations += r.reservations?.length ?? 0;
    windowsHeld = r.windows?.length ?? 0;
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    fleetGpus: fleet.totalGpus,
    pending: targetPending,
    cycles,
    prefillPct: round(prefillPct),
    allocatedPct: round((100 * cluster.allocatedGpus()) / fleet.totalGpus),
    runningJobs: live.size,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
    startsPerCycle: round(starts / Math.max(1, cycles)),
    admissionsPerSec: Math.round(starts / Math.max(1e-9, totalMs / 1000)),
    preemptionsPerCycle: round(preemptions / Math.max(1, cycles)),
    reservationsPerCycle: round(reservations / Math.max(1, cycles)),
    windowsHeld: windowsHeld,
    heapUsedMB: round(process.memoryUsage().heapUsed / 2 ** 20),
    heapPeakMB: round(heapPeak / 2 ** 20),
  };
}

/**
 * benchSchedulerScale runs the grid {demo fleet, demo x10} x {1,000, 10,000, 50,000 pending} and
 * returns one row per configuration (milliseconds per cycle, admissions per second of cycle time,
 * heap in MiB).
 */
export async function benchSchedulerScale(
  opts: { cycles?: number; pendings?: number[]; scales?: number[]; explain?: boolean } = {},
): Promise<Record<string, unknown>[]> {
  const demo = loadFleetFile();
  const rows: Record<string, unknown>[] = [];
  for (const scale of opts.scales ?? [1, 10]) {
    const fleet = scale === 1 ? demo : expandFleet(demo.spec, scale);
    for (const pending of opts.pendings ?? [1000, 10_000, 50_000]) {
      const cycles = opts.cycles ?? (pending >= 50_000 ? 10 : 20);
      rows.push({ scale, ...runScale(fleet, scale, pending, cycles, 7 + scale + pending, opts.explain ?? true) });
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = performance.now();
  benchSchedulerScale().then(
    (rows) => {
      console.table(rows);
      console.log(JSON.stringify({ wallSeconds: round((performance.now() - t0) / 1000), rows }, null, 2));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
