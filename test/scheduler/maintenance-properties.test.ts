/**
 * Property: no job runs across a maintenance window. Over random small fleets, windows (node
 * subsets, past/active/future), queues with wall-clock limits, backfill on or off, preemption on
 * or off, cycles with finishing jobs: every start on a node of a window ends (now + limit) by the
 * window's start or begins at or after its end. Also: no phantom outlives a cycle, indexes stay
 * consistent, and the cycle is deterministic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ClusterModel,
  type CycleInput,
  type MaintenanceWindow,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { BIG_QUOTA, makeFleet, PropertyWorld } from './fixtures.js';

const MIN = 60_000;

const poolArb = fc.record({
  site: fc.constantFrom('a', 'b'),
  count: fc.integer({ min: 1, max: 4 }),
  gpus: fc.constantFrom(4, 8),
  unitSize: fc.integer({ min: 1, max: 3 }),
});
const windowArb = fc.record({
  pick: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
  startMin: fc.integer({ min: -60, max: 240 }),
  lengthMin: fc.integer({ min: 10, max: 180 }),
});
const jobArb = fc.record({
  gpusPerNode: fc.integer({ min: 1, max: 8 }),
  nodes: fc.integer({ min: 1, max: 3 }),
  priority: fc.constantFrom(0, 100, 500),
  maxRuntimeSeconds: fc.constantFrom(600, 3600, 4 * 3600, 24 * 3600),
});
const opArb = fc.oneof(
  fc.record({ kind: fc.constant('cycle' as const), jobs: fc.array(jobArb, { maxLength: 6 }) }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
);

let checkedStarts = 0;

test('no job runs across a maintenance window', () => {
  fc.assert(
    fc.property(
      fc.array(poolArb, { minLength: 1, maxLength: 3 }),
      fc.array(windowArb, { maxLength: 3 }),
      fc.record({ backfill: fc.boolean(), preemption: fc.boolean() }),
      fc.array(opArb, { maxLength: 12 }),
      (pools, windowValues, flags, ops) => {
        const fleet = makeFleet(pools.map((p, i) => ({ ...p, gpuType: 'B200', prefix: `x${i}` })));
        const ids = fleet.nodes.map((n) => n.id);
        const maintenance: MaintenanceWindow[] = windowValues.map((w, i) => ({
          id: `m${i}`,
          nodes: [...new Set(w.pick.map((k) => ids[k % ids.length]))],
          start: w.startMin * MIN,
          end: (w.startMin + w.lengthMin) * MIN,
        }));
        const cluster = new ClusterModel(fleet);
        const world = new PropertyWorld(cluster);
        const { running } = world;
        let queue: SchedJob[] = [];
        let seq = 0;
        let now = 0;
        for (const op of ops) {
          now += 13 * MIN;
          if (op.kind === 'release') {
            world.finishPicked(op.pick, now);
            continue;
          }
          for (const j of op.jobs) {
            seq++;
            world.submit({ id: `j${seq}`, seq, org: 'o', project: 'p1', gpuType: 'B200', submittedAt: now, ...j });
          }
          queue = world.queue();
          const input: CycleInput = {
            queue,
            quotas: BIG_QUOTA,
            now,
            running: [...running.values()],
            maintenance,
            backfill: flags.backfill ? { enabled: true, reservations: 2, gangsOnly: false } : undefined,
            preemption: flags.preemption ? { enabled: true, minRuntimeSeconds: 0 } : undefined,
          };
          const twin = new ClusterModel(fleet);
          for (const id of [...cluster.allocatedJobs()].sort())
            twin.allocate(id, cluster.projectOf(id)!, cluster.allocationOf(id)!);
          const r = scheduleCycle(cluster, input);
          const again = scheduleCycle(twin, { ...input, queue: [...queue].reverse(), running: [...running.values()].reverse() });
          assert.deepEqual(again.starts, r.starts, 'deterministic');
          cluster.verifyIndexes();
          for (const id of cluster.allocatedJobs()) assert.ok(!id.startsWith('\u0000'), 'no phantom outlives the cycle');
          const byId = new Map(queue.map((j) => [j.id, j]));
          for (const s of r.starts) {
            const job = byId.get(s.jobId)!;
            const end = now + job.maxRuntimeSeconds * 1000;
            for (const w of maintenance) {
              const hit = s.placement.nodes.some((a) => w.nodes.includes(a.node));
              if (!hit) continue;
              checkedStarts++;
              assert.ok(end <= w.start || now >= w.end, `job ${job.id} [${now}, ${end}) overlaps ${w.id} [${w.start}, ${w.end})`);
            }
          }
          world.apply(r, now);
        }
      },
    ),
    { numRuns: 150, seed: 7 },
  );
  assert.ok(checkedStarts > 20, `the property must see starts on maintenance nodes (saw ${checkedStarts})`);
});
