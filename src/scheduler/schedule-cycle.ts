/**
 * scheduleCycle: one scheduling pass over the queue (v1: priority order, gangs, quotas, packing,
 * no head-of-line blocking). See README.md for the pipeline diagram and the glossary.
 *
 * The cycle applies every start it decides to the ClusterModel (an "assume" cache, like the
 * Kubernetes scheduler's): later jobs of the same cycle see the GPUs as taken. The caller persists
 * the starts and calls `cluster.release(jobId)` for any start it fails to persist.
 */
import type { GpuType } from '../model/fleet.js';
import type { PendingReason } from '../model/job.js';
import type { ClusterModel } from './cluster-model.js';
import { validateJobFitsFleet } from './fleet-fit.js';
import { placeJob } from './placement.js';
import { REASON } from './reasons.js';
import type { CycleInput, CycleResult, SchedJob, StartDecision } from './types.js';

export { validateJobFitsFleet } from './fleet-fit.js';

/** SchedulerError reports input the scheduler cannot work with (e.g. a job id queued twice). */
export class SchedulerError extends Error {
  override name = 'SchedulerError';
}

/** compareJobs orders the queue: priority descending, then submission seq ascending, then id. */
export function compareJobs(a: SchedJob, b: SchedJob): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.seq !== b.seq) return a.seq - b.seq;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * CycleContext is the per-cycle scratch state shared by the steps. Both caches are sound because a
 * cycle only ever adds allocations: quota usage only grows and free capacity only shrinks, so a
 * shape that failed stays failed until the cycle ends.
 */
interface CycleContext {
  readonly cluster: ClusterModel;
  readonly input: CycleInput;
  /** Equivalence classes: (project, gpuType) -> shape number (gpusPerNode, nodes) -> reason it failed. */
  readonly failedShapes: ShapeCache;
  /** Capacity failures per (gpuType, gpusPerNode, nodes), shared by all projects. */
  readonly failedCapacity: ShapeCache;
  equivalenceHits: number;
}

/** JobOutcome: a start, or the failures of every GPU type tried (at least one). */
type JobOutcome = { ok: true; start: StartDecision } | { ok: false; reason: PendingReason };

/**
 * TypeStep is one feasibility step for a job on one concrete GPU type. It returns a reason to
 * reject, or null to pass the job on. Steps run in TYPE_STEPS order; placement runs after them.
 */
type TypeStep = (ctx: CycleContext, job: SchedJob, gpuType: GpuType) => PendingReason | null;

/** quotaStep: usage(project, type) + job GPUs must stay within quota(project, type). */
const quotaStep: TypeStep = (ctx, job, gpuType) => {
  const needs = job.gpusPerNode * job.nodes;
  const quota = ctx.input.quotas.get(job.project)?.get(gpuType) ?? 0;
  if (quota <= 0) return REASON.noQuota(job.project, gpuType, needs);
  const inUse = ctx.cluster.usage(job.project, gpuType);
  if (inUse + needs > quota) return REASON.quotaExhausted(job.project, gpuType, inUse, quota, needs);
  return null;
};

/** capacityClassStep: fail fast if this exact shape already found no capacity this cycle. */
const capacityClassStep: TypeStep = (ctx, job, gpuType) => {
  const cached = ctx.failedCapacity.get(gpuType, ANY, job);
  if (cached) ctx.equivalenceHits++;
  return cached ?? null;
};

/**
 * TYPE_STEPS is the feasibility chain, cheapest and most selective first. Later versions slot in
 * here: fair share (before quota), reservations and backfill windows (before placement).
 */
const TYPE_STEPS: readonly TypeStep[] = [quotaStep, capacityClassStep];

/**
 * ShapeCache maps (a, b, shape number) to a reason with nested maps: no key strings are built per
 * job, which matters at 10,000 jobs per cycle. Shapes outside the numeric range are not cached.
 */
class ShapeCache {
  private readonly outer = new Map<string, Map<string, Map<number, PendingReason>>>();

  get(a: string, b: string, job: SchedJob): PendingReason | undefined {
    const shape = shapeNumber(job);
    return shape < 0 ? undefined : this.outer.get(a)?.get(b)?.get(shape);
  }

  set(a: string, b: string, job: SchedJob, reason: PendingReason): void {
    const shape = shapeNumber(job);
    if (shape < 0) return;
    let byB = this.outer.get(a);
    if (!byB) {
      byB = new Map();
      this.outer.set(a, byB);
    }
    let byShape = byB.get(b);
    if (!byShape) {
      byShape = new Map();
      byB.set(b, byShape);
    }
    byShape.set(shape, reason);
  }
}

/** shapeNumber packs (gpusPerNode, nodes) into one integer, or -1 if out of range. */
function shapeNumber(job: SchedJob): number {
  const { gpusPerNode: g, nodes: n } = job;
  if (!Number.isInteger(g) || !Number.isInteger(n) || g < 0 || g >= 1024 || n < 0 || n >= 1 << 20) return -1;
  return g * (1 << 20) + n;
}

const ANY = '*';

/**
 * candidateTypes lists the GPU types to try: the requested one, or for "any" every type that can
 * fit the shape at all, most free GPUs first (ties by name).
 */
function candidateTypes(cluster: ClusterModel, job: SchedJob): GpuType[] {
  if (job.gpuType !== null) return [job.gpuType];
  const fits = cluster.fleet.gpuTypes.filter(
    (t) => validateJobFitsFleet(cluster.fleet, { gpuType: t, gpusPerNode: job.gpusPerNode, nodes: job.nodes }) === null,
  );
  const free = new Map(fits.map((t) => [t, cluster.freeGpus({ gpuType: t })]));
  return fits.sort((a, b) => (free.get(b) ?? 0) - (free.get(a) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Failure ranks for "any"-type jobs: report the type that came closest to starting. */
const CLOSENESS: Record<string, number> = {
  insufficient_capacity: 0,
  topology: 1,
  quota_exhausted: 2,
  no_quota: 3,
};

function closest(reasons: PendingReason[]): PendingReason {
  let best = reasons[0];
  for (const r of reasons) if ((CLOSENESS[r.code] ?? 9) < (CLOSENESS[best.code] ?? 9)) best = r;
  return best;
}

/** tryJob runs the pipeline for one job: static fit, then per GPU type the steps and placement. */
function tryJob(ctx: CycleContext, job: SchedJob): JobOutcome {
  const never = validateJobFitsFleet(ctx.cluster.fleet, job);
  if (never) return { ok: false, reason: never };
  const failures: PendingReason[] = [];
  for (const gpuType of candidateTypes(ctx.cluster, job)) {
    let rejected: PendingReason | null = null;
    for (const step of TYPE_STEPS) {
      rejected = step(ctx, job, gpuType);
      if (rejected) break;
    }
    if (rejected) {
      failures.push(rejected);
      continue;
    }
    const outcome = placeJob(ctx.cluster, { gpuType, gpusPerNode: job.gpusPerNode, nodes: job.nodes });
    if (outcome.ok) return { ok: true, start: { jobId: job.id, placement: outcome.placement } };
    const reason = outcome.topology ? REASON.topology(outcome.shortfall) : REASON.insufficientCapacity(outcome.shortfall);
    ctx.failedCapacity.set(gpuType, ANY, job, reason);
    failures.push(reason);
  }
  return { ok: false, reason: closest(failures) };
}

/**
 * scheduleCycle decides which queued jobs start now and where, applies those starts to `cluster`,
 * and returns them with exactly one pending reason for every other queued job.
 *
 * 1. order the queue (compareJobs);
 * 2. per job: skip if already placed; fail fast if its equivalence class already failed;
 * 3. otherwise run tryJob (static fit -> per GPU type: quota, capacity class, placement);
 * 4. bind a start into the cluster at once so later jobs see it; record a failure's class.
 *
 * A job that does not fit never blocks lower ones (v1 has no reservations).
 * Throws SchedulerError (after undoing this cycle's starts) if a job id appears twice in the queue.
 */
export function scheduleCycle(cluster: ClusterModel, input: CycleInput): CycleResult {
  const ordered = [...input.queue].sort(compareJobs);
  const ctx: CycleContext = {
    cluster,
    input,
    failedShapes: new ShapeCache(),
    failedCapacity: new ShapeCache(),
    equivalenceHits: 0,
  };
  const starts: StartDecision[] = [];
  const pending = new Map<string, PendingReason>();
  const startedNow = new Set<string>();
  for (const job of ordered) {
    // Duplicate ids: a second copy finds the first in `pending` or among this cycle's starts.
    if (pending.has(job.id) || startedNow.has(job.id)) {
      for (const s of starts) cluster.release(s.jobId); // leave the cluster as we found it
      throw new SchedulerError(`job ${job.id} is queued twice`);
    }
    if (cluster.hasAllocation(job.id)) {
      pending.set(job.id, REASON.alreadyPlaced(job.id));
      continue;
    }
    const typeKey = job.gpuType ?? ANY;
    const known = ctx.failedShapes.get(job.project, typeKey, job);
    if (known) {
      ctx.equivalenceHits++;
      pending.set(job.id, known);
      continue;
    }
    const outcome = tryJob(ctx, job);
    if (outcome.ok) {
      cluster.allocate(job.id, job.project, outcome.start.placement);
      starts.push(outcome.start);
      startedNow.add(job.id);
    } else {
      ctx.failedShapes.set(job.project, typeKey, job, outcome.reason);
      pending.set(job.id, outcome.reason);
    }
  }
  return {
    starts,
    pending,
    stats: { considered: ordered.length, started: starts.length, equivalenceHits: ctx.equivalenceHits },
  };
}
