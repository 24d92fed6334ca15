/**
 * IncrementalScheduler: a scheduler that keeps its queue and the queue order between cycles, and
 * runs each cycle through the same code as scheduleCycle (scheduleCycleWith), so its decisions are
 * the from-scratch cycle's by construction; a property test checks it on random histories.
 *
 * What it keeps between cycles, and why each is exact:
 * - the queue, maintained on arrival (submit), removal (remove, and its own starts) and change
 *   (update, e.g. a new priority class): O(1) each, no per-cycle rebuild by the caller;
 * - pending reasons like explanations: the head now, any other job's on first read (lazyPending);
 * - the last cycle's order. A cycle checks it against this cycle's scores in one pass over flat
 *   arrays and merges the arrivals (and changed jobs) in; the full radix sort runs only if some
 *   adjacent pair of kept jobs is out of order. Without fair share the score is the priority class,
 *   which never moves. With fair share the age factor grows equally for every job (until it is
 *   capped at maxAgeSeconds), so it never reorders jobs; only the fair-share factor moves;
 * - fair-share usage, bucketed (usageTolerance r > 0): the usage the order uses is a snapshot,
 *   refreshed when any project's usage moved by more than r (relative) since the snapshot. Error
 *   bound: every usage is within (1 +/- r) of the caller's, so normalised usage within about
 *   (1 +/- 2r), and since |x * d/dx 2^(-x)| = ln 2 * x * 2^(-x) <= 1/e, each job's fair-share
 *   factor F = 2^(-UE/S) is within 2r/e (+O(r^2)) of the exact one: its total within
 *   weights.fairShare * 2r/e. Decisions are then exactly scheduleCycle's on the snapshot
 *   (`lastInput`). r = 0 (default) passes the caller's usage through: exact.
 * - the number of queued jobs per scan class (scanClassKey: every field the cycle's loop reads
 *   before it reuses a class failure), kept on arrival, change and removal: the cycle stops visiting
 *   the queue once every class with unvisited members has failed (CycleOptions.classes), and the
 *   unvisited jobs read their class's reason through the pending and explain views;
 * - the queue in per-scan-class groups (ClassQueues; classGroups, default on): a cycle then visits
 *   classes, not jobs (scheduleGroupsWith: the groups merged by their heads, a failed class's other
 *   members skipped), when it can do so exactly (see groupable); else it sorts as below;
 * - explanations: built in the cycle for a bounded head (explainHead), any other job's on request
 *   (explain(jobId)), computed once from values captured at the end of the cycle and tagged with
 *   the cycle they describe: the same content as scheduleCycle's explain map.
 */
import type { PendingReason } from '../model/job.js';
import type { AllocationJournal } from './allocation-journal.js';
import { ClassQueues, type GroupsView } from './class-queue.js';
import type { ClusterModel } from './cluster-model.js';
import { orderIndexes } from './order.js';
import { DEFAULT_MAX_AGE_SECONDS } from './priority.js';
import { SchedulerError, scanClassKey, scheduleCycleWith, scheduleGroupsWith } from './schedule-cycle.js';
import type { CycleInput, CycleResult, FairShareInput, JobExplain, SchedJob } from './types.js';

/** IncrementalOptions: cost knobs; none changes a decision except usageTolerance (bounded, above). */
export interface IncrementalOptions {
  /** Explanations built during the cycle, in queue order (default 200); the rest on request. */
  explainHead?: number;
  /** Relative fair-share usage change that refreshes the usage snapshot (default 0: exact). */
  usageTolerance?: number;
  /** Stop visiting the queue once every class with unvisited jobs has failed (default true). */
  stopScan?: boolean;
  /**
   * Visit classes, not jobs (default true, with stopScan): keep the queue in per-class groups and
   * skip a failed class's other members (scheduleGroupsWith); cycles it cannot serve exactly
   * (budgets, a queued job holding an allocation, a class not in the cycle's order) sort instead.
   */
  classGroups?: boolean;
}

/**
 * How a cycle got its order: the last one kept as is, kept with arrivals merged in, sorted, or
 * class groups merged (only the visited jobs ordered; the rest on first read).
 */
export type OrderingPath = 'kept' | 'merged' | 'sorted' | 'classes';

/** IncrementalCycleResult: a cycle's result, numbered, with how its order was obtained. */
export interface IncrementalCycleResult extends CycleResult {
  /** 1-based number of the cycle this result (and every explanation read from it) describes. */
  readonly cycle: number;
  readonly ordering: OrderingPath;
}

/** JobExplanation: a pending or started job as the given cycle saw it. */
export interface JobExplanation extends JobExplain {
  readonly jobId: string;
  readonly cycle: number;
  /** Absent for a job the cycle started. */
  readonly reason?: PendingReason;
}

/** A cycle's input without the queue, which the scheduler keeps. */
export type IncrementalInput = Omit<CycleInput, 'queue'>;

/** Entry: a queued job; `alive` false once removed, `fresh` while it waits to be merged into the order. */
interface Entry {
  job: SchedJob;
  alive: boolean;
  fresh: boolean;
  /** Its index in the queue of the cycle being run. */
  slot: number;
  /** Its scan class (0: never shares a class). */
  cls: number;
  /** Its group in `groups`. */
  group: string;
}

export class IncrementalScheduler {
  private readonly entries = new Map<string, Entry>();
  /** Every entry in submission order (removed ones until the next cycle drops them). */
  private all: Entry[] = [];
  /** The last cycle's order; entries removed since are skipped (alive false), changed ones merged anew. */
  private lastOrder: Entry[] = [];
  /** Entries that arrived or changed since the last cycle. */
  private freshList: Entry[] = [];
  private usageSnapshot: ReadonlyMap<string, number> | undefined;
  private last: IncrementalCycleResult | undefined;
  private cycles = 0;
  /** The last cycle's input as scheduleCycle saw it (the usage snapshot in place of usage), less the queue. */
  lastInput: IncrementalInput | undefined;
  private readonly explainHead: number;
  private readonly usageTolerance: number;
  private readonly stopScan: boolean;
  /** Scan classes: key -> id, id -> queued jobs, id -> one member (id 0: jobs that never share a class). */
  private readonly classIds = new Map<string, number>();
  private readonly classCount: number[] = [0];
  private readonly classRep: (SchedJob | undefined)[] = [undefined];
  private readonly classGroups: boolean;
  /** The queue as class groups (for cycles that visit classes, not jobs). */
  private readonly groups = new ClassQueues();
  /** Project -> organisation -> queued jobs, and one of them (what fair share reads of the queue). */
  private readonly orgs = new Map<string, Map<string, { count: number; job: SchedJob }>>();
  /** Entries removed since `all` was last compacted. */
  private dead = 0;
  /**
   * The cluster on which no queued job held an allocation at the last check, and its journal of the
   * ids given an allocation since: with the jobs submitted since (freshList), all the next check
   * needs to read (see queuedAllocated). Undefined: the next check reads every allocation.
   */
  private checked: { cluster: ClusterModel; journal: AllocationJournal } | undefined;
  /** Whether this cycle's check found no queued job holding an allocation. */
  private passed = false;

  constructor(options: IncrementalOptions = {}) {
    this.explainHead = options.explainHead ?? 200;
    this.usageTolerance = options.usageTolerance ?? 0;
    this.stopScan = options.stopScan ?? true;
    this.classGroups = options.classGroups ?? true;
  }

  /** enter adds a job to the per-class groups and the per-project organisations. */
  private enter(e: Entry): void {
    this.groups.add(e.group, e.job);
    let byOrg = this.orgs.get(e.job.project);
    if (!byOrg) {
      byOrg = new Map();
      this.orgs.set(e.job.project, byOrg);
    }
    const o = byOrg.get(e.job.org);
    if (o) {
      o.count++;
      o.job = e.job;
    } else byOrg.set(e.job.org, { count: 1, job: e.job });
  }

  /** leave undoes enter. */
  private leave(e: Entry): void {
    this.groups.remove(e.group, e.job);
    const byOrg = this.orgs.get(e.job.project);
    const o = byOrg?.get(e.job.org);
    if (!byOrg || !o) return;
    if (--o.count === 0) byOrg.delete(e.job.org);
    if (byOrg.size === 0) this.orgs.delete(e.job.project);
  }

  /** classOf: the scan class id of a job (interned; counts are kept by the callers). */
  private classOf(job: SchedJob): number {
    const key = scanClassKey(job);
    if (key === undefined) return 0;
    let id = this.classIds.get(key);
    if (id === undefined) {
      id = this.classCount.length;
      this.classIds.set(key, id);
      this.classCount.push(0);
      this.classRep.push(job);
    }
    return id;
  }

  /** The queued jobs, in no particular order (a new array). */
  get queue(): SchedJob[] {
    return [...this.entries.values()].map((e) => e.job);
  }

  get size(): number {
    return this.entries.size;
  }

  has(jobId: string): boolean {
    return this.entries.has(jobId);
  }

  /** submit queues a new job. Throws SchedulerError if its id is queued already. */
  submit(job: SchedJob): void {
    if (this.entries.has(job.id)) throw new SchedulerError(`job ${job.id} is queued twice`);
    const e: Entry = { job, alive: true, fresh: true, slot: 0, cls: this.classOf(job), group: groupKey(job) };
    this.classCount[e.cls]++;
    this.enter(e);
    this.entries.set(job.id, e);
    this.all.push(e);
    this.freshList.push(e);
  }

  /** update replaces a queued job (a new priority class, a changed shape); false if not queued. */
  update(job: SchedJob): boolean {
    const e = this.entries.get(job.id);
    if (!e) return false;
    this.leave(e);
    e.job = job;
    e.group = groupKey(job);
    this.enter(e);
    this.classCount[e.cls]--;
    e.cls = this.classOf(job);
    this.classCount[e.cls]++;
    if (!e.fresh) {
      e.fresh = true;
      this.freshList.push(e);
    }
    return true;
  }

  /** remove takes a job off the queue (cancelled, held, started elsewhere); false if not queued. */
  remove(jobId: string): boolean {
    const e = this.entries.get(jobId);
    if (!e) return false;
    e.alive = false;
    this.classCount[e.cls]--;
    this.leave(e);
    this.entries.delete(jobId);
    this.dead++;
    return true;
  }

  /**
   * cycle schedules the queue on `cluster` (applying the starts to it, as scheduleCycle does) and
   * takes the started jobs off the queue: a caller that fails to persist a start releases it on
   * the cluster and submits the job again.
   */
  cycle(cluster: ClusterModel, input: IncrementalInput): IncrementalCycleResult {
    this.passed = false;
    const grouped = this.groupable(cluster, input);
    // A cycle that starts with no queued job holding an allocation ends so (its starts leave the
    // queue; the phantoms it holds are released; victims and backfill's plans give allocations back
    // to running jobs, which are not queued): the journal need not record it. Any other cycle leaves
    // the next check to read everything.
    const checked = this.passed ? this.checked : undefined;
    if (!checked) this.forgetCheck();
    else checked.journal.paused = true;
    let result: IncrementalCycleResult;
    try {
      result = grouped ? this.cycleByClass(cluster, input, grouped.reps, grouped.view) : this.sortedCycle(cluster, input);
    } catch (err) {
      this.forgetCheck();
      throw err;
    }
    if (checked) {
      checked.journal.paused = false;
      checked.journal.clear();
    }
    return result;
  }

  /** sortedCycle: a cycle over the whole queue in order (scheduleCycleWith), reusing the last order where it can. */
  private sortedCycle(cluster: ClusterModel, input: IncrementalInput): IncrementalCycleResult {
    this.dead = 0;
    // The queue goes in in submission order (the cycle's per-job passes then read the jobs in
    // memory order, as for a caller's queue); each entry learns its slot, so checking the last
    // order and merging the fresh jobs in needs no lookup by id.
    const all = this.all;
    const queue: SchedJob[] = [];
    const of = new Uint32Array(this.entries.size);
    let w = 0;
    for (let i = 0; i < all.length; i++) {
      const e = all[i];
      if (!e.alive) continue;
      e.slot = w;
      of[w] = e.cls;
      all[w++] = e;
      queue.push(e.job);
    }
    all.length = w;
    const full: CycleInput = { ...input, queue };
    if (input.fairShare) full.fairShare = this.bucketed(input.fairShare);
    let path: OrderingPath = 'kept';
    const r = scheduleCycleWith(cluster, full, {
      eagerHead: this.explainHead,
      lazyPending: true,
      classes: this.stopScan ? { of, count: this.classCount, rep: this.classRep } : undefined,
      order: (scores, seqs, ids) => {
        const o = this.orderFrom(scores, seqs, ids);
        path = o.path;
        const order = new Array<Entry>(o.idx.length);
        for (let i = 0; i < o.idx.length; i++) order[i] = all[o.idx[i]];
        this.lastOrder = order;
        return o.idx;
      },
    });
    this.cycles++;
    const { queue: _, ...seen } = full;
    this.lastInput = seen;
    for (const e of this.freshList) e.fresh = false;
    this.freshList = [];
    for (const s of r.starts) this.remove(s.jobId);
    const result: IncrementalCycleResult = { ...r, cycle: this.cycles, ordering: path };
    this.last = result;
    return result;
  }

  /**
   * groupable: the queue as fair share reads it (one job per project), when this cycle can visit
   * classes, not jobs (see scheduleGroupsWith's requirements); undefined when it must sort.
   */
  private groupable(cluster: ClusterModel, input: IncrementalInput): { reps: SchedJob[]; view: GroupsView } | undefined {
    if (!this.classGroups || !this.stopScan || input.budgets) return undefined;
    const reps: SchedJob[] = [];
    for (const byOrg of this.orgs.values()) {
      // A project queued under two organisations: which one fair share takes depends on queue order.
      if (byOrg.size !== 1) return undefined;
      for (const o of byOrg.values()) reps.push(o.job);
    }
    if (this.queuedAllocated(cluster)) return undefined;
    this.passed = true;
    const view = this.groups.viewWithHeads(input.now, input.fairShare, DEFAULT_MAX_AGE_SECONDS);
    return view ? { reps, view } : undefined;
  }

  /**
   * queuedAllocated: whether some queued job holds an allocation on `cluster`. After a check that
   * found none on the same cluster, only the ids given an allocation since (the journal) and the
   * jobs submitted since (freshList) can: those are read, not every allocation. Else, or when the
   * journal overflowed, every allocation is read. A check that finds none opens (or clears) the journal.
   */
  private queuedAllocated(cluster: ClusterModel): boolean {
    const entries = this.entries;
    const since = this.checked?.cluster === cluster ? this.checked.journal.ids : undefined;
    let found = false;
    if (since) {
      for (const id of since) if (entries.has(id) && cluster.hasAllocation(id)) found = true;
      for (const e of this.freshList) if (e.alive && cluster.hasAllocation(e.job.id)) found = true;
    } else found = cluster.anyAllocated((id) => entries.has(id));
    if (found) {
      this.forgetCheck();
      return true;
    }
    if (this.checked?.cluster !== cluster) {
      this.forgetCheck();
      this.checked = { cluster, journal: cluster.openJournal() };
    } else this.checked.journal.clear();
    return false;
  }

  /** forgetCheck: the next check reads every allocation. */
  private forgetCheck(): void {
    if (!this.checked) return;
    this.checked.cluster.closeJournal(this.checked.journal);
    this.checked = undefined;
  }

  /** cycleByClass: a cycle through the class groups (scheduleGroupsWith): cost follows the classes and the visits. */
  private cycleByClass(
    cluster: ClusterModel,
    input: IncrementalInput,
    reps: SchedJob[],
    view: GroupsView,
  ): IncrementalCycleResult {
    const full: CycleInput = { ...input, queue: reps };
    if (input.fairShare) full.fairShare = this.bucketed(input.fairShare);
    const r = scheduleGroupsWith(cluster, full, view.groups, this.entries.size, { eagerHead: this.explainHead }, view.heads);
    this.cycles++;
    const { queue: _, ...seen } = full;
    this.lastInput = seen;
    // The kept order is not maintained here: a later sorted cycle starts afresh.
    this.lastOrder = [];
    for (const e of this.freshList) e.fresh = false;
    this.freshList = [];
    for (const s of r.starts) this.remove(s.jobId);
    if (this.dead > this.entries.size) this.compact();
    const result: IncrementalCycleResult = { ...r, cycle: this.cycles, ordering: 'classes' };
    this.last = result;
    return result;
  }

  /** compact drops removed entries from `all` (amortised: only once they outnumber the queued ones). */
  private compact(): void {
    let w = 0;
    for (const e of this.all) if (e.alive) this.all[w++] = e;
    this.all.length = w;
    this.dead = 0;
  }

  /**
   * explain: the last cycle's explanation of a job (queue position, expected start, blockers,
   * counterfactuals, its pending reason), computed on first request and tagged with that cycle;
   * undefined if the job was not in it or the cycle ran without `explain`.
   */
  explain(jobId: string): JobExplanation | undefined {
    const r = this.last;
    const e = r?.explain?.get(jobId);
    if (!r || !e) return undefined;
    const reason = r.pending.get(jobId);
    return reason ? { ...e, jobId, cycle: r.cycle, reason } : { ...e, jobId, cycle: r.cycle };
  }

  /**
   * orderFrom returns orderIndexes' order (score desc, seq asc, id asc), reusing the last one: if
   * the kept jobs are still sorted in it, the fresh ones are sorted apart and merged in,
   * O(n + f log f); else the whole queue is sorted.
   */
  private orderFrom(scores: Float64Array, seqs: Float64Array, ids: readonly string[]): { idx: Uint32Array; path: OrderingPath } {
    const n = ids.length;
    const before = (a: number, b: number): boolean =>
      scores[a] > scores[b] || (scores[a] === scores[b] && (seqs[a] < seqs[b] || (seqs[a] === seqs[b] && ids[a] < ids[b])));
    const kept = new Uint32Array(n);
    let k = 0;
    for (const e of this.lastOrder) {
      if (!e.alive || e.fresh) continue;
      if (k > 0 && !before(kept[k - 1], e.slot)) return { idx: orderIndexes(scores, seqs, ids), path: 'sorted' };
      kept[k++] = e.slot;
    }
    const freshSlots: number[] = [];
    for (const e of this.freshList) if (e.alive) freshSlots.push(e.slot);
    if (k + freshSlots.length !== n) return { idx: orderIndexes(scores, seqs, ids), path: 'sorted' };
    if (freshSlots.length === 0) return { idx: kept, path: 'kept' };
    const fresh = sortSubset(freshSlots, scores, seqs, ids);
    const idx = new Uint32Array(n);
    let a = 0;
    let b = 0;
    for (let out = 0; out < n; out++) {
      if (b >= fresh.length || (a < k && before(kept[a], fresh[b]))) idx[out] = kept[a++];
      else idx[out] = fresh[b++];
    }
    return { idx, path: 'merged' };
  }

  /** bucketed: fair share with the usage snapshot, refreshed once any usage moved beyond the tolerance. */
  private bucketed(fs: FairShareInput): FairShareInput {
    if (this.usageTolerance <= 0) return fs;
    const snap = this.usageSnapshot;
    if (!snap || drifted(snap, fs.usage, this.usageTolerance)) this.usageSnapshot = new Map(fs.usage);
    return { ...fs, usage: this.usageSnapshot ?? fs.usage };
  }
}

/** groupKey: a job's class group (its scan class, or a group of its own when it never shares one). */
function groupKey(job: SchedJob): string {
  return scanClassKey(job) ?? `\u0001${job.id}`;
}

/** drifted: some project's usage moved by more than `tolerance` (relative), or appeared or vanished. */
function drifted(snap: ReadonlyMap<string, number>, usage: ReadonlyMap<string, number>, tolerance: number): boolean {
  if (snap.size !== usage.size) return true;
  for (const [project, u] of usage) {
    const s = snap.get(project);
    if (s === undefined || Math.abs(u - s) > tolerance * Math.max(Math.abs(s), Number.MIN_VALUE)) return true;
  }
  return false;
}

/** sortSubset orders some queue indexes like orderIndexes would, via orderIndexes on their keys. */
function sortSubset(subset: readonly number[], scores: Float64Array, seqs: Float64Array, ids: readonly string[]): Uint32Array {
  const m = subset.length;
  const s = new Float64Array(m);
  const q = new Float64Array(m);
  const d = new Array<string>(m);
  for (let j = 0; j < m; j++) {
    s[j] = scores[subset[j]];
    q[j] = seqs[subset[j]];
    d[j] = ids[subset[j]];
  }
  const local = orderIndexes(s, q, d);
  const out = new Uint32Array(m);
  for (let j = 0; j < m; j++) out[j] = subset[local[j]];
  return out;
}
