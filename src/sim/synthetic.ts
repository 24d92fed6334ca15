/**
 * Seeded synthetic workload: Poisson arrivals (optionally with a daily cycle), a tenant mix, a categorical job-size distribution
 * and log-normal durations. A generator: it streams any number of jobs in O(1) memory.
 * Same options + seed -> the same jobs (its own PRNG; no Math.random).
 */
import type { GpuType } from '../model/fleet.js';
import { mulberry32 } from '../model/prng.js';
import { shapeFor } from './importers/common.js';
import type { SimJob } from './types.js';

/** rng: the seeded PRNG synthetic traces use (mulberry32). */
export const rng = mulberry32;

export interface SyntheticOptions {
  jobs: number;
  seed: number;
  /** Tenants `org-<k>/proj-<j>`; weights follow a Zipf(0.8) law over tenants. Default 20. */
  tenants?: number;
  /** GPUs per job -> probability. Default: 1:.5 2:.1 4:.1 8:.2 16:.05 32:.03 64:.015 128:.005. */
  sizes?: ReadonlyArray<readonly [number, number]>;
  /** Log-normal duration: median seconds (default 1800) and sigma (default 1.5); capped at 7 days. */
  durationMedian?: number;
  durationSigma?: number;
  /** Mean arrivals per second. Default: computed from targetLoad x fleetGpus / mean GPU-seconds per job. */
  arrivalRate?: number;
  targetLoad?: number;
  /**
   * Daily cycle of the arrival rate, as people submit by day: rate x (1 + a·sin(2πt/day)), so the mean
   * offered load stays `targetLoad` while the peak is (1 + a) times it and queues form and drain. 0 (the
   * default) is a constant rate; 0 ≤ a < 1.
   */
  diurnalAmplitude?: number;
  fleetGpus?: number;
  /** GPUs per node of the fleet (shapes: see importers/common.ts shapeFor). Default 8. */
  nodeSize?: number;
  /** Fraction of jobs pinned to `pinnedType` (the rest ask for any type). Default 0.2 when pinnedType is set. */
  pinnedType?: GpuType | null;
  pinnedFraction?: number;
  /** Fraction of jobs whose wall limit is shorter than their duration (they time out). Default 0.02. */
  timeoutFraction?: number;
}

export const DEFAULT_SIZES: ReadonlyArray<readonly [number, number]> = [
  [1, 0.5],
  [2, 0.1],
  [4, 0.1],
  [8, 0.2],
  [16, 0.05],
  [32, 0.03],
  [64, 0.015],
  [128, 0.005],
];

const MAX_DURATION = 7 * 24 * 3600;

/** meanGpuSeconds: expected GPUs x expected (uncapped) duration of one job. */
export function meanGpuSeconds(o: SyntheticOptions): number {
  const sizes = o.sizes ?? DEFAULT_SIZES;
  const total = sizes.reduce((a, [, p]) => a + p, 0);
  const meanGpus = sizes.reduce((a, [g, p]) => a + g * p, 0) / total;
  const median = o.durationMedian ?? 1800;
  const sigma = o.durationSigma ?? 1.5;
  return meanGpus * median * Math.exp((sigma * sigma) / 2);
}

/** syntheticJobs streams `jobs` jobs in submission order. */
export function* syntheticJobs(o: SyntheticOptions): Generator<SimJob> {
  const rand = rng(o.seed);
  const sizes = o.sizes ?? DEFAULT_SIZES;
  const sizeTotal = sizes.reduce((a, [, p]) => a + p, 0);
  const cumSizes: number[] = [];
  let acc = 0;
  for (const [, p] of sizes) {
    acc += p / sizeTotal;
    cumSizes.push(acc);
  }
  const nTenants = Math.max(1, o.tenants ?? 20);
  const tenantWeights = Array.from({ length: nTenants }, (_, i) => 1 / (i + 1) ** 0.8);
  const tw = tenantWeights.reduce((a, b) => a + b, 0);
  const cumTenants: number[] = [];
  acc = 0;
  for (const w of tenantWeights) {
    acc += w / tw;
    cumTenants.push(acc);
  }
  const rate = o.arrivalRate ?? ((o.targetLoad ?? 0.8) * (o.fleetGpus ?? 10240)) / meanGpuSeconds(o);
  const median = o.durationMedian ?? 1800;
  const sigma = o.durationSigma ?? 1.5;
  const nodeSize = o.nodeSize ?? 8;
  const pinned = o.pinnedType ?? null;
  const pinnedFraction = pinned === null ? 0 : (o.pinnedFraction ?? 0.2);
  const timeoutFraction = o.timeoutFraction ?? 0.02;
  const pick = (cum: readonly number[]): number => {
    const u = rand();
    for (let i = 0; i < cum.length; i++) if (u < cum[i]) return i;
    return cum.length - 1;
  };
  const amplitude = o.diurnalAmplitude ?? 0;
  if (!(amplitude >= 0 && amplitude < 1)) throw new Error(`diurnal amplitude must be in [0, 1): ${amplitude}`);
  const DAY = 86_400;
  let t = 0;
  for (let i = 0; i < o.jobs; i++) {
    if (amplitude === 0) t += -Math.log(1 - rand()) / rate;
    else {
      // Thinning (Lewis & Shedler): candidates at the peak rate, each kept with probability rate(t)/peak.
      const peak = rate * (1 + amplitude);
      do t += -Math.log(1 - rand()) / peak;
      while (rand() * (1 + amplitude) > 1 + amplitude * Math.sin((2 * Math.PI * t) / DAY));
    }
    const gpus = sizes[pick(cumSizes)][0];
    const tenant = pick(cumTenants);
    // Box-Muller (one normal per job; the second value is dropped to keep the stream simple).
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const duration = Math.min(MAX_DURATION, Math.max(1, Math.round(median * Math.exp(sigma * z))));
    const timesOut = rand() < timeoutFraction;
    const wallLimit = timesOut ? Math.max(1, Math.floor(duration / 2)) : Math.ceil((2 * duration) / 3600) * 3600;
    const gpuType = rand() < pinnedFraction ? pinned : null;
    const shape = shapeFor(gpus, nodeSize);
    yield {
      id: `syn-${i}`,
      submitTime: Math.round(t * 1000) / 1000,
      org: `org-${tenant % 5}`,
      project: `proj-${tenant}`,
      gpuType,
      gpusPerNode: shape.gpusPerNode,
      nodes: shape.nodes,
      duration,
      wallLimit,
    };
  }
}
