/** FleetHistory's ring buffer: fixed capacity, oldest overwritten, `since` filtering. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControlPlane } from '../../src/server/control-plane.js';
import { FleetHistory } from '../../src/server/fleet-history.js';

/** A stand-in with just what the sampler reads. */
function fakeControlPlane(state: { allocated: number; queued: number }): ControlPlane {
  const fake = {
    cluster: {
      siteTotals: () => [{ site: 's1', gpuType: 'B200', nodes: 1, upNodes: 1, total: 8, allocated: state.allocated, free: 0 }],
    },
    queueLength: () => state.queued,
    runningCount: () => 1,
  };
  return fake as unknown as ControlPlane;
}

test('keeps the newest `capacity` samples, oldest first, and filters by time', () => {
  const state = { allocated: 0, queued: 0 };
  let now = 1000;
  const h = new FleetHistory(fakeControlPlane(state), { capacity: 3, now: () => now });
  assert.deepEqual(h.series, [{ site: 's1', gpuType: 'B200', total: 8 }]);
  for (let i = 1; i <= 5; i++) {
    state.allocated = i;
    state.queued = 10 * i;
    now = 1000 * i;
    h.sample();
  }
  const all = h.samples();
  assert.deepEqual(
    all.map((s) => s.allocated[0]),
    [3, 4, 5],
  );
  assert.deepEqual(
    all.map((s) => s.queued),
    [30, 40, 50],
  );
  assert.deepEqual(
    h.samples(4000).map((s) => s.at),
    [5000],
  );
  assert.equal(h.read().allocated[0], 5);
});
