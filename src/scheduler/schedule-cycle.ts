/**
 * scheduleCycle: one scheduling pass over the queue (priority / fair-share order, gangs, quotas with
 * borrowing, preemption, backfill reservations, constraints, packing). See README.md for the
 * pipeline diagram, each policy's semantics and the glossary.
 *
 * The cycle applies every start it decides to the ClusterModel (an "assume" cache, like the
 * Kubernetes scheduler's): later jobs of the same cycle see the GPUs as taken. The caller persists
 * the starts and calls `cluster.release(jobId)` for any start it fails to persist.
 */
import type { GpuType } from '../model/fleet.js';
import { MILLI_PER_GPU } from '../model/gpu-sharing.js';
import type { PendingReason } from '../model/job.js';
import { Backfill } from './backfill.js';
import { CohortLedger } from './borrowing.js';
import { BudgetGate } from './budget-gate.js';
import type { GroupHead } from './class-queue.js';
import { ClassWalk, groupScorer } from './class-walk.js';
import type { ClusterModel } from './cluster-model.js';
import { constraintsFor, constraintsReason, hasConstraints, type PlacementConstraints } from './constraints.js';
import { validateJobFitsFleet } from './fleet-fit.js';
import { orderIndexes } from './order.js';
import { applyRepartitions, preferWholeModeGpus, repartitionsFor } from './partition.js';
import { type PlacementRequest, placeJob } from './placement.js';
import { type PreemptionPlan, Preemptor } from './preemption.js';
import { priorityContext, priorityInto } from './priority.js';
import { preemptingReason, REASON, reservedOwners, reservedReason } from './reasons.js';
import { RunningViews } from './running-views.js';
import { placeShare, shareMilliOn } from './share-placement.js';
import { excludedCapacity, shortfallReason } from './shortfall-scope.js';
import { TailMap } from './tail-map.js';
import type {
  CycleInput,
  CycleResult,
  JobExplain,
  JobPriority,
  PreemptionDecision,
  SchedJob,
  SchedShare,
  StartDecision,
} from './types.js';

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
  /** Equivalence classes: (project, gpuType) -> shape number (gpusPerNode, nodes) -> the failed class. */
  readonly failedShapes: ClassCache;
  /** Capacity failures per (gpuType, gpusPerNode, nodes), shared by all projects. */
  readonly failedCapacity: ShapeCache;
  /** Quota accounting, with cohort borrowing when enabled. */
  readonly ledger: CohortLedger;
  /** Victim planning; undefined when preemption is off. */
  readonly preemptor: Preemptor | undefined;
  /** Reservations; undefined when backfill is off. */
  readonly backfill: Backfill | undefined;
  readonly opts: ResolvedOptions;
  equivalenceHits: number;
  /** Starts made so far this cycle (see stillValid). */
  startCount: number;
  /** The last `reserved` reason made, with its owners and start (see reservedFor). */
  lastReserved?: { owners: readonly string[]; start: number; reason: PendingReason };
}

/**
 * reservedFor: reservedReason(owners, start), or the last one this cycle made when it had the same
 * owners and start: the same content, shared as a class's members share their reason. The
 * reservations change far less often than capacity failures meet them.
 */
function reservedFor(ctx: CycleContext, owners: readonly string[], start: number): PendingReason {
  const last = ctx.lastReserved;
  if (last && last.start === start && last.owners.length === owners.length) {
    let same = true;
    for (let k = 0; k < owners.length && same; k++) same = last.owners[k] === owners[k];
    if (same) return last.reason;
  }
  const reason = reservedReason(owners, start);
  ctx.lastReserved = { owners: [...owners], start, reason };
  return reason;
}

/**
 * JobOutcome: a start (borrowed or not), a preemption plan (the job waits for its victims), or the
 * failure that came closest over every GPU type tried.
 */
type JobOutcome =
  | { ok: true; start: StartDecision; borrowed: boolean }
  | {
      ok: false;
      reason: PendingReason;
      plan?: PreemptionPlan;
      blockedTypes?: GpuType[];
      /** Nodes a reservation for it must not use (a `required` spread member: its group's domains). */
      avoid?: readonly number[];
    };

/**
 * ShapeCache maps (a, b, shape number) to a reason with nested maps: no key strings are built per
 * job, which matters at 10,000 jobs per cycle. Shapes outside the numeric range are not cached.
 */
class ShapeMemo<T> {
  private readonly outer = new Map<string, Map<string, Map<number, T>>>();

  get(a: string, b: string, job: Shape): T | undefined {
    const shape = shapeNumber(job);
    return shape < 0 ? undefined : this.outer.get(a)?.get(b)?.get(shape);
  }

  set(a: string, b: string, job: Shape, value: T): void {
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
    byShape.set(shape, value);
  }
}

/** CachedFailure: a class's failure and the number of starts the cycle had made when it was seen. */
interface CachedFailure {
  readonly reason: PendingReason;
  readonly startsSeen: number;
}

/** ShapeCache: failure reasons per (a, b, shape). */
class ShapeCache extends ShapeMemo<CachedFailure> {}

/**
 * stillValid: a cached failure stays a failure for the whole cycle (capacity only shrinks), but a
 * `reserved` reason says the job would fit without the reservations, which a later start can make
 * untrue; such reasons are recomputed after any start.
 */
function stillValid(ctx: CycleContext, f: CachedFailure): boolean {
  return f.reason.code !== 'reserved' || f.startsSeen === ctx.startCount;
}

/** Shape: the two numbers of a job's shape (gpusPerNode x nodes). */
type Shape = Pick<SchedJob, 'gpusPerNode' | 'nodes'>;

/** shapeNumber packs (gpusPerNode, nodes) into one integer, or -1 if out of range. */
function shapeNumber(job: Shape): number {
  const { gpusPerNode: g, nodes: n } = job;
  if (!Number.isInteger(g) || !Number.isInteger(n) || g < 0 || g >= 1024 || n < 0 || n >= 1 << 20) return -1;
  return g * (1 << 20) + n;
}

const ANY = '*';

/**
 * KeyMemo interns composite keys (string, number) so the hot loop builds no new strings per job:
 * a fresh concatenation would have to be flattened and hashed on every Map lookup.
 */
class KeyMemo {
  private readonly memo = new Map<string, Map<number, string>>();

  of(a: string, n: number): string {
    let byN = this.memo.get(a);
    if (!byN) {
      byN = new Map();
      this.memo.set(a, byN);
    }
    let key = byN.get(n);
    if (key === undefined) {
      key = `${a}\u0000${n}`;
      byN.set(n, key);
    }
    return key;
  }
}

/**
 * candidateTypes lists the GPU types to try: the requested one, or for "any" every type that can
 * fit the shape at all, most free GPUs first (ties by name).
 */
function candidateTypes(cluster: ClusterModel, job: Pick<SchedJob, 'gpuType' | 'gpusPerNode' | 'nodes'>): readonly GpuType[] {
  if (job.gpuType !== null) return onlyType(job.gpuType);
  const fits: GpuType[] = [];
  const free: number[] = [];
  for (const t of cluster.fleet.gpuTypes) {
    if (validateJobFitsFleet(cluster.fleet, { gpuType: t, gpusPerNode: job.gpusPerNode, nodes: job.nodes }) !== null) continue;
    // Insertion by (most free GPUs, then name): a total order (type names are unique), so the
    // order a sort with that comparator gives, without the sort's work array and a Map per visit.
    const f = cluster.freeGpus({ gpuType: t });
    let at = fits.length;
    while (at > 0 && (free[at - 1] < f || (free[at - 1] === f && fits[at - 1] > t))) at--;
    fits.splice(at, 0, t);
    free.splice(at, 0, f);
  }
  return fits;
}

/** The one-type lists candidateTypes returns (read only): none made per visit. */
const ONLY_TYPE = new Map<GpuType, readonly GpuType[]>();

function onlyType(gpuType: GpuType): readonly GpuType[] {
  let list = ONLY_TYPE.get(gpuType);
  if (!list) {
    // Not frozen (read only by type): a frozen array has its own elements kind, and the loops over
    // candidateTypes would see two.
    list = [gpuType];
    ONLY_TYPE.set(gpuType, list);
  }
  return list;
}

/** Failure ranks for "any"-type jobs: report the type that came closest to starting. */
const CLOSENESS: Record<string, number> = {
  insufficient_capacity: 0,
  reserved: 0,
  topology: 1,
  quota_exhausted: 2,
  no_quota: 3,
  constraints: 4,
  residency: 4,
};

function closest(reasons: PendingReason[]): PendingReason {
  let best = reasons[0];
  for (const r of reasons) if (rank(r) < rank(best)) best = r;
  return best;
}

/** closer: the failure closest to starting of `best` (undefined: none yet) and `r`, as closest picks. */
function closer(best: PendingReason | undefined, r: PendingReason): PendingReason {
  return !best || rank(r) < rank(best) ? r : best;
}

/** appended: `list` with `x` pushed, made (exactly sized) at the first. */
function appended<T>(list: T[] | undefined, x: T): T[] {
  if (!list) return [x];
  list.push(x);
  return list;
}

/** rank: a failure's closeness to starting (lower is closer; see CLOSENESS). */
function rank(r: PendingReason): number {
  return CLOSENESS[r.code] ?? 9;
}

/**
 * tryJob runs the pipeline for one job: static fit, then per candidate GPU type
 *   quota (nominal, else borrowing from the cohort) -> capacity class cache -> placement;
 * and if no type can start now, preemption on the types where only capacity was missing.
 */
function tryJob(ctx: CycleContext, job: SchedJob, capacityKey: string): JobOutcome {
  const never = validateJobFitsFleet(ctx.cluster.fleet, job);
  if (never) return { ok: false, reason: never };
  if (job.share) return tryShare(ctx, job);
  if (job.spread) return trySpread(ctx, job, job.spread, capacityKey);
  return tryWhole(ctx, job, capacityKey, true);
}

/**
 * trySpread: a member of a spread group (a service replica) first tries every node but those holding
 * a member of its group (masked out of the placement indexes for the attempt, then restored). If none
 * fits: `preferred` runs the ordinary pipeline (sharing a node); `required` waits, with reason
 * `spread` when the job would fit on a node of its group, else with the ordinary reason of the
 * unmasked state. Preemption for `required` is planned with the mask on, so victims are never
 * evicted for a node the replica may not use; so is its backfill reservation (`avoid`: the caller
 * masks those nodes while it reserves), so smaller jobs cannot starve it on the nodes it may use.
 * Members never use or feed the class caches (see the main loop).
 */
function trySpread(ctx: CycleContext, job: SchedJob, spread: NonNullable<SchedJob['spread']>, capacityKey: string): JobOutcome {
  return withSpread(ctx, job, spread, (preempt) => tryWhole(ctx, job, capacityKey, preempt), true);
}

/**
 * withSpread: `attempt` with the spread group's failure domains masked (the nodes holding a member,
 * or every node of their scalable units, sites or label values), then as trySpread says. Preemption
 * is planned with the mask on only when `preemptMasked` (whole GPUs, `required`); a share never
 * preempts around the rule.
 */
function withSpread(
  ctx: CycleContext,
  job: SchedJob,
  spread: NonNullable<SchedJob['spread']>,
  attempt: (preempt: boolean) => JobOutcome,
  preemptMasked: boolean,
): JobOutcome {
  const occupied = ctx.cluster.spreadNodes(job.org, spread.group);
  if (occupied.length === 0) return attempt(true);
  const required = spread.mode === 'required';
  const over = spread.over ?? 'node';
  const avoided = ctx.cluster.domainNodes(occupied, over);
  ctx.cluster.maskNodes(avoided);
  let masked: JobOutcome;
  try {
    masked = attempt(preemptMasked && required);
  } finally {
    ctx.cluster.unmaskNodes(avoided);
  }
  if (masked.ok || masked.plan) return masked;
  if (!required) return attempt(true);
  // A reservation may be planned only where the replica may run: with these nodes masked.
  const reserveOn =
    preemptMasked && masked.blockedTypes && masked.blockedTypes.length > 0
      ? { blockedTypes: masked.blockedTypes, avoid: avoided }
      : {};
  const plain = attempt(false);
  if (!plain.ok) return { ok: false, reason: plain.reason, ...reserveOn };
  const domains = over === 'node' ? occupied.length : new Set(occupied.map((i) => ctx.cluster.domainKey(i, over))).size;
  const gpuType = plain.start.placement.gpuType;
  return {
    ok: false,
    reason: REASON.spread(gpuType, job.gpusPerNode, spread.name ?? spread.group, spread.group, domains, over),
    ...reserveOn,
  };
}

/** tryWhole: tryJob for whole GPUs; `preempt` false skips the preemption step. */
function tryWhole(ctx: CycleContext, job: SchedJob, capacityKey: string, preempt: boolean): JobOutcome {
  const needs = job.gpusPerNode * job.nodes;
  // The closest failure so far (closest's rule, kept as it goes: no list of failures per visit),
  // and the types where only capacity was missing, with their quota verdicts (made at the first).
  let failure: PendingReason | undefined;
  let blockedTypes: GpuType[] | undefined;
  let blockedBorrowed: boolean[] | undefined;
  const constraints = constraintsFor(ctx.cluster, job);
  for (const gpuType of candidateTypes(ctx.cluster, job)) {
    if (constraints && !ctx.cluster.groupsOfType(gpuType).some((g) => constraints.allows(g))) {
      failure = closer(failure, constraintsReason(job, job.residency ? excludedCapacity(ctx.cluster, job, gpuType) : []));
      continue;
    }
    const verdict = ctx.ledger.check(job.project, gpuType, needs);
    if (!verdict.ok) {
      failure = closer(failure, verdict.reason);
      continue;
    }
    // A spread member's failure depends on where its group runs: it never reads or feeds the cache.
    const shared = !constraints && !job.spread;
    const cached = ctx.opts.equivalence && shared ? ctx.failedCapacity.get(gpuType, capacityKey, job) : undefined;
    if (cached && stillValid(ctx, cached)) {
      ctx.equivalenceHits++;
      failure = closer(failure, cached.reason);
      blockedTypes = appended(blockedTypes, gpuType);
      blockedBorrowed = appended(blockedBorrowed, verdict.borrowed);
      continue;
    }
    // The same request asks placeJob and, on a shortfall, whether it fits without the reservations.
    const req: PlacementRequest = { gpuType, gpusPerNode: job.gpusPerNode, nodes: job.nodes, constraints };
    const outcome = placeJob(ctx.cluster, req);
    if (outcome.ok) {
      const start: StartDecision = { jobId: job.id, placement: outcome.placement };
      if (verdict.borrowed) start.borrowed = true;
      return { ok: true, start, borrowed: verdict.borrowed };
    }
    // The shortfall is described only when the reservations are not what blocks it (both read a
    // state fitsWithoutReservations leaves as it found it).
    const bf = ctx.backfill;
    let reason: PendingReason;
    if (bf?.holding && bf.fitsWithoutReservations(req)) {
      const { owners, start } = bf.blockers();
      reason = reservedFor(ctx, owners, start);
    } else reason = shortfallReason(ctx.cluster, job, constraints, outcome.shortfall, outcome.topology);
    // A constrained failure says nothing about the unconstrained shape: never cache it.
    if (shared) ctx.failedCapacity.set(gpuType, capacityKey, job, { reason, startsSeen: ctx.startCount });
    failure = closer(failure, reason);
    blockedTypes = appended(blockedTypes, gpuType);
    blockedBorrowed = appended(blockedBorrowed, verdict.borrowed);
  }
  if (ctx.preemptor && preempt && blockedTypes && blockedBorrowed) {
    for (let t = 0; t < blockedTypes.length; t++) {
      const plan = ctx.preemptor.plan(job, blockedTypes[t], blockedBorrowed[t]);
      if (plan) return { ok: false, reason: preemptingReason(plan.waitingOn, plan.victimGpus, plan.decisions.length), plan };
    }
  }
  // No type tried (none listed): undefined, as closest([]) gave.
  return { ok: false, reason: failure as PendingReason, blockedTypes };
}

/**
 * tryShare is tryJob for a fraction or MIG instance of one GPU: per candidate type (those offering
 * the MIG profile), constraints -> quota in GPU-equivalents (milli / 1000) -> placeShare; then
 * preemption where only capacity was missing. The shared capacity cache is skipped: whether a share
 * fits depends on the organisation (shares never mix organisations).
 */
function tryShare(ctx: CycleContext, job: SchedJob): JobOutcome {
  // A fractional replica: as trySpread (placeShare skips masked nodes for the organisation's partly
  // used GPUs too), but preemption is planned only without the mask: a `required` share waits.
  if (!job.spread) return tryShareOn(ctx, job, true);
  return withSpread(ctx, job, job.spread, (preempt) => tryShareOn(ctx, job, preempt), false);
}

/** tryShareOn: tryJob for a GPU share; `preempt` false skips the preemption step. */
function tryShareOn(ctx: CycleContext, job: SchedJob, preempt: boolean): JobOutcome {
  const share = job.share;
  if (!share) throw new SchedulerError(`job ${job.id} asks for no GPU share`);
  const failures: PendingReason[] = [];
  const capacityBlocked: { gpuType: GpuType; borrowed: boolean }[] = [];
  const constraints = constraintsFor(ctx.cluster, job);
  for (const gpuType of candidateTypes(ctx.cluster, job)) {
    const milli = shareMilliOn(ctx.cluster.fleet, share, gpuType);
    if (milli === undefined) {
      failures.push(REASON.unsatisfiable(`${gpuType} has no MIG profile ${share.migProfile}`, { gpuType }));
      continue;
    }
    if (constraints && !ctx.cluster.groupsOfType(gpuType).some((g) => constraints.allows(g))) {
      failures.push(constraintsReason(job, job.residency ? excludedCapacity(ctx.cluster, job, gpuType) : []));
      continue;
    }
    const verdict = ctx.ledger.check(job.project, gpuType, milli / MILLI_PER_GPU);
    if (!verdict.ok) {
      failures.push(verdict.reason);
      continue;
    }
    const bf = ctx.backfill;
    const outcome = placeShare(ctx.cluster, job, gpuType, constraints, bf && ((n, g) => bf.isReservedGpu(n, g)));
    if (outcome.ok) {
      const start: StartDecision = { jobId: job.id, placement: outcome.placement };
      if (verdict.borrowed) start.borrowed = true;
      return { ok: true, start, borrowed: verdict.borrowed };
    }
    failures.push(outcome.reason);
    if (outcome.reason.code === 'insufficient_capacity') capacityBlocked.push({ gpuType, borrowed: verdict.borrowed });
  }
  if (failures.length === 0) {
    return { ok: false, reason: REASON.unsatisfiable(`no GPU type offers MIG profile ${share.migProfile}`, {}) };
  }
  if (ctx.preemptor && preempt) {
    for (const { gpuType, borrowed } of capacityBlocked) {
      const plan = ctx.preemptor.plan(job, gpuType, borrowed);
      if (plan) return { ok: false, reason: preemptingReason(plan.waitingOn, plan.victimGpus, plan.decisions.length), plan };
    }
  }
  // No backfill reservations for shares: blockedTypes stays empty.
  return { ok: false, reason: closest(failures) };
}

/** jobNeeds: GPU-equivalents a job takes on `gpuType` (a share's milli / 1000; else all its GPUs). */
function jobNeeds(cluster: ClusterModel, job: SchedJob, gpuType: GpuType): number {
  if (!job.share) return job.gpusPerNode * job.nodes;
  return (shareMilliOn(cluster.fleet, job.share, gpuType) ?? MILLI_PER_GPU) / MILLI_PER_GPU;
}

const shareCodes = new Map<string, number>();

/**
 * shareShape: the class shape of a share, kept apart from every whole-GPU shape (gpusPerNode 0):
 * nodes = milli for a fraction, 1000 + a number per MIG profile name for a MIG instance.
 */
function shareShape(share: SchedShare): Shape {
  if (share.migProfile === undefined) return { gpusPerNode: 0, nodes: share.milli };
  let code = shareCodes.get(share.migProfile);
  if (code === undefined) {
    code = MILLI_PER_GPU + shareCodes.size;
    shareCodes.set(share.migProfile, code);
  }
  return { gpusPerNode: 0, nodes: code };
}

/**
 * EAGER_HEAD: per-job maps (priorities, explanations) hold this many entries, in queue order, when
 * the cycle returns; the rest are computed from the cycle's captured state when first read (see
 * TailMap). Large enough for every decision-relevant job of a cycle; small enough to be cheap.
 */
const EAGER_HEAD = 1000;

/**
 * CycleOptions: internal knobs that change cost, never decisions; the tests run both ways and
 * compare. Not part of the public API.
 */
export interface CycleOptions {
  /** Entries of priorities/explain built during the cycle (default EAGER_HEAD); the rest on first read. */
  eagerHead?: number;
  /** Reuse equivalence-class failures (default true); false: every job runs the full pipeline. */
  equivalence?: boolean;
  /**
   * The queue order as indexes into the queue, given each job's score, seq and id (queue order).
   * Default orderIndexes (a radix sort); the incremental scheduler passes one that reuses the last
   * cycle's order. It must return exactly the order orderIndexes returns.
   */
  order?: QueueOrdering;
  /**
   * Build `pending` like the explain map: the first eagerHead pending jobs in queue order now, the
   * rest on first read (TailMap), and skip the duplicate-id check, which would read it all. Only
   * for callers whose queue cannot hold an id twice (the incremental scheduler). Default false.
   */
  lazyPending?: boolean;
  /**
   * Stop scanning (with lazyPending only): the caller's count of queued jobs per scan class. Once
   * every scan class that still has unvisited members has failed this cycle (and its failure would
   * be reused by a visit), the rest of the queue cannot change any decision: the loop stops, and
   * each unvisited job gets, through the pending and explain views, the reason a visit would have
   * given it (already placed, over budget, else its class's).
   */
  classes?: ScanClasses;
}

/**
 * ScanClasses: queued jobs grouped by every field the per-job loop reads before it reuses a class
 * failure: project and priority (the class key), GPU type and shape (or share), and what the
 * backfill mask reads (organisation, preemptible, maxRuntimeSeconds). Class 0 holds the jobs that
 * never share a class (constraints, spread groups): while one is unvisited the loop goes on.
 */
export interface ScanClasses {
  /** Queue index -> scan class id. */
  readonly of: Uint32Array;
  /** Class id -> queued jobs of the class in this cycle's queue. */
  readonly count: readonly number[];
  /** Class id -> one member (its fields decide the class); unused for class 0. */
  readonly rep: readonly (SchedJob | undefined)[];
}

/** scanClassKey: the scan class of a job as a string (0 for jobs that never share a class is the caller's). */
export function scanClassKey(job: SchedJob): string | undefined {
  if (job.spread !== undefined || hasConstraints(job)) return undefined;
  const shape = job.share ? `s${job.share.milli}/${job.share.migProfile ?? ''}` : `${job.gpusPerNode}x${job.nodes}`;
  return `${job.project}\u0000${job.priority}\u0000${job.gpuType ?? ANY}\u0000${shape}\u0000${job.org}\u0000${job.preemptible === true}\u0000${job.maxRuntimeSeconds}`;
}

/**
 * StopScan decides when the per-job loop may stop: every scan class with unvisited members is
 * closed, i.e. a visit of any member would reuse a cached failure (`closedClass`). Closedness only
 * grows within a cycle (failures stay failures, reservation slots only fill, mayReserve only
 * clears) except in two ways, both handled: a new reservation or window changes the backfill masks
 * (every class is checked again), and a start makes `reserved` failures stale (those classes are
 * checked again). Classes are checked from a cursor, so a cycle checks each class about once.
 */
class StopScan {
  private readonly left: number[];
  private readonly active: number[] = [];
  private cursor = 0;
  private witness = -1;
  private heldSeen = -1;
  private startsSeen = -1;
  /** Classes found closed on a `reserved` failure since the last start, and those to check again. */
  private reservedClosed: number[] = [];
  private recheck: number[] = [];
  /** Class id -> the failure its unvisited members take. */
  readonly closedAs: (ExplainClass | undefined)[] = [];
  dirty = true;

  constructor(
    private readonly classes: ScanClasses,
    private readonly closedClass: (job: SchedJob) => ExplainClass | undefined,
  ) {
    this.left = [...classes.count];
    for (let c = 0; c < this.left.length; c++) if (this.left[c] > 0) this.active.push(c);
  }

  /** Per class: the failure its members reuse, and the reservations held when it was found. */
  private readonly known: (ExplainClass | undefined)[] = [];
  private readonly knownHeld: number[] = [];

  /**
   * reuse: the failure a visit of the job at queue index `i` would reuse now, found once per class
   * rather than per job (mask, class keys, cache lookups); undefined: run the full visit. Sound for
   * the reasons closedness is: the record stays reusable until the held reservations change or, for
   * a `reserved` failure, a start makes it stale (both re-checked here).
   */
  reuse(i: number, held: number, starts: number): ExplainClass | undefined {
    const c = this.classes.of[i];
    if (c === 0) return undefined;
    let rec = this.known[c];
    if (rec === undefined || this.knownHeld[c] !== held || (rec.reason.code === 'reserved' && rec.startsSeen !== starts)) {
      const job = this.classes.rep[c];
      rec = job ? this.closedClass(job) : undefined;
      this.known[c] = rec;
      this.knownHeld[c] = held;
    }
    return rec;
  }

  /** visit: the job at queue index `i` is being visited. */
  visit(i: number): void {
    const c = this.classes.of[i];
    if (--this.left[c] === 0 && c === this.witness) this.dirty = true;
  }

  /** allClosed: true when no unvisited job can change the outcome (only checks after a change). */
  allClosed(held: number, starts: number): boolean {
    if (!this.dirty) return false;
    this.dirty = false;
    if (held !== this.heldSeen) {
      this.heldSeen = held;
      this.cursor = 0;
      this.reservedClosed = [];
      this.recheck = [];
    } else if (starts !== this.startsSeen && this.reservedClosed.length > 0) {
      for (const c of this.reservedClosed) this.recheck.push(c);
      this.reservedClosed = [];
    }
    this.startsSeen = starts;
    while (this.recheck.length > 0) {
      const c = this.recheck[this.recheck.length - 1];
      if (!this.check(c)) return false;
      this.recheck.pop();
    }
    while (this.cursor < this.active.length) {
      if (!this.check(this.active[this.cursor])) return false;
      this.cursor++;
    }
    return true;
  }

  private check(c: number): boolean {
    if (this.left[c] === 0) return true;
    const job = this.classes.rep[c];
    const rec = c === 0 || !job ? undefined : this.closedClass(job);
    if (!rec) {
      this.witness = c;
      return false;
    }
    this.closedAs[c] = rec;
    if (rec.reason.code === 'reserved') this.reservedClosed.push(c);
    return true;
  }
}

/** ResolvedOptions: CycleOptions with the defaults filled in. */
type ResolvedOptions = Required<Omit<CycleOptions, 'classes'>> & Pick<CycleOptions, 'classes'>;

/** QueueOrdering: (scores, seqs, ids) in queue order -> queue indexes, score desc, seq asc, id asc. */
export type QueueOrdering = (scores: Float64Array, seqs: Float64Array, ids: readonly string[]) => Uint32Array;

/**
 * orderQueue sorts the queue: by multifactor priority when fair share is on (total descending,
 * then seq, then id), else by compareJobs. Returns the ordered jobs, their ids in that order and the
 * priorities, if any (the head built now, the tail on first read).
 */
function orderQueue(
  cluster: ClusterModel,
  input: CycleInput,
  eagerHead: number,
  ordering: QueueOrdering,
): {
  ordered: SchedJob[];
  ids: string[];
  /** Position -> queue index. */
  idx: Uint32Array;
  placed: Uint8Array;
  /** Queue index -> position in `ordered`. */
  positionOf: Uint32Array;
  priorities?: Map<string, JobPriority>;
} {
  const queue = input.queue;
  const n = queue.length;
  // Flat arrays and a radix sort (order.ts): the same order as a comparator sort, in linear time.
  const totals = new Float64Array(n);
  const seqs = new Float64Array(n);
  const ids = new Array<string>(n);
  // Jobs already holding an allocation are looked up here, in queue order (memory order, cheap),
  // rather than in priority order. Only a start of the same id (a duplicate) can add one later.
  const placedAt = new Uint8Array(n);
  const pctx = input.fairShare
    ? priorityContext(input.fairShare, { now: input.now, fleetGpus: cluster.fleet.totalGpus, queue, running: input.running })
    : undefined;
  // Factors per job, captured now: priorities read later never depend on the (mutable) inputs.
  const factors = new Float64Array(pctx ? 4 * n : 0);
  // One pass reads every field the order needs: each job object is fetched from memory once.
  for (let i = 0; i < n; i++) {
    const job = queue[i];
    seqs[i] = job.seq;
    ids[i] = job.id;
    placedAt[i] = cluster.hasAllocation(job.id) ? 1 : 0;
    totals[i] = pctx ? priorityInto(job, pctx, factors, 4 * i) : job.priority;
  }
  const idx = ordering(totals, seqs, ids);
  const ordered = new Array<SchedJob>(n);
  const orderedIds = new Array<string>(n);
  const placed = new Uint8Array(n);
  const positionOf = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    ordered[k] = queue[idx[k]];
    orderedIds[k] = ids[idx[k]];
    placed[k] = placedAt[idx[k]];
    positionOf[idx[k]] = k;
  }
  if (!pctx) return { ordered, ids: orderedIds, idx, placed, positionOf };
  const priorityAt = (k: number): JobPriority => {
    const i = idx[k];
    const at = 4 * i;
    return {
      total: totals[i],
      factors: { fairShare: factors[at], age: factors[at + 1], priorityClass: factors[at + 2], size: factors[at + 3] },
    };
  };
  const priorities = new TailMap<JobPriority>();
  const head = Math.min(n, eagerHead);
  for (let k = 0; k < head; k++) priorities.set(orderedIds[k], priorityAt(k));
  priorities.fillLater(orderedIds, head, priorityAt);
  return { ordered, ids: orderedIds, idx, placed, positionOf, priorities };
}

/**
 * scheduleCycle decides which queued jobs start now and where, applies those starts to `cluster`,
 * and returns them with exactly one pending reason for every other queued job.
 *
 * 1. order the queue: multifactor priority with fair share when `fairShare` is given, else
 *    compareJobs (class, then seq);
 * 2. per job: skip if already placed; fail fast if its equivalence class already failed (the class
 *    includes the priority class under preemption and the ignorable reservations under backfill);
 * 3. otherwise run tryJob (static fit -> per GPU type: constraints, quota/borrowing, capacity
 *    class, placement; then preemption where only capacity was missing);
 * 4. bind a start into the cluster at once so later jobs see it; a preemptor holds its quota and
 *    its victims; a capacity-blocked job near the head may take a reservation (backfill);
 * 5. optionally explain every job (position, expected start, blockers, counterfactuals).
 *
 * Every new input is optional; without them the cycle is exactly v1 (no head-of-line blocking).
 * Throws SchedulerError (after undoing this cycle's starts) if a job id appears twice in the queue.
 */
export function scheduleCycle(cluster: ClusterModel, input: CycleInput): CycleResult {
  return scheduleCycleWith(cluster, input, {});
}

/**
 * CycleRun: one cycle's state and its per-job step, shared by the two ways of walking the queue
 * (the whole queue in order, or class groups merged in order: scheduleGroupsWith).
 */
interface CycleRun {
  readonly ctx: CycleContext;
  readonly gate: BudgetGate | undefined;
  readonly starts: StartDecision[];
  readonly preemptions: PreemptionDecision[];
  readonly waitingOn: Map<string, string[]>;
  /** Per visit: the reason a job stays pending (undefined: started), and its class record. */
  readonly reasonAt: (PendingReason | undefined)[];
  readonly classAt: (ExplainClass | undefined)[];
  readonly classes: ExplainClass[];
  /** The failure a visit of `job` would reuse now, or undefined (for a job that may share a class). */
  readonly closedClass: (job: SchedJob) => ExplainClass | undefined;
  /**
   * visit: the job of visit `k`, past the already-placed and budget checks: it reuses its class's
   * known failure (returned) or runs the pipeline (undefined returned; it may start, preempt,
   * reserve and fail a class).
   */
  visit(job: SchedJob, k: number): ExplainClass | undefined;
}

/** beginCycle sets up a cycle (ledger, preemptor, reservations, windows) for about `size` visits. */
function beginCycle(cluster: ClusterModel, input: CycleInput, opts: ResolvedOptions, size: number): CycleRun {
  const preempting = input.preemption?.enabled === true;
  // Each running job's allocation, looked up once and shared by the ledger, preemptor and backfill.
  const views = new RunningViews(cluster, input.running ?? []);
  const ledger = new CohortLedger(cluster, input.quotas, input.borrowing, input.running, preempting, views);
  const ctx: CycleContext = {
    cluster,
    input,
    failedShapes: new ClassCache(),
    failedCapacity: new ShapeCache(),
    ledger,
    preemptor: preempting
      ? new Preemptor(cluster, ledger, input.running ?? [], input.preemption ?? { enabled: true }, input.now, views)
      : undefined,
    backfill:
      input.backfill?.enabled || (input.capacityWindows?.length ?? 0) > 0 || (input.maintenance?.length ?? 0) > 0
        ? new Backfill(
            cluster,
            input.backfill?.enabled ? input.backfill : { enabled: true, reservations: 0 },
            input.running ?? [],
            input.now,
            views,
          )
        : undefined,
    opts,
    equivalenceHits: 0,
    startCount: 0,
  };
  const backfill = ctx.backfill;
  if (backfill && input.maintenance) backfill.holdMaintenance(input.maintenance);
  if (backfill && input.capacityWindows) {
    backfill.holdWindows(input.capacityWindows);
    ctx.preemptor?.protectLent(backfill.lentJobs());
  }
  const keys = new KeyMemo();
  const waitingOn = new Map<string, string[]>();
  const preemptions: PreemptionDecision[] = [];
  const starts: StartDecision[] = [];
  // Per position: the reason a job stays pending (undefined: started).
  const reasonAt = new Array<PendingReason | undefined>(size);
  // Per position: the job's class record when it stays pending (what explain needs, captured now).
  const classAt = new Array<ExplainClass | undefined>(size);
  const classes: ExplainClass[] = [];
  const gate = input.budgets ? new BudgetGate(input.budgets) : undefined;
  // A cached failure is reused unless it may be stale (see stillValid) or the member would take a
  // reservation slot (it then runs the full pipeline, as it would without classes).
  const reusable = (known: ExplainClass, job: SchedJob): boolean =>
    stillValid(ctx, known) &&
    !(backfill && !job.share && known.mayReserve && RESERVABLE.has(known.reason.code) && backfill.wants(job));
  // The failure a visit of `job` would reuse now, or undefined (for a job that may share a class).
  const closedClass = (job: SchedJob): ExplainClass | undefined => {
    const mask = backfill ? backfill.mask(job) : 0;
    const typeKey = mask === 0 ? (job.gpuType ?? ANY) : keys.of(job.gpuType ?? ANY, mask);
    const classKey = preempting ? keys.of(job.project, job.priority) : job.project;
    const known = ctx.failedShapes.get(classKey, typeKey, job.share ? shareShape(job.share) : job);
    return known && reusable(known, job) ? known : undefined;
  };
  const visit = (job: SchedJob, k: number): ExplainClass | undefined => {
    // Backfill: the reservations this job ends before (and may use) are part of its class.
    const mask = backfill ? backfill.mask(job) : 0;
    const typeKey = mask === 0 ? (job.gpuType ?? ANY) : keys.of(job.gpuType ?? ANY, mask);
    // With preemption the class decides which victims are allowed, so it is part of the class key.
    const classKey = preempting ? keys.of(job.project, job.priority) : job.project;
    // Constrained jobs never share a class: their reason and counterfactuals depend on the constraints.
    // So do spread members: whether they fit depends on where their group runs.
    const constrained = job.spread !== undefined || (mayHaveConstraints(job) && constraintsFor(cluster, job) !== undefined);
    const shape: Shape = job.share ? shareShape(job.share) : job;
    const known = ctx.opts.equivalence && !constrained ? ctx.failedShapes.get(classKey, typeKey, shape) : undefined;
    // A member that would take a reservation slot runs the full pipeline, as it would without classes.
    if (known && reusable(known, job)) {
      ctx.equivalenceHits++;
      reasonAt[k] = known.reason;
      classAt[k] = known;
      return known;
    }
    const capacityKey = mask === 0 ? ANY : keys.of(ANY, mask);
    if (mask !== 0) backfill?.suspend(mask);
    const outcome = tryJob(ctx, job, capacityKey);
    if (outcome.ok && cluster.hasAllocation(job.id)) {
      // A second copy of a job started earlier in this cycle (reported as a duplicate below).
      if (mask !== 0) backfill?.resume();
      reasonAt[k] = REASON.alreadyPlaced(job.id);
      return undefined;
    }
    if (outcome.ok) {
      const needs = jobNeeds(cluster, job, outcome.start.placement.gpuType);
      const lenders = ledger.commit(job.project, outcome.start.placement.gpuType, needs, outcome.borrowed);
      if (lenders && lenders.length > 0) outcome.start.lenders = lenders;
      // Partition modes: whole-mode GPUs first on a node with MIG-mode ones, then the idle GPUs to re-partition.
      outcome.start.placement = preferWholeModeGpus(cluster, outcome.start.placement);
      const reps = repartitionsFor(cluster, outcome.start.placement);
      if (reps.length > 0) outcome.start.repartitions = reps;
      cluster.allocate(job.id, job.project, outcome.start.placement, job.org, job.spread?.group);
      applyRepartitions(cluster, reps);
      backfill?.noteStart(job, outcome.start.placement);
      starts.push(outcome.start);
      ctx.startCount++;
      gate?.debit(job);
    }
    if (mask !== 0) backfill?.resume();
    if (outcome.ok) return undefined;
    reasonAt[k] = outcome.reason;
    if (outcome.plan) {
      ledger.reserve(job.project, outcome.plan.gpuType, jobNeeds(cluster, job, outcome.plan.gpuType), outcome.plan.borrowed);
      for (const d of outcome.plan.decisions) preemptions.push(d);
      gate?.debit(job); // its budget is held until it starts, like its quota
      waitingOn.set(job.id, outcome.plan.waitingOn);
      return undefined;
    }
    const cls = explainClass(cluster, job, outcome.reason, classes, ctx.startCount);
    classAt[k] = cls;
    if (!constrained) ctx.failedShapes.set(classKey, typeKey, shape, cls);
    if (
      backfill &&
      outcome.blockedTypes &&
      outcome.blockedTypes.length > 0 &&
      (RESERVABLE.has(outcome.reason.code) || outcome.avoid !== undefined) &&
      backfill.wants(job)
    ) {
      // A `required` spread member plans only on nodes outside its group's domains.
      const avoid = outcome.avoid ?? [];
      cluster.maskNodes(avoid);
      let reserved: ReturnType<Backfill['reserve']>;
      try {
        reserved = backfill.reserve(job, outcome.blockedTypes);
      } finally {
        cluster.unmaskNodes(avoid);
      }
      // No plan frees enough for this shape: none will for the rest of its class this cycle.
      if (!reserved) cls.mayReserve = false;
    }
    return undefined;
  };
  return { ctx, gate, starts, preemptions, waitingOn, reasonAt, classAt, classes, closedClass, visit };
}

/** scheduleCycleWith is scheduleCycle with internal cost knobs (see CycleOptions). */
export function scheduleCycleWith(cluster: ClusterModel, input: CycleInput, options: CycleOptions): CycleResult {
  const opts: ResolvedOptions = {
    eagerHead: EAGER_HEAD,
    equivalence: true,
    order: orderIndexes,
    lazyPending: false,
    ...options,
  };
  const { ordered, ids, idx, placed, positionOf, priorities } = orderQueue(cluster, input, opts.eagerHead, opts.order);
  const run = beginCycle(cluster, input, opts, ordered.length);
  const { ctx, gate, starts, preemptions, waitingOn, reasonAt, classAt, classes, closedClass } = run;
  const backfill = ctx.backfill;
  const preempting = input.preemption?.enabled === true;
  const scan = opts.classes && opts.lazyPending && opts.equivalence ? new StopScan(opts.classes, closedClass) : undefined;
  // Positions from scannedTo on were never visited (stop scanning).
  let scannedTo = ordered.length;
  for (let k = 0; k < ordered.length; k++) {
    if (scan) {
      if (scan.allClosed(backfill?.heldCount ?? 0, ctx.startCount)) {
        scannedTo = k;
        break;
      }
      scan.visit(idx[k]);
    }
    const job = ordered[k];
    if (placed[k] === 1) {
      reasonAt[k] = REASON.alreadyPlaced(job.id);
      continue;
    }
    // Money before placement: a job over budget neither starts, preempts nor reserves (no class either).
    const broke = gate?.check(job);
    if (broke) {
      reasonAt[k] = broke;
      continue;
    }
    // A member of a class whose failure is known skips the per-job class lookups.
    const reused = scan?.reuse(idx[k], backfill?.heldCount ?? 0, ctx.startCount);
    if (reused) {
      ctx.equivalenceHits++;
      reasonAt[k] = reused.reason;
      classAt[k] = reused;
      continue;
    }
    if (!run.visit(job, k) && scan) scan.dirty = true; // the pipeline ran: classes may close (or reopen)
  }
  // An unvisited job gets what a visit would have given it: nothing after scannedTo changes the
  // cluster, the ledger, the reservations or the budgets, so the class failure it would reuse is the
  // one its class was found closed on.
  const lateClass = (k: number): ExplainClass | undefined =>
    placed[k] === 1 || gate?.check(ordered[k]) || !scan || !opts.classes ? undefined : scan.closedAs[opts.classes.of[idx[k]]];
  const lateReason = (k: number): PendingReason | undefined =>
    placed[k] === 1 ? REASON.alreadyPlaced(ordered[k].id) : (gate?.check(ordered[k]) ?? lateClass(k)?.reason);
  const classOf = (k: number): ExplainClass | undefined => (k < scannedTo ? classAt[k] : lateClass(k));
  const pending = opts.lazyPending
    ? lazyPending(ids, reasonAt, opts.eagerHead, scannedTo, lateReason)
    : eagerPending(input, reasonAt, positionOf);
  // Every job got one outcome, so a repeated id shows as fewer outcomes than jobs (or a start that
  // is also pending). Checked once here rather than per job: it is rare and the cluster can be undone.
  if (!opts.lazyPending && (pending.size + starts.length !== ordered.length || starts.some((s) => pending.has(s.jobId)))) {
    backfill?.releaseAll();
    for (const s of starts) cluster.release(s.jobId); // leave the cluster as we found it
    throw new SchedulerError(`job ${firstDuplicate(ids)} is queued twice`);
  }
  const result: CycleResult = {
    starts,
    pending,
    stats: { considered: ordered.length, started: starts.length, equivalenceHits: ctx.equivalenceHits },
  };
  if (scan) result.stats.unscanned = ordered.length - scannedTo;
  if (preempting) result.preemptions = preemptions;
  if (priorities) result.priorities = priorities;
  if (input.explain) {
    const head = Math.min(ordered.length, opts.eagerHead);
    result.explain = explainAll(ctx, () => ids, head, result, waitingOn, classOf, classes);
  }
  if (backfill) {
    if (input.backfill?.enabled) result.reservations = backfill.reservations;
    if (input.capacityWindows) result.windows = backfill.windows;
    backfill.releaseAll();
  }
  return result;
}

/** VISITS_ROOM: the room scheduleGroupsWith makes for its per-visit arrays (they grow past it). */
const VISITS_ROOM = 8192;

/**
 * scheduleGroupsWith is scheduleCycleWith for a queue kept as class groups (ClassQueues): it visits
 * classes, not jobs. The groups are merged in the cycle's order by a heap of their heads
 * (ClassWalk), and a group whose visited member reused its class's failure leaves the heap: its
 * later members would each reuse the same failure and change nothing, so they are not visited.
 * What such a visit reads can change only when the pipeline runs for another job, in two ways
 * (the same rules StopScan relies on): a new reservation changes every job's backfill mask, so
 * every skipped group is reopened; a start makes a `reserved` failure stale, so the groups skipped
 * on one are reopened. A reopened group continues at its first member after the last visited job;
 * the members in between keep the failure. The result is then the one scheduleCycleWith returns
 * on the same jobs (the decisions, every reason, priority and explanation); the order of the
 * whole queue, the positions and the reasons of the jobs not visited are computed on first read.
 *
 * Requires (the caller checks, else it sorts the whole queue): each group in the cycle's order
 * (see class-queue.ts), job ids unique, no queued job holding an allocation, no budgets (a budget
 * is checked per job before the class), `input.queue` one job per project with its organisation
 * (what the fair-share factors read of the queue), and `size` the number of jobs in the groups.
 */
export function scheduleGroupsWith(
  cluster: ClusterModel,
  input: CycleInput,
  groups: readonly (readonly SchedJob[])[],
  size: number,
  options: CycleOptions,
  heads?: readonly GroupHead[],
): CycleResult {
  if (input.budgets) throw new SchedulerError('a grouped queue cannot be scheduled with budgets');
  const opts: ResolvedOptions = { eagerHead: EAGER_HEAD, equivalence: true, order: orderIndexes, lazyPending: true, ...options };
  const pctx = input.fairShare
    ? priorityContext(input.fairShare, {
        now: input.now,
        fleetGpus: cluster.fleet.totalGpus,
        queue: input.queue,
        running: input.running,
      })
    : undefined;
  const factors = new Float64Array(4);
  const score = pctx ? (job: SchedJob) => priorityInto(job, pctx, factors, 0) : (job: SchedJob) => job.priority;
  // The walk reads a job only to visit it, and the fair-share and GPU-type maps once per group.
  const scorer = groupScorer(pctx);
  const walk = new ClassWalk<ExplainClass>(groups, score, heads ? { of: heads, scorer } : undefined);
  // The per-visit arrays are made with room for the visits of a large queue (about 6,000 of 100,000
  // jobs): grown from empty they would be copied a dozen times per cycle.
  const run = beginCycle(cluster, input, opts, Math.min(size, VISITS_ROOM));
  const { ctx, starts, preemptions, waitingOn, reasonAt, classAt, classes } = run;
  const backfill = ctx.backfill;
  let visits = 0;
  let held = backfill?.heldCount ?? 0;
  let startsSeen = 0;
  for (let job = walk.next(); job; job = walk.next()) {
    const k = visits++;
    // No lookup of job.id in the cluster per visit: the caller checked that no queued job holds an
    // allocation (see Requires), and a job is visited at most once, so none can have started.
    const reused = run.visit(job, k);
    if (reused) {
      walk.skip(reused, reused.reason.code === 'reserved');
      continue;
    }
    // The pipeline ran: what a skipped group's next visit would read may have changed.
    const heldNow = backfill?.heldCount ?? 0;
    if (heldNow !== held) {
      held = heldNow;
      startsSeen = ctx.startCount;
      walk.reopenAll();
    } else if (ctx.startCount !== startsSeen) {
      startsSeen = ctx.startCount;
      walk.reopenStartSensitive();
    }
  }
  walk.finish();
  const order = lazyGroupOrder(groups, size, walk, score);
  // Per position: the job's visit, or the failure its skipped group took.
  const reasonOf = (k: number): PendingReason | undefined => {
    const o = order();
    const v = o.visit[k];
    return v >= 0 ? reasonAt[v] : o.skippedAs[k]?.reason;
  };
  const classOf = (k: number): ExplainClass | undefined => {
    const o = order();
    const v = o.visit[k];
    return v >= 0 ? classAt[v] : o.skippedAs[k];
  };
  let pendingKeys: { ids: string[]; at: number[] } | undefined;
  const pendingOrder = (): { ids: string[]; at: number[] } => {
    if (pendingKeys) return pendingKeys;
    const o = order();
    const keys: { ids: string[]; at: number[] } = { ids: [], at: [] };
    for (let k = 0; k < o.ids.length; k++) {
      if (reasonOf(k) === undefined) continue; // started
      keys.ids.push(o.ids[k]);
      keys.at.push(k);
    }
    pendingKeys = keys;
    return keys;
  };
  const pending = new TailMap<PendingReason>();
  pending.fillLater(
    () => pendingOrder().ids,
    0,
    (i) => reasonOf(pendingOrder().at[i]) as PendingReason,
  );
  const result: CycleResult = {
    starts,
    pending,
    stats: { considered: size, started: starts.length, equivalenceHits: ctx.equivalenceHits, unscanned: size - visits },
  };
  if (input.preemption?.enabled === true) result.preemptions = preemptions;
  if (pctx) {
    const priorities = new TailMap<JobPriority>();
    priorities.fillLater(
      () => order().ids,
      0,
      (k) => {
        const f = new Float64Array(4);
        const total = priorityInto(order().jobs[k], pctx, f, 0);
        return { total, factors: { fairShare: f[0], age: f[1], priorityClass: f[2], size: f[3] } };
      },
    );
    result.priorities = priorities;
  }
  if (input.explain) result.explain = explainAll(ctx, () => order().ids, 0, result, waitingOn, classOf, classes);
  if (backfill) {
    if (input.backfill?.enabled) result.reservations = backfill.reservations;
    if (input.capacityWindows) result.windows = backfill.windows;
    backfill.releaseAll();
  }
  return result;
}

/** GroupOrder: the whole queue in the cycle's order, with each job's visit (-1: skipped) or skip's failure. */
interface GroupOrder {
  readonly ids: string[];
  readonly jobs: SchedJob[];
  readonly visit: Int32Array;
  readonly skippedAs: (ExplainClass | undefined)[];
}

/**
 * lazyGroupOrder: the whole queue's order, computed on first call (orderIndexes over every job's
 * score: the order scheduleCycle sorts by), from the groups as the cycle saw them.
 */
function lazyGroupOrder(
  groups: readonly (readonly SchedJob[])[],
  size: number,
  walk: ClassWalk<ExplainClass>,
  score: (job: SchedJob) => number,
): () => GroupOrder {
  // What the walk recorded is captured now; the groups are frozen by the caller.
  const visitedGroup = walk.visitedGroup;
  const visitedIndex = walk.visitedIndex;
  const skipped = walk.skipped;
  let done: GroupOrder | undefined;
  return () => {
    if (done) return done;
    const start = new Uint32Array(groups.length + 1);
    for (let g = 0; g < groups.length; g++) start[g + 1] = start[g] + groups[g].length;
    if (start[groups.length] !== size) throw new SchedulerError(`grouped queue holds ${start[groups.length]} jobs, not ${size}`);
    const jobs = new Array<SchedJob>(size);
    const scores = new Float64Array(size);
    const seqs = new Float64Array(size);
    const ids = new Array<string>(size);
    for (let g = 0; g < groups.length; g++) {
      const members = groups[g];
      for (let i = 0; i < members.length; i++) {
        const j = start[g] + i;
        jobs[j] = members[i];
        scores[j] = score(members[i]);
        seqs[j] = members[i].seq;
        ids[j] = members[i].id;
      }
    }
    const visitAt = new Int32Array(size).fill(-1);
    for (let v = 0; v < visitedGroup.length; v++) visitAt[start[visitedGroup[v]] + visitedIndex[v]] = v;
    const skippedAt = new Array<ExplainClass | undefined>(size);
    for (let r = 0; r < skipped.length; r++) {
      const at = start[skipped.group(r)];
      const value = skipped.value(r);
      for (let i = skipped.from(r); i < skipped.to(r); i++) skippedAt[at + i] = value;
    }
    const idx = orderIndexes(scores, seqs, ids);
    const o: GroupOrder = {
      ids: new Array(size),
      jobs: new Array(size),
      visit: new Int32Array(size),
      skippedAs: new Array(size),
    };
    for (let k = 0; k < size; k++) {
      const j = idx[k];
      o.ids[k] = ids[j];
      o.jobs[k] = jobs[j];
      o.visit[k] = visitAt[j];
      o.skippedAs[k] = skippedAt[j];
      if (visitAt[j] < 0 && skippedAt[j] === undefined) throw new SchedulerError(`job ${ids[j]} was neither visited nor skipped`);
    }
    done = o;
    return o;
  };
}

/** eagerPending fills the pending map in queue order: its keys are then read in memory order, not at random. */
function eagerPending(
  input: CycleInput,
  reasonAt: readonly (PendingReason | undefined)[],
  positionOf: Uint32Array,
): Map<string, PendingReason> {
  const pending = new Map<string, PendingReason>();
  for (let i = 0; i < input.queue.length; i++) {
    const reason = reasonAt[positionOf[i]];
    if (reason) pending.set(input.queue[i].id, reason);
  }
  return pending;
}

/**
 * lazyPending: the pending jobs in queue order, the first `head` inserted now, the rest on first
 * read. Positions from `scannedTo` on were not visited (all pending): `late` gives their reasons.
 */
function lazyPending(
  ids: readonly string[],
  reasonAt: readonly (PendingReason | undefined)[],
  head: number,
  scannedTo: number,
  late: (k: number) => PendingReason | undefined,
): Map<string, PendingReason> {
  const keys: string[] = [];
  const reasons: PendingReason[] = [];
  for (let k = 0; k < scannedTo; k++) {
    const reason = reasonAt[k];
    if (reason) {
      keys.push(ids[k]);
      reasons.push(reason);
    }
  }
  const scanned = keys.length;
  for (let k = scannedTo; k < ids.length; k++) keys.push(ids[k]);
  const reasonOf = (i: number): PendingReason => {
    if (i < scanned) return reasons[i];
    const reason = late(scannedTo + i - scanned);
    if (!reason) throw new SchedulerError(`job ${keys[i]} was not visited and has no class failure`);
    return reason;
  };
  const pending = new TailMap<PendingReason>();
  const eager = Math.min(keys.length, head);
  for (let i = 0; i < eager; i++) pending.set(keys[i], reasonOf(i));
  pending.fillLater(keys, eager, reasonOf);
  return pending;
}

/** RESERVABLE: pending codes of jobs that may take a backfill reservation. */
const RESERVABLE = new Set(['insufficient_capacity', 'topology', 'reserved']);

/** firstDuplicate: the first id (in order) that appears twice. */
function firstDuplicate(ids: readonly string[]): string {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) return id;
    seen.add(id);
  }
  return '';
}

/** mayHaveConstraints: a cheap pre-check before constraintsFor (which builds a key list). */
function mayHaveConstraints(job: SchedJob): boolean {
  // Every constraint field counts (residency included): a constrained job's failure must never be
  // reused for an unconstrained job of the same shape.
  return hasConstraints(job);
}

/**
 * ExplainClass: what explain needs of a pending job beyond its position, shared by every member of
 * an equivalence class: its reason and the shape its counterfactuals are computed for. A constrained
 * job gets its own (its counterfactuals depend on its constraints).
 */
interface ExplainClass {
  readonly reason: PendingReason;
  readonly project: string;
  readonly gpuType: GpuType | null;
  readonly gpusPerNode: number;
  readonly nodes: number;
  /** A share of one GPU: no whole-GPU counterfactuals. */
  readonly share: boolean;
  /** The job itself when it has placement constraints. */
  readonly constrained: SchedJob | undefined;
  /** false once a member was refused a reservation (no plan frees enough for the shape). */
  mayReserve: boolean;
  /** Starts the cycle had made when the class failed (see stillValid). */
  readonly startsSeen: number;
  /** Filled by explainAll. */
  counterfactual?: string[];
  blockedBy?: string[];
}

function explainClass(
  cluster: ClusterModel,
  job: SchedJob,
  reason: PendingReason,
  classes: ExplainClass[],
  startCount: number,
): ExplainClass {
  const cls: ExplainClass = {
    reason,
    project: job.project,
    gpuType: job.gpuType,
    gpusPerNode: job.gpusPerNode,
    nodes: job.nodes,
    share: job.share !== undefined,
    constrained: mayHaveConstraints(job) && constraintsFor(cluster, job) ? job : undefined,
    mayReserve: true,
    startsSeen: startCount,
  };
  classes.push(cls);
  return cls;
}

/** ClassCache: failed equivalence classes, (class key, type key, shape) -> the class's record. */
class ClassCache extends ShapeMemo<ExplainClass> {}

/** COUNTERFACTUAL_CODES: pending reasons for which "what would start it now" is worth computing. */
const COUNTERFACTUAL_CODES = new Set(['insufficient_capacity', 'topology', 'reserved', 'quota_exhausted', 'no_quota']);

/** CapacityFacts: what fits now for one shape, whoever asks (quota is applied per project after). */
interface CapacityFacts {
  /** Most nodes (fewer than asked) that fit now, per candidate type with any. */
  fewerNodes: { gpuType: GpuType; nodes: number }[];
  /** Other GPU types the full shape fits on now. */
  otherTypes: GpuType[];
}

/** ClassShape: the fields of a job its counterfactuals depend on (with its constraints, if any). */
type ClassShape = Pick<SchedJob, 'project' | 'gpuType' | 'gpusPerNode' | 'nodes'>;

/**
 * capacityFacts probes the end-of-cycle state for one shape: the most nodes that fit per type (binary
 * search; fitting is monotone in the node count) and the other GPU types the shape fits on.
 * Reservations stay held, so the answers never steal reserved GPUs.
 */
function capacityFacts(ctx: CycleContext, job: ClassShape, constraints: PlacementConstraints | undefined): CapacityFacts {
  const facts: CapacityFacts = { fewerNodes: [], otherTypes: [] };
  if (job.nodes > 1) {
    for (const gpuType of candidateTypes(ctx.cluster, job)) {
      let lo = 0;
      let hi = job.nodes - 1;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (placeJob(ctx.cluster, { gpuType, gpusPerNode: job.gpusPerNode, nodes: mid, constraints }).ok) lo = mid;
        else hi = mid - 1;
      }
      if (lo > 0) facts.fewerNodes.push({ gpuType, nodes: lo });
    }
  }
  if (job.gpuType !== null) {
    for (const gpuType of ctx.cluster.fleet.gpuTypes) {
      if (gpuType === job.gpuType) continue;
      const shape = { gpuType, gpusPerNode: job.gpusPerNode, nodes: job.nodes };
      if (validateJobFitsFleet(ctx.cluster.fleet, shape) !== null) continue;
      if (placeJob(ctx.cluster, { ...shape, constraints }).ok) facts.otherTypes.push(gpuType);
    }
  }
  return facts;
}

/** counterfactuals turns a shape's capacity facts into sentences, keeping what the project's quota allows. */
function counterfactuals(ctx: CycleContext, job: ClassShape, facts: CapacityFacts): string[] {
  const out: string[] = [];
  let best: { gpuType: GpuType; nodes: number } | undefined;
  for (const f of facts.fewerNodes) {
    if ((!best || f.nodes > best.nodes) && ctx.ledger.check(job.project, f.gpuType, f.nodes * job.gpusPerNode).ok) {
      best = f;
    }
  }
  if (best) {
    const on = job.gpuType === null ? ` on ${best.gpuType}` : '';
    out.push(`would start now with ${best.nodes} ${best.nodes === 1 ? 'node' : 'nodes'} instead of ${job.nodes}${on}`);
  }
  for (const gpuType of facts.otherTypes) {
    if (ctx.ledger.check(job.project, gpuType, job.gpusPerNode * job.nodes).ok) out.push(`would start now on ${gpuType}`);
  }
  return out;
}

/**
 * explainAll builds CycleResult.explain: position, expected start, blockers, counterfactuals.
 * Counterfactuals probe the end-of-cycle cluster, so they are computed now, once per class (shared
 * by its members); per-job entries need only captured values, so beyond EAGER_HEAD they are built
 * when first read (TailMap), exactly as they would have been now.
 */
function explainAll(
  ctx: CycleContext,
  ids: () => readonly string[],
  head: number,
  result: CycleResult,
  waitingOn: ReadonlyMap<string, string[]>,
  classOf: (k: number) => ExplainClass | undefined,
  classes: readonly ExplainClass[],
): Map<string, JobExplain> {
  const now = ctx.input.now;
  const started = new Set(result.starts.map((s) => s.jobId));
  const reservations = new Map((ctx.backfill?.reservations ?? []).map((r) => [r.jobId, r]));
  const cache = new ShapeMemo<string[]>();
  const factsCache = new ShapeMemo<CapacityFacts>();
  for (const cls of classes) {
    if (!COUNTERFACTUAL_CODES.has(cls.reason.code) || cls.share) continue;
    if (cls.reason.code === 'reserved') cls.blockedBy = [...(reservedOwners(cls.reason) ?? [])];
    const typeKey = cls.gpuType ?? ANY;
    const constraints = cls.constrained ? constraintsFor(ctx.cluster, cls.constrained) : undefined;
    let cf = constraints ? undefined : cache.get(cls.project, typeKey, cls);
    if (!cf) {
      let facts = constraints ? undefined : factsCache.get(ANY, typeKey, cls);
      if (!facts) {
        facts = capacityFacts(ctx, cls, constraints);
        if (!constraints) factsCache.set(ANY, typeKey, cls, facts);
      }
      cf = counterfactuals(ctx, cls, facts);
      if (!constraints) cache.set(cls.project, typeKey, cls, cf);
    }
    if (cf.length > 0) cls.counterfactual = cf;
  }
  const entry = (k: number): JobExplain => {
    const id = ids()[k];
    const e: JobExplain = { position: k + 1 };
    if (started.has(id)) {
      e.expectedStart = now;
      return e;
    }
    const res = reservations.get(id);
    if (res) {
      e.expectedStart = res.start;
      e.blockedBy = res.blockedBy;
    }
    const victims = waitingOn.get(id);
    if (victims) e.blockedBy = victims;
    const cls = classOf(k);
    if (!cls || !COUNTERFACTUAL_CODES.has(cls.reason.code)) return e;
    if (cls.blockedBy) e.blockedBy = [...cls.blockedBy];
    if (cls.counterfactual) e.counterfactual = cls.counterfactual;
    return e;
  };
  const explain = new TailMap<JobExplain>();
  for (let k = 0; k < head; k++) explain.set(ids()[k], entry(k));
  explain.fillLater(ids, head, entry);
  return explain;
}
