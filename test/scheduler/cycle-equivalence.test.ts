/**
 * The cycle's cost-saving mechanisms must never change a decision:
 * - the radix queue order equals the comparator sort (score desc, seq asc, id asc), ties included;
 * - TailMap reads exactly like a Map filled eagerly (values, order, size, mutations);
 * - equivalence classes: with every policy on, a cycle that reuses class failures makes the same
 *   starts, preemptions and reservations, and gives every job the same pending code, as a cycle
 *   that runs the full pipeline for every job;
 * - lazy tails: priorities and explanations built on first read equal those built in the cycle,
 *   and the priorities equal the public jobPriority's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Fleet } from '../../src/model/fleet.js';
import {
  ClusterModel,
  type CycleInput,
  jobPriority,
  priorityContext,
  type SchedJob,
  type SchedSpread,
} from '../../src/scheduler/index.js';
import { orderIndexes } from '../../src/scheduler/order.js';
import { scheduleCycleWith } from '../../src/scheduler/schedule-cycle.js';
import { TailMap } from '../../src/scheduler/tail-map.js';
import { makeFleet, type PoolDef, PropertyWorld, quotas } from './fixtures.js';

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

test('radix order equals the comparator sort, ties and signed zeros included', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 3000 }),
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.integer(),
      fc.boolean(),
      (n, distinct, seqRange, seed, sortedSeqs) => {
        let s = seed >>> 0;
        const rnd = () => {
          s = (s * 1664525 + 1013904223) >>> 0;
          return s / 2 ** 32;
        };
        // Few distinct scores (ties are common), some negative, -0 and fractional; seqs may repeat.
        const values = Array.from({ length: distinct }, (_, i) => (i === 0 ? -0 : (rnd() - 0.3) * 10 ** (rnd() * 8)));
        const scores = new Float64Array(n);
        const seqs = new Float64Array(n);
        const ids: string[] = [];
        for (let i = 0; i < n; i++) {
          scores[i] = values[Math.floor(rnd() * distinct)];
          seqs[i] = Math.floor(rnd() * seqRange);
          ids.push(`j${Math.floor(rnd() * n * 2)}`);
        }
        // Queues usually come in submission order (a fast path); repeated seqs still possible.
        if (sortedSeqs) seqs.sort();
        const expected = Array.from({ length: n }, (_, i) => i).sort(
          (a, b) => scores[b] - scores[a] || seqs[a] - seqs[b] || cmp(ids[a], ids[b]),
        );
        const got = [...orderIndexes(scores, seqs, ids)];
        // Indexes equal in all three keys may come in either order; compare the keys.
        const key = (i: number) => `${scores[i] === 0 ? 0 : scores[i]}|${seqs[i]}|${ids[i]}`;
        assert.deepEqual(got.map(key), expected.map(key));
        assert.equal(new Set(got).size, n);
      },
    ),
    { numRuns: 60, seed: 20261123 },
  );
});

test('TailMap reads like an eagerly filled Map', () => {
  const keys = ['a', 'b', 'c', 'd', 'e'];
  let computed = 0;
  const make = () => {
    const m = new TailMap<number>();
    m.set('a', 0);
    m.set('b', 1);
    m.fillLater(keys, 2, (i) => {
      computed++;
      return i * 10;
    });
    return m;
  };
  const m = make();
  assert.equal(m.get('a'), 0);
  assert.equal(computed, 0, 'a head read computes nothing');
  assert.equal(m.get('d'), 30);
  assert.equal(computed, 1, 'a tail read computes that entry alone');
  assert.equal(m.get('d'), 30);
  assert.equal(m.get('e'), 40);
  assert.equal(computed, 2, 'each tail entry is computed once');
  assert.equal(m.get('z'), undefined);
  assert.deepEqual([...m], [...new Map(keys.map((k, i) => [k, i < 2 ? i : i * 10]))]);
  assert.equal(computed, 3, 'iterating computes only the entries not read yet');
  assert.deepEqual([...make()], [...new Map(keys.map((k, i) => [k, i < 2 ? i : i * 10]))]);
  assert.equal(make().size, 5);
  assert.equal(make().has('c'), true);
  assert.equal(make().has('z'), false);
  assert.deepEqual([...make().keys()], keys);
  const d = make();
  assert.equal(d.delete('e'), true);
  assert.deepEqual([...d.values()], [0, 1, 20, 30]);
  const c = make();
  c.clear();
  assert.equal(c.size, 0);
  assert.equal(c.get('c'), undefined);
  const f = make();
  const seen: string[] = [];
  f.forEach((_, k) => {
    seen.push(k);
  });
  assert.deepEqual(seen, keys);
  // An entry read on demand is the same object once the tail is inserted; two maps over the same
  // keys (a cycle's explain and priorities) read their own values.
  const ids = ['x', 'y', 'z'];
  const objs = new TailMap<{ i: number }>();
  const nums = new TailMap<number>();
  objs.fillLater(ids, 0, (i) => ({ i }));
  nums.fillLater(ids, 1, (i) => -i);
  const y = objs.get('y');
  assert.deepEqual(y, { i: 1 });
  assert.equal(nums.get('x'), undefined, 'x is before this map tail and was never set');
  assert.equal(nums.has('x'), false);
  assert.equal(nums.get('z'), -2);
  assert.equal([...objs.values()][1], y);
  assert.equal(objs.size, 3);
});

const TYPES = ['B200', 'RTX'] as const;
const PROJECTS = ['p1', 'p2', 'p3'] as const;
const MIN = 60_000;

const poolArb = fc.record({
  site: fc.constantFrom('a', 'b'),
  gpuType: fc.constantFrom(...TYPES),
  count: fc.integer({ min: 1, max: 3 }),
  gpus: fc.constantFrom(4, 8),
  unitSize: fc.integer({ min: 1, max: 4 }),
});

// Few shapes and classes, so a deep queue has many identical jobs (the case classes are for).
const jobArb = fc.record({
  project: fc.constantFrom('p1', 'p1', 'p2', 'p3'),
  gpuType: fc.constantFrom<(string | null)[]>('B200', 'B200', 'B200', 'RTX', null),
  gpusPerNode: fc.constantFrom(2, 8, 8),
  nodes: fc.constantFrom(1, 1, 2),
  priority: fc.constantFrom(0, 0, 0, 500),
  maxRuntimeSeconds: fc.constantFrom(3600, 3600, 7200),
  requiredSites: fc.option(fc.constantFrom(['a'], ['b']), { nil: undefined, freq: 8 }),
  // Service replicas (spread groups) must never be merged into a class with plain jobs.
  spread: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 4 },
    { arbitrary: fc.constantFrom<SchedSpread>({ group: 's1', mode: 'required' }, { group: 's2', mode: 'preferred' }), weight: 1 },
  ),
});

/** replay builds a fresh cluster with the same allocations as `from`. */
function replay(fleet: Fleet, from: ClusterModel): ClusterModel {
  const c = new ClusterModel(fleet);
  for (const id of [...from.allocatedJobs()].sort()) {
    const placement = from.allocationOf(id);
    const project = from.projectOf(id);
    if (placement && project !== undefined) c.allocate(id, project, placement, from.orgOf(id), from.spreadOf(id));
  }
  return c;
}

test('equivalence classes and lazy tails never change a decision (all policies on, random worlds)', () => {
  let hits = 0;
  let classHitsCompared = 0;
  fc.assert(
    fc.property(
      fc.array(poolArb, { minLength: 1, maxLength: 3 }),
      // Each generated job comes in 1-8 identical copies (array jobs): deep classes.
      fc.array(fc.array(fc.tuple(jobArb, fc.integer({ min: 1, max: 8 })), { maxLength: 12 }), { minLength: 2, maxLength: 4 }),
      fc.integer({ min: 0, max: 64 }),
      (pools, batches, quota) => {
        const fleet = makeFleet(pools.map((p, i): PoolDef => ({ ...p, prefix: `x${i}` })));
        const cluster = new ClusterModel(fleet);
        const world = new PropertyWorld(cluster);
        const { running } = world;
        let queue: SchedJob[] = [];
        let seq = 0;
        let now = 0;
        for (const batch of batches) {
          now += 11 * MIN;
          for (const [j, copies] of batch) {
            for (let c = 0; c < copies; c++) {
              seq++;
              const sj: SchedJob = { ...j, id: `j${seq}`, seq, org: j.project === 'p3' ? 'o2' : 'o1', submittedAt: now };
              world.submit(sj);
            }
          }
          const table = { B200: quota, RTX: quota };
          queue = world.queue();
          const input: CycleInput = {
            queue,
            now,
            quotas: quotas({ p1: table, p2: table, p3: table }),
            running: [...running.values()],
            fairShare: {
              orgShares: new Map([
                ['o1', 2],
                ['o2', 1],
              ]),
              projectShares: new Map(PROJECTS.map((p, i) => [p, i + 1])),
              usage: new Map(PROJECTS.map((p, i) => [p, i * 100])),
              weights: { fairShare: 1000, age: 100, priorityClass: 2000, size: 10 },
            },
            borrowing: { enabled: true },
            preemption: { enabled: true, minRuntimeSeconds: 0 },
            backfill: { enabled: true, reservations: 2, gangsOnly: false },
            capacityWindows: [
              { id: 'w', org: 'o2', gpuType: 'B200', gpusPerNode: 4, nodes: 1, start: now + 30 * MIN, end: now + 90 * MIN },
            ],
            explain: true,
          };
          const naiveCluster = replay(fleet, cluster);
          const lazyCluster = replay(fleet, cluster);
          const r = scheduleCycleWith(cluster, input, {});
          const naive = scheduleCycleWith(naiveCluster, input, { equivalence: false, eagerHead: Infinity });
          const lazy = scheduleCycleWith(lazyCluster, input, { eagerHead: 0 });
          hits += r.stats.equivalenceHits;
          if (r.stats.equivalenceHits > 0) classHitsCompared++;

          // Masks (spread), phantom holds and preemption plans leave the indexes exact.
          cluster.verifyIndexes();
          assert.deepEqual(r.starts, naive.starts, 'same starts with and without classes');
          assert.deepEqual(r.preemptions, naive.preemptions, 'same preemptions');
          assert.deepEqual(r.reservations, naive.reservations, 'same reservations');
          assert.deepEqual(r.windows, naive.windows);
          for (const j of queue) assert.equal(r.pending.get(j.id)?.code, naive.pending.get(j.id)?.code, j.id);
          assert.deepEqual([...(r.priorities ?? [])], [...(naive.priorities ?? [])]);
          // The cycle's priorities are exactly the public jobPriority's.
          const fairShare = input.fairShare;
          assert.ok(fairShare);
          const pctx = priorityContext(fairShare, { now, fleetGpus: fleet.totalGpus, queue, running: input.running });
          for (const j of queue) assert.deepEqual(r.priorities?.get(j.id), jobPriority(j, pctx));

          // Lazy tails: read after the cluster has moved on, equal to what the eager cycle built.
          assert.deepEqual(lazy.starts, r.starts);
          for (const s of lazy.starts) lazyCluster.release(s.jobId);
          assert.deepEqual([...(lazy.priorities ?? [])], [...(r.priorities ?? [])]);
          assert.deepEqual([...(lazy.explain ?? [])], [...(r.explain ?? [])]);
          assert.deepEqual(lazy.pending, r.pending);

          world.apply(r, now);
        }
      },
    ),
    { numRuns: 100, seed: 20261123 },
  );
  assert.ok(hits > 200 && classHitsCompared > 50, `classes exercised: ${hits} hits in ${classHitsCompared} cycles`);
});
