/**
 * GPU partition modes in the scheduler (issue 18): a GPU's MIG mode is node state that outlives its
 * jobs. A MIG instance goes to the org's partly used MIG GPUs, then an idle GPU already in MIG mode,
 * and only then re-partitions an idle whole GPU; whole-GPU and time-sliced work take whole-mode GPUs
 * first and re-partition an idle MIG-mode GPU back to whole only when nothing else fits. A GPU with
 * any allocation on it is never re-partitioned.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterModel, ClusterModelError, scheduleCycle } from '../../src/scheduler/index.js';
import { repartitionsFor } from '../../src/scheduler/partition.js';
import { job, quotas } from './fixtures.js';
import { shareFleet } from './fractional-fixtures.js';

const Q = quotas({ p1: { B200: 100 }, p2: { B200: 100 } });
const NODE = 'a-b200-0001';

function startOf(r: ReturnType<typeof scheduleCycle>, id: string) {
  const s = r.starts.find((x) => x.jobId === id);
  assert.ok(s, `${id} started`);
  return s;
}

test('a MIG instance takes an idle GPU already in MIG mode before re-partitioning a whole one', () => {
  const cluster = new ClusterModel(shareFleet({ nodes: 2, gpus: 4 }));
  cluster.setGpuPartition('a-b200-0002', 2, 'mig');
  const r = scheduleCycle(cluster, { queue: [job('m1', { share: { migProfile: '1g.23gb' } })], quotas: Q, now: 0 });
  const s = startOf(r, 'm1');
  assert.equal(s.placement.nodes[0].node, 'a-b200-0002', 'the node with the GPU already in MIG mode, not the first node');
  assert.deepEqual(s.placement.nodes[0].gpus, [2], 'the GPU already in MIG mode, not the lowest free one');
  assert.equal(s.repartitions, undefined, 'no re-partition needed');
});

test('the first MIG instance re-partitions an idle whole GPU; the mode stays after its last instance leaves', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 2 }));
  const r = scheduleCycle(cluster, { queue: [job('m1', { share: { migProfile: '3g.90gb' } })], quotas: Q, now: 0 });
  assert.deepEqual(startOf(r, 'm1').repartitions, [{ node: NODE, gpu: 0, from: 'whole', to: 'mig', reason: 'mig_repartition' }]);
  assert.deepEqual(cluster.migModeGpus(NODE), [0]);
  cluster.release('m1');
  assert.deepEqual(cluster.migModeGpus(NODE), [0], 'node state, not a side effect of the job');
  const r2 = scheduleCycle(cluster, { queue: [job('m2', { share: { migProfile: '1g.23gb' } })], quotas: Q, now: 1 });
  assert.deepEqual(startOf(r2, 'm2').placement.nodes[0].gpus, [0]);
  assert.equal(startOf(r2, 'm2').repartitions, undefined);
  cluster.verifyIndexes();
});

test('whole-GPU and time-sliced work take whole-mode GPUs first, and re-partition an idle MIG GPU back only when needed', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 2 }));
  cluster.setGpuPartition(NODE, 0, 'mig');
  const r = scheduleCycle(cluster, { queue: [job('w1')], quotas: Q, now: 0 });
  assert.deepEqual(startOf(r, 'w1').placement.nodes[0].gpus, [1], 'steered away from the MIG-mode GPU 0');
  assert.equal(startOf(r, 'w1').repartitions, undefined);
  const r2 = scheduleCycle(cluster, { queue: [job('t1', { share: { milli: 500 } })], quotas: Q, now: 1 });
  assert.deepEqual(startOf(r2, 't1').placement.nodes[0].gpus, [0], 'only the MIG-mode GPU is left');
  assert.deepEqual(startOf(r2, 't1').repartitions, [{ node: NODE, gpu: 0, from: 'mig', to: 'whole', reason: 'mig_repartition' }]);
  assert.deepEqual(cluster.migModeGpus(NODE), []);
  cluster.verifyIndexes();
});

test('a whole-GPU job spanning both GPUs re-partitions the idle MIG one back to whole', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 2 }));
  cluster.setGpuPartition(NODE, 1, 'mig');
  const r = scheduleCycle(cluster, { queue: [job('w2', { gpusPerNode: 2 })], quotas: Q, now: 0 });
  assert.deepEqual(startOf(r, 'w2').repartitions, [{ node: NODE, gpu: 1, from: 'mig', to: 'whole', reason: 'mig_repartition' }]);
});

test('never re-partitions a GPU with an allocation on it', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 1 }));
  const r = scheduleCycle(cluster, { queue: [job('m1', { share: { migProfile: '1g.23gb' } })], quotas: Q, now: 0 });
  assert.equal(startOf(r, 'm1').placement.nodes[0].gpus[0], 0);
  // A whole-GPU job, a time-sliced share and another org's MIG instance all wait: the MIG GPU is busy.
  const queue = [
    job('w1'),
    job('t1', { share: { milli: 250 } }),
    job('x1', { org: 'org2', project: 'p2', share: { migProfile: '1g.23gb' } }),
  ];
  const r2 = scheduleCycle(cluster, { queue, quotas: Q, now: 1 });
  assert.equal(r2.starts.length, 0);
  assert.deepEqual(cluster.migModeGpus(NODE), [0], 'still in MIG mode, its instance untouched');
  // And the guard itself: a placement onto the busy GPU in the other mode is refused, not re-partitioned.
  const onBusy = { site: 'a', gpuType: 'B200', nodes: [{ node: NODE, gpus: [0] }] };
  assert.throws(() => repartitionsFor(cluster, onBusy), ClusterModelError);
  // Once idle it may change mode again.
  cluster.release('m1');
  assert.deepEqual(repartitionsFor(cluster, onBusy), [
    { node: NODE, gpu: 0, from: 'mig', to: 'whole', reason: 'mig_repartition' },
  ]);
});
