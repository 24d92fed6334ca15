/**
 * Benchmark: simulated jobs per second of wall time for a synthetic trace (default 1,000,000 jobs,
 * env SIM_BENCH_JOBS to change) through the real scheduler, on the demo fleet (10,240 GPUs) and on
 * the demo fleet x10 (102,400 GPUs), offered load 0.9 of each fleet, and the demo fleet at load 1.0
 * (saturated: jobs queue). Reports measured figures only.
 *
 * Run: `npx tsc -p . && node dist/bench/simulate.js` (prints JSON).
 */
import { pathToFileURL } from 'node:url';
import { expandFleet, loadFleetFile } from '../src/fleet/load-fleet.js';
import type { Fleet } from '../src/model/fleet.js';
import { simulate } from '../src/sim/engine.js';
import { syntheticJobs } from '../src/sim/synthetic.js';

interface Case {
  fleet: string;
  load: number;
  gpus: number;
  jobs: number;
  wallSeconds: number;
  jobsPerSecond: number;
  cycles: number;
  peakRssMiB: number;
  peakHeapUsedMiB: number;
  allocationSteady: number;
  queueDelayP99: number;
}

async function runCase(name: string, fleet: Fleet, jobs: number, seed: number, load = 0.9): Promise<Case> {
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const t0 = performance.now();
  const res = await simulate(syntheticJobs({ jobs, seed, targetLoad: load, fleetGpus: fleet.totalGpus, nodeSize: 8 }), {
    fleet,
    onProgress: sample,
    progressEvery: 20000,
  });
  const wall = (performance.now() - t0) / 1000;
  sample();
  return {
    fleet: name,
    load,
    gpus: fleet.totalGpus,
    jobs: res.summary.jobs.submitted,
    wallSeconds: Math.round(wall * 100) / 100,
    jobsPerSecond: Math.round(res.summary.jobs.submitted / wall),
    cycles: res.summary.cycles,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    peakHeapUsedMiB: Math.round(peakHeap / 2 ** 20),
    allocationSteady: res.summary.allocationRatio.steady,
    queueDelayP99: res.summary.queueDelay.p99,
  };
}

export async function benchSimulate(): Promise<Record<string, unknown>> {
  const jobs = Number(process.env.SIM_BENCH_JOBS ?? 1_000_000);
  const demo = loadFleetFile();
  const big = expandFleet(demo.spec, 10);
  const cases = [
    await runCase('demo', demo, jobs, 1),
    await runCase('demo x10', big, jobs, 2),
    // Saturated: offered load 1.0, so jobs queue and cycles after completions see a real queue.
    await runCase('demo, load 1.0', demo, jobs, 3, 1.0),
  ];
  return {
    jobsPerRun: jobs,
    targetJobsPerSecond: 20000,
    cases,
    maxRssMiBProcess: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await benchSimulate(), null, 2));
}
