/**
 * Multifactor priority with hierarchical fair share (Slurm's priority/multifactor semantics).
 *
 *   total = w.fairShare * F + w.age * A + w.priorityClass * C + w.size * Z      (each factor in [0, 1])
 *
 *   F  fair share: 2^(-UE / S), S the project's normalised share (org share / all orgs times project
 *      share / projects of the org), UE its effective usage: its own normalised usage pulled toward
 *      its org's usage by its share among siblings (Slurm's classic hierarchical formula), so a
 *      project of a heavy org ranks lower than an equally idle project of a light org;
 *   A  age: time queued / maxAgeSeconds, capped at 1 (Slurm PriorityMaxAge, default 7 days);
 *   C  class: the priority class number / the highest class number;
 *   Z  size: GPUs (times the GPU type's billing weight) / GPUs in the fleet, capped at 1.
 *
 * Usage is a map project -> decayed GPU-seconds the caller keeps between cycles: decayUsage halves
 * it every half-life, chargeUsage adds the GPU-seconds of running jobs. Both are pure.
 */
import type { GpuType } from '../model/fleet.js';
import { PRIORITY_CLASSES } from '../model/job.js';
import type { FairShareInput, JobPriority, PriorityWeights, RunningJobInfo, SchedJob } from './types.js';

/** DEFAULT_HALF_LIFE_SECONDS: usage half-life, 7 days (Slurm PriorityDecayHalfLife default). */
export const DEFAULT_HALF_LIFE_SECONDS = 7 * 24 * 3600;
/** DEFAULT_MAX_AGE_SECONDS: queue age at which the age factor saturates (Slurm PriorityMaxAge). */
export const DEFAULT_MAX_AGE_SECONDS = 7 * 24 * 3600;

const MAX_CLASS = Math.max(...Object.values(PRIORITY_CLASSES));

/** decayUsage returns usage decayed by `elapsedSeconds` with half-life `halfLifeSeconds`. */
export function decayUsage(
  usage: ReadonlyMap<string, number>,
  elapsedSeconds: number,
  halfLifeSeconds: number = DEFAULT_HALF_LIFE_SECONDS,
): Map<string, number> {
  const factor = halfLifeSeconds > 0 && elapsedSeconds > 0 ? 2 ** (-elapsedSeconds / halfLifeSeconds) : 1;
  const out = new Map<string, number>();
  for (const [project, v] of usage) out.set(project, v * factor);
  return out;
}

/** UsageCharge: `gpus` GPUs of `gpuType` held by `project` for `seconds`. */
export interface UsageCharge {
  project: string;
  gpuType: GpuType;
  gpus: number;
  seconds: number;
}

/** chargeUsage returns usage plus the weighted GPU-seconds of `charges` (weight per GPU type, default 1). */
export function chargeUsage(
  usage: ReadonlyMap<string, number>,
  charges: readonly UsageCharge[],
  gpuTypeWeights?: ReadonlyMap<GpuType, number>,
): Map<string, number> {
  const out = new Map(usage);
  for (const c of charges) {
    const w = gpuTypeWeights?.get(c.gpuType) ?? 1;
    out.set(c.project, (out.get(c.project) ?? 0) + c.gpus * c.seconds * w);
  }
  return out;
}

/** PriorityContext is what jobPriority needs, computed once per cycle by priorityContext. */
export interface PriorityContext {
  readonly now: number;
  readonly weights: PriorityWeights;
  readonly maxAgeSeconds: number;
  readonly fleetGpus: number;
  readonly gpuTypeWeights?: ReadonlyMap<GpuType, number>;
  /** Fair-share factor per project (projects not listed get 0). */
  readonly fairShareFactor: ReadonlyMap<string, number>;
}

/**
 * priorityContext computes every project's fair-share factor once. Projects' orgs come from
 * `fairShare.projectOrgs`, else from the jobs (queue first, then running).
 */
export function priorityContext(
  fairShare: FairShareInput,
  opts: { now: number; fleetGpus: number; queue?: readonly SchedJob[]; running?: readonly RunningJobInfo[] },
): PriorityContext {
  const orgOf = new Map<string, string>(fairShare.projectOrgs ?? []);
  for (const j of opts.queue ?? []) if (!orgOf.has(j.project)) orgOf.set(j.project, j.org);
  for (const r of opts.running ?? []) if (!orgOf.has(r.project)) orgOf.set(r.project, r.org);

  let orgShareSum = 0;
  for (const v of fairShare.orgShares.values()) orgShareSum += Math.max(0, v);
  const siblingShares = new Map<string, number>();
  for (const [project, v] of fairShare.projectShares) {
    const org = orgOf.get(project);
    if (org !== undefined) siblingShares.set(org, (siblingShares.get(org) ?? 0) + Math.max(0, v));
  }
  let usageSum = 0;
  for (const v of fairShare.usage.values()) usageSum += Math.max(0, v);
  const orgUsage = new Map<string, number>();
  for (const [project, v] of fairShare.usage) {
    const org = orgOf.get(project);
    if (org !== undefined && usageSum > 0) orgUsage.set(org, (orgUsage.get(org) ?? 0) + Math.max(0, v) / usageSum);
  }

  const factor = new Map<string, number>();
  // Sorted so the map's iteration order does not depend on input order.
  for (const project of [...orgOf.keys()].sort()) {
    const org = orgOf.get(project) ?? '';
    const orgShare = orgShareSum > 0 ? Math.max(0, fairShare.orgShares.get(org) ?? 0) / orgShareSum : 0;
    const siblings = siblingShares.get(org) ?? 0;
    const raw = Math.max(0, fairShare.projectShares.get(project) ?? 0);
    const share = siblings > 0 ? orgShare * (raw / siblings) : 0;
    const own = usageSum > 0 ? Math.max(0, fairShare.usage.get(project) ?? 0) / usageSum : 0;
    const effective = own + ((orgUsage.get(org) ?? 0) - own) * (siblings > 0 ? raw / siblings : 0);
    factor.set(project, share > 0 ? 2 ** (-effective / share) : 0);
  }
  return {
    now: opts.now,
    weights: fairShare.weights,
    maxAgeSeconds: fairShare.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
    fleetGpus: opts.fleetGpus,
    gpuTypeWeights: fairShare.gpuTypeWeights,
    fairShareFactor: factor,
  };
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/** The four factors of one jobPriority call (synchronous and pure: one scratch array serves every call). */
const scratch = new Float64Array(4);

/** jobPriority returns a job's multifactor priority and its factors (see module comment). */
export function jobPriority(job: SchedJob, ctx: PriorityContext): JobPriority {
  const total = priorityInto(job, ctx, scratch, 0);
  return { total, factors: { fairShare: scratch[0], age: scratch[1], priorityClass: scratch[2], size: scratch[3] } };
}

/**
 * priorityInto is jobPriority without building objects: it writes the four factors to
 * out[at..at+3] (fair share, age, class, size) and returns the total. The cycle sorts by the total
 * and builds JobPriority objects only for the priorities someone reads. Same arithmetic, same bits.
 */
export function priorityInto(job: SchedJob, ctx: PriorityContext, out: Float64Array, at: number): number {
  return priorityOfParts(job.project, job.submittedAt, job.priority, job.gpuType, sizeGpus(job), ctx, out, at);
}

/**
 * priorityOfParts is priorityInto on the fields it reads of a job (project, submittedAt, class,
 * GPU type, sizeGpus), for a caller that keeps them outside the job object (class groups: every
 * member of a scan class has the same project, class, GPU type and shape). The same function
 * priorityInto runs: same arithmetic, same bits.
 */
export function priorityOfParts(
  project: string,
  submittedAt: number,
  priority: number,
  gpuType: GpuType | null,
  gpus: number,
  ctx: PriorityContext,
  out: Float64Array,
  at: number,
): number {
  const fairShare = ctx.fairShareFactor.get(project) ?? 0;
  const age = ageFactor(submittedAt, ctx);
  const priorityClass = classFactor(priority);
  const size = sizeFactor(gpuType, gpus, ctx);
  out[at] = fairShare;
  out[at + 1] = age;
  out[at + 2] = priorityClass;
  out[at + 3] = size;
  return weighted(ctx.weights, fairShare, age, priorityClass, size);
}

/**
 * sharedFactorsInto writes the factors that members of one scan class share (fair share, class,
 * size: all but age) to out[at..at+2], for priorityOfShared: the class walk computes them once per
 * class and a member's total from its submittedAt alone. The same functions priorityOfParts runs.
 */
export function sharedFactorsInto(
  project: string,
  priority: number,
  gpuType: GpuType | null,
  gpus: number,
  ctx: PriorityContext,
  out: Float64Array,
  at: number,
): void {
  out[at] = ctx.fairShareFactor.get(project) ?? 0;
  out[at + 1] = classFactor(priority);
  out[at + 2] = sizeFactor(gpuType, gpus, ctx);
}

/** priorityOfShared: priorityOfParts' total for a member submitted at `submittedAt` whose shared factors are shared[at..at+2] (same bits). */
export function priorityOfShared(shared: Float64Array, at: number, submittedAt: number, ctx: PriorityContext): number {
  return weighted(ctx.weights, shared[at], ageFactor(submittedAt, ctx), shared[at + 1], shared[at + 2]);
}

function ageFactor(submittedAt: number, ctx: PriorityContext): number {
  const ageSeconds = (ctx.now - submittedAt) / 1000;
  return ctx.maxAgeSeconds > 0 ? clamp01(ageSeconds / ctx.maxAgeSeconds) : 1;
}

function classFactor(priority: number): number {
  return MAX_CLASS > 0 ? clamp01(priority / MAX_CLASS) : 0;
}

function sizeFactor(gpuType: GpuType | null, gpus: number, ctx: PriorityContext): number {
  const typeWeight = gpuType === null ? 1 : (ctx.gpuTypeWeights?.get(gpuType) ?? 1);
  return ctx.fleetGpus > 0 ? clamp01((gpus * typeWeight) / ctx.fleetGpus) : 0;
}

/** sizeGpus: the GPUs the size factor counts (a time-sliced share its milli-GPU, a MIG instance one GPU). */
export function sizeGpus(job: SchedJob): number {
  return job.share ? (job.share.milli ?? 1000) / 1000 : job.gpusPerNode * job.nodes;
}

function weighted(w: PriorityWeights, fairShare: number, age: number, priorityClass: number, size: number): number {
  return w.fairShare * fairShare + w.age * age + w.priorityClass * priorityClass + w.size * size;
}
