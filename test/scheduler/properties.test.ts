/**
 * Property-based tests: random small fleets, queues and alloc/release/node-state sequences.
 * Invariants: no GPU allocated twice, gangs all-or-nothing and well-formed, quota never exceeded,
 * no new work on draining/down nodes, capacity/quota reasons are true at the end of the cycle,
 * incremental indexes equal a recomputation, and the same input always gives the same decisions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { NodeState } from '../../src/model/fleet.js';
import { ClusterModel, type CycleResult, placeJob, type SchedJob, scheduleCycle } from '../../src/scheduler/index.js';
import { makeFleet, type PoolDef, quotas } from './fixtures.js';

const TYPES = ['B200', 'RTX'] as const;
const PROJECTS = ['p1', 'p2', 'p3'] as const;

const poolArb = fc.record({
  site: fc.constantFrom('a', 'b'),
  gpuType: fc.constantFrom(...TYPES),
  count: fc.integer({ min: 1, max: 6 }),
  gpus: fc.constantFrom(2, 4, 8),
  unitSize: fc.integer({ min: 1, max: 4 }),
});

const jobArb = fc.record({
  project: fc.constantFrom(...PROJECTS),
  gpuType: fc.constantFrom<(string | null)[]>('B200', 'RTX', null),
  gpusPerNode: fc.integer({ min: 1, max: 8 }),
  nodes: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 4 })),
  priority: fc.constantFrom(0, 50, 100, 500),
});

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('cycle' as const), jobs: fc.array(jobArb, { maxLength: 12 }) }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('state' as const),
    pick: fc.nat(),
    state: fc.constantFrom<NodeState>('up', 'draining', 'down'),
  }),
);

const quotaArb = fc.record(
  Object.fromEntries(
    PROJECTS.map((p) => [p, fc.record({ B200: fc.integer({ min: 0, max: 64 }), RTX: fc.integer({ min: 0, max: 64 }) })]),
  ),
);

test('scheduler invariants hold over random fleets, queues and deltas', () => {
  fc.assert(
    fc.property(
      fc.array(poolArb, { minLength: 1, maxLength: 4 }),
      quotaArb,
      fc.array(opArb, { maxLength: 25 }),
      (pools, quotaObj, ops) => {
        const fleet = makeFleet(pools.map((p, i): PoolDef => ({ ...p, prefix: `x${i}` })));
        const q = quotas(quotaObj);
        const c1 = new ClusterModel(fleet);
        const c2 = new ClusterModel(fleet);
        const running = new Map<string, SchedJob>();
        let queue: SchedJob[] = [];
        let seq = 0;
        for (const op of ops) {
          if (op.kind === 'release') {
            const ids = [...running.keys()];
            if (ids.length === 0) continue;
            const id = ids[op.pick % ids.length];
            c1.release(id);
            c2.release(id);
            running.delete(id);
            continue;
          }
          if (op.kind === 'state') {
            const node = fleet.nodes[op.pick % fleet.nodes.length].id;
            c1.setNodeState(node, op.state);
            c2.setNodeState(node, op.state);
            continue;
          }
          for (const j of op.jobs) {
            seq++;
            queue.push({ ...j, id: `j${seq}`, seq, org: 'o', submittedAt: 0, maxRuntimeSeconds: 60 });
          }
          const r1 = scheduleCycle(c1, { queue, quotas: q, now: seq });
          const r2 = scheduleCycle(c2, { queue: [...queue].reverse(), quotas: q, now: seq });
          assert.deepEqual(r1, r2, 'same input, same decisions');
          checkCycle(c1, queue, r1, q);
          for (const s of r1.starts) {
            const j = queue.find((x) => x.id === s.jobId);
            assert.ok(j);
            running.set(s.jobId, j);
          }
          queue = queue.filter((j) => !running.has(j.id));
        }
        for (const node of fleet.nodes) assert.deepEqual(c1.nodeView(node.id), c2.nodeView(node.id));
      },
    ),
    { numRuns: 300, seed: 20260801 },
  );
});

function checkCycle(
  cluster: ClusterModel,
  queue: SchedJob[],
  result: CycleResult,
  q: ReadonlyMap<string, ReadonlyMap<string, number>>,
): void {
  cluster.verifyIndexes();
  // Exactly one outcome per queued job.
  const started = new Set(result.starts.map((s) => s.jobId));
  assert.equal(started.size, result.starts.length);
  for (const j of queue) assert.equal(started.has(j.id) !== result.pending.has(j.id), true);
  assert.equal(result.starts.length + result.pending.size, queue.length);

  // No GPU allocated twice, over every allocation in the cluster.
  const taken = new Set<string>();
  for (const id of cluster.allocatedJobs()) {
    for (const a of cluster.allocationOf(id)?.nodes ?? []) {
      for (const g of a.gpus) {
        const key = `${a.node}/${g}`;
        assert.equal(taken.has(key), false, `GPU ${key} allocated twice`);
        taken.add(key);
      }
    }
  }

  for (const j of queue) {
    const p = cluster.allocationOf(j.id);
    if (started.has(j.id)) {
      // Gang well-formed: all nodes, distinct, one site, one type, right GPU count, up nodes.
      assert.ok(p);
      assert.equal(p.nodes.length, j.nodes);
      assert.equal(new Set(p.nodes.map((a) => a.node)).size, j.nodes);
      if (j.gpuType !== null) assert.equal(p.gpuType, j.gpuType);
      for (const a of p.nodes) {
        const node = cluster.fleet.nodes[cluster.fleet.nodeIndex.get(a.node) ?? -1];
        assert.equal(node.site, p.site);
        assert.equal(node.gpuType, p.gpuType);
        assert.equal(a.gpus.length, j.gpusPerNode);
        assert.equal(cluster.nodeState(a.node), 'up');
      }
    } else {
      // All or nothing: a pending job holds nothing.
      assert.equal(p, undefined);
      const reason = result.pending.get(j.id);
      assert.ok(reason && reason.message.length > 0);
      // Reasons are still true at the end of the cycle (capacity only shrinks, usage only grows).
      if (j.gpuType !== null && (reason.code === 'insufficient_capacity' || reason.code === 'topology')) {
        const again = placeJob(cluster, { gpuType: j.gpuType, gpusPerNode: j.gpusPerNode, nodes: j.nodes });
        assert.equal(again.ok, false, `${j.id} pending for capacity but fits`);
      }
      if (j.gpuType !== null && reason.code === 'quota_exhausted') {
        const quota = q.get(j.project)?.get(j.gpuType) ?? 0;
        assert.ok(cluster.usage(j.project, j.gpuType) + j.gpusPerNode * j.nodes > quota);
      }
    }
  }

  // Quota never exceeded.
  for (const project of PROJECTS) {
    for (const t of TYPES) assert.ok(cluster.usage(project, t) <= (q.get(project)?.get(t) ?? 0), `${project}/${t}`);
  }
}
