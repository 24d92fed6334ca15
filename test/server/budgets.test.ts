/**
 * Monthly budgets at admission against a real store and the real job service: a job that could
 * take the organisation past its cap is refused with budget_exhausted and the amounts; a running
 * job counts what it spent plus the rest of its time limit; and (fast-check) for random caps and
 * job shapes submitted all at once, the admitted jobs' estimates never add up to more than the cap.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { DomainError } from '../../src/model/errors.js';
import { storeOpener } from '../helpers/store-dialects.js';
import { type Harness, harness } from './harness.js';

let h: Harness;
const op = () => ({ principal: h.operator, requestId: 'req-op' });

before(async () => {
  h = await harness(); // 2026-01-05T09:00:00Z; four 8-GPU B200 nodes; acme/vision with 64 B200
  // One cent per GPU-second on demand: a job's estimate is GPUs × seconds cents.
  await h.cp.prices.set(op(), {
    granularity: 'second',
    prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 3600 }],
  });
});
after(() => h.close());

const submit = (gpus: number, seconds: number) =>
  h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: gpus, maxRuntimeSeconds: seconds }), undefined);
const cancelQueued = async () => {
  for (const [id] of h.cp.state.queue) await h.cp.cancelJob(h.tenant.principal, id, 'req-cancel');
};

test('without a budget nothing is refused; the status of a missing budget is budget_not_found', async () => {
  await assert.rejects(
    h.cp.budgets.status(h.tenant.principal, 'acme'),
    (e: unknown) => e instanceof DomainError && e.code === 'budget_not_found',
  );
  const { job } = await submit(8, 1_000_000);
  await h.cp.cancelJob(h.tenant.principal, job.id, 'req');
});

test('a job that could pass the cap is refused with the amounts; only admins and operators set a cap', async () => {
  await assert.rejects(h.cp.budgets.set(h.tenant, 'acme', 1), (e: unknown) => e instanceof DomainError && e.kind === 'forbidden');
  const s = await h.cp.budgets.set(op(), 'acme', 10_000);
  assert.deepEqual(s, {
    org: 'acme',
    capCents: 10_000,
    policy: 'refuse',
    alertThresholds: [],
    webhookUrl: null,
    month: '2026-01',
    spentCents: 0,
    committedCents: 0,
    remainingCents: 10_000,
  });
  await submit(8, 1000); // 8000 cents
  await assert.rejects(submit(8, 300), (e: unknown) => {
    assert.ok(e instanceof DomainError && e.code === 'budget_exhausted' && e.kind === 'unprocessable', String(e));
    assert.match(
      e.detail,
      /could cost EUR 24\.00, but organisation acme has EUR 20\.00 left of its EUR 100\.00 budget for 2026-01/,
    );
    assert.match(e.detail, /committed to queued and running jobs EUR 80\.00/);
    return true;
  });
  await submit(8, 250); // exactly the rest
  assert.equal((await h.cp.budgets.status(h.tenant.principal, 'acme')).remainingCents, 0);
  const audit = await h.store.db.selectFrom('audit').select('action').where('action', '=', 'budget.set').execute();
  assert.equal(audit.length, 1);
  await cancelQueued();
});

test('a running job counts what it spent so far plus the rest of its time limit', async () => {
  await h.cp.budgets.set(op(), 'acme', 10_000);
  const { job } = await submit(8, 1000);
  await h.cp.runCycle();
  assert.equal(await h.stateOf(job.id), 'running');
  h.clock.t += 100_000;
  const s = await h.cp.budgets.status(h.tenant.principal, 'acme');
  assert.deepEqual([s.spentCents, s.committedCents, s.remainingCents], [800, 7200, 2000]);
  await h.cp.cancelJob(h.tenant.principal, job.id, 'req');
});

test('concurrent submissions never take the organisation past its cap (fast-check)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 20_000 }),
      fc.array(fc.record({ gpus: fc.integer({ min: 1, max: 8 }), seconds: fc.integer({ min: 1, max: 600 }) }), {
        minLength: 2,
        maxLength: 12,
      }),
      async (cap, jobs) => {
        await cancelQueued();
        const before = await h.cp.budgets.set(op(), 'acme', cap);
        // What is left after this month's spending (the running job of the test before spent 800 cents).
        const room = before.remainingCents;
        const results = await Promise.allSettled(jobs.map((j) => submit(j.gpus, j.seconds)));
        let admitted = 0;
        results.forEach((r, i) => {
          const j = jobs[i]!;
          if (r.status === 'fulfilled') admitted += j.gpus * j.seconds;
          else assert.ok(r.reason instanceof DomainError && r.reason.code === 'budget_exhausted', String(r.reason));
        });
        assert.ok(admitted <= Math.max(0, room), `admitted ${admitted} cents with ${room} left of a ${cap} cap`);
        const after = await h.cp.budgets.status(h.tenant.principal, 'acme');
        assert.equal(after.remainingCents, room - admitted);
        // Every refusal was needed: at its check the admitted and reserved estimates left it no room, and they only grew.
        results.forEach((r, i) => {
          const j = jobs[i]!;
          if (r.status === 'rejected') assert.ok(admitted + j.gpus * j.seconds > room, `refused ${j.gpus * j.seconds} with room`);
        });
      },
    ),
    { numRuns: 25 },
  );
  await cancelQueued();
});

test('on PostgreSQL too: prices, a cap up to 10^12 cents, a refusal and the status', async () => {
  const pg = await harness({ openStore: storeOpener('postgres') });
  try {
    const ctx = { principal: pg.operator, requestId: 'req-pg' };
    await pg.cp.prices.set(ctx, {
      granularity: 'minute',
      prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 3600 }],
    });
    assert.equal((await pg.cp.budgets.set(ctx, 'acme', 1_000_000_000_000)).remainingCents, 1_000_000_000_000);
    await pg.cp.budgets.set(ctx, 'acme', 1000);
    await assert.rejects(
      pg.cp.jobs.submit(pg.tenant, pg.spec({ gpusPerNode: 8, maxRuntimeSeconds: 200 }), undefined),
      (e: unknown) => e instanceof DomainError && e.code === 'budget_exhausted',
    );
    await pg.cp.jobs.submit(pg.tenant, pg.spec({ gpusPerNode: 1, maxRuntimeSeconds: 930 }), undefined);
    assert.deepEqual(
      (await pg.cp.prices.versions()).map((v) => [v.version, v.granularity]),
      [[1, 'minute']],
    );
    assert.equal((await pg.cp.budgets.status(pg.tenant.principal, 'acme')).committedCents, 960, '930 s billed as 16 minutes');
  } finally {
    await pg.close();
  }
});
