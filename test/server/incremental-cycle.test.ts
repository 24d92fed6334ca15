/**
 * The live server's scheduler (src/server/cycle/incremental-cycle.ts) follows each cycle's snapshot:
 * new job objects are submitted, replaced ones updated, vanished ones removed, a start the store
 * refused comes back; every cycle's decisions equal scheduleCycle's on the same snapshot (a copy
 * of the cluster), over a seeded random history of arrivals, cancels, replacements and refusals.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../src/model/prng.js';
import { ClusterModel, type CycleInput, type SchedJob, scheduleCycle } from '../../src/scheduler/index.js';
import { IncrementalCycle } from '../../src/server/cycle/incremental-cycle.js';
import { BIG_QUOTA, job, makeFleet } from '../scheduler/fixtures.js';

test('the server scheduler tracks the snapshot and decides as scheduleCycle, over a random history', () => {
  const fleet = makeFleet([{ site: 's1', gpuType: 'B200', count: 6 }]);
  const live = new ClusterModel(fleet);
  const ref = new ClusterModel(fleet);
  const sched = new IncrementalCycle();
  const rng = mulberry32(7);
  let queue: SchedJob[] = [];
  let running: string[] = [];
  let n = 0;
  let compared = 0;
  let refused = 0;
  for (let cycle = 0; cycle < 60; cycle++) {
    const now = 1_000_000 + cycle * 1000;
    // Arrivals, a cancel, a replaced object (the residency gate constraining it anew), an end.
    for (let k = Math.floor(rng() * 4); k > 0; k--) {
      const gpus = [1, 2, 4, 8][Math.floor(rng() * 4)]!;
      queue.push(job(`j${n++}`, { project: rng() < 0.5 ? 'p1' : 'p2', gpusPerNode: gpus, submittedAt: now }));
    }
    if (queue.length > 0 && rng() < 0.3) queue.splice(Math.floor(rng() * queue.length), 1);
    if (queue.length > 0 && rng() < 0.3) {
      const i = Math.floor(rng() * queue.length);
      queue[i] = { ...queue[i]!, gpusPerNode: queue[i]!.gpusPerNode === 8 ? 1 : 8, priority: 300 };
    }
    if (running.length > 0 && rng() < 0.5) {
      const id = running.splice(Math.floor(rng() * running.length), 1)[0]!;
      live.release(id);
      ref.release(id);
    }
    const input = (): CycleInput => ({ queue: [...queue], quotas: BIG_QUOTA, now, running: [] });
    const want = scheduleCycle(ref, input());
    const got = sched.run(live, input());
    assert.deepEqual(
      got.starts.map((s) => [s.jobId, s.placement]),
      want.starts.map((s) => [s.jobId, s.placement]),
      `cycle ${cycle}: the same starts`,
    );
    for (const j of queue) assert.deepEqual(got.pending.get(j.id), want.pending.get(j.id), `cycle ${cycle}: reason of ${j.id}`);
    compared++;
    // The store commits the starts, except (sometimes) one it refuses: that job stays queued.
    const started = new Set(got.starts.map((s) => s.jobId));
    const refuse = got.starts.length > 0 && rng() < 0.25 ? got.starts[0]!.jobId : null;
    if (refuse) {
      live.release(refuse);
      ref.release(refuse);
      started.delete(refuse);
      refused++;
    }
    queue = queue.filter((j) => !started.has(j.id));
    running = [...running, ...started];
  }
  assert.equal(compared, 60);
  assert.ok(refused > 0, 'the history refused some starts');
});
