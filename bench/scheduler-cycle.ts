/**
 * Benchmark: scheduler cycle latency on the demo fleet (10,240 GPUs) with ~70% of the GPUs
 * allocated and ~10,000 jobs pending. Between cycles some running jobs finish (release) and new
 * jobs arrive, so every cycle sees a changed cluster and a full queue. Only scheduleCycle is timed.
 *
 * With `--fractional 0.3`, 30 % of the jobs ask for part of one GPU instead (two thirds time-sliced
 * fractions of 100-750 milli, one third MIG instances of their type's profiles), in four
 * organisations (one per two projects), so shares pack per organisation (issue 18).
 *
 * Run: `npx tsc -p . && node dist/bench/scheduler-cycle.js [--fractional 0.3]` (prints JSON).
 */
import { pathToFileURL } from 'node:url';
import { loadFleetFile } from '../src/fleet/load-fleet.js';
import type { GpuType } from '../src/model/fleet.js';
import { PRIORITY_CLASSES } from '../src/model/job.js';
import { mulberry32 } from '../src/model/prng.js';
import { ClusterModel, type QuotaTable, type SchedJob, scheduleCycle } from '../src/scheduler/index.js';

const PROJECTS = ['robotics', 'vision', 'llm-pretrain', 'speech', 'drug-discovery', 'climate', 'finance', 'edu'];
/** B200 quota per project (sums to ~1.4x the 8,192 B200 GPUs: quotas are oversubscribed). */
const B200_QUOTA = [2048, 1536, 3072, 768, 1024, 1024, 512, 256];
const RTX_QUOTA = [256, 512, 256, 512, 256, 256, 256, 512];

function buildQuotas(): QuotaTable {
  return new Map(
    PROJECTS.map((p, i) => [
      p,
      new Map<GpuType, number>([
        ['B200', B200_QUOTA[i]],
        ['RTX-PRO-6000', RTX_QUOTA[i]],
      ]),
    ]),
  );
}

interface Generator {
  next(): SchedJob;
}

const FRACTIONS = [100, 250, 250, 500, 750];
const MIG_PROFILES: Record<string, readonly string[]> = {
  B200: ['1g.23gb', '1g.23gb', '2g.45gb', '3g.90gb'],
  'RTX-PRO-6000': ['1g.24gb', '1g.24gb', '2g.48gb'],
};

function jobGenerator(rand: () => number, fractional: number): Generator {
  let seq = 0;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const priorities = [
    PRIORITY_CLASSES.low,
    PRIORITY_CLASSES.normal,
    PRIORITY_CLASSES.normal,
    PRIORITY_CLASSES.normal,
    PRIORITY_CLASSES.high,
    PRIORITY_CLASSES.preemptible,
  ];
  return {
    next(): SchedJob {
      seq++;
      const project = Math.floor(rand() * PROJECTS.length);
      // Drawn only when fractions are on: the whole-GPU run keeps its random stream.
      if (fractional > 0 && rand() < fractional) {
        const gpuType: GpuType = rand() < 0.8 ? 'B200' : 'RTX-PRO-6000';
        const share = rand() < 2 / 3 ? { milli: pick(FRACTIONS) } : { migProfile: pick(MIG_PROFILES[gpuType]) };
        return {
          id: `job-${seq}`,
          seq,
          org: `org-${project >> 1}`,
          project: PROJECTS[project],
          gpuType,
          gpusPerNode: 1,
          nodes: 1,
          priority: pick(priorities),
          submittedAt: seq,
          maxRuntimeSeconds: 3600,
          share,
        };
      }
      const r = rand();
      const t = rand();
      let gpuType: GpuType | null = t < 0.8 ? 'B200' : t < 0.95 ? 'RTX-PRO-6000' : null;
      let gpusPerNode: number;
      let nodes = 1;
      if (r < 0.35) {
        gpusPerNode = pick([1, 1, 2, 2, 4]); // partial node
      } else if (r < 0.6) {
        gpusPerNode = 8; // one whole node
      } else if (r < 0.95) {
        gpusPerNode = 8; // gang of whole nodes
        nodes = pick([2, 2, 4, 4, 4, 8, 8, 16, 32]);
        if (gpuType !== 'B200') nodes = Math.min(nodes, 8);
      } else {
        gpusPerNode = 4; // partial-node gang
        nodes = pick([2, 3, 4]);
      }
      if (gpuType === null && nodes > 8) gpuType = 'B200';
      return {
        id: `job-${seq}`,
        seq,
        org: `org-${project >> 1}`,
        project: PROJECTS[project],
        gpuType,
        gpusPerNode,
        nodes,
        priority: pick(priorities),
        submittedAt: seq,
        maxRuntimeSeconds: 3600,
      };
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** benchSchedulerCycle runs the benchmark and returns its figures (milliseconds per cycle). */
export async function benchSchedulerCycle(
  opts: { cycles?: number; pending?: number; seed?: number; fractional?: number } = {},
): Promise<Record<string, unknown>> {
  const cycles = opts.cycles ?? 200;
  const targetPending = opts.pending ?? 10_000;
  const rand = mulberry32(opts.seed ?? 42);
  const fleet = loadFleetFile();
  const cluster = new ClusterModel(fleet);
  const quotas = buildQuotas();
  const fractional = opts.fractional ?? 0;
  const gen = jobGenerator(rand, fractional);
  const running: string[] = [];
  let now = 0;

  // Prefill to ~70% allocated by scheduling batches of jobs (so quotas and packing hold).
  const target = 0.7 * fleet.totalGpus;
  let guard = 0;
  while (cluster.allocatedGpus() < target && guard++ < 1000) {
    const batch: SchedJob[] = [];
    for (let i = 0; i < 50; i++) batch.push(gen.next());
    const r = scheduleCycle(cluster, { queue: batch, quotas, now: now++ });
    for (const s of r.starts) running.push(s.jobId);
  }
  const prefillAllocated = cluster.allocatedGpus();

  let queue: SchedJob[] = [];
  while (queue.length < targetPending) queue.push(gen.next());

  const times: number[] = [];
  let totalStarts = 0;
  let totalMs = 0;
  let equivalenceHits = 0;
  let firstCycleMs = 0;
  const warmup = 5;
  for (let c = 0; c < warmup + cycles; c++) {
    // Between cycles: ~1.5% of running jobs finish, new jobs top the queue back up.
    const finishing = Math.max(1, Math.floor(running.length * 0.015));
    for (let k = 0; k < finishing && running.length > 0; k++) {
      const i = Math.floor(rand() * running.length);
      const id = running[i];
      running[i] = running[running.length - 1];
      running.pop();
      cluster.release(id);
    }
    const arrivals = Math.max(0, targetPending - queue.length);
    for (let k = 0; k < arrivals; k++) queue.push(gen.next());

    const t0 = performance.now();
    const r = scheduleCycle(cluster, { queue, quotas, now: now++ });
    const ms = performance.now() - t0;

    const started = new Set<string>();
    for (const s of r.starts) {
      started.add(s.jobId);
      running.push(s.jobId);
    }
    queue = queue.filter((j) => !started.has(j.id));
    if (c === 0) firstCycleMs = ms;
    if (c < warmup) continue;
    times.push(ms);
    totalMs += ms;
    totalStarts += r.stats.started;
    equivalenceHits += r.stats.equivalenceHits;
  }
  const sorted = [...times].sort((a, b) => a - b);
  let sharedGpus = 0;
  let usedEquivalents = 0;
  for (const id of running) usedEquivalents += cluster.milliOf(id) / 1000;
  for (const n of fleet.nodes) {
    for (let g = 0; g < n.gpus; g++) if (cluster.gpuShare(n.id, g).jobs > 0) sharedGpus++;
  }
  return {
    cycles,
    fractional,
    pending: queue.length,
    sharedGpus,
    usedGpuEquivalentsPct: round((100 * usedEquivalents) / fleet.totalGpus),
    fleetGpus: fleet.totalGpus,
    prefillAllocatedPct: round((100 * prefillAllocated) / fleet.totalGpus),
    finalAllocatedPct: round((100 * cluster.allocatedGpus()) / fleet.totalGpus),
    runningJobs: running.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
    meanMs: round(totalMs / Math.max(1, cycles)),
    firstCycleMs: round(firstCycleMs),
    startsPerCycle: round(totalStarts / Math.max(1, cycles)),
    startsPerSecond: Math.round(totalStarts / (totalMs / 1000)),
    equivalenceHitsPerCycle: Math.round(equivalenceHits / Math.max(1, cycles)),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--fractional');
  benchSchedulerCycle({ fractional: at > 0 ? Number(process.argv[at + 1]) : 0 }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
