/**
 * EASY backfill with reservations, and the explain map (position, expected start, blockers,
 * counterfactuals).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type BackfillInput,
  ClusterModel,
  type CycleResult,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { BIG_QUOTA, job, makeFleet, quotas } from './fixtures.js';

const MIN = 60_000;
const NOW = 1000 * MIN;
const ALL = [0, 1, 2, 3, 4, 5, 6, 7];
const node = (i: number) => `a-b200-8-${String(i).padStart(4, '0')}`;

/** world: 4 B200 nodes; A holds node 1 until NOW+60min, B holds node 2 until NOW+120min. */
function world(): { cluster: ClusterModel; running: RunningJobInfo[] } {
  const cluster = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4 }]));
  const running: RunningJobInfo[] = [];
  const hold = (id: string, i: number, endMin: number) => {
    cluster.allocate(id, 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: node(i), gpus: ALL }] });
    running.push({
      id,
      project: 'p2',
      org: 'o',
      priority: 100,
      gpus: 8,
      startedAt: NOW - 10 * MIN,
      borrowed: false,
      preemptible: true,
      maxRuntimeSeconds: (endMin + 10) * 60,
    });
  };
  hold('A', 1, 60);
  hold('B', 2, 120);
  return { cluster, running };
}

function cycle(
  w: { cluster: ClusterModel; running: RunningJobInfo[] },
  queue: SchedJob[],
  backfill: BackfillInput | undefined = { enabled: true },
): CycleResult {
  const r = scheduleCycle(w.cluster, { queue, quotas: BIG_QUOTA, now: NOW, running: w.running, backfill, explain: true });
  w.cluster.verifyIndexes();
  for (const id of w.cluster.allocatedJobs()) assert.ok(!id.startsWith('\u0000'), 'phantoms released');
  return r;
}

const gang = () => job('G', { gpusPerNode: 8, nodes: 3, priority: 500 });
const short = () => job('S', { gpusPerNode: 8, maxRuntimeSeconds: 30 * 60 });
const long = () => job('L', { gpusPerNode: 8, maxRuntimeSeconds: 180 * 60 });

test('a blocked gang reserves the GPUs freed by the earliest ends; only jobs that end before may use them', () => {
  const w = world();
  const r = cycle(w, [gang(), short(), long()]);
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['S'],
  );
  assert.equal(r.reservations?.length, 1);
  const res = r.reservations?.[0];
  assert.equal(res?.jobId, 'G');
  assert.equal(res?.start, NOW + 60 * MIN);
  assert.deepEqual(res?.blockedBy, ['A']);
  assert.deepEqual(res?.placement.nodes.map((a) => a.node).sort(), [node(1), node(3), node(4)]);
  const why = r.pending.get('L');
  assert.equal(why?.code, 'reserved');
  assert.match(why?.message ?? '', /reserved for G/);
  // The expected start reads as a date, not as epoch milliseconds.
  assert.ok(why?.message.includes(`expected to start at ${new Date(NOW + 60 * MIN).toISOString().replace('.000Z', 'Z')}`));
  assert.doesNotMatch(why?.message ?? '', /epoch/);
  assert.deepEqual(r.explain?.get('G'), { position: 1, expectedStart: NOW + 60 * MIN, blockedBy: ['A'] });
  assert.deepEqual(r.explain?.get('S'), { position: 2, expectedStart: NOW });
  assert.equal(r.explain?.get('L')?.position, 3);
  assert.deepEqual(r.explain?.get('L')?.blockedBy, ['G']);
});

test('without backfill the long job starts and the gang keeps waiting (v1 behaviour)', () => {
  const w = world();
  const r = cycle(w, [gang(), short(), long()], { enabled: false });
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['S', 'L'],
  );
  assert.equal(r.reservations, undefined);
});

test('jobs that do not touch reserved GPUs start whatever their length', () => {
  const cluster = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 4 },
      { site: 'b', gpuType: 'RTX', count: 1 },
    ]),
  );
  const w = world();
  const w2 = { cluster, running: [] as RunningJobInfo[] };
  for (const r of w.running) {
    const p = w.cluster.allocationOf(r.id);
    assert.ok(p);
    cluster.allocate(r.id, r.project, p);
    w2.running.push(r);
  }
  const r = cycle(w2, [gang(), job('rtx', { gpuType: 'RTX', gpusPerNode: 8, maxRuntimeSeconds: 99_999 })]);
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['rtx'],
  );
});

test('single-node jobs get no reservation unless gangsOnly is false; unknown ends never free GPUs', () => {
  const w = world();
  w.cluster.allocate('C', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: node(3), gpus: ALL }] });
  w.cluster.allocate('D', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: node(4), gpus: ALL }] });
  const one = job('one', { gpusPerNode: 8 });
  assert.deepEqual(cycle(w, [one]).reservations, []);
  const r = cycle(w, [one], { enabled: true, gangsOnly: false });
  assert.equal(r.reservations?.[0]?.start, NOW + 60 * MIN);
  assert.deepEqual(r.explain?.get('one')?.expectedStart, NOW + 60 * MIN);
  // C and D have no RunningJobInfo: their ends are unknown, so a 4-node gang can never be planned.
  const r2 = cycle(w, [job('four', { gpusPerNode: 8, nodes: 4 })]);
  assert.deepEqual(r2.reservations, []);
  assert.equal(r2.explain?.get('four')?.expectedStart, undefined);
});

test('counterfactuals: fewer nodes, another GPU type', () => {
  const cluster = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 4 },
      { site: 'a', gpuType: 'RTX-PRO-6000', count: 4 },
    ]),
  );
  cluster.allocate('x', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: node(1), gpus: ALL }] });
  cluster.allocate('y', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: node(2), gpus: [0] }] });
  const q = quotas({ p1: { B200: 64, 'RTX-PRO-6000': 64 } });
  const r = scheduleCycle(cluster, {
    queue: [job('g', { gpusPerNode: 8, nodes: 4 })],
    quotas: q,
    now: NOW,
    explain: true,
  });
  assert.deepEqual(r.explain?.get('g'), {
    position: 1,
    counterfactual: ['would start now with 2 nodes instead of 4', 'would start now on RTX-PRO-6000'],
  });
  // No quota for the other type: no such counterfactual.
  const r2 = scheduleCycle(cluster, {
    queue: [job('g', { gpusPerNode: 8, nodes: 4 })],
    quotas: quotas({ p1: { B200: 64 } }),
    now: NOW,
    explain: true,
  });
  assert.deepEqual(r2.explain?.get('g')?.counterfactual, ['would start now with 2 nodes instead of 4']);
});
