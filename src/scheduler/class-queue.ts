/**
 * Class sub-queues: the queued jobs grouped by scan class (scanClassKey), each group kept in
 * (submittedAt, seq, id) order between cycles, with its head and its members' keys (submittedAt,
 * seq: group-members.ts) beside it; a cycle's walk (class-walk.ts) merges the groups by the cycle's
 * order with a heap of group heads (see docs/scheduler-at-scale.md, "Visit classes, not jobs").
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
import { insertKey, keysOf, removeKey } from './group-members.js';
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
  /** Every member's submittedAt and seq, in the group's order (group-members.ts). */
  readonly keys: readonly number[];
}

/** GroupsView: a cycle's groups, and beside each its head (heads[i] describes groups[i]). */
export interface GroupsView {
  readonly groups: SchedJob[][];
  readonly heads: GroupHead[];
}

/** Group: one scan class's queued jobs in (submittedAt, seq, id) order, and its head (kept on every change). */
interface Group {
  jobs: SchedJob[];
  /** The members' keys beside `jobs` (group-members.ts). */
  keys: number[];
  /** A cycle's views hold `jobs` and `keys`: copy before changing them (copy on write). */
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
    keys: keysOf(jobs),
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
        keys: [],
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
    insertKey(g.keys, at, job);
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
    removeKey(g.keys, at);
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
      g.keys = g.keys.slice();
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
