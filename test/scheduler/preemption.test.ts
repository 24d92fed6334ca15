/**
 * Preemption: reclaim from borrowers, higher class over lower class, never within the same class
 * and quota; minimal deterministic victims, blast-radius cap, min-runtime protection, draining
 * victims, and no oscillation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ClusterModel,
  type CycleResult,
  type PreemptionInput,
  type QuotaTable,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { job, makeFleet, quotas } from './fixtures.js';

const MIN = 60_000;
const NOW = 1000 * MIN;
const ON: PreemptionInput = { enabled: true };
const node = (i: number) => `a-b200-8-${String(i).padStart(4, '0')}`;

/** World: a small fleet, running jobs (allocated in the cluster) and their RunningJobInfo. */
class World {
  readonly cluster: ClusterModel;
  readonly running: RunningJobInfo[] = [];

  constructor(nodes: number) {
    this.cluster = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: nodes }]));
  }

  run(id: string, project: string, where: [number, number[]][], over: Partial<RunningJobInfo> = {}): World {
    this.cluster.allocate(id, project, {
      site: 'a',
      gpuType: 'B200',
      nodes: where.map(([i, gpus]) => ({ node: node(i), gpus })),
    });
    const gpus = where.reduce((a, [, g]) => a + g.length, 0);
    this.running.push({
      id,
      project,
      org: 'o',
      priority: 100,
      gpus,
      startedAt: NOW - 60 * MIN,
      borrowed: false,
      preemptible: true,
      ...over,
    });
    return this;
  }

  cycle(queue: SchedJob[], q: QuotaTable, preemption: PreemptionInput = ON, now = NOW): CycleResult {
    const r = scheduleCycle(this.cluster, {
      queue,
      quotas: q,
      now,
      borrowing: { enabled: true },
      running: this.running,
      preemption,
    });
    this.cluster.verifyIndexes();
    return r;
  }
}

const ALL = [0, 1, 2, 3, 4, 5, 6, 7];
const Q = quotas({ p1: { B200: 8 }, p2: { B200: 8 } });

test('reclaim: a job within its quota evicts a borrower; it does not start in the same cycle', () => {
  const w = new World(2).run('p2-own', 'p2', [[1, ALL]]).run('p2-borrowed', 'p2', [[2, ALL]], { borrowed: true });
  const r = w.cycle([job('mine', { project: 'p1', gpusPerNode: 8 })], Q);
  assert.deepEqual(r.preemptions, [{ victimId: 'p2-borrowed', forJobId: 'mine', reason: 'reclaim' }]);
  assert.equal(r.starts.length, 0);
  const reason = r.pending.get('mine');
  assert.equal(reason?.code, 'preempting');
  assert.equal(reason?.details?.victims, 'p2-borrowed');
  // The cluster is untouched: the victim still holds its GPUs until it drains.
  assert.ok(w.cluster.hasAllocation('p2-borrowed'));
});

test('priority: a higher class evicts a lower class of another project', () => {
  const w = new World(1).run('low', 'p2', [[1, ALL]], { priority: 50 });
  const r = w.cycle([job('high', { project: 'p1', gpusPerNode: 8, priority: 500 })], Q);
  assert.deepEqual(r.preemptions, [{ victimId: 'low', forJobId: 'high', reason: 'priority' }]);
});

test('never within the same class and quota', () => {
  const w = new World(1).run('peer', 'p2', [[1, ALL]]);
  const r = w.cycle([job('me', { project: 'p1', gpusPerNode: 8 })], Q);
  assert.deepEqual(r.preemptions, []);
  assert.equal(r.pending.get('me')?.code, 'insufficient_capacity');
  // Same project, same class: no either.
  const w2 = new World(1).run('sibling', 'p1', [[1, [0, 1, 2, 3]]]);
  const r2 = w2.cycle([job('me', { project: 'p1', gpusPerNode: 8 })], quotas({ p1: { B200: 16 } }));
  assert.deepEqual(r2.preemptions, []);
});

test('a borrowing preemptor only hits lower classes that borrow or belong to its own project', () => {
  const q = quotas({ p1: { B200: 0 }, p2: { B200: 8 }, p3: { B200: 8 } });
  const w = new World(1).run('guaranteed-low', 'p2', [[1, ALL]], { priority: 50 });
  const r = w.cycle([job('borrower', { project: 'p1', gpusPerNode: 8, priority: 500 })], q);
  assert.deepEqual(r.preemptions, []);
  const w2 = new World(1).run('borrowed-low', 'p2', [[1, ALL]], { priority: 50, borrowed: true });
  const q2 = quotas({ p1: { B200: 0 }, p2: { B200: 0 }, p3: { B200: 16 } });
  const r2 = w2.cycle([job('borrower', { project: 'p1', gpusPerNode: 8, priority: 500 })], q2);
  assert.deepEqual(r2.preemptions, [{ victimId: 'borrowed-low', forJobId: 'borrower', reason: 'priority' }]);
});

test('min-runtime protection and non-preemptible jobs', () => {
  const w = new World(2)
    .run('young', 'p2', [[1, ALL]], { priority: 50, startedAt: NOW - 5 * MIN })
    .run('pinned', 'p2', [[2, ALL]], { priority: 50, preemptible: false });
  const r = w.cycle([job('high', { project: 'p1', gpusPerNode: 8, priority: 500 })], Q);
  assert.deepEqual(r.preemptions, []);
  const r2 = w.cycle([job('high', { project: 'p1', gpusPerNode: 8, priority: 500 })], Q, {
    enabled: true,
    minRuntimeSeconds: 60,
  });
  assert.deepEqual(r2.preemptions, [{ victimId: 'young', forJobId: 'high', reason: 'priority' }]);
});

test('blast radius: never evict more than maxEvictedGpusPerRequestedGpu x the GPUs requested', () => {
  const w = new World(1).run('whole', 'p2', [[1, ALL]], { priority: 50 });
  // Needs 2 GPUs; the only victim holds 8 > 2 x 2.
  const r = w.cycle([job('small', { project: 'p1', gpusPerNode: 2, priority: 500 })], Q);
  assert.deepEqual(r.preemptions, []);
  assert.equal(r.pending.get('small')?.code, 'insufficient_capacity');
  const r2 = w.cycle([job('small', { project: 'p1', gpusPerNode: 2, priority: 500 })], Q, {
    enabled: true,
    maxEvictedGpusPerRequestedGpu: 4,
  });
  assert.deepEqual(r2.preemptions, [{ victimId: 'whole', forJobId: 'small', reason: 'priority' }]);
});

test('victims are minimal: remove until it fits, then add back what is not needed', () => {
  // One node: a (4 GPUs), b (2), c (2). b lost least work, then a, then c.
  const w = new World(1)
    .run('a', 'p2', [[1, [0, 1, 2, 3]]], { priority: 50, lastCheckpointAt: NOW - 10 * MIN })
    .run('b', 'p2', [[1, [4, 5]]], { priority: 50, lastCheckpointAt: NOW - 1 * MIN })
    .run('c', 'p2', [[1, [6, 7]]], { priority: 50, lastCheckpointAt: NOW - 20 * MIN });
  // Needs 4: removing b (2 free) is not enough, removing a too (6 free) fits, adding b back still fits.
  const r = w.cycle([job('four', { project: 'p1', gpusPerNode: 4, priority: 500 })], Q);
  assert.deepEqual(r.preemptions, [{ victimId: 'a', forJobId: 'four', reason: 'priority' }]);
  // Lower classes go first whatever the work lost.
  const w2 = new World(1)
    .run('lowest', 'p2', [[1, [0, 1, 2, 3]]], { priority: 0, lastCheckpointAt: NOW - 50 * MIN })
    .run('low', 'p2', [[1, [4, 5, 6, 7]]], { priority: 50, lastCheckpointAt: NOW });
  const r2 = w2.cycle([job('four', { project: 'p1', gpusPerNode: 4, priority: 500 })], Q);
  assert.deepEqual(
    r2.preemptions?.map((p) => p.victimId),
    ['lowest'],
  );
});

test('two preemptors never pick the same victim; a gang evicts a whole set at once', () => {
  const w = new World(2).run('l1', 'p2', [[1, ALL]], { priority: 50 }).run('l2', 'p2', [[2, ALL]], { priority: 50 });
  const r = w.cycle(
    [
      job('h1', { project: 'p1', gpusPerNode: 8, priority: 500 }),
      job('h2', { project: 'p1', gpusPerNode: 8, priority: 500 }),
      job('h3', { project: 'p1', gpusPerNode: 8, priority: 500 }),
    ],
    quotas({ p1: { B200: 64 } }),
  );
  assert.deepEqual(r.preemptions, [
    { victimId: 'l1', forJobId: 'h1', reason: 'priority' },
    { victimId: 'l2', forJobId: 'h2', reason: 'priority' },
  ]);
  assert.equal(r.pending.get('h3')?.code, 'insufficient_capacity');
  const w2 = new World(2).run('l1', 'p2', [[1, ALL]], { priority: 50 }).run('l2', 'p2', [[2, ALL]], { priority: 50 });
  const r2 = w2.cycle([job('gang', { project: 'p1', gpusPerNode: 8, nodes: 2, priority: 500 })], quotas({ p1: { B200: 64 } }));
  assert.deepEqual(
    r2.preemptions?.map((p) => p.victimId),
    ['l1', 'l2'],
  );
});

test('draining victims are waited for, not evicted again, and not double-counted', () => {
  const w = new World(2)
    .run('l1', 'p2', [[1, ALL]], { priority: 50, evicting: true })
    .run('l2', 'p2', [[2, ALL]], { priority: 50 });
  const r = w.cycle(
    [job('h1', { project: 'p1', gpusPerNode: 8, priority: 500 }), job('h2', { project: 'p1', gpusPerNode: 8, priority: 500 })],
    quotas({ p1: { B200: 64 } }),
  );
  assert.deepEqual(r.preemptions, [{ victimId: 'l2', forJobId: 'h2', reason: 'priority' }]);
  assert.equal(r.pending.get('h1')?.code, 'preempting');
  assert.equal(r.pending.get('h1')?.details?.victims, 'l1');
  assert.equal(r.pending.get('h1')?.details?.newVictims, 0);
});

test('no oscillation: after A evicts B, B cannot evict A with unchanged inputs (reclaim and priority)', () => {
  for (const kind of ['reclaim', 'priority'] as const) {
    const w = new World(1);
    const bInfo: Partial<RunningJobInfo> = kind === 'reclaim' ? { borrowed: true, priority: 500 } : { priority: 50 };
    w.run('B', 'p2', [[1, ALL]], bInfo);
    const q = kind === 'reclaim' ? quotas({ p1: { B200: 8 }, p2: { B200: 0 } }) : Q;
    const A = job('A', { project: 'p1', gpusPerNode: 8, priority: kind === 'reclaim' ? 100 : 500 });
    const B = job('B', { project: 'p2', gpusPerNode: 8, priority: bInfo.priority ?? 100 });
    const r1 = w.cycle([A], q);
    assert.deepEqual(r1.preemptions, [{ victimId: 'B', forJobId: 'A', reason: kind }]);
    // B drains; A starts; B is queued again.
    w.cluster.release('B');
    w.running.length = 0;
    const r2 = w.cycle([A], q);
    assert.equal(r2.starts.length, 1);
    w.running.push({
      id: 'A',
      project: 'p1',
      org: 'o',
      priority: A.priority,
      gpus: 8,
      startedAt: NOW - 1000 * MIN,
      borrowed: r2.starts[0].borrowed === true,
      preemptible: true,
    });
    const r3 = w.cycle([B], q, { enabled: true, minRuntimeSeconds: 0, maxEvictedGpusPerRequestedGpu: 100 });
    assert.deepEqual(r3.preemptions, [], `${kind}: B must not evict A`);
    assert.notEqual(r3.pending.get('B')?.code, 'preempting');
  }
});
