/**
 * Class sub-queues: the queued jobs grouped by scan class (scanClassKey), each group kept in
 * (submittedAt, seq, id) order between cycles, and the per-cycle walk that merges the groups by the
 * cycle's order with a heap of group heads (see docs/scheduler-at-scale.md, "Visit classes, not
 * jobs").
 *
 * Why a group, so kept, is in the cycle's order (score desc, seq asc, id asc). Every member of a
 * scan class has the same project, priority class, GPU type and shape, so the same fair-share,
 * class and size factors; totals differ only by the age factor A = clamp01((now - submittedAt) /
 * 1000 / maxAge), which never grows with submittedAt (rounding is monotone). Members submitted at
 * the same time tie and are in (seq, id) order. Members of different submittedAt have strictly
 * ordered totals when the age weight resolves a millisecond (`resolves`: integer times, and
 * w.age * 1e-3 / maxAge far above the rounding error of the total), except where the age is
 * clamped: all members past the cap tie at A = 1 (a prefix of the group, put in (seq, id) order
 * for the cycle: `view`), and members submitted after `now` tie at A = 0 (the cycle then sorts).
 * A group whose seq never decreases along it (`seqDescents`, kept on every change) needs none of
 * this: any tie is then in (seq, id) order already. Without fair share (or maxAge <= 0, or a zero
 * age weight) all members tie: every group must be in (seq, id) order.
 */
import type { GpuType } from '../model/fleet.js';
import { orderIndexes } from './order.js';
import { sizeGpus } from './priority.js';
import type { FairShareInput, SchedJob } from './types.js';

/** bySubmit: the order inside a group, (submittedAt, seq, id) ascending. */
function bySubmit(a: SchedJob, b: SchedJob): number {
  if (a.submittedAt !== b.submittedAt) return a.submittedAt < b.submittedAt ? -1 : 1;
  return bySeq(a, b);
}

/** bySeq: (seq, id) ascending. */
function bySeq(a: SchedJob, b: SchedJob): number {
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** descent: 1 when b follows a in a group but comes first in (seq, id) order. */
function descent(a: SchedJob | undefined, b: SchedJob | undefined): number {
  return a !== undefined && b !== undefined && bySeq(a, b) > 0 ? 1 : 0;
}

/**
 * GroupHead: what a cycle's walk reads of a group before it visits it: the first member (and the
 * fields the order compares), the member count, and the fields the score reads that every member
 * shares (a scan class has one project, class, GPU type and shape). Kept beside the group so that
 * ordering the ≈ 4,000 groups of a large queue reads these (already touched by `view`) instead of
 * each group's array and its first job: two dependent cache misses per group per cycle.
 */
export interface GroupHead {
  readonly head: SchedJob;
  readonly headSubmittedAt: number;
  readonly headSeq: number;
  readonly headId: string;
  readonly count: number;
  readonly project: string;
  readonly priority: number;
  readonly gpuType: GpuType | null;
  /** sizeGpus of every member. */
  readonly gpus: number;
}

/** GroupsView: a cycle's groups, and beside each its head (heads[i] describes groups[i]). */
export interface GroupsView {
  readonly groups: SchedJob[][];
  readonly heads: GroupHead[];
}

/** Group: one scan class's queued jobs in (submittedAt, seq, id) order, and its head (kept on every change). */
interface Group {
  jobs: SchedJob[];
  /** A cycle's views hold `jobs`: copy before changing it (copy on write). */
  frozen: boolean;
  /** Adjacent pairs out of (seq, id) order. */
  seqDescents: number;
  head: SchedJob;
  headSubmittedAt: number;
  headSeq: number;
  headId: string;
  count: number;
  /** The last member's submittedAt (the group's latest). */
  tailSubmittedAt: number;
  readonly project: string;
  readonly priority: number;
  readonly gpuType: GpuType | null;
  readonly gpus: number;
}

/** setGroupHead: the group's head fields from jobs[0] (call after every change of the group). */
function setGroupHead(g: Group): void {
  const h = g.jobs[0];
  g.count = g.jobs.length;
  if (h === undefined) return;
  g.tailSubmittedAt = g.jobs[g.jobs.length - 1].submittedAt;
  g.head = h;
  g.headSubmittedAt = h.submittedAt;
  g.headSeq = h.seq;
  g.headId = h.id;
}

/** headOf: the head of a view's reordered copy of group `g` (its members' shared fields from `g`). */
function headOf(g: Group, jobs: readonly SchedJob[]): GroupHead {
  const h = jobs[0];
  return {
    head: h,
    headSubmittedAt: h.submittedAt,
    headSeq: h.seq,
    headId: h.id,
    count: jobs.length,
    project: g.project,
    priority: g.priority,
    gpuType: g.gpuType,
    gpus: g.gpus,
  };
}

/**
 * ClassQueues keeps the groups: O(log g + g) per arrival or removal for a group of g members (g is
 * small for most classes, and arrivals usually append). Jobs that never share a class
 * (constraints, spread groups) form a group of their own.
 */
export class ClassQueues {
  private readonly groups = new Map<string, Group>();
  private seqDescents = 0;
  /** Queued jobs whose submittedAt is not an integer (the resolution argument needs integers). */
  private fractional = 0;

  get groupCount(): number {
    return this.groups.size;
  }

  add(key: string, job: SchedJob): void {
    let g = this.groups.get(key);
    if (!g) {
      g = {
        jobs: [],
        frozen: false,
        seqDescents: 0,
        head: job,
        headSubmittedAt: job.submittedAt,
        headSeq: job.seq,
        headId: job.id,
        count: 0,
        tailSubmittedAt: job.submittedAt,
        project: job.project,
        priority: job.priority,
        gpuType: job.gpuType,
        gpus: sizeGpus(job),
      };
      this.groups.set(key, g);
    }
    const jobs = this.writable(g);
    let at = jobs.length;
    if (at > 0 && bySubmit(jobs[at - 1], job) > 0) at = lowerBound(jobs, job);
    const d = descent(jobs[at - 1], job) + descent(job, jobs[at]) - descent(jobs[at - 1], jobs[at]);
    jobs.splice(at, 0, job);
    setGroupHead(g);
    g.seqDescents += d;
    this.seqDescents += d;
    if (!Number.isInteger(job.submittedAt)) this.fractional++;
  }

  /** remove takes `job` (the object added under `key`) out of its group. */
  remove(key: string, job: SchedJob): void {
    const g = this.groups.get(key);
    if (!g) return;
    const jobs = this.writable(g);
    const at = lowerBound(jobs, job);
    if (jobs[at] !== job) return;
    const d = descent(jobs[at - 1], jobs[at + 1]) - descent(jobs[at - 1], job) - descent(job, jobs[at + 1]);
    jobs.splice(at, 1);
    setGroupHead(g);
    g.seqDescents += d;
    this.seqDescents += d;
    if (!Number.isInteger(job.submittedAt)) this.fractional--;
    if (jobs.length === 0) this.groups.delete(key);
  }

  /**
   * view: every group in the order of a cycle at `now` with `fairShare` (see the module comment),
   * or undefined when some group cannot be put in it cheaply (the caller sorts the whole queue).
   * The arrays returned stay as they are while the cycle's views use them.
   */
  view(now: number, fairShare: FairShareInput | undefined, defaultMaxAge: number): SchedJob[][] | undefined {
    return this.viewWithHeads(now, fairShare, defaultMaxAge)?.groups;
  }

  /** viewWithHeads: `view`, and each group's head (GroupHead) beside it. */
  viewWithHeads(now: number, fairShare: FairShareInput | undefined, defaultMaxAge: number): GroupsView | undefined {
    const maxAge = fairShare?.maxAgeSeconds ?? defaultMaxAge;
    const ageWeight = fairShare?.weights.age ?? 0;
    // Every member ties: the group must be in (seq, id) order.
    if (!fairShare || maxAge <= 0 || ageWeight === 0) return this.seqDescents === 0 ? this.snapshot() : undefined;
    // A negative (or NaN) age weight puts younger jobs first.
    if (!(ageWeight > 0)) return undefined;
    // Groups in seq order: older first, ties (any) in (seq, id) order.
    if (this.seqDescents === 0) return this.snapshot();
    if (this.fractional > 0 || !resolves(now, maxAge, fairShare)) return undefined;
    const groups: SchedJob[][] = [];
    const heads: GroupHead[] = [];
    for (const g of this.groups.values()) {
      const jobs = g.jobs;
      if (g.seqDescents > 0) {
        // Submitted after now: tied at age 0 (rare: clock skew), out of seq order.
        if (g.tailSubmittedAt > now) return undefined;
        // The oldest member not capped: none is (one read instead of a binary search).
        const capped = (now - g.headSubmittedAt) / 1000 / maxAge >= 1 ? cappedCount(jobs, now, maxAge) : 0;
        if (capped >= 2) {
          const head = jobs.slice(0, capped).sort(bySeq);
          for (let i = capped; i < jobs.length; i++) head.push(jobs[i]);
          groups.push(head);
          heads.push(headOf(g, head));
          continue;
        }
      }
      g.frozen = true;
      groups.push(jobs);
      heads.push(g);
    }
    return { groups, heads };
  }

  /** snapshot: every group's jobs as kept, frozen. */
  private snapshot(): GroupsView {
    const groups: SchedJob[][] = [];
    const heads: GroupHead[] = [];
    for (const g of this.groups.values()) {
      g.frozen = true;
      groups.push(g.jobs);
      heads.push(g);
    }
    return { groups, heads };
  }

  private writable(g: Group): SchedJob[] {
    if (g.frozen) {
      g.jobs = g.jobs.slice();
      g.frozen = false;
    }
    return g.jobs;
  }
}

/**
 * resolves: whether two members submitted a millisecond apart always get different totals. The
 * age factors of integer times a millisecond apart differ by at least 1e-3 / maxAge (less a few
 * rounding errors of a number <= 1) when maxAge * 1000 is an integer (so the cap falls on a
 * millisecond); the total adds three terms, each rounding off at most an ulp of the largest
 * partial sum (<= the sum of the weights). A margin of 64 covers every rounding step.
 */
function resolves(now: number, maxAge: number, fs: FairShareInput): boolean {
  const w = fs.weights;
  if (!Number.isInteger(now) || !Number.isInteger(maxAge * 1000) || !(w.age > 0)) return false;
  const m = Math.abs(w.fairShare) + Math.abs(w.age) + Math.abs(w.priorityClass) + Math.abs(w.size);
  return (w.age * 1e-3) / maxAge > 64 * m * Number.EPSILON;
}

/** cappedCount: the members whose age factor is capped at 1 (a prefix: the oldest), as priority.ts computes it. */
function cappedCount(jobs: readonly SchedJob[], now: number, maxAge: number): number {
  let lo = 0;
  let hi = jobs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((now - jobs[mid].submittedAt) / 1000 / maxAge >= 1) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** lowerBound: the first index whose job is not before `job` in (submittedAt, seq, id) order. */
function lowerBound(jobs: readonly SchedJob[], job: SchedJob): number {
  let lo = 0;
  let hi = jobs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bySubmit(jobs[mid], job) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Score: a job's total in this cycle (the order is total desc, seq asc, id asc). */
export type Score = (job: SchedJob) => number;

/** Skipped: members [from, to) of a group that the walk did not visit, all taking `value`. */
export interface Skipped<T> {
  readonly group: number;
  readonly from: number;
  readonly to: number;
  readonly value: T;
}

/**
 * ClassWalk merges the groups in the cycle's order, one visit at a time. After a visit the caller
 * may `skip` the rest of the visited job's group (its class failure is known, and nothing it reads
 * changes until the caller reopens it): the group leaves the heap, so its members cost nothing,
 * and `reopenAll` / `reopenStartSensitive` put it back at its first member after the last visited
 * job. Each skipped range is recorded with the caller's value for it.
 */
export class ClassWalk<T> {
  private readonly heap: number[] = [];
  private readonly cursor: Uint32Array;
  private readonly head: Float64Array;
  /**
   * The head's seq, beside its score: the heap compares two flat arrays and reaches the job
   * objects only on a tie of both (then by id), instead of two dependent loads per comparison.
   */
  private readonly headSeq: Float64Array;
  /**
   * The head job itself (what setHead scored): next returns it without reading the group's array
   * again, a cache miss per visit at ≈ 4,000 groups (two dependent loads before the job's own).
   */
  private readonly headJob: SchedJob[];
  /** Each group's length (the groups do not change during a walk): no re-read of the array per visit. */
  private readonly size: Uint32Array;
  private current = -1;
  private last: SchedJob | undefined;
  private lastScore = 0;
  /** Skipped groups: where their skip began and the value it takes. */
  private readonly skippedFrom: OrderedGroups;
  /** Per skipped group (in skippedFrom): where its skip began, and the value it takes. */
  private readonly skipFrom: Uint32Array;
  private readonly skipValue: (T | undefined)[];
  /** Skipped groups to reopen after any start (reopenStartSensitive). */
  private readonly startSensitive: OrderedGroups;
  readonly skipped: Skipped<T>[] = [];
  /** Visited jobs: group and index per visit, in visit order. */
  readonly visitedGroup: number[] = [];
  readonly visitedIndex: number[] = [];

  /**
   * The groups not visited yet, sorted once by their first member (orderIndexes: linear), read from
   * `coldAt` on. Most groups are visited once (their head fails, the group is skipped), so the heap
   * holds only groups that went on or were reopened: each visit compares a few heads, not log2 of
   * every group's. A group is either cold (never visited) or in the heap, never both.
   */
  private cold: Uint32Array = new Uint32Array(0);
  private coldAt = 0;

  /**
   * `heads` (optional): each group's GroupHead and its score (equal to `score(head)`; the caller
   * computes it from the head's kept fields): the walk then orders the groups without reading
   * their arrays or first jobs.
   */
  constructor(
    readonly groups: readonly (readonly SchedJob[])[],
    private readonly score: Score,
    heads?: { readonly of: readonly GroupHead[]; readonly score: (h: GroupHead) => number },
  ) {
    this.cursor = new Uint32Array(groups.length);
    this.head = new Float64Array(groups.length);
    this.headSeq = new Float64Array(groups.length);
    this.headJob = new Array<SchedJob>(groups.length);
    this.size = new Uint32Array(groups.length);
    this.skippedFrom = new OrderedGroups(groups.length);
    this.startSensitive = new OrderedGroups(groups.length);
    this.skipFrom = new Uint32Array(groups.length);
    this.skipValue = new Array<T | undefined>(groups.length);
    const live: number[] = [];
    let nan = false;
    for (let g = 0; g < groups.length; g++) {
      const h = heads?.of[g];
      this.size[g] = h ? h.count : groups[g].length;
      if (this.size[g] === 0) continue;
      if (h && heads) {
        this.head[g] = heads.score(h);
        this.headSeq[g] = h.headSeq;
        this.headJob[g] = h.head;
      } else this.setHead(g);
      nan ||= Number.isNaN(this.head[g]);
      live.push(g);
    }
    // A NaN score has no place in a sorted order: the heap alone then decides, as it always did.
    if (nan) {
      for (const g of live) this.insert(g);
      return;
    }
    const scores = new Float64Array(live.length);
    const seqs = new Float64Array(live.length);
    const ids = new Array<string>(live.length);
    for (let k = 0; k < live.length; k++) {
      const g = live[k];
      scores[k] = this.head[g];
      seqs[k] = this.headSeq[g];
      ids[k] = heads ? heads.of[g].headId : this.headJob[g].id;
    }
    // The order `less` defines (score desc, seq asc, id asc; ids are unique): the one orderIndexes sorts by.
    const idx = orderIndexes(scores, seqs, ids);
    this.cold = new Uint32Array(live.length);
    for (let k = 0; k < live.length; k++) this.cold[k] = live[idx[k]];
  }

  /** next: the next job in the cycle's order among the groups not skipped, or undefined. */
  next(): SchedJob | undefined {
    const c = this.current;
    this.current = -1;
    let g: number;
    if (c >= 0 && this.cursor[c] < this.size[c]) {
      // The visited group goes on: it is next if its new head still comes first (no heap work),
      // else it replaces the top, which is next (one sift instead of a push and a pop).
      this.setHead(c);
      const top = this.heap.length === 0 ? -1 : this.heap[0];
      const cold = this.coldAt < this.cold.length ? this.cold[this.coldAt] : -1;
      const other = top < 0 || (cold >= 0 && this.less(cold, top)) ? cold : top;
      if (other < 0 || this.less(c, other)) g = c;
      else if (other === top) g = this.replaceTop(c);
      else {
        this.insert(c);
        this.coldAt++;
        g = cold;
      }
    } else g = this.pop();
    if (g < 0) return undefined;
    // The head was set (setHead) at the group's cursor when it was last ordered, which is now.
    const i = this.cursor[g]++;
    this.current = g;
    this.last = this.headJob[g];
    this.lastScore = this.head[g];
    this.visitedGroup.push(g);
    this.visitedIndex.push(i);
    return this.last;
  }

  /**
   * skip: the rest of the last visited job's group takes `value` until reopened; `startSensitive`:
   * until the next start too (reopenStartSensitive).
   */
  skip(value: T, startSensitive: boolean): void {
    const g = this.current;
    if (g < 0) return;
    this.current = -1;
    if (this.cursor[g] >= this.size[g]) return;
    this.skippedFrom.add(g);
    this.skipFrom[g] = this.cursor[g];
    this.skipValue[g] = value;
    if (startSensitive) this.startSensitive.add(g);
  }

  /** reopenAll reopens every skipped group. */
  reopenAll(): void {
    // reopen deletes only the entry being visited, which iteration allows: no copy.
    for (let g = this.skippedFrom.first; g >= 0; ) {
      const after = this.skippedFrom.after(g);
      this.reopen(g);
      g = after;
    }
  }

  /** reopenStartSensitive reopens the groups skipped with startSensitive. */
  reopenStartSensitive(): void {
    for (let g = this.startSensitive.first; g >= 0; ) {
      const after = this.startSensitive.after(g);
      this.reopen(g);
      g = after;
    }
  }

  /**
   * reopen puts skipped group `g` back: its members up to the last visited job keep the skip's
   * value; the first one after it is visited next in its turn.
   */
  private reopen(g: number): void {
    const skipped = this.skippedFrom.has(g);
    const last = this.last;
    this.startSensitive.delete(g);
    if (!skipped || !last) return;
    this.skippedFrom.delete(g);
    const s = { from: this.skipFrom[g], value: this.skipValue[g] as T };
    this.skipValue[g] = undefined;
    const jobs = this.groups[g];
    // Members after the last visited job: the group is in the cycle's order, so a search. Galloping
    // from the skip's start first: after a start the walk has usually moved on by a few visits, so
    // the answer is near `from` (the same index a plain binary search finds, with fewer scores).
    let lo = s.from;
    let hi = jobs.length;
    for (let step = 1; lo < hi; step *= 2) {
      const probe = Math.min(hi - 1, lo + step - 1);
      if (this.before(last, this.lastScore, jobs[probe], this.score(jobs[probe]))) {
        hi = probe;
        break;
      }
      lo = probe + 1;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.before(last, this.lastScore, jobs[mid], this.score(jobs[mid]))) hi = mid;
      else lo = mid + 1;
    }
    if (lo > s.from) this.skipped.push({ group: g, from: s.from, to: lo, value: s.value });
    this.cursor[g] = lo;
    if (lo < jobs.length) this.push(g);
  }

  /** finish records every group still skipped as skipped to its end. */
  finish(): void {
    for (let g = this.skippedFrom.first; g >= 0; g = this.skippedFrom.after(g))
      this.skipped.push({ group: g, from: this.skipFrom[g], to: this.size[g], value: this.skipValue[g] as T });
    this.skippedFrom.clear();
    this.startSensitive.clear();
    this.skipValue.fill(undefined);
  }

  private before(a: SchedJob, sa: number, b: SchedJob, sb: number): boolean {
    return sa > sb || (sa === sb && (a.seq < b.seq || (a.seq === b.seq && a.id < b.id)));
  }

  /** less: group x's head comes before group y's (before() on the heads, from the flat arrays first). */
  private less(x: number, y: number): boolean {
    const hx = this.head[x];
    const hy = this.head[y];
    if (hx !== hy) return hx > hy;
    const sx = this.headSeq[x];
    const sy = this.headSeq[y];
    if (sx !== sy) return sx < sy;
    return this.headJob[x].id < this.headJob[y].id;
  }

  private setHead(g: number): void {
    const job = this.groups[g][this.cursor[g]];
    this.head[g] = this.score(job);
    this.headSeq[g] = job.seq;
    this.headJob[g] = job;
  }

  /** replaceTop puts g at the root, sifts it down and returns the former top. */
  private replaceTop(g: number): number {
    const h = this.heap;
    const top = h[0];
    this.siftDown(g);
    return top;
  }

  /** siftDown places `end` from the root down to where the heap order holds. */
  private siftDown(end: number): void {
    const h = this.heap;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && this.less(h[r], h[l]) ? r : l;
      if (!this.less(h[c], end)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = end;
  }

  private push(g: number): void {
    this.setHead(g);
    this.insert(g);
  }

  /** insert adds g to the heap with its head already set. */
  private insert(g: number): void {
    const h = this.heap;
    let i = h.length;
    h.push(g);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(g, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = g;
  }

  /** pop: the first of the heap's top and the next cold group, taken out; -1 if none. */
  private pop(): number {
    const h = this.heap;
    const cold = this.coldAt < this.cold.length ? this.cold[this.coldAt] : -1;
    if (cold >= 0 && (h.length === 0 || this.less(cold, h[0]))) {
      this.coldAt++;
      return cold;
    }
    if (h.length === 0) return -1;
    const top = h[0];
    const end = h.pop() as number;
    if (h.length > 0) this.siftDown(end);
    return top;
  }
}

/**
 * OrderedGroups: a set of group indexes that iterates in insertion order, as a Map or Set does (an
 * index added again while present keeps its place; deleted and added again, it goes last), on
 * typed arrays: no entry objects per skip. Iteration: from `first` through `after`; deleting the
 * index being visited is allowed (read `after` first).
 */
class OrderedGroups {
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly present: Uint8Array;
  first = -1;
  private last = -1;

  constructor(n: number) {
    this.prev = new Int32Array(n);
    this.next = new Int32Array(n);
    this.present = new Uint8Array(n);
  }

  has(g: number): boolean {
    return this.present[g] === 1;
  }

  add(g: number): void {
    if (this.present[g] === 1) return;
    this.present[g] = 1;
    this.prev[g] = this.last;
    this.next[g] = -1;
    if (this.last >= 0) this.next[this.last] = g;
    else this.first = g;
    this.last = g;
  }

  delete(g: number): void {
    if (this.present[g] === 0) return;
    this.present[g] = 0;
    const p = this.prev[g];
    const n = this.next[g];
    if (p >= 0) this.next[p] = n;
    else this.first = n;
    if (n >= 0) this.prev[n] = p;
    else this.last = p;
  }

  /** after: the index after `g` (-1 at the end); for a deleted `g`, the one after it when it was deleted. */
  after(g: number): number {
    return this.next[g];
  }

  clear(): void {
    for (let g = this.first; g >= 0; g = this.next[g]) this.present[g] = 0;
    this.first = -1;
    this.last = -1;
  }
}
