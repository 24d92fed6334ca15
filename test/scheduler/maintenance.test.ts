/**
 * Node lifecycle in the scheduler: maintenance windows respected by backfill, capacity windows
 * pinned to a site and lent to preemptible work, and a down node's gang placed again elsewhere.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type CapacityWindow,
  ClusterModel,
  type CycleInput,
  type MaintenanceWindow,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { BIG_QUOTA, job, makeFleet } from './fixtures.js';

const MIN = 60_000;
const NOW = 1000 * MIN;
const node = (site: string, i: number) => `${site}-b200-8-${String(i).padStart(4, '0')}`;

/** Two sites a and b, 2 B200 nodes each (8 GPUs). */
const fleet = () =>
  makeFleet([
    { site: 'a', gpuType: 'B200', count: 2 },
    { site: 'b', gpuType: 'B200', count: 2 },
  ]);

const whole = (id: string, minutes: number, over: Partial<SchedJob> = {}) =>
  job(id, { gpusPerNode: 8, maxRuntimeSeconds: minutes * 60, ...over });

function cycle(cluster: ClusterModel, input: Partial<CycleInput> & { queue: SchedJob[] }) {
  const r = scheduleCycle(cluster, { quotas: BIG_QUOTA, now: NOW, ...input });
  cluster.verifyIndexes();
  for (const id of cluster.allocatedJobs()) assert.ok(!id.startsWith('\u0000'), 'phantoms released');
  return r;
}

const nodesOf = (r: ReturnType<typeof cycle>, id: string) =>
  r.starts.find((s) => s.jobId === id)?.placement.nodes.map((n) => n.node);

/** Org gov's window of two whole B200 nodes at site, from NOW for minutes. */
const govWindow = (site: string, minutes: number, over: Partial<CapacityWindow> = {}): CapacityWindow => ({
  id: 'w1',
  org: 'gov',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 2,
  start: NOW,
  end: NOW + minutes * MIN,
  site,
  ...over,
});

/** Site a is in maintenance from NOW + 60 min to NOW + 120 min. */
const MAINT: MaintenanceWindow = { id: 'mw1', nodes: [node('a', 1), node('a', 2)], start: NOW + 60 * MIN, end: NOW + 120 * MIN };

test('maintenance: a job whose limit reaches into the window does not start on its nodes; a short one does', () => {
  const cluster = new ClusterModel(fleet());
  const r = cycle(cluster, {
    queue: [whole('long1', 240), whole('long2', 240), whole('long3', 240), whole('short', 30)],
    maintenance: [MAINT],
  });
  // The long jobs fill site b; the third waits, naming the maintenance window; the short one uses site a.
  assert.deepEqual(nodesOf(r, 'long1'), [node('b', 1)]);
  assert.deepEqual(nodesOf(r, 'long2'), [node('b', 2)]);
  assert.equal(r.pending.get('long3')?.code, 'reserved');
  assert.match(r.pending.get('long3')?.message ?? '', /maintenance:mw1/);
  assert.deepEqual(nodesOf(r, 'short'), [node('a', 1)]);
});

test('maintenance: during the window nothing starts on its nodes; after it they are used again', () => {
  const during = new ClusterModel(fleet());
  const r = cycle(during, {
    queue: [whole('x1', 5), whole('x2', 5), whole('x3', 5)],
    now: NOW + 90 * MIN,
    maintenance: [MAINT],
  });
  assert.deepEqual(
    r.starts.map((s) => s.placement.site),
    ['b', 'b'],
  );
  assert.equal(r.pending.get('x3')?.code, 'reserved');
  const after = cycle(new ClusterModel(fleet()), {
    queue: [whole('x1', 5), whole('x2', 5), whole('x3', 5)],
    now: NOW + 120 * MIN,
    maintenance: [MAINT],
  });
  assert.equal(after.starts.length, 3);
});

test('maintenance with explain: the blocked job is told which window it waits for', () => {
  const cluster = new ClusterModel(fleet());
  cluster.allocate('B', 'p2', { site: 'b', gpuType: 'B200', nodes: [{ node: node('b', 1), gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
  cluster.allocate('C', 'p2', { site: 'b', gpuType: 'B200', nodes: [{ node: node('b', 2), gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
  const r = cycle(cluster, { queue: [whole('long', 600)], maintenance: [MAINT], explain: true });
  assert.equal(r.pending.get('long')?.code, 'reserved');
  assert.deepEqual(r.explain?.get('long')?.blockedBy, ['maintenance:mw1']);
});

test('capacity window pinned to a site is placed there', () => {
  const w = govWindow('b', 60);
  const r = cycle(new ClusterModel(fleet()), { queue: [whole('other', 30, { org: 'x' })], capacityWindows: [w] });
  assert.deepEqual(
    r.windows?.[0]?.placement.nodes.map((n) => n.node),
    [node('b', 1), node('b', 2)],
  );
  assert.equal(r.starts[0]?.placement.site, 'a');
});

test('a lending window: its idle GPUs run preemptible work, which the owner evicts when it needs them, and no other organisation', () => {
  const w = govWindow('a', 600, { lendToPreemptible: true });
  // Site b is busy with long work; only the window's GPUs are free.
  const cluster = new ClusterModel(fleet());
  const running: RunningJobInfo[] = [];
  for (const [id, i] of [
    ['B1', 1],
    ['B2', 2],
  ] as const) {
    cluster.allocate(id, 'p2', { site: 'b', gpuType: 'B200', nodes: [{ node: node('b', i), gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
    running.push({
      id,
      project: 'p2',
      org: 'x',
      priority: 100,
      gpus: 8,
      startedAt: NOW - MIN,
      borrowed: false,
      preemptible: false,
    });
  }
  const normal = whole('normal', 60, { org: 'x', project: 'p2' });
  const spot = whole('spot', 60, { org: 'x', project: 'p3', priority: 0, preemptible: true });
  const lent = cycle(cluster, { queue: [normal, spot], running, capacityWindows: [w] });
  assert.equal(lent.pending.get('normal')?.code, 'reserved', 'a normal job of another org may not use the window');
  assert.deepEqual(
    lent.starts.map((s) => s.jobId),
    ['spot'],
  );
  running.push({
    id: 'spot',
    project: 'p3',
    org: 'x',
    priority: 0,
    gpus: 8,
    startedAt: NOW - 20 * MIN,
    borrowed: false,
    preemptible: true,
    maxRuntimeSeconds: 3600,
  });
  // Another organisation's job of higher priority may not evict it: the GPUs it would free are the
  // window's, which only gov may use (a plan that counted them free evicted it in the live server).
  const other = cycle(cluster, {
    queue: [normal],
    running,
    capacityWindows: [w],
    preemption: { enabled: true, minRuntimeSeconds: 0 },
  });
  assert.deepEqual(other.preemptions, [], 'no eviction of lent work for another organisation');
  assert.equal(other.pending.get('normal')?.code, 'reserved');
  // The owner needs both nodes of its window: the lent job is evicted for it.
  const owner = whole('gov-job', 60, { org: 'gov', project: 'p1', nodes: 2 });
  const r = cycle(cluster, {
    queue: [owner],
    running,
    capacityWindows: [w],
    preemption: { enabled: true, minRuntimeSeconds: 0 },
  });
  assert.deepEqual(r.preemptions, [{ victimId: 'spot', forJobId: 'gov-job', reason: 'priority' }]);
  assert.equal(r.pending.get('gov-job')?.code, 'preempting');
});

test('node down: a gang on it is placed again on the nodes still up', () => {
  const cluster = new ClusterModel(fleet());
  cluster.setNodeState(node('a', 1), 'down');
  const r = cycle(cluster, { queue: [whole('gang', 60, { nodes: 2 })] });
  assert.deepEqual(nodesOf(r, 'gang'), [node('b', 1), node('b', 2)]);
  cluster.setNodeState(node('b', 2), 'draining');
  const r2 = cycle(cluster, { queue: [whole('gang2', 60, { nodes: 2 })] });
  assert.equal(r2.starts.length, 0, 'no site has two schedulable nodes left');
});
