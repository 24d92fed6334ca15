/**
 * Multifactor priority with hierarchical fair share: decayUsage, jobPriority's factors, and the
 * queue order scheduleCycle derives from them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ClusterModel,
  chargeUsage,
  DEFAULT_HALF_LIFE_SECONDS,
  decayUsage,
  type FairShareInput,
  jobPriority,
  priorityContext,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { BIG_QUOTA, job, makeFleet } from './fixtures.js';

const DAY = 24 * 3600;
const ONLY_FAIR_SHARE = { fairShare: 1000, age: 0, priorityClass: 0, size: 0 };

function fairShare(over: Partial<FairShareInput> = {}): FairShareInput {
  return {
    orgShares: new Map([
      ['orgA', 1],
      ['orgB', 1],
    ]),
    projectShares: new Map([
      ['p1', 1],
      ['p2', 1],
      ['p3', 1],
    ]),
    projectOrgs: new Map([
      ['p1', 'orgA'],
      ['p2', 'orgA'],
      ['p3', 'orgB'],
    ]),
    usage: new Map(),
    weights: ONLY_FAIR_SHARE,
    ...over,
  };
}

test('decayUsage halves usage every half-life; the default half-life is 7 days', () => {
  const u = new Map([
    ['p1', 1000],
    ['p2', 0],
  ]);
  assert.deepEqual(
    decayUsage(u, 7 * DAY),
    new Map([
      ['p1', 500],
      ['p2', 0],
    ]),
  );
  assert.equal(DEFAULT_HALF_LIFE_SECONDS, 7 * DAY);
  assert.equal(decayUsage(u, 2 * 3600, 3600).get('p1'), 250);
  assert.equal(decayUsage(u, 0).get('p1'), 1000);
  assert.equal(u.get('p1'), 1000, 'input untouched');
});

test('chargeUsage adds GPU-seconds weighted by GPU type', () => {
  const u = chargeUsage(
    new Map([['p1', 10]]),
    [
      { project: 'p1', gpuType: 'B200', gpus: 8, seconds: 10 },
      { project: 'p2', gpuType: 'RTX', gpus: 2, seconds: 10 },
    ],
    new Map([['B200', 2]]),
  );
  assert.deepEqual(
    u,
    new Map([
      ['p1', 10 + 160],
      ['p2', 20],
    ]),
  );
});

test('fair-share factor: 2^(-usage/share), an idle project scores 1, using exactly its share scores 0.5', () => {
  // Two orgs of equal share, one project each: each project's normalised share is 0.5.
  const fs = fairShare({
    projectOrgs: new Map([
      ['p1', 'orgA'],
      ['p3', 'orgB'],
    ]),
    usage: new Map([['p1', 100]]),
  });
  const ctx = priorityContext(fs, { now: 0, fleetGpus: 64 });
  // p1 used everything: 2^(-1/0.5) = 0.25; p3 is idle: 1.
  assert.equal(ctx.fairShareFactor.get('p1'), 0.25);
  assert.equal(ctx.fairShareFactor.get('p3'), 1);
  const half = priorityContext(
    {
      ...fs,
      usage: new Map([
        ['p1', 50],
        ['p3', 50],
      ]),
    },
    { now: 0, fleetGpus: 64 },
  );
  assert.equal(half.fairShareFactor.get('p1'), 0.5);
});

test('hierarchical: an idle project of a heavy org ranks below an idle project of an idle org', () => {
  const ctx = priorityContext(fairShare({ usage: new Map([['p1', 1000]]) }), { now: 0, fleetGpus: 64 });
  const p1 = ctx.fairShareFactor.get('p1') ?? -1;
  const p2 = ctx.fairShareFactor.get('p2') ?? -1;
  const p3 = ctx.fairShareFactor.get('p3') ?? -1;
  assert.ok(p1 < p2, `heavy project ${p1} below its idle sibling ${p2}`);
  assert.ok(p2 < p3, `idle project of heavy org ${p2} below idle project of idle org ${p3}`);
  assert.equal(p3, 1);
  assert.equal(ctx.fairShareFactor.get('unknown'), undefined);
});

test('jobPriority: age capped at max age, class and size factors, weighted total', () => {
  const fs = fairShare({
    weights: { fairShare: 1000, age: 100, priorityClass: 10, size: 1 },
    maxAgeSeconds: 1000,
    gpuTypeWeights: new Map([['B200', 2]]),
  });
  const ctx = priorityContext(fs, { now: 500_000, fleetGpus: 64 });
  const young = jobPriority(job('y', { project: 'p3', submittedAt: 250_000, priority: 500, gpusPerNode: 8, nodes: 2 }), ctx);
  assert.deepEqual(young.factors, { fairShare: 1, age: 0.25, priorityClass: 0.5, size: 0.5 });
  assert.equal(young.total, 1000 + 25 + 5 + 0.5);
  const old = jobPriority(job('o', { project: 'p3', submittedAt: 0, priority: 1000 }), ctx);
  assert.equal(old.factors.age, 0.5);
  const ancient = jobPriority(job('a', { project: 'p3', submittedAt: -10_000_000, priority: 1000 }), ctx);
  assert.equal(ancient.factors.age, 1);
  assert.equal(ancient.factors.priorityClass, 1);
});

test('ordering: the under-served project goes first; ties by submission order; priorities reported', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 1 }]));
  const queue = [
    job('heavy-1', { project: 'p1', gpusPerNode: 8 }),
    job('heavy-2', { project: 'p1', gpusPerNode: 8 }),
    job('idle-late', { project: 'p3', gpusPerNode: 8 }),
    job('idle-later', { project: 'p3', gpusPerNode: 8 }),
  ];
  const fs = fairShare({ usage: new Map([['p1', 5000]]) });
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0, fairShare: fs });
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['idle-late'],
  );
  assert.ok(r.priorities);
  assert.equal(r.priorities.size, 4);
  assert.deepEqual([...r.priorities.keys()], ['idle-late', 'idle-later', 'heavy-1', 'heavy-2']);
  assert.equal(r.priorities.get('idle-late')?.factors.fairShare, 1);

  // Without fair share the v1 order holds: priority class, then seq.
  const c2 = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 1 }]));
  const r2 = scheduleCycle(c2, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.deepEqual(
    r2.starts.map((s) => s.jobId),
    ['heavy-1'],
  );
  assert.equal(r2.priorities, undefined);
});

test('ordering with fair share is deterministic whatever the input order', () => {
  const queue = Array.from({ length: 30 }, (_, i) =>
    job(`j${i}`, { project: ['p1', 'p2', 'p3'][i % 3], gpusPerNode: 1 + (i % 4), priority: [50, 100, 500][i % 3] }),
  );
  const fs = fairShare({
    usage: new Map([
      ['p1', 30],
      ['p2', 10],
    ]),
    weights: { fairShare: 1000, age: 10, priorityClass: 500, size: 5 },
  });
  const run = (q: typeof queue) => {
    const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 3 }]));
    return scheduleCycle(c, { queue: q, quotas: BIG_QUOTA, now: 1000, fairShare: fs });
  };
  assert.deepEqual(run(queue), run([...queue].reverse()));
});
