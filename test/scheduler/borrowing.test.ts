/**
 * Quotas with cohort borrowing (Kueue semantics): idle guaranteed quota of other projects can be
 * borrowed, capped by borrowing and lending limits; borrowed starts are marked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BorrowingInput, ClusterModel, type CycleResult, type SchedJob, scheduleCycle } from '../../src/scheduler/index.js';
import { job, makeFleet, quotas } from './fixtures.js';

const Q = quotas({ p1: { B200: 8 }, p2: { B200: 16 }, p3: { B200: 8 } });

function cycle(queue: SchedJob[], borrowing?: BorrowingInput, cluster?: ClusterModel): CycleResult {
  const c = cluster ?? new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 8 }]));
  const r = scheduleCycle(c, { queue, quotas: Q, now: 0, borrowing });
  c.verifyIndexes();
  return r;
}

const limits = (t: Record<string, number>) => new Map(Object.entries(t).map(([p, n]) => [p, new Map([['B200', n]])]));

test('borrowing off: quota is a hard limit, as in v1', () => {
  const r = cycle([job('big', { project: 'p1', gpusPerNode: 8, nodes: 2 })], { enabled: false });
  assert.equal(r.pending.get('big')?.code, 'quota_exhausted');
  const r2 = cycle([job('big', { project: 'p1', gpusPerNode: 8, nodes: 2 })]);
  assert.equal(r2.pending.get('big')?.code, 'quota_exhausted');
});

test('borrowing on: a project exceeds its quota from idle quota of others; the start is marked borrowed', () => {
  const r = cycle(
    [job('within', { project: 'p1', gpusPerNode: 8 }), job('beyond', { project: 'p1', gpusPerNode: 8, nodes: 2 })],
    { enabled: true },
  );
  assert.deepEqual(
    r.starts.map((s) => [s.jobId, s.borrowed]),
    [
      ['within', undefined],
      ['beyond', true],
    ],
  );
});

test('borrowing: the cohort lends only what it has idle (pool = sum of quotas), across the cycle', () => {
  // Cohort pool is 8 + 16 + 8 = 32; p1 keeps asking for 8 GPUs at a time.
  const queue = Array.from({ length: 6 }, (_, i) => job(`j${i}`, { project: 'p1', gpusPerNode: 8 }));
  const r = cycle(queue, { enabled: true });
  assert.equal(r.starts.length, 4);
  const reason = r.pending.get('j4');
  assert.equal(reason?.code, 'quota_exhausted');
  assert.match(reason?.message ?? '', /the cohort has 0 B200 of idle quota to lend/);
});

test('borrowing: capacity used by the owner within its quota is not lendable', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 8 }]));
  c.allocate('owner', 'p2', {
    site: 'a',
    gpuType: 'B200',
    nodes: [{ node: 'a-b200-8-0001', gpus: [0, 1, 2, 3, 4, 5, 6, 7] }],
  });
  // Pool 32, owner uses 8 of its own: 24 left, p1 borrows beyond its 8 up to 24 more.
  const queue = Array.from({ length: 5 }, (_, i) => job(`j${i}`, { project: 'p1', gpusPerNode: 8 }));
  const r = cycle(queue, { enabled: true }, c);
  assert.equal(r.starts.length, 3);
});

test('borrowing limit caps how far beyond its quota a project goes', () => {
  const r = cycle([job('big', { project: 'p1', gpusPerNode: 8, nodes: 2 })], {
    enabled: true,
    borrowingLimit: limits({ p1: 4 }),
  });
  const reason = r.pending.get('big');
  assert.equal(reason?.code, 'quota_exhausted');
  assert.equal(reason?.details?.borrowingLimit, 4);
  const ok = cycle([job('big', { project: 'p1', gpusPerNode: 4, nodes: 3 })], {
    enabled: true,
    borrowingLimit: limits({ p1: 4 }),
  });
  assert.equal(ok.starts[0]?.borrowed, true);
});

test('lending limit caps what an owner lends; a project without quota may borrow', () => {
  const borrowing = { enabled: true, lendingLimit: limits({ p1: 0, p2: 4, p3: 0 }) };
  const r = cycle(
    [
      job('nq', { project: 'nobody', gpusPerNode: 4 }),
      job('more', { project: 'nobody', gpusPerNode: 1 }),
      job('own', { project: 'p2', gpusPerNode: 8, nodes: 2 }),
    ],
    borrowing,
  );
  assert.equal(r.starts.find((s) => s.jobId === 'nq')?.borrowed, true);
  assert.equal(r.pending.get('more')?.code, 'quota_exhausted');
  // p2 still gets its full guaranteed 16 (the 4 it lent are reclaimable by preemption).
  assert.equal(r.starts.find((s) => s.jobId === 'own')?.borrowed, undefined);
});
