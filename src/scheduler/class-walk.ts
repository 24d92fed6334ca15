/**
 * The class walk: one cycle's merge of the class groups (class-queue.ts) in the cycle's order, with
 * a heap of group heads, and the skips and reopenings that let a failed class's other members go
 * unvisited (see docs/scheduler-at-scale.md, "Visit classes, not jobs").
 */
import type { GroupHead } from './class-queue.js';
import { orderIndexes } from './order.js';
import { type PriorityContext, priorityOfShared, sharedFactorsInto } from './priority.js';
import type { SchedJob } from './types.js';

/** Score: a job's total in this cycle (the order is total desc, seq asc, id asc). */
export type Score = (job: SchedJob) => number;

/**
 * GroupScorer: a member's score (what Score gives on it) from its group's shared score inputs and
 * its own submittedAt. `shared` writes a group's share (SHARED_WIDTH numbers) to out[at..], once per
 * group and walk; `total` is then the score of a member submitted at `submittedAt`.
 */
export interface GroupScorer {
  readonly shared: (h: GroupHead, out: Float64Array, at: number) => void;
  readonly total: (shared: Float64Array, at: number, submittedAt: number) => number;
}

/**
 * groupScorer: members scored from their groups' kept fields and their own submittedAt
 * (sharedFactorsInto and priorityOfShared run the functions priorityInto runs: same bits); without
 * a priority context, by priority class alone.
 */
export function groupScorer(pctx: PriorityContext | undefined): GroupScorer {
  if (!pctx) {
    return {
      shared: (h, out, at) => {
        out[at] = h.priority;
      },
      total: (shared, at) => shared[at],
    };
  }
  return {
    shared: (h, out, at) => sharedFactorsInto(h.project, h.priority, h.gpuType, h.gpus, pctx, out, at),
    total: (shared, at, submittedAt) => priorityOfShared(shared, at, submittedAt, pctx),
  };
}

/** SHARED_WIDTH: the numbers GroupScorer.shared writes per group. */
export const SHARED_WIDTH = 3;

/**
 * SkippedRanges: the members the walk did not visit, as ranges: range i is members [from(i), to(i))
 * of group group(i), all taking value(i). Flat arrays, not an object per range: a cycle records
 * thousands (most groups end skipped), and the ranges outlive the cycle (read on first use).
 */
export class SkippedRanges<T> {
  private readonly groups: number[] = [];
  private readonly froms: number[] = [];
  private readonly tos: number[] = [];
  private readonly values: T[] = [];

  get length(): number {
    return this.groups.length;
  }

  push(group: number, from: number, to: number, value: T): void {
    this.groups.push(group);
    this.froms.push(from);
    this.tos.push(to);
    this.values.push(value);
  }

  group(i: number): number {
    return this.groups[i];
  }

  from(i: number): number {
    return this.froms[i];
  }

  to(i: number): number {
    return this.tos[i];
  }

  value(i: number): T {
    return this.values[i];
  }
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
  private lastSeq = 0;
  /**
   * With heads: each group's member keys (group-members.ts) and shared score inputs (at
   * SHARED_WIDTH * g): members scored without reading the jobs or the group objects.
   */
  private readonly keys: (readonly number[])[];
  private readonly scorer: GroupScorer | undefined;
  private readonly shared: Float64Array;
  /** Skipped groups: where their skip began and the value it takes. */
  private readonly skippedFrom: OrderedGroups;
  /** Per skipped group (in skippedFrom): where its skip began, and the value it takes. */
  private readonly skipFrom: Uint32Array;
  private readonly skipValue: (T | undefined)[];
  /** Skipped groups to reopen after any start (reopenStartSensitive). */
  private readonly startSensitive: OrderedGroups;
  readonly skipped = new SkippedRanges<T>();
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
   * `heads` (optional): each group's GroupHead and a scorer giving a member's score from its group's
   * shared inputs and its submittedAt (equal to `score(member)`): the walk then orders the groups
   * and scores members past the heads from the kept keys, reading a job only to visit it.
   */
  constructor(
    readonly groups: readonly (readonly SchedJob[])[],
    private readonly score: Score,
    heads?: { readonly of: readonly GroupHead[]; readonly scorer: GroupScorer },
  ) {
    this.scorer = heads?.scorer;
    this.keys = new Array<readonly number[]>(heads ? groups.length : 0);
    this.shared = new Float64Array(heads ? SHARED_WIDTH * groups.length : 0);
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
      if (h) this.keys[g] = h.keys;
      if (this.size[g] === 0) continue;
      if (h && heads) {
        heads.scorer.shared(h, this.shared, SHARED_WIDTH * g);
        this.head[g] = heads.scorer.total(this.shared, SHARED_WIDTH * g, h.headSubmittedAt);
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
    this.lastSeq = this.headSeq[g];
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
    const from = this.skipFrom[g];
    const value = this.skipValue[g] as T;
    this.skipValue[g] = undefined;
    // Members after the last visited job: the group is in the cycle's order, so a search. Galloping
    // from the skip's start first: after a start the walk has usually moved on by a few visits, so
    // the answer is near `from` (the same index a plain binary search finds, with fewer scores).
    let lo = from;
    let hi = this.size[g];
    for (let step = 1; lo < hi; step *= 2) {
      const probe = Math.min(hi - 1, lo + step - 1);
      if (this.lastBefore(last, g, probe)) {
        hi = probe;
        break;
      }
      lo = probe + 1;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.lastBefore(last, g, mid)) hi = mid;
      else lo = mid + 1;
    }
    if (lo > from) this.skipped.push(g, from, lo, value);
    this.cursor[g] = lo;
    if (lo < this.size[g]) this.push(g);
  }

  /** finish records every group still skipped as skipped to its end. */
  finish(): void {
    for (let g = this.skippedFrom.first; g >= 0; g = this.skippedFrom.after(g))
      this.skipped.push(g, this.skipFrom[g], this.size[g], this.skipValue[g] as T);
    this.skippedFrom.clear();
    this.startSensitive.clear();
    this.skipValue.fill(undefined);
  }

  /** lastBefore: the last visited job (`last`) comes before member k of group g (ids read only on a tie of score and seq). */
  private lastBefore(last: SchedJob, g: number, k: number): boolean {
    const scorer = this.scorer;
    let score: number;
    let seq: number;
    if (scorer) {
      const keys = this.keys[g];
      score = scorer.total(this.shared, SHARED_WIDTH * g, keys[2 * k]);
      seq = keys[2 * k + 1];
    } else {
      const job = this.groups[g][k];
      score = this.score(job);
      seq = job.seq;
    }
    const sa = this.lastScore;
    if (sa !== score) return sa > score;
    const qa = this.lastSeq;
    return qa < seq || (qa === seq && last.id < this.groups[g][k].id);
  }

  /** less: group x's head comes before group y's (score desc, seq asc, id asc; from the flat arrays first). */
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
    const k = this.cursor[g];
    const job = this.groups[g][k];
    const scorer = this.scorer;
    if (scorer) {
      // From the keys: the job itself is read when it is visited.
      const keys = this.keys[g];
      this.head[g] = scorer.total(this.shared, SHARED_WIDTH * g, keys[2 * k]);
      this.headSeq[g] = keys[2 * k + 1];
    } else {
      this.head[g] = this.score(job);
      this.headSeq[g] = job.seq;
    }
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
