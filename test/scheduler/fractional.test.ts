/**
 * Fractional GPUs in the live scheduler: time-sliced shares and MIG instances go through
 * scheduleCycle, pack onto their organisation's GPUs, never share a GPU across organisations, count
 * milli / 1000 GPU-equivalents against quotas, preempt and are preempted, and explain themselves.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterModel, ClusterModelError, type RunningJobInfo, scheduleCycle } from '../../src/scheduler/index.js';
import { job, quotas } from './fixtures.js';
import { shareFleet } from './fractional-fixtures.js';

const Q = quotas({ p1: { B200: 100 }, p2: { B200: 100 } });

function gpuOf(r: ReturnType<typeof scheduleCycle>, id: string): string {
  const s = r.starts.find((x) => x.jobId === id);
  assert.ok(s, `${id} started`);
  return `${s.placement.nodes[0].node}/${s.placement.nodes[0].gpus[0]}`;
}

test('time-sliced shares of one org pack onto one GPU; another org gets its own GPU', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 4 }));
  const queue = [
    ...[1, 2, 3, 4].map((k) => job(`a${k}`, { share: { milli: 250 } })),
    job('b1', { org: 'org2', project: 'p2', share: { milli: 250 } }),
    job('a5', { share: { milli: 250 } }),
  ];
  const r = scheduleCycle(cluster, { queue, quotas: Q, now: 0 });
  assert.equal(r.starts.length, 6);
  const a = new Set(['a1', 'a2', 'a3', 'a4'].map((id) => gpuOf(r, id)));
  assert.equal(a.size, 1, 'four quarters of org1 on one GPU');
  assert.notEqual(gpuOf(r, 'b1'), gpuOf(r, 'a1'));
  assert.notEqual(gpuOf(r, 'a5'), gpuOf(r, 'a1'), 'a fifth quarter cannot go over 1000 milli');
  assert.notEqual(gpuOf(r, 'a5'), gpuOf(r, 'b1'), 'nor onto the other org');
  assert.equal(r.starts.find((s) => s.jobId === 'a1')?.placement.nodes[0].milli, 250);
  assert.equal(cluster.usage('p1', 'B200'), 1.25);
  assert.equal(cluster.freeGpus(), 1, 'three GPUs hold shares');
  cluster.verifyIndexes();
  for (const id of ['a1', 'a2', 'a3', 'a4']) cluster.release(id);
  assert.equal(cluster.freeGpus(), 2, 'the GPU is whole again once its last share leaves');
  cluster.verifyIndexes();
});

test('no GPU for another org: the reason says so; a whole-GPU job never lands on a shared GPU', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 1 }));
  cluster.allocate('held', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b200-0001', gpus: [0], milli: 250 }] }, 'org1');
  const r = scheduleCycle(cluster, {
    queue: [job('b1', { org: 'org2', project: 'p2', share: { milli: 250 } }), job('w', { project: 'p2', org: 'org2' })],
    quotas: Q,
    now: 0,
  });
  assert.equal(r.starts.length, 0);
  const reason = r.pending.get('b1');
  assert.equal(reason?.code, 'insufficient_capacity');
  assert.match(reason?.message ?? '', /no B200 GPU with 250 milli-GPU free of your organisation org2/);
  assert.equal(r.pending.get('w')?.code, 'insufficient_capacity');
  assert.throws(
    () =>
      cluster.allocate(
        'x',
        'p2',
        { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b200-0001', gpus: [0], milli: 100 }] },
        'org2',
      ),
    ClusterModelError,
  );
});

test('quotas count GPU-equivalents: four quarters fill a quota of 1, the fifth waits', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 4 }));
  const queue = [1, 2, 3, 4, 5].map((k) => job(`a${k}`, { share: { milli: 250 } }));
  const r = scheduleCycle(cluster, { queue, quotas: quotas({ p1: { B200: 1 } }), now: 0 });
  assert.equal(r.starts.length, 4);
  const reason = r.pending.get('a5');
  assert.equal(reason?.code, 'quota_exhausted');
  assert.match(reason?.message ?? '', /1\/1 B200 in use, job needs 0\.25/);
});

test('MIG instances fit the layout (7 compute, 8 memory slices); the first one re-partitions an idle GPU', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 2 }));
  const queue = [
    job('m1', { share: { migProfile: '3g.90gb' } }),
    job('m2', { share: { migProfile: '3g.90gb' } }),
    job('m3', { share: { migProfile: '1g.23gb' } }),
  ];
  const r = scheduleCycle(cluster, { queue, quotas: Q, now: 0 });
  assert.equal(r.starts.length, 3);
  assert.equal(gpuOf(r, 'm1'), gpuOf(r, 'm2'));
  // 3 + 3 + 1 compute slices fit, but 4 + 4 + 1 memory slices do not: the 1g goes to the other GPU.
  assert.notEqual(gpuOf(r, 'm3'), gpuOf(r, 'm1'));
  const m1 = r.starts.find((s) => s.jobId === 'm1');
  assert.deepEqual(m1?.repartitions, [{ node: 'a-b200-0001', gpu: 0, from: 'whole', to: 'mig', reason: 'mig_repartition' }]);
  assert.equal(r.starts.find((s) => s.jobId === 'm2')?.repartitions, undefined, 'already in MIG mode');
  assert.equal(m1?.placement.nodes[0].milli, 429, '3 of 7 compute slices');
  const view = cluster.gpuShare('a-b200-0001', 0);
  assert.equal(view.mode, 'mig');
  assert.deepEqual(view.migInstances, { '3g.90gb': 2 });
  assert.equal(view.migMemorySlices, 8);
  cluster.verifyIndexes();
});

test('a MIG instance never joins a time-sliced GPU, and a profile the type lacks cannot run', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 1 }));
  const r = scheduleCycle(cluster, {
    queue: [
      job('t', { share: { milli: 100 } }),
      job('m', { share: { migProfile: '1g.23gb' } }),
      job('x', { share: { migProfile: '1g.24gb' } }),
    ],
    quotas: Q,
    now: 0,
  });
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['t'],
  );
  assert.equal(r.pending.get('m')?.code, 'insufficient_capacity');
  assert.equal(r.pending.get('x')?.code, 'unsatisfiable');
  assert.match(r.pending.get('x')?.message ?? '', /B200 has no MIG profile 1g\.24gb/);
});

test('a site that does not allow sharing is never used for shares', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 1, closedSite: true }));
  const r = scheduleCycle(cluster, {
    queue: [job('s', { share: { milli: 500 }, requiredSites: ['b'] }), job('t', { share: { milli: 500 } })],
    quotas: Q,
    now: 0,
  });
  assert.equal(r.pending.get('s')?.code, 'constraints');
  assert.match(r.pending.get('s')?.message ?? '', /b does not allow GPU sharing/);
  assert.equal(r.starts.find((x) => x.jobId === 't')?.placement.site, 'a');
});

test('preemption: a higher share evicts a lower share of another org; a share is a victim like any job', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 1 }));
  cluster.allocate('low', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b200-0001', gpus: [0], milli: 500 }] }, 'org1');
  const running: RunningJobInfo[] = [
    { id: 'low', project: 'p1', org: 'org1', priority: 0, gpus: 1, startedAt: 0, borrowed: false, preemptible: true },
  ];
  const r = scheduleCycle(cluster, {
    queue: [job('high', { org: 'org2', project: 'p2', priority: 500, share: { milli: 250 } })],
    quotas: Q,
    now: 3_600_000,
    running,
    preemption: { enabled: true },
  });
  assert.deepEqual(r.preemptions, [{ victimId: 'low', forJobId: 'high', reason: 'priority' }]);
  assert.equal(r.pending.get('high')?.code, 'preempting');
  assert.ok(cluster.hasAllocation('low'), 'the cluster is restored after planning');
  cluster.verifyIndexes();
});

test('fractional jobs of one class are decided once when they fail (equivalence classes)', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 1 }));
  cluster.allocate('held', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b200-0001', gpus: [0] }] });
  const queue = [1, 2, 3].map((k) => job(`s${k}`, { share: { milli: 300 } }));
  const r = scheduleCycle(cluster, { queue, quotas: Q, now: 0 });
  assert.equal(r.stats.equivalenceHits, 2);
  assert.equal(r.pending.size, 3);
});

test('backfill: a share does not join its org GPU when a reservation counts on that GPU coming free', () => {
  const cluster = new ClusterModel(shareFleet({ gpus: 2 }));
  const node = 'a-b200-0001';
  cluster.allocate('A', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node, gpus: [0], milli: 250 }] }, 'org1');
  cluster.allocate('W', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node, gpus: [1] }] }, 'org2');
  const running: RunningJobInfo[] = [
    {
      id: 'A',
      project: 'p1',
      org: 'org1',
      priority: 100,
      gpus: 0.25,
      startedAt: 0,
      borrowed: false,
      preemptible: false,
      maxRuntimeSeconds: 3600,
    },
    {
      id: 'W',
      project: 'p2',
      org: 'org2',
      priority: 100,
      gpus: 1,
      startedAt: 0,
      borrowed: false,
      preemptible: false,
      maxRuntimeSeconds: 7200,
    },
  ];
  const queue = [
    job('R', { project: 'p2', org: 'org2', gpusPerNode: 2, priority: 500 }),
    job('S', { share: { milli: 250 }, maxRuntimeSeconds: 3 * 3600 }),
  ];
  const input = { queue, quotas: Q, now: 0, running };
  const without = scheduleCycle(cluster, input);
  assert.equal(without.starts.find((s) => s.jobId === 'S')?.placement.nodes[0].gpus[0], 0, 'no reservation: S joins GPU 0');
  cluster.release('S');
  const r = scheduleCycle(cluster, { ...input, backfill: { enabled: true, gangsOnly: false } });
  assert.equal(r.reservations?.[0]?.jobId, 'R');
  assert.equal(r.starts.length, 0, 'S would outlast the reservation on GPU 0');
  assert.equal(r.pending.get('S')?.code, 'insufficient_capacity');
  cluster.verifyIndexes();
});
