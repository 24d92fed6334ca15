/**
 * Budgets per project and the `wait` policy, against a real store, the real job service and the
 * real cycle: a project budget never above its organisation's cap (either way round), audited; both
 * budgets apply at admission; under `wait` a job over budget is queued and held by the scheduler's
 * budget gate with budget_exhausted naming the amounts, and starts once budget frees (a running job
 * ending under its estimate, a raised cap, the next month); concurrent submissions under a project
 * budget never pass it (fast-check).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { DomainError } from '../../src/model/errors.js';
import { type Harness, harness } from './harness.js';

let h: Harness;
const op = () => ({ principal: h.operator, requestId: 'req-op' });
const code = (c: string) => (e: unknown) => e instanceof DomainError && e.code === c;

before(async () => {
  h = await harness(); // 2026-01-05T09:00:00Z; four 8-GPU B200 nodes; acme/vision with 64 B200
  const at = new Date(h.clock.t).toISOString();
  await h.store.db.insertInto('projects').values({ id: 'robotics', org_id: 'acme', name: 'robotics', created_at: at }).execute();
  await h.store.db.insertInto('quotas').values({ project_id: 'robotics', gpu_type: 'B200', gpus: 64 }).execute();
  await h.cp.recover();
  // One cent per GPU-second on demand: a job's estimate is GPUs × seconds cents.
  await h.cp.prices.set(op(), {
    granularity: 'second',
    prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 3600 }],
  });
});
after(() => h.close());

const submit = (gpus: number, seconds: number, project = 'vision') =>
  h.cp.jobs.submit(h.tenant, h.spec({ project, gpusPerNode: gpus, maxRuntimeSeconds: seconds }), undefined);
const cancelAll = async () => {
  for (const id of [...h.cp.state.queue.keys(), ...h.cp.state.running.keys()]) {
    await h.cp.cancelJob(h.tenant.principal, id, 'req-cancel');
  }
  for (let i = 0; i < 200 && h.cp.state.running.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
};

test('a project budget stays under its organisation cap; both are audited and listed', async () => {
  await assert.rejects(
    h.cp.budgets.setProject(h.tenant, 'vision', 1),
    (e: unknown) => e instanceof DomainError && e.kind === 'forbidden',
  );
  await assert.rejects(h.cp.budgets.setProject(op(), 'nope', 1), code('project_not_found'));
  await h.cp.budgets.set(op(), 'acme', 100_000);
  await assert.rejects(h.cp.budgets.setProject(op(), 'vision', 100_001), (e: unknown) => {
    assert.ok(e instanceof DomainError && e.code === 'budget_exceeds_org_cap' && e.kind === 'unprocessable', String(e));
    assert.match(e.detail, /EUR 1000\.01 for project vision exceeds organisation acme's cap of EUR 1000\.00/);
    return true;
  });
  const p = await h.cp.budgets.setProject(op(), 'vision', 50_000, 'wait');
  assert.deepEqual(p, {
    org: 'acme',
    project: 'vision',
    capCents: 50_000,
    policy: 'wait',
    alertThresholds: [],
    webhookUrl: null,
    month: '2026-01',
    spentCents: 0,
    committedCents: 0,
    remainingCents: 50_000,
  });
  await assert.rejects(h.cp.budgets.set(op(), 'acme', 49_999), code('budget_below_project_cap'));
  // The policy stays what it was when a new cap names none.
  assert.equal((await h.cp.budgets.setProject(op(), 'vision', 40_000)).policy, 'wait');
  const list = await h.cp.budgets.list(h.tenant.principal, 'acme');
  assert.deepEqual(
    list.items.map((b) => [b.project ?? '-', b.capCents, b.policy]),
    [
      ['-', 100_000, 'refuse'],
      ['vision', 40_000, 'wait'],
    ],
  );
  assert.equal((await h.cp.budgets.projectStatus(h.tenant.principal, 'vision')).capCents, 40_000);
  await assert.rejects(h.cp.budgets.projectStatus(h.tenant.principal, 'robotics'), code('budget_not_found'));
  const audit = await h.store.db
    .selectFrom('audit')
    .select(['object_id', 'after'])
    .where('action', '=', 'budget.set')
    .orderBy('id')
    .execute();
  assert.deepEqual(
    audit.map((a) => a.object_id),
    ['acme', 'acme/vision', 'acme/vision'],
  );
});

test('refuse on a project budget: the tighter budget refuses, naming the project', async () => {
  await h.cp.budgets.set(op(), 'acme', 100_000);
  await h.cp.budgets.setProject(op(), 'robotics', 10_000, 'refuse');
  await submit(8, 1000, 'robotics'); // 8000 cents
  await assert.rejects(submit(8, 300, 'robotics'), (e: unknown) => {
    assert.ok(e instanceof DomainError && e.code === 'budget_exhausted', String(e));
    assert.match(
      e.detail,
      /could cost EUR 24\.00, but project robotics has EUR 20\.00 left of its EUR 100\.00 budget for 2026-01/,
    );
    return true;
  });
  // The organisation's cap still counts the other project's jobs.
  await h.cp.budgets.setProject(op(), 'vision', 10_000);
  await h.cp.budgets.set(op(), 'acme', 10_000);
  await assert.rejects(submit(1, 2001, 'vision'), (e: unknown) => {
    assert.ok(e instanceof DomainError && e.code === 'budget_exhausted', String(e));
    assert.match(e.detail, /but organisation acme has EUR 20\.00 left/);
    return true;
  });
  await cancelAll();
});

test('wait: a job over budget is queued with budget_exhausted and starts once budget frees', async () => {
  await h.cp.budgets.set(op(), 'acme', 1_000_000);
  await h.cp.budgets.setProject(op(), 'vision', 10_000, 'wait');
  const a = (await submit(8, 1000)).job; // 8000 cents
  await h.cp.runCycle();
  assert.equal(await h.stateOf(a.id), 'running');
  const b = (await submit(8, 1000)).job; // accepted though it does not fit: it waits
  await h.cp.runCycle();
  assert.equal(await h.stateOf(b.id), 'queued');
  const why = h.cp.state.pending.get(b.id);
  assert.equal(why?.code, 'budget_exhausted');
  assert.match(
    why?.message ?? '',
    /^waiting: the job needs EUR 80\.00, EUR 20\.00 left of project vision's EUR 100\.00 budget for 2026-01/,
  );
  // A raised cap frees budget: the job starts at the next cycle.
  await h.cp.budgets.setProject(op(), 'vision', 16_000, 'wait');
  assert.equal(h.cp.state.dirty, true, 'setting a budget asks for a cycle');
  await h.cp.runCycle();
  assert.equal(await h.stateOf(b.id), 'running');
  // A running job ending under its estimate frees the rest of it.
  const c = (await submit(8, 500)).job; // 4000 cents, none left
  await h.cp.runCycle();
  assert.equal(h.cp.state.pending.get(c.id)?.code, 'budget_exhausted');
  h.clock.t += 100_000; // a has spent 800 of its 8000
  await h.cp.cancelJob(h.tenant.principal, a.id, 'req');
  for (let i = 0; i < 200 && h.cp.state.running.has(a.id); i++) await new Promise((r) => setTimeout(r, 10));
  await h.cp.runCycle();
  assert.equal(await h.stateOf(c.id), 'running');
  // The next month: the job that waited for it starts without anything else changing.
  const d = (await submit(8, 1000)).job;
  await h.cp.runCycle();
  assert.equal(h.cp.state.pending.get(d.id)?.code, 'budget_exhausted');
  h.cp.state.dirty = false;
  h.clock.t = Date.parse('2026-02-01T00:00:00Z');
  assert.equal(h.cp.budgets.figures.due(h.clock.t), true, 'a new month asks for a cycle');
  await h.cp.runCycle();
  assert.equal(await h.stateOf(d.id), 'running');
  await cancelAll();
  h.clock.t = Date.parse('2026-02-05T09:00:00Z');
});

test('concurrent submissions never take a project past its refuse budget (fast-check)', async () => {
  await h.cp.budgets.set(op(), 'acme', 1_000_000);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 20_000 }),
      fc.array(fc.record({ gpus: fc.integer({ min: 1, max: 8 }), seconds: fc.integer({ min: 1, max: 600 }) }), {
        minLength: 2,
        maxLength: 10,
      }),
      async (cap, jobs) => {
        await cancelAll();
        const room = (await h.cp.budgets.setProject(op(), 'robotics', cap, 'refuse')).remainingCents;
        const results = await Promise.allSettled(jobs.map((j) => submit(j.gpus, j.seconds, 'robotics')));
        let admitted = 0;
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') admitted += jobs[i]!.gpus * jobs[i]!.seconds;
          else assert.ok(r.reason instanceof DomainError && r.reason.code === 'budget_exhausted', String(r.reason));
        });
        assert.ok(admitted <= Math.max(0, room), `admitted ${admitted} cents with ${room} left of a ${cap} cap`);
      },
    ),
    { numRuns: 15 },
  );
  await cancelAll();
});
