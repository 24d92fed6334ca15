/**
 * Lenders of borrowed starts (borrowing.ts): the GPUs of a borrowed job beyond its project's headroom
 * are attributed to other projects' idle lent quota, largest available first, ties by project id;
 * running borrowed jobs' lenders count; the rest is the pool's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type BorrowingInput,
  ClusterModel,
  type CycleResult,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { job, makeFleet, quotas } from './fixtures.js';

const ON: BorrowingInput = { enabled: true };

function cycle(
  q: ReturnType<typeof quotas>,
  queue: SchedJob[],
  borrowing = ON,
  c?: ClusterModel,
  running: RunningJobInfo[] = [],
) {
  const cluster = c ?? new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 8 }]));
  return scheduleCycle(cluster, { queue, quotas: q, now: 0, borrowing, running });
}

const lendersOf = (r: CycleResult, id: string) => r.starts.find((s) => s.jobId === id)?.lenders;

test('a borrowed start is attributed beyond its headroom, to the largest idle lender first', () => {
  const q = quotas({ p1: { B200: 8 }, p2: { B200: 16 }, p3: { B200: 8 } });
  const r = cycle(q, [job('big', { project: 'p1', gpusPerNode: 8, nodes: 2 })]);
  assert.equal(r.starts[0]?.borrowed, true);
  // 16 GPUs, 8 of them within p1's nominal headroom: the other 8 from p2 (16 idle) before p3 (8).
  assert.deepEqual(lendersOf(r, 'big'), [{ project: 'p2', gpus: 8 }]);
});

test('ties go by project id; a remainder beyond every idle lent quota is the pool’s (listed nowhere)', () => {
  const q = quotas({ p1: { B200: 0 }, p3: { B200: 4 }, p2: { B200: 4 } });
  const r = cycle(q, [job('a', { project: 'p1', gpusPerNode: 6 })]);
  assert.deepEqual(lendersOf(r, 'a'), [
    { project: 'p2', gpus: 4 },
    { project: 'p3', gpus: 2 },
  ]);
  // A lending limit keeps p2's quota to itself: only p3 lends, and nothing more is left to attribute.
  const limited = cycle(q, [job('a', { project: 'p1', gpusPerNode: 4 })], {
    enabled: true,
    lendingLimit: new Map([['p2', new Map([['B200', 0]])]]),
  });
  assert.deepEqual(lendersOf(limited, 'a'), [{ project: 'p3', gpus: 4 }]);
});

test('a start within quota has no lenders; the owner’s own usage is not lendable', () => {
  const q = quotas({ p1: { B200: 8 }, p2: { B200: 8 }, p3: { B200: 8 } });
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 8 }]));
  c.allocate('own', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b200-8-0001', gpus: [0, 1, 2, 3, 4, 5] }] });
  const r = cycle(q, [job('within', { project: 'p1', gpusPerNode: 8 }), job('beyond', { project: 'p1', gpusPerNode: 4 })], ON, c);
  assert.equal(lendersOf(r, 'within'), undefined);
  // p2 uses 6 of its 8: 2 idle; p3 has 8 idle.
  assert.deepEqual(lendersOf(r, 'beyond'), [{ project: 'p3', gpus: 4 }]);
});

test('running borrowed jobs hold their lenders’ idle quota', () => {
  const q = quotas({ p1: { B200: 0 }, p2: { B200: 16 }, p3: { B200: 8 } });
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 8 }]));
  c.allocate('r', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b200-8-0001', gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
  c.allocate('r2', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b200-8-0002', gpus: [0, 1, 2, 3] }] });
  const running: RunningJobInfo[] = [
    {
      id: 'r',
      project: 'p1',
      org: 'o',
      priority: 100,
      gpus: 8,
      startedAt: 0,
      borrowed: true,
      preemptible: true,
      lenders: [{ project: 'p2', gpus: 8 }],
    },
    {
      id: 'r2',
      project: 'p1',
      org: 'o',
      priority: 100,
      gpus: 4,
      startedAt: 0,
      borrowed: true,
      preemptible: true,
      lenders: [{ project: 'p2', gpus: 4 }],
    },
  ];
  // p2 has 16 idle, 12 of it attributed: 4 left; p3 8.
  const r = cycle(q, [job('n', { project: 'p1', gpusPerNode: 8 })], ON, c, running);
  assert.deepEqual(lendersOf(r, 'n'), [{ project: 'p3', gpus: 8 }]);
});

test('property: attributed ≤ borrowed part, never the borrower, only lenders with idle lent quota, deterministic', () => {
  const PROJECTS = ['p1', 'p2', 'p3', 'p4'];
  let attributedStarts = 0;
  const arb = fc.record({
    nominal: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 4, maxLength: 4 }),
    lend: fc.array(fc.option(fc.integer({ min: 0, max: 12 })), { minLength: 4, maxLength: 4 }),
    jobs: fc.array(
      fc.record({
        p: fc.integer({ min: 0, max: 3 }),
        gpus: fc.integer({ min: 1, max: 8 }),
        milli: fc.option(fc.constantFrom(250, 500)),
      }),
      { maxLength: 14 },
    ),
  });
  fc.assert(
    fc.property(arb, ({ nominal, lend, jobs }) => {
      const q = quotas(Object.fromEntries(PROJECTS.map((p, i) => [p, { B200: nominal[i]! }])));
      const lendingLimit = new Map(
        PROJECTS.flatMap((p, i) => (lend[i] == null ? [] : [[p, new Map([['B200', lend[i]!]])] as const])),
      );
      const borrowing: BorrowingInput = { enabled: true, lendingLimit };
      const queue = () =>
        jobs.map((j, k) =>
          job(`j${k}`, {
            project: PROJECTS[j.p]!,
            gpusPerNode: j.milli ? 1 : j.gpus,
            ...(j.milli ? { share: { milli: j.milli } } : {}),
          }),
        );
      const r = cycle(q, queue(), borrowing, new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 3 }])));
      const lent = new Map<string, number>();
      const used = new Map<string, number>(); // GPUs each project holds, start by start (starts come in commit order)
      const byId = new Map(jobs.map((j, k) => [`j${k}`, j]));
      for (const s of r.starts) {
        const j = byId.get(s.jobId)!;
        const p = PROJECTS[j.p]!;
        const needs = j.milli ? j.milli / 1000 : j.gpus;
        const before = used.get(p) ?? 0;
        used.set(p, before + needs);
        if (!s.borrowed) {
          assert.equal(s.lenders, undefined);
          continue;
        }
        const beyond = needs - Math.max(0, nominal[j.p]! - before);
        const sum = (s.lenders ?? []).reduce((a, l) => a + l.gpus, 0);
        assert.ok(sum <= beyond + 1e-9, `${s.jobId}: ${sum} attributed of the ${beyond} beyond its headroom`);
        for (const l of s.lenders ?? []) {
          const i = PROJECTS.indexOf(l.project);
          assert.notEqual(l.project, p, 'never the borrower itself');
          assert.ok(l.gpus > 0);
          lent.set(l.project, (lent.get(l.project) ?? 0) + l.gpus);
          attributedStarts++;
          // Within what it lends and what it has idle at this start.
          const idle = Math.min(lend[i] ?? nominal[i]!, nominal[i]!, Math.max(0, nominal[i]! - (used.get(l.project) ?? 0)));
          assert.ok(lent.get(l.project)! <= idle + 1e-9, `${l.project} lent ${lent.get(l.project)} of ${idle} idle`);
        }
      }
      const again = cycle(q, queue(), borrowing, new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 3 }])));
      assert.deepEqual(
        again.starts.map((s) => [s.jobId, s.lenders]),
        r.starts.map((s) => [s.jobId, s.lenders]),
      );
    }),
    { numRuns: 200 },
  );
  assert.ok(attributedStarts > 15, `only ${attributedStarts} attributions: the property tests too little`);
});
