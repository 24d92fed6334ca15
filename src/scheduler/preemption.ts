/**
 * Preemption with a bounded blast radius (Kueue's classical preemption, adapted).
 *
 * A job whose quota allows it but which finds no capacity may evict running jobs of the same GPU
 * type. A running job is a candidate if it is preemptible, has run at least minRuntimeSeconds, and
 *
 *   reclaim   the preemptor is within its guaranteed quota, the candidate started on borrowed quota
 *             (RunningJobInfo.borrowed), belongs to another project, and would borrow again if it
 *             were queued now (its project's guaranteed usage leaves it no room); or
 *   priority  the candidate's class is strictly lower than the preemptor's; when the preemptor
 *             itself would borrow, only candidates of its own project or such borrowers.
 *
 * Never within the same class and quota. Jobs already told to drain (`evicting`) are free
 * candidates: their GPUs are coming back anyway, so counting them first avoids evicting more.
 *
 * Victims, deterministically and minimally: candidates ordered (evicting, reclaim before priority,
 * lower class, least work lost since last checkpoint, fewest GPUs, id) are removed from the cluster
 * until the preemptor fits (skipping any that would break the cap of maxEvictedGpusPerRequestedGpu x
 * GPUs needed), then added back in reverse order whenever it still fits without them. The cluster
 * is restored exactly before returning. The preemptor does not start this cycle: it is pending
 * with reason `preempting` until its victims have drained.
 *
 * No oscillation: if A evicts B then B cannot evict A with unchanged inputs. Guaranteed usage only
 * counts non-borrowed jobs (borrowing.ts), so A, if it evicted as a guaranteed job, starts as one
 * (its quota is held while it waits) and is never reclaimable; B, if it was evicted as a borrower,
 * comes back as one. B can then evict A only by class: impossible if A evicted B by class (B is
 * lower); if A reclaimed B, B borrows and may only hit its own project or reclaimable borrowers,
 * and A is neither. If A evicted B by class while borrowing, B was of A's project (B can never
 * reclaim its own project) or a borrower that comes back borrowing (class only, and B is lower).
 */
import type { GpuType } from '../model/fleet.js';
import { placementGpuEquivalents } from '../model/gpu-sharing.js';
import type { Placement } from '../model/job.js';
import type { CohortLedger } from './borrowing.js';
import type { ClusterModel } from './cluster-model.js';
import { constraintsFor, hasConstraints, type PlacementConstraints } from './constraints.js';
import { FreeOverlay, fits, type PlacementRequest } from './placement.js';
import { RunningViews } from './running-views.js';
import { placeShare } from './share-placement.js';
import type { PreemptionDecision, PreemptionInput, RunningJobInfo, SchedJob } from './types.js';

/**
 * Candidate is a running job of one GPU type that may be evicted. The fields plan's scan reads of
 * its RunningJobInfo are copied in (the info objects lie scattered in memory; the candidates of a
 * list are made together): inputs do not change during a cycle, so the copies stay exact.
 */
interface Candidate {
  info: RunningJobInfo;
  id: string;
  evicting: boolean;
  borrowed: boolean;
  priority: number;
  /** Already a victim (or waited on) for an earlier preemptor this cycle. */
  taken: boolean;
  project: string;
  /** The organisation its allocation is held for. */
  org: string;
  placement: Placement;
  gpus: number;
  lostMs: number;
  /** Its spread group (passed back when it is re-allocated). */
  spread?: string;
}

/** PreemptionPlan: the victims chosen for one preemptor (new ones and ones already draining). */
export interface PreemptionPlan {
  gpuType: GpuType;
  /** The preemptor would start on borrowed quota. */
  borrowed: boolean;
  decisions: PreemptionDecision[];
  /** All victims the preemptor waits for, new and already evicting, sorted. */
  waitingOn: string[];
  victimGpus: number;
}

/** Preemptor plans evictions during one cycle; it remembers victims already taken this cycle. */
export class Preemptor {
  private readonly byType = new Map<GpuType, Candidate[]>();
  /**
   * Per GPU type: where the candidates neither evicting nor borrowed begin, checked to be in
   * non-decreasing priority to the end of the list (Infinity when not; see plan's early stop).
   */
  private readonly plainFrom = new Map<GpuType, number>();
  private readonly wholeByType = new Map<GpuType, boolean>();
  /**
   * Per GPU type: every candidate before this index is taken (the evicting ones, sorted first, are
   * taken by the first preemptors that wait on them): plan starts its scan here.
   */
  private readonly openFrom = new Map<GpuType, number>();
  /** Failed plans: project -> priority -> GPU type -> shape -> borrowing (see failedKey). */
  private readonly failed = new Map<string, Map<number, Map<GpuType, Map<number | string, Set<boolean>>>>>();
  private readonly cap: number;
  private readonly minRuntimeMs: number;

  constructor(
    private readonly cluster: ClusterModel,
    private readonly ledger: CohortLedger,
    private readonly running: readonly RunningJobInfo[],
    config: PreemptionInput,
    private readonly now: number,
    private readonly views: RunningViews = new RunningViews(cluster, running),
  ) {
    this.cap = config.maxEvictedGpusPerRequestedGpu ?? 2;
    this.lent = new Map();
    this.minRuntimeMs = (config.minRuntimeSeconds ?? 600) * 1000;
  }

  /** allWhole: no candidate of the type holds a share (releasing one may free no GPU at all). */
  private allWhole(gpuType: GpuType): boolean {
    // Found while the candidates are listed (their placements are read there anyway).
    this.candidates(gpuType);
    return this.wholeByType.get(gpuType) === true;
  }

  private candidates(gpuType: GpuType): Candidate[] {
    let list = this.byType.get(gpuType);
    if (list) return list;
    list = [];
    let whole = true;
    // The running jobs of the type, in input order (as when every running job was looked up).
    for (const i of this.views.ofType(gpuType)) {
      const info = this.running[i];
      const held = this.views.at(i);
      if (!held) continue;
      const { placement, project } = held;
      if (!info.evicting && (!info.preemptible || this.now - info.startedAt < this.minRuntimeMs)) continue;
      // GPU-equivalents: a 250-milli share counts 0.25 against the blast cap.
      const gpus = placementGpuEquivalents(placement);
      if (whole) for (const a of placement.nodes) if (a.milli !== undefined || a.migProfile) whole = false;
      const lostMs = Math.max(0, this.now - (info.lastCheckpointAt ?? info.startedAt));
      list.push({
        info,
        id: info.id,
        evicting: info.evicting === true,
        borrowed: info.borrowed,
        priority: info.priority,
        taken: false,
        project,
        org: held.org,
        placement,
        gpus,
        lostMs,
        spread: held.spread,
      });
    }
    // On the copied fields (the same values as the info's; the candidates lie together in memory).
    list.sort(
      (a, b) =>
        Number(b.evicting) - Number(a.evicting) ||
        Number(b.borrowed) - Number(a.borrowed) ||
        a.priority - b.priority ||
        a.lostMs - b.lostMs ||
        a.gpus - b.gpus ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    this.byType.set(gpuType, list);
    this.wholeByType.set(gpuType, whole);
    this.plainFrom.set(gpuType, plainBlock(list));
    this.openFrom.set(gpuType, 0);
    return list;
  }

  /**
   * why returns the reason `c` may be evicted for `job`, or null. A borrowed victim counts only if
   * it would come back as a borrower (wouldBorrow): that is what rules out oscillation.
   */
  private why(c: Candidate, job: SchedJob, gpuType: GpuType, borrowing: boolean): PreemptionDecision['reason'] | null {
    // Lent a window's GPUs: evicting it frees them for the window's organisation only.
    if (this.lent.size > 0) {
      const lentFor = this.lent.get(c.id);
      if (lentFor !== undefined && lentFor !== job.org) return null;
    }
    if (c.evicting) return c.priority < job.priority ? 'priority' : 'reclaim';
    const borrower = c.borrowed && this.ledger.wouldBorrow(c.project, gpuType, c.gpus);
    if (!borrowing && borrower && c.project !== job.project) return 'reclaim';
    if (c.priority < job.priority && (!borrowing || c.project === job.project || borrower)) return 'priority';
    return null;
  }

  /**
   * plan finds a minimal victim set that lets `job` fit on `gpuType`, or null. `borrowing` says
   * whether the job would start on borrowed quota. Leaves the cluster as it found it.
   */
  /** Running jobs lent a capacity window's GPUs, with the window's organisation (Backfill.lentJobs). */
  private lent: ReadonlyMap<string, string>;

  /** protectLent: jobs only their window's organisation may evict (set once, after the windows are held). */
  protectLent(lent: ReadonlyMap<string, string>): void {
    this.lent = lent;
  }

  /**
   * failedSet: the `borrowing` values for which the plan of `job`'s class failed this cycle. The
   * class is (project, priority, GPU type, shape), the shape being a share's MIG profile or milli,
   * else gpusPerNode x nodes: nested maps instead of one key string built and hashed per plan.
   */
  private failedSet(job: SchedJob, gpuType: GpuType): Set<boolean> {
    const shape: number | string = job.share
      ? `share:${job.share.migProfile ?? job.share.milli}`
      : Number.isInteger(job.gpusPerNode) &&
          Number.isInteger(job.nodes) &&
          job.gpusPerNode >= 0 &&
          job.gpusPerNode < 1024 &&
          job.nodes >= 0 &&
          job.nodes < 1 << 20
        ? job.gpusPerNode * (1 << 20) + job.nodes
        : `${job.gpusPerNode}x${job.nodes}`;
    let byPriority = this.failed.get(job.project);
    if (!byPriority) {
      byPriority = new Map();
      this.failed.set(job.project, byPriority);
    }
    let byType = byPriority.get(job.priority);
    if (!byType) {
      byType = new Map();
      byPriority.set(job.priority, byType);
    }
    let byShape = byType.get(gpuType);
    if (!byShape) {
      byShape = new Map();
      byType.set(gpuType, byShape);
    }
    let set = byShape.get(shape);
    if (!set) {
      set = new Set();
      byShape.set(shape, set);
    }
    return set;
  }

  /**
   * stopFrom: where plan may stop scanning at the first candidate whose class is not below the
   * job's (plainBlock; Infinity: never). Protected so a test can turn the stop off and compare.
   */
  protected stopFrom(gpuType: GpuType): number {
    return this.plainFrom.get(gpuType) ?? Number.POSITIVE_INFINITY;
  }

  /**
   * scanFrom: where plan starts its scan (every candidate before it is taken). Protected so a test
   * can scan from the start and compare.
   */
  protected scanFrom(gpuType: GpuType): number {
    return this.openFrom.get(gpuType) ?? 0;
  }

  plan(job: SchedJob, gpuType: GpuType, borrowing: boolean): PreemptionPlan | null {
    // A spread member plans with its group's nodes masked: its failure says nothing about others.
    const cacheable = !hasConstraints(job) && job.spread === undefined;
    const failed = this.failedSet(job, gpuType);
    if (cacheable && failed.has(borrowing)) return null;
    const constraints = constraintsFor(this.cluster, job);
    const req: PlacementRequest = { gpuType, gpusPerNode: job.gpusPerNode, nodes: job.nodes, constraints };
    // A whole-GPU job among whole-GPU candidates searches on an overlay (victims imagined released,
    // the cluster untouched: the same answers, see FreeOverlay); otherwise victims are released for
    // real and the cluster restored below. A share needs a GPU no other organisation holds: its
    // blast cap is counted as one GPU's. The overlay is made at the first victim (most plans find none).
    const overlaid = !job.share && !constraints?.singleUnit && this.allWhole(gpuType);
    let search: Search | undefined;
    const limit = this.cap * (job.share ? 1 : job.gpusPerNode * job.nodes);
    const removed: { c: Candidate; reason: PreemptionDecision['reason'] }[] = [];
    let newGpus = 0;
    let fitted = false;
    const list = this.candidates(gpuType);
    const plainFrom = this.stopFrom(gpuType);
    // The candidates before openFrom are all taken: each would only `continue` (or, past plainFrom,
    // stop the scan, and then so does the first open one: priorities never decrease from there).
    for (let k = this.scanFrom(gpuType); k < list.length; k++) {
      const c = list[k];
      // Past here no candidate is evicting or borrowed, so `why` can only answer 'priority', which
      // needs a class below the job's; the priorities never decrease from here on (plainBlock), so
      // once one is not below, no later one is and every later step would only `continue`.
      if (k >= plainFrom && !(c.priority < job.priority)) break;
      if (c.taken) continue;
      if (!c.evicting && newGpus + c.gpus > limit) continue;
      const reason = this.why(c, job, gpuType, borrowing);
      if (!reason) continue;
      search ??= new Search(this.cluster, job, gpuType, constraints, req, overlaid);
      search.take(c);
      removed.push({ c, reason });
      if (!c.evicting) newGpus += c.gpus;
      if (search.fits()) {
        fitted = true;
        break;
      }
    }
    const kept: { c: Candidate; reason: PreemptionDecision['reason'] }[] = [];
    if (fitted && search) {
      // Add back in reverse order every victim the job fits without (the last one is needed).
      kept.push(removed[removed.length - 1]);
      for (let k = removed.length - 2; k >= 0; k--) {
        const r = removed[k];
        search.giveBack(r.c);
        if (search.fits()) continue;
        search.take(r.c);
        kept.push(r);
      }
    }
    // Restore the cluster: re-allocate whatever is still released.
    if (!overlaid)
      for (const r of removed)
        if (!this.cluster.hasAllocation(r.c.id)) this.cluster.allocate(r.c.id, r.c.project, r.c.placement, r.c.org, r.c.spread);
    if (!fitted) {
      if (!constraints && cacheable) failed.add(borrowing);
      return null;
    }
    kept.sort((a, b) => (a.c.id < b.c.id ? -1 : a.c.id > b.c.id ? 1 : 0));
    const decisions: PreemptionDecision[] = [];
    let victimGpus = 0;
    for (const r of kept) {
      r.c.taken = true;
      victimGpus += r.c.gpus;
      if (!r.c.evicting) decisions.push({ victimId: r.c.id, forJobId: job.id, reason: r.reason });
    }
    let open = this.openFrom.get(gpuType) ?? 0;
    while (open < list.length && list[open].taken) open++;
    this.openFrom.set(gpuType, open);
    return { gpuType, borrowed: borrowing, decisions, waitingOn: kept.map((r) => r.c.id), victimGpus };
  }
}

/**
 * Search: one plan's remove-until-fits state: victims imagined released on a FreeOverlay (whole
 * GPUs) or released for real (the plan restores the cluster afterwards).
 */
class Search {
  private readonly overlay: FreeOverlay | undefined;

  constructor(
    private readonly cluster: ClusterModel,
    private readonly job: SchedJob,
    private readonly gpuType: GpuType,
    private readonly constraints: PlacementConstraints | undefined,
    private readonly req: PlacementRequest,
    overlaid: boolean,
  ) {
    this.overlay = overlaid ? new FreeOverlay(cluster, req) : undefined;
  }

  take(c: Candidate): void {
    if (this.overlay) this.overlay.add(c.id);
    else this.cluster.release(c.id);
  }

  giveBack(c: Candidate): void {
    if (this.overlay) this.overlay.remove(c.id);
    else this.cluster.allocate(c.id, c.project, c.placement, c.org, c.spread);
  }

  fits(): boolean {
    if (this.overlay) return this.overlay.fits();
    if (this.job.share) return placeShare(this.cluster, this.job, this.gpuType, this.constraints).ok;
    return fits(this.cluster, this.req);
  }
}

/**
 * plainBlock: the index where the candidates neither evicting nor borrowed begin (the sort puts
 * them last), if from there to the end none is evicting or borrowed and the priorities never
 * decrease (NaN-free); else Infinity, and plan scans the whole list.
 */
function plainBlock(list: readonly Candidate[]): number {
  let from = list.length;
  while (from > 0 && !list[from - 1].evicting && !list[from - 1].borrowed) from--;
  for (let k = from; k < list.length; k++) {
    const p = list[k].priority;
    if (Number.isNaN(p) || (k > from && !(list[k - 1].priority <= p))) return Number.POSITIVE_INFINITY;
  }
  return from;
}
