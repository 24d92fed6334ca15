/**
 * Class groups (class-queue.ts), property-tested against the from-scratch order: after random
 * arrivals and removals (submission times out of seq order, ties, jobs past the age cap), every
 * group `view` returns is in the cycle's order (score desc, seq asc, id asc, as orderIndexes
 * sorts), and the walk over the groups, with nothing skipped, visits the whole queue in exactly
 * orderIndexes' order. A view that declines (undefined) is allowed: the cycle then sorts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ClassQueues, ClassWalk } from '../../src/scheduler/class-queue.js';
import { orderIndexes } from '../../src/scheduler/order.js';
import { DEFAULT_MAX_AGE_SECONDS, priorityContext, priorityInto } from '../../src/scheduler/priority.js';
import { scanClassKey } from '../../src/scheduler/schedule-cycle.js';
import type { FairShareInput, SchedJob } from '../../src/scheduler/types.js';
import { job } from './fixtures.js';

const arbJob = fc.record({
  project: fc.constantFrom('p1', 'p2'),
  priority: fc.constantFrom(0, 100),
  gpusPerNode: fc.constantFrom(1, 8),
  // Few distinct times: ties, and jobs past a cap of 60 s.
  submittedAt: fc.integer({ min: 0, max: 120 }).map((s) => s * 1000),
  seq: fc.integer({ min: 0, max: 50 }),
  remove: fc.boolean(),
});

const arbCase = fc.record({
  jobs: fc.array(arbJob, { minLength: 5, maxLength: 60 }),
  now: fc.integer({ min: 120, max: 240 }).map((s) => s * 1000),
  fairShare: fc.boolean(),
  maxAgeSeconds: fc.constantFrom(undefined, 60, 0),
  ageWeight: fc.constantFrom(100, 0, 1e-15),
});

test('class groups: each group a view returns is in the cycle order, and the walk visits the whole queue in orderIndexes order', () => {
  let viewed = 0;
  fc.assert(
    fc.property(arbCase, (c) => {
      const queues = new ClassQueues();
      const queued: SchedJob[] = [];
      c.jobs.forEach((j, i) => {
        const sj = job(`j${i}`, { ...j, org: j.project === 'p1' ? 'o1' : 'o2' });
        queues.add(scanClassKey(sj) ?? '', sj);
        queued.push(sj);
      });
      // Removals after all arrivals: the kept order must survive them.
      const kept = queued.filter((sj, i) => {
        if (!c.jobs[i].remove) return true;
        queues.remove(scanClassKey(sj) ?? '', sj);
        return false;
      });
      const fs: FairShareInput | undefined = c.fairShare
        ? {
            orgShares: new Map([
              ['o1', 1],
              ['o2', 2],
            ]),
            projectShares: new Map([
              ['p1', 1],
              ['p2', 1],
            ]),
            usage: new Map([['p1', 5]]),
            weights: { fairShare: 1000, age: c.ageWeight, priorityClass: 2000, size: 10 },
            ...(c.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: c.maxAgeSeconds }),
          }
        : undefined;
      const groups = queues.view(c.now, fs, DEFAULT_MAX_AGE_SECONDS);
      if (!groups) return;
      viewed++;
      const pctx = fs ? priorityContext(fs, { now: c.now, fleetGpus: 64, queue: kept }) : undefined;
      const f = new Float64Array(4);
      const score = (j: SchedJob) => (pctx ? priorityInto(j, pctx, f, 0) : j.priority);
      const scores = new Float64Array(kept.map(score));
      const expected = orderIndexes(
        scores,
        new Float64Array(kept.map((j) => j.seq)),
        kept.map((j) => j.id),
      );
      const walk = new ClassWalk<undefined>(groups, score);
      const visited: string[] = [];
      for (let j = walk.next(); j; j = walk.next()) visited.push(j.id);
      assert.deepEqual(
        visited,
        [...expected].map((i) => kept[i].id),
      );
    }),
    { numRuns: 400, seed: 20261206 },
  );
  // The views must really be used (not always declined), else this proves nothing.
  assert.ok(viewed > 200, `views used: ${viewed}`);
});
