/**
 * Budgets across replicas (real server processes on one throwaway PostgreSQL database, loopback
 * only): a budget set through the follower B binds the leader A within the documented bound (every
 * replica re-reads budgets every 2 s): A shows it, holds a job of a `wait` budget with
 * budget_exhausted, refuses one under a `refuse` budget with the API's sentence, and starts the held
 * job once B raises the cap. A price version set through B prices A's next estimate at once (prices
 * are read from the store at every use, not cached).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type PostgresCluster, startPostgres } from '../helpers/postgres.js';
import { leaderOf, startReplicas } from '../helpers/replicas.js';
import { api, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let cluster: PostgresCluster;
let replicas: TestServer[];
let leader: TestServer;
let follower: TestServer;

/** The bound the README states (2 s re-read + one lease tick of 1 s), with room for a loaded 2-core machine. */
const BOUND_MS = 6000;

before(async () => {
  cluster = await startPostgres();
  replicas = await startReplicas(await cluster.createDatabase('gigafab'), 2);
  leader = await waitFor(() => leaderOf(replicas), 'a leader');
  follower = replicas.find((r) => r !== leader)!;
  const op = api(leader.url, leader.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'bud', name: 'Budget AG', kind: 'enterprise' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/bud/projects', { id: 'bud-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/bud-ml/quotas/B200', { gpus: 64 })).status, 200);
  const prices = { granularity: 'second', prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 3600 }] };
  assert.equal((await op('POST', '/v1/price-versions', prices)).status, 201);
});

after(async () => {
  for (const r of replicas ?? []) await r.stop('SIGKILL');
  await cluster?.remove();
});

test('a budget set through the follower binds the leader within the bound: shown, held (wait), refused (refuse), released by a raised cap', async () => {
  const op = api(leader.url, leader.operatorToken);
  const token = await tenantToken(op, 'bud', { name: 'Bea', role: 'admin' });
  const onA = api(leader.url, token);
  const onB = api(follower.url, token);
  // A reads (and keeps in memory) the budgets: the organisation's, and no project budget yet.
  assert.equal((await onA('PUT', '/v1/orgs/bud/budget', { capCents: 1_000_000 })).status, 200);
  assert.equal((await onA('GET', '/v1/projects/bud-ml/budget')).body.code, 'budget_not_found');

  const set = await onB('PUT', '/v1/projects/bud-ml/budget', { capCents: 100, policy: 'wait' });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const t0 = Date.now();
  await waitFor(async () => (await onA('GET', '/v1/projects/bud-ml/budget')).status === 200, 'A to see the budget', BOUND_MS);
  const seenMs = Date.now() - t0;

  const big = { name: 'held', project: 'bud-ml', gpuType: 'B200', gpusPerNode: 8, maxRuntimeSeconds: 7200 }; // EUR 576.00
  const sub = await onA('POST', '/v1/jobs', big);
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  const reason = await waitFor(async () => {
    const j = await onA('GET', `/v1/jobs/${sub.body.id}`);
    return j.body.pendingReason?.code === 'budget_exhausted' ? j.body.pendingReason : null;
  }, 'the leader to hold the job for budget');
  assert.match(reason.message, /EUR 576\.00, EUR [0-9.]+ left of project bud-ml's EUR 1\.00 budget/);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await onA('GET', `/v1/jobs/${sub.body.id}`)).body.state, 'queued', 'held, not started');

  // The policy changed through B to refuse: A's admission refuses with the API's sentence.
  assert.equal((await onB('PUT', '/v1/projects/bud-ml/budget', { capCents: 100, policy: 'refuse' })).status, 200);
  await waitFor(
    async () => (await onA('GET', '/v1/projects/bud-ml/budget')).body.policy === 'refuse',
    'A to see the refuse policy',
    BOUND_MS,
  );
  const refused = await onA('POST', '/v1/jobs', { ...big, name: 'refused' });
  assert.deepEqual([refused.status, refused.body.code], [422, 'budget_exhausted'], JSON.stringify(refused.body));
  assert.match(refused.body.detail, /but project bud-ml has EUR [0-9.]+ left of its EUR 1\.00 budget/);

  // B raises the cap: the job A holds starts within the bound (a changed budget asks the leader for a cycle).
  assert.equal((await onB('PUT', '/v1/projects/bud-ml/budget', { capCents: 100_000, policy: 'wait' })).status, 200);
  const t1 = Date.now();
  await waitFor(
    async () => (await onA('GET', `/v1/jobs/${sub.body.id}`)).body.state === 'running',
    'the held job to start on A',
    BOUND_MS,
  );
  const startedMs = Date.now() - t1;
  console.log(`budget seen on the leader after ${seenMs} ms; held job started ${startedMs} ms after the raise`);
  assert.ok((await onA('POST', `/v1/jobs/${sub.body.id}/cancel`)).status < 300);
});

test('a price version set through the follower prices the leader’s next estimate at once', async () => {
  const opB = api(follower.url, follower.operatorToken);
  const prices = { granularity: 'second', prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 7200 }] };
  assert.equal((await opB('POST', '/v1/price-versions', prices)).status, 201);
  const spec = { name: 'e', project: 'bud-ml', gpuType: 'B200', gpusPerNode: 8, maxRuntimeSeconds: 3600 };
  const est = await api(leader.url, leader.operatorToken)('POST', '/v1/jobs/estimate', spec);
  assert.equal(est.status, 200, JSON.stringify(est.body));
  assert.deepEqual([est.body.centsPerGpuHour, est.body.cost], [7200, 8 * 7200]);
});
