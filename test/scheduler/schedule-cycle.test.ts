import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Placement } from '../../src/model/job.js';
import {
  ClusterModel,
  type CycleResult,
  type QuotaTable,
  type SchedJob,
  SchedulerError,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { BIG_QUOTA, job, makeFleet, quotas } from './fixtures.js';

function run(cluster: ClusterModel, queue: SchedJob[], q: QuotaTable = BIG_QUOTA): CycleResult {
  const result = scheduleCycle(cluster, { queue, quotas: q, now: 0 });
  // Every queued job gets exactly one outcome.
  const started = new Set(result.starts.map((s) => s.jobId));
  for (const j of queue) assert.equal(started.has(j.id) !== result.pending.has(j.id), true, `outcome of ${j.id}`);
  assert.equal(started.size + result.pending.size, queue.length);
  cluster.verifyIndexes();
  return result;
}

function placementOf(result: CycleResult, jobId: string): Placement {
  const s = result.starts.find((x) => x.jobId === jobId);
  assert.ok(s, `${jobId} should start; pending: ${result.pending.get(jobId)?.message}`);
  return s.placement;
}

function whole(nodes: string[], site = 'a', gpuType = 'B200'): Placement {
  return { site, gpuType, nodes: nodes.map((node) => ({ node, gpus: [0, 1, 2, 3, 4, 5, 6, 7] })) };
}

const n = (i: number) => `a-${String(i).padStart(4, '0')}`;

test('packing: partial jobs fill the partly used node first, lowest free GPU indexes', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4, prefix: 'a' }]));
  c.allocate('run', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: n(3), gpus: [0, 1, 2] }] });
  const r = run(c, [job('four', { gpusPerNode: 4 }), job('one', { gpusPerNode: 1 }), job('two', { gpusPerNode: 2 })]);
  assert.deepEqual(placementOf(r, 'four').nodes, [{ node: n(3), gpus: [3, 4, 5, 6] }]);
  assert.deepEqual(placementOf(r, 'one').nodes, [{ node: n(3), gpus: [7] }]);
  // Node 3 is full now; the next partial job opens the lowest fully free node.
  assert.deepEqual(placementOf(r, 'two').nodes, [{ node: n(1), gpus: [0, 1] }]);
});

test('packing: a partial job opening a fresh node picks a unit that is already partly used', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4, unitSize: 2, prefix: 'a' }]));
  c.allocate('full', 'p1', whole([n(3)]));
  const r = run(c, [job('two', { gpusPerNode: 2 })]);
  assert.deepEqual(placementOf(r, 'two').nodes, [{ node: n(4), gpus: [0, 1] }]);
});

test('gang: 4 nodes x 8 GPUs land in one scalable unit, the tightest that fits', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 10, unitSize: 5, prefix: 'a' }]));
  c.allocate('small', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: n(1), gpus: [0] }] });
  const r = run(c, [job('gang', { gpusPerNode: 8, nodes: 4 })]);
  const p = placementOf(r, 'gang');
  assert.deepEqual(
    p.nodes.map((x) => x.node),
    [n(2), n(3), n(4), n(5)],
  );
  for (const a of p.nodes) assert.deepEqual(a.gpus, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(c.usage('p1', 'B200'), 33);
});

test('gang: spreads over the fewest units when no unit is big enough', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 12, unitSize: 4, prefix: 'a' }]));
  // Fully free per unit: su01 = 2, su02 = 3, su03 = 1.
  c.allocate('x', 'p2', whole([n(1), n(2), n(5), n(9), n(10), n(11)]));
  const r = run(c, [job('gang', { gpusPerNode: 8, nodes: 5 })]);
  const nodes = placementOf(r, 'gang').nodes.map((x) => x.node);
  assert.deepEqual(nodes, [n(6), n(7), n(8), n(3), n(4)]);
  const units = new Set(nodes.map((id) => c.fleet.nodes[c.fleet.nodeIndex.get(id) ?? -1].unit));
  assert.equal(units.size, 2);
});

test('gang: all or nothing, and a gang that does not fit blocks no one', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4, prefix: 'a' }]));
  c.allocate('x', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: n(1), gpus: [0, 1, 2] }] });
  c.allocate('y', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: n(2), gpus: [0, 1, 2] }] });
  const r = run(c, [
    job('big', { gpusPerNode: 8, nodes: 3, priority: 500 }),
    job('partial-gang', { gpusPerNode: 6, nodes: 3, priority: 400 }),
    job('fits', { gpusPerNode: 8, nodes: 2, priority: 100 }),
  ]);
  assert.equal(c.hasAllocation('big'), false);
  assert.equal(c.hasAllocation('partial-gang'), false);
  assert.equal(r.pending.get('big')?.code, 'insufficient_capacity');
  assert.equal(
    r.pending.get('big')?.message,
    'waiting: no 3 nodes with 8 free B200 GPUs each in one site (26 B200 free fleet-wide, largest site has 2 fully free nodes)',
  );
  assert.equal(r.pending.get('partial-gang')?.code, 'insufficient_capacity');
  assert.deepEqual(
    placementOf(r, 'fits').nodes.map((x) => x.node),
    [n(3), n(4)],
  );
  assert.equal(c.allocatedGpus(), 6 + 16);
});

test('gang: partial-node gang uses best fit per node, distinct nodes, one site', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4, prefix: 'a' }]));
  c.allocate('x', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: n(2), gpus: [0, 1, 2, 3] }] });
  c.allocate('y', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: n(4), gpus: [0, 1, 2, 3, 4] }] });
  const r = run(c, [job('pg', { gpusPerNode: 3, nodes: 3 })]);
  assert.deepEqual(placementOf(r, 'pg').nodes, [
    { node: n(4), gpus: [5, 6, 7] },
    { node: n(2), gpus: [4, 5, 6] },
    { node: n(1), gpus: [0, 1, 2] },
  ]);
});

test('topology: enough nodes across sites but not in one site', () => {
  const c = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 3, prefix: 'a' },
      { site: 'b', gpuType: 'B200', count: 3, prefix: 'b' },
    ]),
  );
  c.allocate('x', 'p2', whole([n(1)]));
  c.allocate('y', 'p2', whole(['b-0001'], 'b'));
  const r = run(c, [job('g', { gpusPerNode: 8, nodes: 3 })]);
  assert.equal(r.pending.get('g')?.code, 'topology');
  assert.equal(
    r.pending.get('g')?.message,
    'waiting: 4 nodes with 8 free B200 GPUs are free across sites, but a gang must run in one site ' +
      '(largest: a with 2, job needs 3)',
  );
});

test('quota: exhausted quota gives the documented reason and lower jobs still start', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 16, prefix: 'a' }]));
  c.allocate('r1', 'robotics', whole([n(1), n(2), n(3), n(4), n(5), n(6), n(7), n(8)]));
  const q = quotas({ robotics: { B200: 64 }, vision: { B200: 16 } });
  const r = run(
    c,
    [
      job('robo', { project: 'robotics', gpusPerNode: 8, nodes: 4, priority: 1000 }),
      job('nq', { project: 'nobody', gpusPerNode: 1, priority: 900 }),
      job('v1', { project: 'vision', gpusPerNode: 8, priority: 100 }),
      job('v2', { project: 'vision', gpusPerNode: 8, priority: 100 }),
      job('v3', { project: 'vision', gpusPerNode: 1, priority: 100 }),
    ],
    q,
  );
  assert.deepEqual(r.pending.get('robo'), {
    code: 'quota_exhausted',
    message: 'waiting: quota of project robotics exhausted (64/64 B200 in use, job needs 32)',
    details: { project: 'robotics', gpuType: 'B200', inUse: 64, quota: 64, needs: 32 },
  });
  assert.equal(r.pending.get('nq')?.code, 'no_quota');
  assert.equal(r.pending.get('nq')?.message, 'waiting: project nobody has no B200 quota (job needs 1)');
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['v1', 'v2'],
  );
  // v3 would push vision to 17 > 16.
  assert.equal(r.pending.get('v3')?.code, 'quota_exhausted');
  assert.equal(c.usage('vision', 'B200'), 16);
});

test('priority order: higher priority first, then submission order; input order irrelevant', () => {
  const fleet = makeFleet([{ site: 'a', gpuType: 'B200', count: 1, prefix: 'a' }]);
  const low = job('low', { gpusPerNode: 8, priority: 50, seq: 1 });
  const high = job('high', { gpusPerNode: 8, priority: 500, seq: 2 });
  const r1 = run(new ClusterModel(fleet), [low, high]);
  assert.deepEqual(
    r1.starts.map((s) => s.jobId),
    ['high'],
  );
  const early = job('early', { gpusPerNode: 8, seq: 10 });
  const late = job('late', { gpusPerNode: 8, seq: 11 });
  const r2 = run(new ClusterModel(fleet), [late, early]);
  assert.deepEqual(
    r2.starts.map((s) => s.jobId),
    ['early'],
  );
  const order = run(new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 3, prefix: 'a' }])), [
    job('c', { gpusPerNode: 8, priority: 100, seq: 3 }),
    job('a', { gpusPerNode: 8, priority: 100, seq: 1 }),
    job('b', { gpusPerNode: 8, priority: 1000, seq: 2 }),
  ]);
  assert.deepEqual(
    order.starts.map((s) => s.jobId),
    ['b', 'a', 'c'],
  );
});

test('determinism: the same state and queue give identical decisions and state', () => {
  const fleet = makeFleet([
    { site: 'a', gpuType: 'B200', count: 12, prefix: 'a' },
    { site: 'b', gpuType: 'RTX', count: 6, gpus: 4, prefix: 'b' },
  ]);
  const queue: SchedJob[] = [];
  for (let i = 0; i < 60; i++) {
    queue.push(
      job(`j${i}`, {
        seq: i,
        project: `p${(i % 3) + 1}`,
        gpuType: i % 5 === 0 ? null : i % 2 ? 'B200' : 'RTX',
        gpusPerNode: [1, 2, 4, 8][i % 4],
        nodes: i % 7 === 0 ? 2 : 1,
        priority: [0, 100, 500][i % 3],
      }),
    );
  }
  const build = () => {
    const c = new ClusterModel(fleet);
    c.allocate('pre', 'p1', whole([n(2)]));
    return c;
  };
  const c1 = build();
  const c2 = build();
  const r1 = run(c1, queue);
  const r2 = run(c2, [...queue].reverse());
  assert.deepEqual(r1, r2);
  assert.ok(r1.starts.length > 5);
  for (const node of fleet.nodes) assert.deepEqual(c1.nodeView(node.id), c2.nodeView(node.id));
});

test('release frees capacity for the next cycle', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 2, prefix: 'a' }]));
  const r1 = run(c, [job('g1', { gpusPerNode: 8, nodes: 2 }), job('g2', { gpusPerNode: 8, nodes: 2 })]);
  assert.deepEqual(
    r1.starts.map((s) => s.jobId),
    ['g1'],
  );
  assert.equal(r1.pending.get('g2')?.code, 'insufficient_capacity');
  c.release('g1');
  const r2 = run(c, [job('g2', { gpusPerNode: 8, nodes: 2 })]);
  assert.deepEqual(
    r2.starts.map((s) => s.jobId),
    ['g2'],
  );
});

test('draining and down nodes receive no new work', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 3, prefix: 'a' }]));
  c.setNodeState(n(1), 'draining');
  c.setNodeState(n(2), 'down');
  const r = run(c, [job('one', { gpusPerNode: 1 }), job('g', { gpusPerNode: 8, nodes: 2 }), job('x', { gpusPerNode: 8 })]);
  assert.deepEqual(placementOf(r, 'one').nodes, [{ node: n(3), gpus: [0] }]);
  assert.equal(r.pending.get('g')?.code, 'insufficient_capacity');
  assert.equal(r.pending.get('x')?.code, 'insufficient_capacity');
  assert.equal(c.nodeView(n(1)).jobs.length + c.nodeView(n(2)).jobs.length, 0);
  c.setNodeState(n(2), 'up');
  const r2 = run(c, [job('x2', { gpusPerNode: 8 })]);
  assert.deepEqual(placementOf(r2, 'x2').nodes, [{ node: n(2), gpus: [0, 1, 2, 3, 4, 5, 6, 7] }]);
});

test('gpuType null tries the type with most free GPUs first, skipping types without quota', () => {
  const fleet = makeFleet([
    { site: 'a', gpuType: 'B200', count: 1, prefix: 'a' },
    { site: 'b', gpuType: 'RTX', count: 4, prefix: 'b' },
  ]);
  const r1 = run(new ClusterModel(fleet), [job('any', { gpuType: null, gpusPerNode: 2 })]);
  assert.equal(placementOf(r1, 'any').gpuType, 'RTX');
  const q = quotas({ p1: { B200: 8 } });
  const r2 = run(new ClusterModel(fleet), [job('any', { gpuType: null, gpusPerNode: 2 })], q);
  assert.equal(placementOf(r2, 'any').gpuType, 'B200');
  const r3 = run(new ClusterModel(fleet), [job('any', { gpuType: null, gpusPerNode: 2, project: 'zz' })], q);
  assert.equal(r3.pending.get('any')?.code, 'no_quota');
  // Quota room on B200 but no capacity: capacity is the closest reason.
  const c = new ClusterModel(fleet);
  c.allocate('full', 'p2', whole(['a-0001']));
  const r4 = run(c, [job('any', { gpuType: null, gpusPerNode: 2 })], q);
  assert.equal(r4.pending.get('any')?.code, 'insufficient_capacity');
});

test('equivalence classes: identical failing shapes fail fast with the same reason', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 2, prefix: 'a' }]));
  const queue = [job('fill', { gpusPerNode: 8, nodes: 2, priority: 1000 })];
  for (let i = 0; i < 100; i++) queue.push(job(`w${i}`, { gpusPerNode: 4, project: i % 2 ? 'p1' : 'p2' }));
  const r = run(c, queue);
  assert.equal(r.stats.started, 1);
  assert.equal(r.stats.considered, 101);
  // p1 and p2 each evaluate the shape once (the second via the capacity class), the rest hit.
  assert.equal(r.stats.equivalenceHits, 99);
  const reasons = new Set([...r.pending.values()].map((x) => x.message));
  assert.equal(reasons.size, 1);
});

test('unsatisfiable jobs, already placed jobs and duplicates', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 2, prefix: 'a' }]));
  c.allocate('placed', 'p1', whole([n(1)]));
  const r = run(c, [
    job('huge', { gpusPerNode: 8, nodes: 3 }),
    job('alien', { gpuType: 'H100' }),
    job('placed', { gpusPerNode: 8 }),
  ]);
  assert.equal(r.pending.get('huge')?.code, 'unsatisfiable');
  assert.equal(r.pending.get('alien')?.code, 'unsatisfiable');
  assert.equal(r.pending.get('placed')?.code, 'not_yet_scheduled');
  assert.throws(
    () => scheduleCycle(c, { queue: [job('d', { seq: 1 }), job('d', { seq: 2 })], quotas: BIG_QUOTA, now: 0 }),
    SchedulerError,
  );
  // The throw undid the first copy's start.
  assert.equal(c.hasAllocation('d'), false);
  assert.equal(c.allocatedGpus(), 8);
  c.verifyIndexes();
});
