/**
 * EASY backfill with reservations.
 *
 * When a job near the head of the queue is blocked by capacity, it gets a reservation: the running
 * jobs of its GPU type are released in order of expected end (startedAt + maxRuntimeSeconds; jobs
 * started this cycle end at now + their limit; draining victims now) until the job fits; that
 * placement is reserved and the last end released is its expected start. Reserved GPUs that are
 * free now are held by a phantom allocation in the ClusterModel, so ordinary placement avoids them.
 * A lower job that ends by the reservation's start may use them: its reservation is suspended
 * (phantom released) while it is placed, and resumed on whatever reserved GPUs are still free.
 * Reserved GPUs held by running jobs are freed by those jobs' ends, so no start of this cycle can
 * delay a reservation. Phantoms are released when the cycle ends; reservations are recomputed
 * every cycle (as Slurm's backfill does), so they follow the fleet as it changes.
 *
 * Running jobs without maxRuntimeSeconds never end as far as the plan knows; their GPUs are never
 * reserved.
 */
import type { GpuType } from '../model/fleet.js';
import type { Placement } from '../model/job.js';
import type { AllocationView, ClusterModel, TakenAway, WholeHold } from './cluster-model.js';
import { constraintsFor } from './constraints.js';
import { type Ending, type Endings, sortedEndings } from './endings.js';
import { fits, type PlacementRequest, placeJob } from './placement.js';
import { RunningViews } from './running-views.js';
import type { BackfillInput, CapacityWindow, MaintenanceWindow, Reservation, RunningJobInfo, SchedJob } from './types.js';

/** RESERVED_PROJECT owns phantom allocations; it starts with NUL so it can never clash with a project. */
export const RESERVED_PROJECT = '\u0000reserved';

interface Held {
  readonly res: Reservation;
  /** Set for capacity windows: the org whose jobs may always use the GPUs. */
  readonly org?: string;
  /** Capacity window lending its idle GPUs to preemptible jobs. */
  readonly lend?: boolean;
  readonly phantomId: string;
  /** The phantom currently holds GPUs in the cluster. */
  allocated: boolean;
  /** While suspended: what the phantom held (resume puts it back when the same GPUs are free). */
  taken?: TakenAway;
  /** The reservation's placement as node indexes and GPU bitmasks (for resume), set on first resume. */
  indexed?: { readonly nodeIdx: readonly number[]; readonly masks: readonly number[] };
}

/** Released: what blockers and shadow read of a released job. */
interface Released {
  readonly id: string;
  readonly placement: Placement;
}

/** Backfill tracks the reservations of one cycle and their phantom allocations. */
export class Backfill {
  readonly reservations: Reservation[] = [];
  readonly windows: Reservation[] = [];
  private readonly held: Held[] = [];
  /** Maintenance holds beyond the 30 suspendable slots: held for the whole cycle. */
  private readonly fixed: Held[] = [];
  private readonly slots: number;
  private readonly gangsOnly: boolean;
  /** Running job id -> its (last) position in `running` (built by lentJobs, the one reader by id). */
  private runningById: Map<string, number> | undefined;
  private readonly startedNow: Ending[] = [];
  /** Running jobs with an expected end, per GPU type, in order of end (see endings). */
  private readonly runningEndings = new Map<GpuType, Endings>();
  private suspended: Held[] = [];
  /** heldGpus' answer; dropped whenever a phantom is held or released. */
  private heldCache: Map<number, number> | undefined;
  /** Node index -> GPUs (bitmask) of every reservation made so far: later reservations never share them. */
  private readonly reservedMasks = new Map<number, number>();

  constructor(
    private readonly cluster: ClusterModel,
    config: BackfillInput,
    private readonly running: readonly RunningJobInfo[],
    private readonly now: number,
    private readonly views: RunningViews = new RunningViews(cluster, running),
  ) {
    this.slots = Math.max(0, Math.min(30, config.reservations ?? 1));
    this.gangsOnly = config.gangsOnly ?? true;
  }

  /** wants tells whether a capacity-blocked job gets a reservation (slots left, gang rule). */
  wants(job: SchedJob): boolean {
    return this.reservations.length < this.slots && (!this.gangsOnly || job.nodes > 1);
  }

  /** mask: bit i set when `job` ends by reservation i's start and may therefore use its GPUs. */
  mask(job: SchedJob): number {
    const end = this.now + job.maxRuntimeSeconds * 1000;
    let m = 0;
    for (let i = 0; i < this.held.length; i++) {
      const h = this.held[i];
      if (h.res.start >= end || (h.org !== undefined && h.org === job.org) || (h.lend === true && job.preemptible === true)) {
        m |= 1 << i;
      }
    }
    return m;
  }

  /** suspend releases the phantoms of the reservations in `mask` until resume. */
  suspend(mask: number): void {
    for (let i = 0; i < this.held.length; i++) {
      const h = this.held[i];
      if ((mask & (1 << i)) === 0 || !h.allocated) continue;
      h.taken = this.cluster.setAside(h.phantomId);
      h.allocated = false;
      this.heldCache = undefined;
      this.suspended.push(h);
    }
  }

  /**
   * isReservedGpu: a reservation or window of this cycle plans on this GPU. A share must not join
   * such a GPU while it is busy: the reservation counts on it coming free by the holders' ends.
   */
  isReservedGpu(node: string, gpu: number): boolean {
    if (this.reservedMasks.size === 0 || gpu >>> 0 !== gpu || gpu > 31) return false;
    const i = this.cluster.fleet.nodeIndex.get(node);
    return i !== undefined && ((this.reservedMasks.get(i) ?? 0) & (1 << gpu)) !== 0;
  }

  /**
   * resume re-holds the still-free GPUs of every suspended reservation. When those are exactly the
   * GPUs the phantom held before (nothing started on them: the usual case), the phantom's record
   * is restored (ClusterModel.restore) instead of checking each GPU by node name and validating a
   * new allocation; else it is discarded and the free part held anew. Suspending sets the record
   * aside (ClusterModel.setAside) rather than releasing it: the phantom keeps its place in the
   * allocation order and node job lists meanwhile, which changes nothing once releaseAll drops it
   * (a release keeps the order of the other ids) and nothing earlier reads.
   */
  resume(): void {
    for (const h of this.suspended) {
      const t = h.taken;
      h.taken = undefined;
      const at = t && this.indexed(h);
      if (t && at && this.cluster.heldAsFree(t, at.nodeIdx, at.masks)) {
        this.cluster.restore(t);
        h.allocated = true;
        this.heldCache = undefined;
      } else {
        if (t) this.cluster.discard(t);
        this.hold(h);
      }
    }
    this.suspended = [];
  }

  /** indexed: the reservation's placement as node indexes and GPU bitmasks, computed once. */
  private indexed(h: Held): { readonly nodeIdx: readonly number[]; readonly masks: readonly number[] } {
    if (!h.indexed) {
      const nodeIdx: number[] = [];
      const masks: number[] = [];
      for (const a of h.res.placement.nodes) {
        const i = this.cluster.fleet.nodeIndex.get(a.node);
        // Unknown node (never from a plan): an empty placement, which no phantom record matches.
        if (i === undefined) return { nodeIdx: [], masks: [] };
        let m = 0;
        for (const g of a.gpus) m |= 1 << g;
        nodeIdx.push(i);
        masks.push(m >>> 0);
      }
      h.indexed = { nodeIdx, masks };
    }
    return h.indexed;
  }

  /** noteStart records a start of this cycle: it ends at now + its limit. */
  noteStart(job: SchedJob, placement: Placement): void {
    this.startedNow.push({
      id: job.id,
      org: job.org,
      placement,
      end: this.now + job.maxRuntimeSeconds * 1000,
      preemptible: job.preemptible === true,
    });
  }

  /** heldCount: reservations and windows held so far this cycle (only grows; job masks depend on it). */
  get heldCount(): number {
    return this.held.length;
  }

  /** holding tells whether any reservation or capacity window holds GPUs this cycle. */
  get holding(): boolean {
    return this.held.length > 0;
  }

  /** owners lists the jobs holding reservations that cover GPUs `job` could otherwise use. */
  blockers(): { owners: string[]; start: number } {
    let start = Number.POSITIVE_INFINITY;
    for (const h of this.held) start = Math.min(start, h.res.start);
    return { owners: this.held.map((h) => h.res.jobId), start };
  }

  /**
   * fitsWithoutReservations tells whether the request would fit if no GPU were reserved. It counts
   * the held GPUs as free on their nodes (placement.fits with `extra`) instead of releasing and
   * re-holding every phantom: the same answer (releasing a phantom frees exactly those GPUs) at
   * the cost of the held nodes, not of a placement and a re-hold. Single-unit requests release.
   */
  fitsWithoutReservations(req: PlacementRequest): boolean {
    if (!req.constraints?.singleUnit) return fits(this.cluster, req, this.heldGpus());
    const outer = this.suspended;
    this.suspended = [];
    this.suspend((1 << this.held.length) - 1);
    const ok = fits(this.cluster, req);
    this.resume();
    this.suspended = outer;
    return ok;
  }

  /** heldGpus: node index -> GPUs the held phantoms hold now (cached until a phantom changes). */
  private heldGpus(): ReadonlyMap<number, number> {
    if (this.heldCache) return this.heldCache;
    const out = new Map<number, number>();
    for (const h of this.held) if (h.allocated) this.cluster.addWholeGpus(h.phantomId, out);
    this.heldCache = out;
    return out;
  }

  /**
   * reserve finds the earliest start of `job` over `types` and holds its GPUs; null when no plan
   * frees enough (jobs without limits never end).
   */
  reserve(job: SchedJob, types: readonly GpuType[]): Reservation | null {
    let best: { start: number; placement: Placement; blockedBy: string[] } | null = null;
    for (const gpuType of types) {
      const plan = this.earliest(job, gpuType);
      if (plan && (!best || plan.start < best.start)) best = plan;
    }
    if (!best) return null;
    const res: Reservation = { jobId: job.id, ...best };
    this.add({ res, phantomId: `\u0000reservation:${job.id}`, allocated: false });
    this.reservations.push(res);
    return res;
  }

  private add(h: Held): void {
    this.held.push(h);
    this.reserveGpus(h);
    this.hold(h);
  }

  /**
   * holdWindows places every capacity window not yet over (in order of start, then id) and holds
   * its free GPUs: running jobs that end by the window's start (now, for an active window) and the
   * org's own jobs count as gone. Call once, before the queue. Windows that cannot be placed are
   * skipped (the caller sees them missing from `windows`).
   */
  holdWindows(windows: readonly CapacityWindow[]): void {
    const live = windows
      .filter((w) => w.end > this.now)
      .sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const w of live) {
      if (this.held.length >= 30) break;
      const start = Math.max(this.now, w.start);
      const lend = w.lendToPreemptible === true;
      const plan = this.planAt(
        { gpuType: w.gpuType, gpusPerNode: w.gpusPerNode, nodes: w.nodes, constraints: windowConstraints(this.cluster, w) },
        // Lent GPUs count as the org's: their preemptible users are evicted when it needs them.
        (end, org, preemptible) => end <= start || org === w.org || (lend && preemptible),
      );
      if (!plan) continue;
      const res: Reservation = { jobId: w.id, start, placement: plan.placement, blockedBy: plan.blockedBy };
      this.add({ res, org: w.org, lend, phantomId: `\u0000window:${w.id}`, allocated: false });
      this.windows.push(res);
    }
  }

  /**
   * lentJobs: the running jobs on the GPUs a lending capacity window planned over (its preemptible
   * borrowers), with the window's organisation. Evicting one frees GPUs only that organisation may
   * use, so no other job may preempt it (preemption.ts): the window is not held on GPUs in use, and
   * a plan that released them would count them free.
   */
  lentJobs(): Map<string, string> {
    const out = new Map<string, string>();
    if (!this.held.some((h) => h.lend && h.org !== undefined)) return out;
    if (!this.runningById) {
      this.runningById = new Map();
      for (let i = 0; i < this.running.length; i++) this.runningById.set(this.running[i].id, i);
    }
    for (const h of this.held) {
      if (!h.lend || h.org === undefined) continue;
      for (const a of h.res.placement.nodes) {
        const gpus = new Set(a.gpus);
        for (const id of this.cluster.jobsOnNode(a.node)) {
          if (out.has(id)) continue;
          const at = this.runningById.get(id);
          const r = at === undefined ? undefined : this.running[at];
          if (!r?.preemptible || r.org === h.org) continue;
          if (this.cluster.allocationOf(id)?.nodes.some((b) => b.node === a.node && b.gpus.some((g) => gpus.has(g))))
            out.set(id, h.org);
        }
      }
    }
    return out;
  }

  /**
   * holdMaintenance holds every GPU of the nodes of each maintenance window not yet over, one hold
   * per (site, GPU type) starting at max(now, start): only jobs ending by the start may use them, so
   * no job's wall-clock limit reaches into a window. Call once, before capacity windows and the
   * queue, so windows and reservations plan around maintenance. Unknown nodes are ignored.
   */
  holdMaintenance(windows: readonly MaintenanceWindow[]): void {
    const live = windows
      .filter((w) => w.end > this.now)
      .sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const fleet = this.cluster.fleet;
    for (const w of live) {
      const groups = new Map<string, Placement>();
      for (const id of [...w.nodes].sort()) {
        const i = fleet.nodeIndex.get(id);
        if (i === undefined) continue;
        const n = fleet.nodes[i];
        const key = `${n.site}\u0000${n.gpuType}`;
        let p = groups.get(key);
        if (!p) {
          p = { site: n.site, gpuType: n.gpuType, nodes: [] };
          groups.set(key, p);
        }
        p.nodes.push({ node: n.id, gpus: Array.from({ length: n.gpus }, (_, g) => g) });
      }
      let k = 0;
      for (const placement of groups.values()) {
        const res: Reservation = { jobId: `maintenance:${w.id}`, start: Math.max(this.now, w.start), placement, blockedBy: [] };
        const h: Held = { res, phantomId: `\u0000maintenance:${w.id}:${k++}`, allocated: false };
        if (this.held.length < 30) this.add(h);
        else {
          this.fixed.push(h);
          this.reserveGpus(h);
          this.hold(h);
        }
      }
    }
  }

  /** releaseAll drops every phantom: call once at the end of the cycle. */
  releaseAll(): void {
    // A reservation still suspended (a visit that threw before resume) holds nothing: drop its record.
    for (const h of this.suspended) if (h.taken) this.cluster.discard(h.taken);
    for (const h of this.fixed) {
      if (h.allocated) this.cluster.release(h.phantomId);
      h.allocated = false;
    }
    for (const h of this.held) {
      if (h.allocated) this.cluster.release(h.phantomId);
      h.allocated = false;
    }
    this.heldCache = undefined;
  }

  /** reserveGpus adds the GPUs of `h` to the reserved ones. */
  private reserveGpus(h: Held): void {
    const at = this.indexed(h);
    for (let k = 0; k < at.nodeIdx.length; k++) {
      const i = at.nodeIdx[k];
      this.reservedMasks.set(i, ((this.reservedMasks.get(i) ?? 0) | at.masks[k]) >>> 0);
    }
  }

  private hold(h: Held): void {
    // The placement's GPUs that are free now, node by node (indexed lists its nodes in order).
    const at = this.indexed(h);
    const placed = h.res.placement.nodes;
    const nodes = [];
    for (let k = 0; k < at.nodeIdx.length; k++) {
      const free = this.cluster.freeMaskOf(at.nodeIdx[k]) & at.masks[k];
      if (free !== 0) nodes.push({ node: placed[k].node, gpus: placed[k].gpus.filter((g) => (free & (1 << g)) !== 0) });
    }
    if (nodes.length === 0) return;
    this.cluster.allocate(h.phantomId, RESERVED_PROJECT, { ...h.res.placement, nodes });
    h.allocated = true;
    this.heldCache = undefined;
  }

  /**
   * endings: the running jobs of `gpuType` with an expected end and this cycle's starts of it, in
   * order of end, then id (a running job first on a tie of both), as references (see Endings).
   */
  private endings(gpuType: GpuType): Endings {
    // Running jobs' allocations do not change during a cycle: list and sort them once per type.
    let running = this.runningEndings.get(gpuType);
    if (!running) {
      running = sortedEndings(this.running, this.views, gpuType, this.now, this.cluster.fleet.nodes.length);
      this.runningEndings.set(gpuType, running);
    }
    const started = this.startedNow.filter((s) => s.placement.gpuType === gpuType);
    if (started.length === 0) return running;
    // The same list as sorting running and started together (a stable sort): `running` is sorted,
    // so sort the few starts and merge, a running job first on a tie.
    started.sort(byEnd);
    const n = running.ref.length + started.length;
    const ref = new Array<number>(n);
    const end = new Array<number>(n);
    let i = 0;
    let j = 0;
    for (let k = 0; k < n; k++) {
      const s = j < started.length ? started[j] : undefined;
      const before =
        s !== undefined &&
        (i >= running.ref.length ||
          s.end < running.end[i] ||
          (s.end === running.end[i] && s.id < this.running[running.ref[i]].id));
      if (before) {
        ref[k] = ~j;
        end[k] = s.end;
        j++;
      } else {
        ref[k] = running.ref[i];
        end[k] = running.end[i];
        i++;
      }
    }
    return { ref, end, started };
  }

  /** released: the id and placement of ending `ref` of `list` (for blockers and shadows). */
  private released(list: Endings, ref: number): Released {
    if (ref < 0) return list.started[~ref];
    // A running ending's view exists: sortedEndings lists only jobs holding GPUs.
    return { id: this.running[ref].id, placement: (this.views.at(ref) as AllocationView).placement };
  }

  /**
   * planAt places `req` as if every running job `gone` accepts had ended (all at once); null if it
   * does not fit. Earlier reservations' GPUs stay unavailable. Leaves the cluster as it found it.
   */
  private planAt(
    req: PlacementRequest,
    gone: (end: number, org: string, preemptible: boolean) => boolean,
  ): { placement: Placement; blockedBy: string[] } | null {
    const released: number[] = [];
    const taken: TakenAway[] = [];
    const shadows: string[] = [];
    const list = this.endings(req.gpuType);
    const { ref, end } = list;
    for (let k = 0; k < ref.length; k++) {
      const x = ref[k];
      const r = x >= 0 ? this.running[x] : list.started[~x];
      if (!gone(end[k], r.org, r.preemptible)) continue;
      const t = this.cluster.setAside(r.id);
      if (t) taken.push(t);
      released.push(x);
      this.shadowOf(list, x, shadows);
    }
    const out = placeJob(this.cluster, req);
    for (const id of shadows) this.cluster.release(id);
    // Restore what was set aside, in the same order (the same usage and spread updates as re-allocating each).
    for (const t of taken) this.cluster.restore(t);
    if (!out.ok) return null;
    return { placement: out.placement, blockedBy: blockers(out.placement, released, (x) => this.released(list, x)) };
  }

  /** shadowOf: shadow for ending `x` of `list` (a running job is read through its view). */
  private shadowOf(list: Endings, x: number, shadows: string[]): void {
    if (this.reservedMasks.size === 0) return;
    if (x < 0) {
      const s = list.started[~x];
      this.shadow(s.id, s.placement, undefined, shadows);
      return;
    }
    const view = this.views.at(x) as AllocationView;
    this.shadow(this.running[x].id, view.placement, view, shadows);
  }

  /**
   * shadow re-holds the GPUs of a released job that earlier reservations will take. `hold`: its
   * node indexes and masks, in placement order, when known (a share's are 0: read by GPU then).
   */
  private shadow(jobId: string, placement: Placement, hold: WholeHold | undefined, shadows: string[]): void {
    const nodes = [];
    if (hold !== undefined && hold.masks.length > 0 && hold.masks[0] !== 0) {
      for (let k = 0; k < hold.nodeIdx.length; k++) {
        const i = hold.nodeIdx[k];
        const reserved = (this.reservedMasks.get(i) ?? 0) & hold.masks[k];
        const free = reserved === 0 ? 0 : reserved & this.cluster.freeMaskOf(i);
        const a = placement.nodes[k];
        if (free !== 0) nodes.push({ node: a.node, gpus: a.gpus.filter((g) => (free & (1 << g)) !== 0) });
      }
    } else {
      for (const a of placement.nodes) {
        // A share's GPU is free only once its last share is gone.
        const gpus = a.gpus.filter((g) => this.isReservedGpu(a.node, g) && this.cluster.isGpuFree(a.node, g));
        if (gpus.length > 0) nodes.push({ node: a.node, gpus });
      }
    }
    if (nodes.length === 0) return;
    const id = `\u0000shadow:${jobId}`;
    this.cluster.allocate(id, RESERVED_PROJECT, { ...placement, nodes });
    shadows.push(id);
  }

  private earliest(job: SchedJob, gpuType: GpuType): { start: number; placement: Placement; blockedBy: string[] } | null {
    const req = { gpuType, gpusPerNode: job.gpusPerNode, nodes: job.nodes, constraints: constraintsFor(this.cluster, job) };
    const needs = job.gpusPerNode * job.nodes;
    const released: number[] = [];
    const taken: TakenAway[] = [];
    const shadows: string[] = [];
    let found: { start: number; placement: Placement } | null = null;
    const list = this.endings(gpuType);
    const { ref, end } = list;
    for (let k = 0; k < ref.length; k++) {
      const x = ref[k];
      const t = this.cluster.setAside(x >= 0 ? this.running[x].id : list.started[~x].id);
      if (t) taken.push(t);
      released.push(x);
      // GPUs an earlier reservation will take when this job ends stay unavailable (shadow hold).
      this.shadowOf(list, x, shadows);
      if (this.cluster.freeGpus({ gpuType }) < needs) continue;
      // Rank and bind only once it fits (fits is placeJob's .ok, without the ranking).
      if (!fits(this.cluster, req)) continue;
      const out = placeJob(this.cluster, req);
      if (out.ok) {
        found = { start: end[k], placement: out.placement };
        break;
      }
    }
    for (const id of shadows) this.cluster.release(id);
    for (const t of taken) this.cluster.restore(t);
    if (!found) return null;
    return { ...found, blockedBy: blockers(found.placement, released, (x) => this.released(list, x)) };
  }
}

const windowJobs = new WeakMap<CapacityWindow, SchedJob>();

/** windowConstraints: a window's site and allowed sites as a placement constraint (undefined: any site). */
function windowConstraints(cluster: ClusterModel, w: CapacityWindow) {
  if (!w.site && !w.allowedSites) return undefined;
  let job = windowJobs.get(w);
  if (!job) {
    job = {
      id: w.id,
      seq: 0,
      org: w.org,
      project: '',
      gpuType: w.gpuType,
      gpusPerNode: w.gpusPerNode,
      nodes: w.nodes,
      priority: 0,
      submittedAt: 0,
      maxRuntimeSeconds: 0,
      ...(w.site ? { requiredSites: [w.site] } : {}),
      ...(w.allowedSites ? { residency: { allowedSites: w.allowedSites, reason: '', rule: null } } : {}),
    };
    windowJobs.set(w, job);
  }
  return constraintsFor(cluster, job);
}

/** byEnd orders endings by expected end, then id. */
function byEnd(a: Ending, b: Ending): number {
  return a.end - b.end || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** blockers: the released jobs (at most 20, sorted) holding GPUs of `placement`. */
function blockers(placement: Placement, releasedRefs: readonly number[], released: (ref: number) => Released): string[] {
  // Node -> reserved GPU bitmask: a released job is checked node by node, without building strings.
  const reserved = new Map<string, number>();
  for (const a of placement.nodes) {
    let m = reserved.get(a.node) ?? 0;
    for (const g of a.gpus) m |= 1 << g;
    reserved.set(a.node, m);
  }
  const out: string[] = [];
  for (const x of releasedRefs) {
    if (out.length >= 20) break;
    const e = released(x);
    if (e.placement.nodes.some((a) => overlaps(reserved.get(a.node), a.gpus))) out.push(e.id);
  }
  return out.sort();
}

/** overlaps: some of `gpus` is in the bitmask `mask` (undefined: none reserved on that node). */
function overlaps(mask: number | undefined, gpus: readonly number[]): boolean {
  if (mask === undefined) return false;
  for (const g of gpus) if ((mask & (1 << g)) !== 0) return true;
  return false;
}
