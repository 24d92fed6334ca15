import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterModel, ClusterModelError, IndexSet } from '../../src/scheduler/index.js';
import { makeFleet } from './fixtures.js';

function smallCluster(): ClusterModel {
  return new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 4, unitSize: 2, prefix: 'a-b' },
      { site: 'b', gpuType: 'RTX', count: 2, gpus: 4, unitSize: 2, prefix: 'b-r' },
    ]),
  );
}

test('IndexSet: add, delete, ascending iteration across words', () => {
  const s = new IndexSet(3000);
  const members = [0, 31, 32, 63, 64, 1023, 1024, 1055, 2047, 2999];
  for (const m of [...members].reverse()) assert.equal(s.add(m), true);
  assert.equal(s.add(31), false);
  assert.equal(s.size, members.length);
  const seen: number[] = [];
  for (let i = s.first(); i >= 0; i = s.next(i)) seen.push(i);
  assert.deepEqual(seen, members);
  assert.equal(s.delete(1024), true);
  assert.equal(s.delete(1024), false);
  assert.equal(s.next(1023), 1055);
  for (const m of members) s.delete(m);
  assert.equal(s.first(), -1);
  assert.equal(s.size, 0);
});

test('allocate updates free GPUs, usage, node view and totals; release restores them', () => {
  const c = smallCluster();
  assert.equal(c.freeGpus(), 32 + 8);
  c.allocate('j1', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b-0001', gpus: [0, 1, 2] }] });
  c.allocate('j2', 'p2', {
    site: 'a',
    gpuType: 'B200',
    nodes: [
      { node: 'a-b-0001', gpus: [7] },
      { node: 'a-b-0003', gpus: [0, 1, 2, 3, 4, 5, 6, 7] },
    ],
  });
  assert.equal(c.usage('p1', 'B200'), 3);
  assert.equal(c.usage('p2', 'B200'), 9);
  assert.equal(c.usage('p2', 'RTX'), 0);
  assert.equal(c.freeGpus({ gpuType: 'B200' }), 32 - 12);
  assert.equal(c.allocatedGpus({ site: 'a' }), 12);
  assert.equal(c.freeGpus({ site: 'b' }), 8);
  assert.deepEqual(c.nodeView('a-b-0001'), { state: 'up', freeGpus: [3, 4, 5, 6], jobs: ['j1', 'j2'] });
  assert.deepEqual(c.allocationOf('j1')?.nodes, [{ node: 'a-b-0001', gpus: [0, 1, 2] }]);
  assert.equal(c.hasAllocation('j2'), true);
  c.verifyIndexes();
  c.release('j2');
  c.release('j2');
  assert.equal(c.hasAllocation('j2'), false);
  assert.equal(c.usage('p2', 'B200'), 0);
  assert.deepEqual(c.nodeView('a-b-0001').freeGpus, [3, 4, 5, 6, 7]);
  assert.deepEqual(c.nodeView('a-b-0003').jobs, []);
  assert.equal(c.freeGpus(), 40 - 3);
  c.verifyIndexes();
});

test('allocate rejects taken GPUs, unknown nodes and mismatches atomically', () => {
  const c = smallCluster();
  c.allocate('j1', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b-0002', gpus: [4] }] });
  const bad: [string, Parameters<ClusterModel['allocate']>[2]][] = [
    [
      'taken',
      {
        site: 'a',
        gpuType: 'B200',
        nodes: [
          { node: 'a-b-0001', gpus: [0] },
          { node: 'a-b-0002', gpus: [4] },
        ],
      },
    ],
    ['unknown node', { site: 'a', gpuType: 'B200', nodes: [{ node: 'nope', gpus: [0] }] }],
    ['out of range', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b-0001', gpus: [8] }] }],
    ['wrong type', { site: 'a', gpuType: 'RTX', nodes: [{ node: 'a-b-0001', gpus: [0] }] }],
    ['twice', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b-0001', gpus: [1, 1] }] }],
    ['empty', { site: 'a', gpuType: 'B200', nodes: [] }],
  ];
  for (const [name, placement] of bad) {
    assert.throws(() => c.allocate(`x-${name}`, 'p1', placement), ClusterModelError, name);
  }
  assert.throws(() => c.allocate('j1', 'p1', { site: 'b', gpuType: 'RTX', nodes: [{ node: 'b-r-0001', gpus: [0] }] }));
  // Nothing of the failed attempts stuck.
  assert.deepEqual(c.nodeView('a-b-0001').freeGpus, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(c.usage('p1', 'B200'), 1);
  assert.equal(c.allocatedGpus(), 1);
  c.verifyIndexes();
});

test('setNodeState removes draining/down nodes from free capacity, keeps allocations', () => {
  const c = smallCluster();
  c.allocate('j1', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b-0001', gpus: [0, 1] }] });
  c.setNodeState('a-b-0001', 'draining');
  c.setNodeState('a-b-0002', 'down');
  assert.equal(c.nodeState('a-b-0001'), 'draining');
  assert.equal(c.freeGpus({ gpuType: 'B200' }), 16);
  assert.equal(c.allocatedGpus({ gpuType: 'B200' }), 2);
  assert.equal(c.hasAllocation('j1'), true);
  const row = c.siteTotals().find((r) => r.site === 'a');
  assert.deepEqual(row, {
    site: 'a',
    gpuType: 'B200',
    nodes: 4,
    upNodes: 2,
    total: 32,
    allocated: 2,
    free: 16,
  });
  c.verifyIndexes();
  c.release('j1');
  c.setNodeState('a-b-0001', 'up');
  assert.equal(c.freeGpus({ gpuType: 'B200' }), 24);
  assert.throws(() => c.setNodeState('nope', 'up'), ClusterModelError);
  c.verifyIndexes();
});

test('placement indexes: buckets and fully-free units follow deltas', () => {
  const c = smallCluster();
  const [g] = c.groupsOfType('B200');
  assert.equal(c.nodesWithFree(g.id, 8), 4);
  assert.equal(c.unitFullyFreeNodes(g.units[0]), 2);
  c.allocate('j1', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b-0002', gpus: [0, 1, 2] }] });
  assert.equal(c.nodesWithFree(g.id, 8), 3);
  assert.equal(c.nodesWithFree(g.id, 5), 1);
  assert.equal(c.nextNodeWithFree(g.id, 5, -1), 1);
  assert.equal(c.unitFullyFreeNodes(g.units[0]), 1);
  assert.equal(c.nextFullyFreeNode(g.units[0], -1), 0);
  c.setNodeState('a-b-0001', 'down');
  assert.equal(c.unitFullyFreeNodes(g.units[0]), 0);
  assert.equal(c.nextFullyFreeNode(g.units[0], -1), -1);
  c.verifyIndexes();
});
