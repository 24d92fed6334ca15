/**
 * Simulation metrics with bounded memory (definitions: src/sim/README.md, "Metrics").
 *
 * - LogHistogram: deterministic streaming quantile sketch, relative error <= 1 %, fixed size.
 * - TimeSeries: time-weighted averages of piecewise-constant signals in at most `maxPoints`
 *   buckets; the bucket width doubles (pairs merge) when the run outgrows it.
 * - MetricsCollector: the engine's hooks (arrival, start, end, instant) -> SimSummary.
 */
import type { Fleet, GpuType } from '../model/fleet.js';
import type { ClusterModel } from '../scheduler/index.js';
import type { SimJob } from './types.js';

/** Bounded slowdown threshold, seconds. */
export const BSLD_TAU = 10;

/** boundedSlowdown = max(1, (wait + run) / max(run, tau)). */
export function boundedSlowdown(waitSeconds: number, runSeconds: number, tau = BSLD_TAU): number {
  return Math.max(1, (waitSeconds + runSeconds) / Math.max(runSeconds, tau));
}

/** jainIndex = (sum x)^2 / (n * sum x^2); 1 for an empty or all-zero input. */
export function jainIndex(xs: readonly number[]): number {
  let s = 0;
  let s2 = 0;
  for (const x of xs) {
    s += x;
    s2 += x * x;
  }
  if (xs.length === 0 || s2 === 0) return 1;
  return (s * s) / (xs.length * s2);
}

const REL_ACCURACY = 0.01;
const GAMMA = (1 + REL_ACCURACY) / (1 - REL_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** Values below MIN_VALUE count as 0 (the zero bucket). */
const MIN_VALUE = 1e-3;
const K_MIN = Math.ceil(Math.log(MIN_VALUE) / LN_GAMMA);
const K_MAX = Math.ceil(Math.log(1e12) / LN_GAMMA);

/** LogHistogram: DDSketch-style log buckets; exact count/sum/min/max, quantiles within 1 %. */
export class LogHistogram {
  private readonly buckets = new Float64Array(K_MAX - K_MIN + 1);
  private zeros = 0;
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  add(x: number): void {
    this.count++;
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    if (x < MIN_VALUE) {
      this.zeros++;
      return;
    }
    const k = Math.min(K_MAX, Math.ceil(Math.log(x) / LN_GAMMA));
    this.buckets[k - K_MIN]++;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  private valueOf(i: number): number {
    return (2 * GAMMA ** (i + K_MIN)) / (GAMMA + 1);
  }

  /** quantile q in [0,1] (nearest rank, within 1 % relative error; clamped to [min, max]). */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1));
    let seen = this.zeros;
    if (rank < seen) return Math.max(0, this.min);
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (rank < seen) return Math.min(this.max, Math.max(this.min, this.valueOf(i)));
    }
    return this.max;
  }

  /** cdf returns at most `maxPoints` [value, fraction <= value] pairs, ascending. */
  cdf(maxPoints = 200): [number, number][] {
    if (this.count === 0) return [];
    const pts: [number, number][] = [];
    let seen = this.zeros;
    if (this.zeros > 0) pts.push([0, seen / this.count]);
    for (let i = 0; i < this.buckets.length; i++) {
      if (this.buckets[i] === 0) continue;
      seen += this.buckets[i];
      pts.push([Math.min(this.max, this.valueOf(i)), seen / this.count]);
    }
    if (pts.length <= maxPoints) return pts;
    const out: [number, number][] = [];
    const step = (pts.length - 1) / (maxPoints - 1);
    for (let j = 0; j < maxPoints; j++) out.push(pts[Math.round(j * step)]);
    return out;
  }

  summary(): DistSummary {
    return {
      count: this.count,
      mean: round(this.mean),
      p50: round(this.quantile(0.5)),
      p95: round(this.quantile(0.95)),
      p99: round(this.quantile(0.99)),
      max: round(this.count === 0 ? 0 : this.max),
    };
  }
}

export interface DistSummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * TimeSeries holds time-weighted averages of `width` piecewise-constant signals in at most
 * `maxPoints` buckets starting at `origin`. add(t0, t1, values) integrates values over [t0, t1).
 */
export class TimeSeries {
  private acc: Float64Array;
  private bucket = 1;
  private used = 0;
  end: number;

  constructor(
    readonly width: number,
    readonly origin: number,
    readonly maxPoints = 512,
  ) {
    if (maxPoints % 2 !== 0) throw new Error('maxPoints must be even');
    this.acc = new Float64Array(width * maxPoints);
    this.end = origin;
  }

  add(t0: number, t1: number, values: ArrayLike<number>): void {
    if (t1 <= t0) return;
    while (t1 - this.origin > this.bucket * this.maxPoints) this.compact();
    let a = t0 - this.origin;
    const b = t1 - this.origin;
    const w = this.width;
    while (a < b) {
      const i = Math.min(this.maxPoints - 1, Math.floor(a / this.bucket));
      const stop = Math.min(b, (i + 1) * this.bucket);
      const dt = stop - a;
      const base = i * w;
      for (let s = 0; s < w; s++) this.acc[base + s] += values[s] * dt;
      if (i + 1 > this.used) this.used = i + 1;
      a = stop;
    }
    if (t1 > this.end) this.end = t1;
  }

  private compact(): void {
    const w = this.width;
    const half = this.maxPoints / 2;
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < w; s++) this.acc[i * w + s] = this.acc[2 * i * w + s] + this.acc[(2 * i + 1) * w + s];
    }
    this.acc.fill(0, half * w);
    this.used = Math.ceil(this.used / 2);
    this.bucket *= 2;
  }

  /** points returns [time (bucket middle), averages per signal] for every bucket so far. */
  points(): { t: number[]; values: number[][] } {
    const t: number[] = [];
    const values: number[][] = Array.from({ length: this.width }, () => []);
    const span = this.end - this.origin;
    for (let i = 0; i < this.used; i++) {
      const from = i * this.bucket;
      const to = Math.min(span, (i + 1) * this.bucket);
      const covered = to - from;
      if (covered <= 0) break;
      t.push(round(this.origin + (from + to) / 2));
      for (let s = 0; s < this.width; s++) values[s].push(round(this.acc[i * this.width + s] / covered));
    }
    return { t, values };
  }

  /** average of signal s over [from, to), buckets cut proportionally at the edges. */
  average(s: number, from: number, to: number): number {
    const a = Math.max(0, from - this.origin);
    const b = Math.min(this.end - this.origin, to - this.origin);
    if (b <= a) return 0;
    let integral = 0;
    for (let i = Math.floor(a / this.bucket); i < this.used; i++) {
      const lo = i * this.bucket;
      const hi = (i + 1) * this.bucket;
      if (lo >= b) break;
      const overlap = Math.min(hi, b) - Math.max(lo, a);
      const covered = Math.min(hi, this.end - this.origin) - lo;
      if (overlap > 0 && covered > 0) integral += (this.acc[i * this.width + s] * overlap) / covered;
    }
    return integral / (b - a);
  }
}

export function round(x: number, digits = 4): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** At most this many tenants get their own series; the rest are summed into "(other)". */
export const MAX_TENANT_SERIES = 16;

export interface TenantSummary {
  tenant: string;
  jobs: number;
  gpuSeconds: number;
  /** GPU-seconds of the tenant / GPU-seconds of all tenants. */
  share: number;
  /** Normalised entitlement (sums to 1 over tenants with jobs). */
  entitlement: number;
  meanQueueDelay: number;
}

export interface SimSummary {
  jobs: {
    submitted: number;
    rejectedUnsatisfiable: number;
    started: number;
    completed: number;
    timedOut: number;
    neverStarted: number;
  };
  totalGpus: number;
  /** Virtual time of the first submission (series times are on the same clock). */
  firstSubmit: number;
  /** Virtual seconds from the first submission to the last completion. */
  makespan: number;
  /** [start, end) of the steady-state window, virtual seconds. */
  steadyWindow: [number, number];
  allocationRatio: { steady: number; overall: number };
  unallocatedRatio: { steady: number };
  fragmentationRatio: { steady: number; overall: number };
  queueDelay: DistSummary;
  jct: DistSummary;
  boundedSlowdown: DistSummary;
  /** Jain's index of (GPU-second share / entitlement) over the whole run. */
  jainFairness: number;
  /**
   * Same over the steady-state window, from the per-tenant allocation series; null when more than
   * MAX_TENANT_SERIES tenants (they share one series).
   */
  jainFairnessSteady: number | null;
  cycles: number;
  /** Evictions by preemption and the GPU-hours of work they threw away (no checkpoints in traces). */
  preemptions: { count: number; lostGpuHours: number };
  tenants: TenantSummary[];
}

export interface SimSeries {
  t: number[];
  /** name -> allocated GPUs, per "site/gpuType" group. */
  allocatedByGroup: Record<string, number[]>;
  /** tenant -> share of allocated GPUs (0..1). */
  tenantShare: Record<string, number[]>;
  /** tenant -> normalised entitlement (constant). */
  tenantEntitlement: Record<string, number>;
  fragmentedGpus: number[];
  freeGpus: number[];
  queuedJobs: number[];
  /** Cumulative evictions by preemption. */
  preemptions: number[];
}

export interface SimDistributions {
  queueDelayCdf: [number, number][];
  jctCdf: [number, number][];
  boundedSlowdownCdf: [number, number][];
}

/** tenantKey is how a tenant is named in metrics: `org/project`. */
export function tenantKey(job: { org: string; project: string }): string {
  return `${job.org}/${job.project}`;
}

interface TenantState {
  name: string;
  index: number;
  /** Index of the tenant's series, or the "(other)" series. */
  series: number;
  jobs: number;
  gpuSeconds: number;
  queueDelaySum: number;
  started: number;
  allocated: number;
  weight: number;
}

/**
 * MetricsCollector receives the engine's events. `entitlements` maps tenant key -> weight; tenants
 * without an entry weigh `defaultWeight` (1: equal shares).
 */
export class MetricsCollector {
  readonly queueDelay = new LogHistogram();
  readonly jct = new LogHistogram();
  readonly bsld = new LogHistogram();
  private readonly tenants = new Map<string, TenantState>();
  private readonly tenantList: TenantState[] = [];
  private readonly groups: { name: string; gpuType: GpuType; id: number; maxGpus: number }[];
  private readonly typeIndex = new Map<GpuType, number>();
  /** queued[typeSlot][gpusPerNode]: queued jobs per type ("any" = last slot) and per-node GPUs. */
  private readonly queued: Int32Array[];
  private series: TimeSeries | null = null;
  private current: Float64Array;
  private lastT = 0;
  private firstSubmit = Number.NaN;
  private lastSubmit = Number.NaN;
  private lastEnd = Number.NaN;
  private queuedJobs = 0;
  private readonly totalGpus: number;
  submitted = 0;
  rejected = 0;
  started = 0;
  completed = 0;
  timedOut = 0;
  cycles = 0;
  preempted = 0;
  lostGpuSeconds = 0;
  private readonly nGroups: number;
  // signal layout: groups..., tenant series (MAX+1)..., fragmented, free, queued, allocated, preempted
  private readonly sFrag: number;
  private readonly sPreempt: number;
  private readonly sFree: number;
  private readonly sQueue: number;
  private readonly sAlloc: number;

  constructor(
    fleet: Fleet,
    cluster: ClusterModel,
    private readonly entitlements: ReadonlyMap<string, number> = new Map(),
    private readonly defaultWeight = 1,
    private readonly maxPoints = 512,
  ) {
    this.totalGpus = fleet.totalGpus;
    this.groups = [];
    for (const type of fleet.gpuTypes) {
      this.typeIndex.set(type, this.typeIndex.size);
      for (const g of cluster.groupsOfType(type))
        this.groups.push({ name: `${g.site}/${type}`, gpuType: type, id: g.id, maxGpus: g.maxGpus });
    }
    this.groups.sort((a, b) => a.id - b.id);
    this.queued = Array.from({ length: fleet.gpuTypes.length + 1 }, () => new Int32Array(34));
    this.nGroups = this.groups.length;
    this.sFrag = this.nGroups + MAX_TENANT_SERIES + 1;
    this.sFree = this.sFrag + 1;
    this.sQueue = this.sFree + 1;
    this.sAlloc = this.sQueue + 1;
    this.sPreempt = this.sAlloc + 1;
    this.current = new Float64Array(this.sPreempt + 1);
  }

  private tenant(key: string): TenantState {
    let t = this.tenants.get(key);
    if (!t) {
      const index = this.tenantList.length;
      t = {
        name: key,
        index,
        series: this.nGroups + Math.min(index, MAX_TENANT_SERIES),
        jobs: 0,
        gpuSeconds: 0,
        queueDelaySum: 0,
        started: 0,
        allocated: 0,
        weight: this.entitlements.get(key) ?? this.defaultWeight,
      };
      this.tenants.set(key, t);
      this.tenantList.push(t);
    }
    return t;
  }

  private slot(job: SimJob): number {
    return job.gpuType === null ? this.queued.length - 1 : (this.typeIndex.get(job.gpuType) ?? this.queued.length - 1);
  }

  /** onArrival: a job of tenant `key` (tenantKey) was submitted at t. */
  onArrival(key: string, t: number): void {
    if (this.submitted === 0) {
      this.firstSubmit = t;
      this.lastT = t;
      this.series = new TimeSeries(this.current.length, t, this.maxPoints);
    }
    this.submitted++;
    this.lastSubmit = t;
    this.tenant(key).jobs++;
  }

  onQueued(job: SimJob): void {
    this.queued[this.slot(job)][Math.min(33, job.gpusPerNode)]++;
    this.queuedJobs++;
  }

  onRejected(_job: SimJob): void {
    this.rejected++;
  }

  /** onStart: `restart` for a preempted job started again (its queueing delay counts once, at first start). */
  onStart(job: SimJob, key: string, t: number, restart = false): void {
    this.queued[this.slot(job)][Math.min(33, job.gpusPerNode)]--;
    this.queuedJobs--;
    const ten = this.tenant(key);
    ten.allocated += job.gpusPerNode * job.nodes;
    if (restart) return;
    this.started++;
    ten.started++;
    ten.queueDelaySum += t - job.submitTime;
    this.queueDelay.add(t - job.submitTime);
  }

  /** onPreempted: a running job was evicted at t (started at `start`) and went back to the queue. */
  onPreempted(job: SimJob, key: string, start: number, t: number): void {
    const gpus = job.gpusPerNode * job.nodes;
    const ten = this.tenant(key);
    ten.allocated -= gpus;
    ten.gpuSeconds += gpus * (t - start);
    this.preempted++;
    this.lostGpuSeconds += gpus * (t - start);
    this.current[this.sPreempt] = this.preempted;
    this.onQueued(job);
  }

  onEnd(job: SimJob, key: string, start: number, end: number, timedOut: boolean): void {
    this.completed++;
    if (timedOut) this.timedOut++;
    const ten = this.tenant(key);
    const gpus = job.gpusPerNode * job.nodes;
    ten.allocated -= gpus;
    ten.gpuSeconds += gpus * (end - start);
    const wait = start - job.submitTime;
    const run = end - start;
    this.jct.add(end - job.submitTime);
    this.bsld.add(boundedSlowdown(wait, run));
    if (!(end <= this.lastEnd)) this.lastEnd = end;
  }

  /** onInstant: the state after all events and the cycle at time t; it holds until the next instant. */
  onInstant(t: number, cluster: ClusterModel, ranCycle: boolean): void {
    if (ranCycle) this.cycles++;
    if (!this.series) return;
    this.series.add(this.lastT, t, this.current);
    this.lastT = t;
    const cur = this.current;
    const totals = cluster.siteTotals();
    let alloc = 0;
    for (let g = 0; g < this.nGroups; g++) {
      cur[g] = totals[this.groups[g].id].allocated;
      alloc += cur[g];
    }
    for (let s = this.nGroups; s < this.sFrag; s++) cur[s] = 0;
    for (const ten of this.tenantList) cur[ten.series] += ten.allocated;
    cur[this.sFrag] = this.fragmented(cluster);
    cur[this.sFree] = cluster.freeGpus();
    cur[this.sQueue] = this.queuedJobs;
    cur[this.sAlloc] = alloc;
    cur[this.sPreempt] = this.preempted;
  }

  /** fragmented: free GPUs on nodes whose free count is below every queued job's per-node need for that type. */
  private fragmented(cluster: ClusterModel): number {
    if (this.queuedJobs === 0) return 0;
    const any = this.queued[this.queued.length - 1];
    let minAny = 33;
    for (let k = 1; k < 33; k++) {
      if (any[k] > 0) {
        minAny = k;
        break;
      }
    }
    let frag = 0;
    for (const g of this.groups) {
      const row = this.queued[this.typeIndex.get(g.gpuType) ?? 0];
      let min = minAny;
      for (let k = 1; k < min; k++) {
        if (row[k] > 0) {
          min = k;
          break;
        }
      }
      const limit = Math.min(min, g.maxGpus + 1);
      for (let f = 1; f < limit; f++) frag += f * cluster.nodesWithFree(g.id, f);
    }
    return frag;
  }

  private steadyJain(series: TimeSeries, from: number, to: number, weights: number): number | null {
    if (this.tenantList.length > MAX_TENANT_SERIES || weights <= 0) return null;
    const alloc = series.average(this.sAlloc, from, to);
    if (alloc <= 0) return null;
    const xs = this.tenantList
      .filter((x) => x.weight > 0)
      .map((x) => series.average(x.series, from, to) / alloc / (x.weight / weights));
    return round(jainIndex(xs));
  }

  /** finish integrates the last state up to `t` (the last completion) and builds the outputs. */
  finish(t: number): { summary: SimSummary; series: SimSeries; distributions: SimDistributions } {
    const series = this.series ?? new TimeSeries(this.current.length, 0, this.maxPoints);
    if (this.series && t > this.lastT) this.series.add(this.lastT, t, this.current);
    const t0 = Number.isNaN(this.firstSubmit) ? 0 : this.firstSubmit;
    const tEnd = Number.isNaN(this.lastEnd) ? t0 : Math.max(this.lastEnd, this.lastSubmit);
    const tLastArr = Number.isNaN(this.lastSubmit) ? t0 : this.lastSubmit;
    const steadyFrom = t0 + 0.1 * (tLastArr - t0);
    const steadyTo = tLastArr > steadyFrom ? tLastArr : tEnd;
    const total = this.totalGpus;
    const avg = (s: number, a: number, b: number) => series.average(s, a, b);
    const totalGpuSeconds = this.tenantList.reduce((a, x) => a + x.gpuSeconds, 0);
    const weights = this.tenantList.reduce((a, x) => a + x.weight, 0);
    const tenants: TenantSummary[] = this.tenantList.map((x) => ({
      tenant: x.name,
      jobs: x.jobs,
      gpuSeconds: round(x.gpuSeconds, 1),
      share: round(totalGpuSeconds > 0 ? x.gpuSeconds / totalGpuSeconds : 0),
      entitlement: round(weights > 0 ? x.weight / weights : 0),
      meanQueueDelay: round(x.started > 0 ? x.queueDelaySum / x.started : 0, 2),
    }));
    tenants.sort((a, b) => b.gpuSeconds - a.gpuSeconds || (a.tenant < b.tenant ? -1 : 1));
    const jain = jainIndex(
      this.tenantList
        .filter((x) => x.weight > 0)
        .map((x) => (totalGpuSeconds > 0 ? x.gpuSeconds / totalGpuSeconds : 0) / (x.weight / weights)),
    );
    const summary: SimSummary = {
      jobs: {
        submitted: this.submitted,
        rejectedUnsatisfiable: this.rejected,
        started: this.started,
        completed: this.completed,
        timedOut: this.timedOut,
        neverStarted: this.submitted - this.rejected - this.started,
      },
      totalGpus: total,
      firstSubmit: round(t0, 3),
      makespan: round(tEnd - t0, 3),
      steadyWindow: [round(steadyFrom, 3), round(steadyTo, 3)],
      allocationRatio: {
        steady: round(avg(this.sAlloc, steadyFrom, steadyTo) / total),
        overall: round(avg(this.sAlloc, t0, tEnd) / total),
      },
      unallocatedRatio: { steady: round(1 - avg(this.sAlloc, steadyFrom, steadyTo) / total) },
      fragmentationRatio: {
        steady: round(avg(this.sFrag, steadyFrom, steadyTo) / total),
        overall: round(avg(this.sFrag, t0, tEnd) / total),
      },
      queueDelay: this.queueDelay.summary(),
      jct: this.jct.summary(),
      boundedSlowdown: this.bsld.summary(),
      jainFairness: round(jain),
      jainFairnessSteady: this.steadyJain(series, steadyFrom, steadyTo, weights),
      cycles: this.cycles,
      preemptions: { count: this.preempted, lostGpuHours: round(this.lostGpuSeconds / 3600, 2) },
      tenants,
    };
    const pts = series.points();
    const allocatedByGroup: Record<string, number[]> = {};
    this.groups.forEach((g, i) => {
      allocatedByGroup[g.name] = pts.values[i];
    });
    const tenantShare: Record<string, number[]> = {};
    const tenantEntitlement: Record<string, number> = {};
    const allocSeries = pts.values[this.sAlloc];
    for (let s = 0; s <= MAX_TENANT_SERIES; s++) {
      const members = this.tenantList.filter((x) => x.series === this.nGroups + s);
      if (members.length === 0) continue;
      const name = s < MAX_TENANT_SERIES ? members[0].name : '(other)';
      tenantShare[name] = pts.values[this.nGroups + s].map((v, i) => round(allocSeries[i] > 0 ? v / allocSeries[i] : 0));
      tenantEntitlement[name] = round(members.reduce((a, x) => a + x.weight, 0) / (weights || 1));
    }
    return {
      summary,
      series: {
        t: pts.t,
        allocatedByGroup,
        tenantShare,
        tenantEntitlement,
        fragmentedGpus: pts.values[this.sFrag],
        freeGpus: pts.values[this.sFree],
        queuedJobs: pts.values[this.sQueue],
        preemptions: pts.values[this.sPreempt],
      },
      distributions: {
        queueDelayCdf: this.queueDelay.cdf(),
        jctCdf: this.jct.cdf(),
        boundedSlowdownCdf: this.bsld.cdf(),
      },
    };
  }
}
