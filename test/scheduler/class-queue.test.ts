/**
 * Class groups (class-queue.ts), property-tested against the from-scratch order: after random
 * arrivals and removals (submission times out of seq order, ties, jobs past the age cap), every
 * group `view` returns is in the cycle's order (score desc, seq asc, id asc, as orderIndexes
 * sorts), and the walk over the groups, with nothing skipped, visits the whole queue in exactly
 * orderIndexes' order. A view that declines (undefined) is allowed: the cycle then sorts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { GpuType } from '../../src/model/fleet.js';
import { ClassQueues } from '../../src/scheduler/class-queue.js';
import { ClassWalk, groupScorer, SHARED_WIDTH } from '../../src/scheduler/class-walk.js';
import { orderIndexes } from '../../src/scheduler/order.js';
import {
  DEFAULT_MAX_AGE_SECONDS,
  priorityContext,
  priorityInto,
  priorityOfParts,
  priorityOfShared,
  sharedFactorsInto,
  sizeGpus,
} from '../../src/scheduler/priority.js';
import { scanClassKey } from '../../src/scheduler/schedule-cycle.js';
import type { FairShareInput, SchedJob } from '../../src/scheduler/types.js';
import { job } from './fixtures.js';

const arbJob = fc.record({
  project: fc.constantFrom('p1', 'p2'),
  priority: fc.constantFrom(0, 100),
  gpusPerNode: fc.constantFrom(1, 8),
  // Few distinct times: ties, and jobs past a cap of 60 s.
  submittedAt: fc.integer({ min: 0, max: 120 }).map((s) => s * 1000),
  seq: fc.integer({ min: 0, max: 50 }),
  remove: fc.boolean(),
});

const arbCase = fc.record({
  jobs: fc.array(arbJob, { minLength: 5, maxLength: 60 }),
  now: fc.integer({ min: 120, max: 240 }).map((s) => s * 1000),
  fairShare: fc.boolean(),
  maxAgeSeconds: fc.constantFrom(undefined, 60, 0),
  ageWeight: fc.constantFrom(100, 0, 1e-15),
});

test('class groups: each group a view returns is in the cycle order, and the walk visits the whole queue in orderIndexes order', () => {
  let viewed = 0;
  fc.assert(
    fc.property(arbCase, (c) => {
      const queues = new ClassQueues();
      const queued: SchedJob[] = [];
      c.jobs.forEach((j, i) => {
        const sj = job(`j${i}`, { ...j, org: j.project === 'p1' ? 'o1' : 'o2' });
        queues.add(scanClassKey(sj) ?? '', sj);
        queued.push(sj);
      });
      // Removals after all arrivals: the kept order must survive them.
      const kept = queued.filter((sj, i) => {
        if (!c.jobs[i].remove) return true;
        queues.remove(scanClassKey(sj) ?? '', sj);
        return false;
      });
      const fs: FairShareInput | undefined = c.fairShare
        ? {
            orgShares: new Map([
              ['o1', 1],
              ['o2', 2],
            ]),
            projectShares: new Map([
              ['p1', 1],
              ['p2', 1],
            ]),
            usage: new Map([['p1', 5]]),
            weights: { fairShare: 1000, age: c.ageWeight, priorityClass: 2000, size: 10 },
            ...(c.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: c.maxAgeSeconds }),
          }
        : undefined;
      const groups = queues.view(c.now, fs, DEFAULT_MAX_AGE_SECONDS);
      if (!groups) return;
      viewed++;
      const pctx = fs ? priorityContext(fs, { now: c.now, fleetGpus: 64, queue: kept }) : undefined;
      const f = new Float64Array(4);
      const score = (j: SchedJob) => (pctx ? priorityInto(j, pctx, f, 0) : j.priority);
      const scores = new Float64Array(kept.map(score));
      const expected = orderIndexes(
        scores,
        new Float64Array(kept.map((j) => j.seq)),
        kept.map((j) => j.id),
      );
      const walk = new ClassWalk<undefined>(groups, score);
      const visited: string[] = [];
      for (let j = walk.next(); j; j = walk.next()) visited.push(j.id);
      assert.deepEqual(
        visited,
        [...expected].map((i) => kept[i].id),
      );
    }),
    { numRuns: 400, seed: 20261206 },
  );
  // The views must really be used (not always declined), else this proves nothing.
  assert.ok(viewed > 200, `views used: ${viewed}`);
});

/** ranges: a walk's skipped ranges, as `group:from-to=value`, sorted. */
function ranges(w: ClassWalk<number>): string[] {
  const out: string[] = [];
  const s = w.skipped;
  for (let i = 0; i < s.length; i++) out.push(`${s.group(i)}:${s.from(i)}-${s.to(i)}=${s.value(i)}`);
  return out.sort();
}

/**
 * naiveWalk: the walk's contract, by brute force over the global order (rank): the next job is the
 * first, by rank, of the heads of the groups not skipped; a reopened group goes on at its first
 * member ranked after the last visited job, the members before it keeping the skip's value.
 */
class NaiveWalk {
  readonly cursor: number[];
  private readonly skippedFrom = new Map<number, { from: number; value: number; sensitive: boolean }>();
  readonly skipped: string[] = [];
  private current = -1;
  private last = -1;

  constructor(
    private readonly groups: readonly (readonly SchedJob[])[],
    private readonly rank: ReadonlyMap<SchedJob, number>,
  ) {
    this.cursor = groups.map(() => 0);
  }

  next(): SchedJob | undefined {
    this.current = -1;
    let best = -1;
    for (let g = 0; g < this.groups.length; g++) {
      if (this.skippedFrom.has(g) || this.cursor[g] >= this.groups[g].length) continue;
      if (best < 0 || this.rankOf(g) < this.rankOf(best)) best = g;
    }
    if (best < 0) return undefined;
    const job = this.groups[best][this.cursor[best]++];
    this.current = best;
    this.last = this.rank.get(job) ?? -1;
    return job;
  }

  skip(value: number, sensitive: boolean): void {
    const g = this.current;
    this.current = -1;
    if (g >= 0 && this.cursor[g] < this.groups[g].length) this.skippedFrom.set(g, { from: this.cursor[g], value, sensitive });
  }

  reopen(sensitiveOnly: boolean): void {
    for (const [g, s] of [...this.skippedFrom]) {
      if (sensitiveOnly && !s.sensitive) continue;
      this.skippedFrom.delete(g);
      let to = s.from;
      while (to < this.groups[g].length && (this.rank.get(this.groups[g][to]) ?? -1) < this.last) to++;
      if (to > s.from) this.skipped.push(`${g}:${s.from}-${to}=${s.value}`);
      this.cursor[g] = to;
    }
  }

  finish(): void {
    for (const [g, s] of this.skippedFrom) this.skipped.push(`${g}:${s.from}-${this.groups[g].length}=${s.value}`);
  }

  private rankOf(g: number): number {
    return this.rank.get(this.groups[g][this.cursor[g]]) ?? -1;
  }
}

test('class walk with skips and reopens visits and skips exactly what the brute-force walk does', () => {
  let walked = 0;
  const arbWalk = fc.record({
    jobs: fc.array(arbJob, { minLength: 5, maxLength: 80 }),
    // Per visit: 0 go on, 1 skip, 2 skip until the next start; then 0 nothing, 1 reopen all, 2 reopen start-sensitive.
    steps: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 6 })), { minLength: 200, maxLength: 200 }),
  });
  fc.assert(
    fc.property(arbWalk, (c) => {
      const queues = new ClassQueues();
      c.jobs.forEach((j, i) => {
        // Submitted together, unique seqs: every group is in (seq, id) order, as the view needs without fair share.
        const sj = job(`j${i}`, { ...j, seq: c.jobs.length - i, submittedAt: 0, org: j.project === 'p1' ? 'o1' : 'o2' });
        queues.add(scanClassKey(sj) ?? '', sj);
      });
      // Without fair share the view is given when every group is in (seq, id) order.
      const groups = queues.view(0, undefined, DEFAULT_MAX_AGE_SECONDS);
      if (!groups) return;
      walked++;
      const all = groups.flat();
      const expected = orderIndexes(
        new Float64Array(all.map((j) => j.priority)),
        new Float64Array(all.map((j) => j.seq)),
        all.map((j) => j.id),
      );
      const rank = new Map<SchedJob, number>();
      for (const [r, i] of expected.entries()) rank.set(all[i], r);
      const walk = new ClassWalk<number>(groups, (j) => j.priority);
      const naive = new NaiveWalk(groups, rank);
      for (let v = 0; ; v++) {
        const a = walk.next();
        const b = naive.next();
        assert.equal(a?.id, b?.id, `visit ${v}`);
        if (!a) break;
        const [skip, reopen] = c.steps[v % c.steps.length];
        if (skip > 0) {
          walk.skip(v, skip === 2);
          naive.skip(v, skip === 2);
        }
        if (reopen === 1) {
          walk.reopenAll();
          naive.reopen(false);
        } else if (reopen === 2) {
          walk.reopenStartSensitive();
          naive.reopen(true);
        }
      }
      walk.finish();
      naive.finish();
      assert.deepEqual(ranges(walk), [...naive.skipped].sort());
    }),
    { numRuns: 300, seed: 20261207 },
  );
  assert.ok(walked > 150, `walks compared: ${walked}`);
});

/**
 * The heads ClassQueues keeps beside each group (GroupHead: first member, its submittedAt, seq and
 * id, the count, and the members' shared scoring fields) against the group arrays themselves,
 * after random interleaved arrivals, removals and changes (update: leave then enter, as the
 * incremental scheduler does), cycle after cycle; and a walk ordered from the kept heads visits
 * exactly what a walk that reads the arrays visits.
 */
const arbOp = fc.record({
  kind: fc.constantFrom('add', 'add', 'add', 'remove', 'update'),
  project: fc.constantFrom('p1', 'p2'),
  priority: fc.constantFrom(0, 100),
  gpusPerNode: fc.constantFrom(1, 8),
  share: fc.constantFrom(undefined, 250, 500),
  // Coarse times: ties, members past the 60 s cap, and (at now = 115 s) a few submitted after now.
  submittedAt: fc.integer({ min: 0, max: 12 }).map((s) => s * 10_000),
  seq: fc.integer({ min: 0, max: 50 }),
  pick: fc.nat(),
  view: fc.boolean(),
  // Before some members' submission too (a view then declines when such a group is out of seq order).
  now: fc.constantFrom(115_000, 130_000),
});

/** Per visit: 0 go on, 1 skip, 2 skip until the next start; then 0 nothing, 1 reopen all, 2 reopen start-sensitive. */
const arbSteps = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 6 })), {
  minLength: 1,
  maxLength: 40,
});

test('class groups: the kept heads equal the groups (any history of arrivals, removals and changes), and a walk from them visits as a walk from the arrays', () => {
  let checked = 0;
  fc.assert(
    // oneClass: every job in one scan class (long groups: a stale head or tail shows).
    fc.property(
      fc.array(arbOp, { minLength: 5, maxLength: 80 }),
      fc.boolean(),
      fc.boolean(),
      arbSteps,
      (ops, withFs, oneClass, steps) => {
        const queues = new ClassQueues();
        const queued: SchedJob[] = [];
        // The last view's groups and the keys its heads held then: they must stay as they were (copy on write).
        let held: { groups: SchedJob[][]; keys: (readonly number[])[] } | undefined;
        let n = 0;
        const fs: FairShareInput | undefined = withFs
          ? {
              orgShares: new Map([
                ['o1', 1],
                ['o2', 2],
              ]),
              projectShares: new Map([
                ['p1', 1],
                ['p2', 1],
              ]),
              usage: new Map([['p1', 5]]),
              weights: { fairShare: 1000, age: 100, priorityClass: 2000, size: 10 },
              gpuTypeWeights: new Map([['B200', 2]]),
              maxAgeSeconds: 60,
            }
          : undefined;
        for (const op of ops) {
          const make = () =>
            oneClass
              ? job(`j${n++}`, { project: 'p1', org: 'o1', submittedAt: op.submittedAt, seq: op.seq })
              : job(`j${n++}`, {
                  project: op.project,
                  org: op.project === 'p1' ? 'o1' : 'o2',
                  priority: op.priority,
                  gpusPerNode: op.gpusPerNode,
                  submittedAt: op.submittedAt,
                  seq: op.seq,
                  ...(op.share === undefined ? {} : { share: { milli: op.share } }),
                });
          if (op.kind === 'add' || queued.length === 0) {
            const sj = make();
            queues.add(scanClassKey(sj) ?? '', sj);
            queued.push(sj);
          } else {
            const at = op.pick % queued.length;
            const old = queued[at];
            queues.remove(scanClassKey(old) ?? '', old);
            queued.splice(at, 1);
            if (op.kind === 'update') {
              const sj = { ...make(), id: old.id };
              queues.add(scanClassKey(sj) ?? '', sj);
              queued.push(sj);
            }
          }
          if (!op.view) continue;
          const now = op.now;
          if (held) {
            for (const [i, g] of held.groups.entries()) {
              const keys = held.keys[i];
              g.forEach((m, k) => {
                assert.ok(Object.is(keys[2 * k], m.submittedAt), 'an earlier view keeps its keys');
              });
            }
          }
          const v = queues.viewWithHeads(now, fs, DEFAULT_MAX_AGE_SECONDS);
          held = v && { groups: v.groups, keys: v.heads.map((h) => h.keys) };
          // The same queue built afresh: the same answer, the same groups.
          const fresh = new ClassQueues();
          for (const sj of queued) fresh.add(scanClassKey(sj) ?? '', sj);
          const w = fresh.viewWithHeads(now, fs, DEFAULT_MAX_AGE_SECONDS);
          assert.equal(v === undefined, w === undefined, 'view given or declined as from scratch');
          if (!v || !w) continue;
          const members = (gs: SchedJob[][]) => gs.map((g) => g.map((j) => j.id).join(',')).sort();
          assert.deepEqual(members(v.groups), members(w.groups));
          checked++;
          assert.equal(v.heads.length, v.groups.length);
          v.groups.forEach((g, i) => {
            const h = v.heads[i];
            assert.equal(h.count, g.length, 'count');
            assert.equal(h.head, g[0], 'head');
            assert.equal(h.headSubmittedAt, g[0].submittedAt);
            assert.equal(h.headSeq, g[0].seq);
            assert.equal(h.headId, g[0].id);
            assert.equal(h.keys.length, 2 * g.length, 'keys');
            g.forEach((m, k) => {
              assert.ok(Object.is(h.keys[2 * k], m.submittedAt), `member ${k} submittedAt`);
              assert.ok(Object.is(h.keys[2 * k + 1], m.seq), `member ${k} seq`);
            });
            for (const m of g) {
              assert.equal(m.project, h.project);
              assert.equal(m.priority, h.priority);
              assert.equal(m.gpuType, h.gpuType);
              assert.equal(sizeGpus(m), h.gpus);
            }
          });
          const pctx = fs ? priorityContext(fs, { now, fleetGpus: 64, queue: queued }) : undefined;
          const f = new Float64Array(4);
          const score = (j: SchedJob) => (pctx ? priorityInto(j, pctx, f, 0) : j.priority);
          const scorer = groupScorer(pctx);
          const shared = new Float64Array(SHARED_WIDTH);
          for (const h of v.heads) {
            scorer.shared(h, shared, 0);
            assert.equal(scorer.total(shared, 0, h.headSubmittedAt), score(h.head), 'head score');
          }
          // With skips and reopens: the walk from the arrays, the walk from the kept heads and keys,
          // and the brute-force walk over the whole queue's order visit and skip alike.
          const all = v.groups.flat();
          const order = orderIndexes(
            new Float64Array(all.map(score)),
            new Float64Array(all.map((j) => j.seq)),
            all.map((j) => j.id),
          );
          const rank = new Map<SchedJob, number>();
          for (const [r, i] of order.entries()) rank.set(all[i], r);
          const a = new ClassWalk<number>(v.groups, score);
          const b = new ClassWalk<number>(v.groups, score, { of: v.heads, scorer });
          const naive = new NaiveWalk(v.groups, rank);
          for (let t = 0; ; t++) {
            const x = a.next();
            const y = b.next();
            assert.equal(y?.id, x?.id, `visit ${t}`);
            assert.equal(naive.next()?.id, x?.id, `visit ${t} (brute force)`);
            if (!x) break;
            const [skip, reopen] = steps[t % steps.length];
            for (const w of [a, b]) {
              if (skip > 0) w.skip(t, skip === 2);
              if (reopen === 1) w.reopenAll();
              else if (reopen === 2) w.reopenStartSensitive();
            }
            if (skip > 0) naive.skip(t, skip === 2);
            if (reopen === 1 || reopen === 2) naive.reopen(reopen === 2);
          }
          a.finish();
          b.finish();
          naive.finish();
          assert.deepEqual(ranges(b), ranges(a));
          assert.deepEqual(ranges(a), [...naive.skipped].sort());
        }
      },
    ),
    { numRuns: 300, seed: 20261207 },
  );
  assert.ok(checked > 500, `views checked: ${checked}`);
});

test('priorityOfShared from sharedFactorsInto is priorityOfParts, bit for bit (any weights, times, sizes)', () => {
  const num = fc.oneof(fc.double(), fc.constantFrom(0, -0, 1, 1e-15, 1e300, Number.NaN));
  fc.assert(
    fc.property(
      fc.record({ fairShare: num, age: num, priorityClass: num, size: num }),
      fc.record({
        now: num,
        submittedAt: num,
        maxAge: num,
        fleetGpus: num,
        gpus: num,
        priority: num,
        usage: num,
        typeWeight: num,
      }),
      fc.constantFrom<GpuType | null>(null, 'B200', 'RTX-PRO-6000'),
      (weights, x, gpuType) => {
        const fs: FairShareInput = {
          orgShares: new Map([['o1', 1]]),
          projectShares: new Map([['p1', 1]]),
          usage: new Map([
            ['p1', x.usage],
            ['p2', 1],
          ]),
          weights,
          gpuTypeWeights: new Map([['B200', x.typeWeight]]),
          maxAgeSeconds: x.maxAge,
        };
        const queue = [job('a', { project: 'p1', org: 'o1' }), job('b', { project: 'p2', org: 'o1' })];
        const ctx = priorityContext(fs, { now: x.now, fleetGpus: x.fleetGpus, queue });
        for (const project of ['p1', 'p2', 'p3']) {
          const parts = priorityOfParts(project, x.submittedAt, x.priority, gpuType, x.gpus, ctx, new Float64Array(4), 0);
          const shared = new Float64Array(4);
          sharedFactorsInto(project, x.priority, gpuType, x.gpus, ctx, shared, 1);
          assert.ok(Object.is(priorityOfShared(shared, 1, x.submittedAt, ctx), parts), `${project}: ${parts}`);
        }
      },
    ),
    { numRuns: 2000, seed: 20261207 },
  );
});
