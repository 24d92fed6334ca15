/**
 * Advance reservations (capacity windows): GPUs held for an org from a start time; before it, only
 * jobs that end in time (or the org's own) use them; during it, only the org's jobs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type CapacityWindow,
  ClusterModel,
  type CycleResult,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { BIG_QUOTA, job, makeFleet } from './fixtures.js';

const MIN = 60_000;
const NOW = 1000 * MIN;
const ALL = [0, 1, 2, 3, 4, 5, 6, 7];
const node = (i: number) => `a-b200-8-${String(i).padStart(4, '0')}`;

/** 4 B200 nodes; A (org other) holds node 1 until NOW + 30 min. */
function world(): { cluster: ClusterModel; running: RunningJobInfo[] } {
  const cluster = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4 }]));
  cluster.allocate('A', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: node(1), gpus: ALL }] });
  const running: RunningJobInfo[] = [
    {
      id: 'A',
      project: 'p2',
      org: 'other',
      priority: 100,
      gpus: 8,
      startedAt: NOW - 30 * MIN,
      borrowed: false,
      preemptible: true,
      maxRuntimeSeconds: 3600,
    },
  ];
  return { cluster, running };
}

const WINDOW: CapacityWindow = {
  id: 'w1',
  org: 'research',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 2,
  start: NOW + 60 * MIN,
  end: NOW + 180 * MIN,
};

function cycle(queue: SchedJob[], now = NOW, windows: CapacityWindow[] = [WINDOW]): CycleResult {
  const w = world();
  const r = scheduleCycle(w.cluster, { queue, quotas: BIG_QUOTA, now, running: w.running, capacityWindows: windows });
  w.cluster.verifyIndexes();
  for (const id of w.cluster.allocatedJobs()) assert.ok(!id.startsWith('\u0000'), 'phantoms released');
  return r;
}

const other = (id: string, minutes: number) => job(id, { org: 'other', gpusPerNode: 8, maxRuntimeSeconds: minutes * 60 });
const mine = (id: string, minutes: number) => job(id, { org: 'research', gpusPerNode: 8, maxRuntimeSeconds: minutes * 60 });

test('before the window: long jobs of other orgs avoid its GPUs; short ones and the org use them', () => {
  const r = cycle([other('long1', 240), other('long2', 240), other('long3', 240)]);
  assert.deepEqual(
    r.windows?.map((w) => [w.jobId, w.start, w.placement.nodes.map((a) => a.node)]),
    [['w1', NOW + 60 * MIN, [node(1), node(2)]]],
  );
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['long1', 'long2'],
  );
  assert.equal(r.pending.get('long3')?.code, 'reserved');
  assert.match(r.pending.get('long3')?.message ?? '', /w1/);
  const r2 = cycle([other('long1', 240), other('long2', 240), other('short', 30)]);
  assert.deepEqual(
    r2.starts.map((s) => s.jobId),
    ['long1', 'long2', 'short'],
  );
  const r3 = cycle([other('long1', 240), other('long2', 240), mine('org-long', 600)]);
  assert.deepEqual(
    r3.starts.map((s) => s.jobId),
    ['long1', 'long2', 'org-long'],
  );
});

test('during the window only the org uses its GPUs; ended windows are ignored; unplaceable windows are absent', () => {
  const during = NOW + 90 * MIN;
  const r = cycle([other('x1', 5), other('x2', 5), other('x3', 5)], during);
  // A is past its limit, so the plan counts it gone: the window is nodes 1-2; node 2 is held.
  assert.deepEqual(
    r.windows?.[0]?.placement.nodes.map((a) => a.node),
    [node(1), node(2)],
  );
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['x1', 'x2'],
  );
  assert.equal(r.pending.get('x3')?.code, 'reserved');
  const r2 = cycle([mine('m1', 5), mine('m2', 5), mine('m3', 5)], during);
  assert.equal(r2.starts.length, 3);
  const after = cycle([other('x1', 5), other('x2', 5), other('x3', 5)], NOW + 200 * MIN);
  assert.deepEqual(after.windows, []);
  assert.equal(after.starts.length, 3);
  const huge = cycle([], NOW, [{ ...WINDOW, nodes: 9 }]);
  assert.deepEqual(huge.windows, []);
});
