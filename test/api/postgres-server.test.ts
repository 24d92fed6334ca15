/**
 * The real `gigafab server` on PostgreSQL (`--database postgres://…`), on a throwaway cluster: a tenant's
 * job is submitted, runs on the simulated fleet and finishes; a burst of acknowledged submissions
 * survives kill -9; and when the database goes away under the running server, requests answer
 * 503 `store_unavailable` with Retry-After, nothing half-written, and service resumes when it is back.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type PostgresCluster, startPostgres } from '../helpers/postgres.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let cluster: PostgresCluster;
let server: TestServer;
let danaToken: string;
/** dana: the tenant's client, at the server's current URL (a restart picks a new port). */
const dana = (...args: Parameters<ReturnType<typeof api>>) => api(server.url, danaToken)(...args);

const spec = (name: string, seconds = 60) => ({
  name,
  project: 'pg-ml',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 1,
  simulation: { durationSeconds: seconds },
});

before(async () => {
  cluster = await startPostgres();
  const url = await cluster.createDatabase('gigafab');
  server = await startTestServer({ extraArgs: ['--database', url] });
  assert.match(server.output(), /data: {2}postgres:\/\/gigafab@127\.0\.0\.1:\d+\/gigafab/, 'the banner names the database');
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'pgorg', name: 'PG AG', kind: 'enterprise' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/pgorg/projects', { id: 'pg-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/pg-ml/quotas/B200', { gpus: 64 })).status, 200);
  danaToken = await tenantToken(op, 'pgorg', { name: 'Dana', role: 'member' });
});

after(async () => {
  await server?.stop();
  await cluster?.remove();
});

test('postgres server: a job is submitted, runs and succeeds; its events and the audit chain are in PostgreSQL', async () => {
  const submitted = await dana('POST', '/v1/jobs', spec('first'));
  assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
  const id = submitted.body.id as string;
  const done = await waitFor(async () => {
    const r = await dana('GET', `/v1/jobs/${id}`);
    return r.body.state === 'succeeded' ? r.body : null;
  }, 'the job to succeed');
  assert.ok(done.placement, 'it was placed');
  const events = (await dana('GET', `/v1/jobs/${id}/events`)).body.items.map((e: { type: string }) => e.type);
  assert.deepEqual([events[0], events.at(-1)], ['queued', 'succeeded']);
  assert.equal(events.filter((t: string) => t === 'running').length, 1);
  const verify = await api(server.url, server.operatorToken)('GET', '/v1/audit/verify');
  assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
});

test('postgres server: 40 concurrent acknowledged submissions all survive kill -9', async () => {
  const acked = (await Promise.all(Array.from({ length: 40 }, (_, i) => dana('POST', '/v1/jobs', spec(`burst-${i}`, 30)))))
    .filter((r) => r.status === 201)
    .map((r) => r.body.id as string);
  assert.equal(acked.length, 40);
  await server.stop('SIGKILL');
  await server.restart();
  const ids = new Set((await dana('GET', '/v1/jobs?limit=1000')).body.items.map((j: { id: string }) => j.id));
  for (const id of acked) assert.ok(ids.has(id), `job ${id} lost`);
  await waitFor(
    async () => (await dana('GET', '/v1/jobs?state=succeeded&limit=1000')).body.items.length === 41,
    'every job to finish after the restart',
    60_000,
  );
});

test('postgres server: the database goes away — 503 store_unavailable with Retry-After, nothing half-written, then service resumes', async () => {
  // A job that ends (simulated 20 min = 2 s) while the database is away.
  const running = (await dana('POST', '/v1/jobs', spec('ends-while-down', 1200))).body.id as string;
  await waitFor(async () => (await dana('GET', `/v1/jobs/${running}`)).body.state === 'running', 'it to run');
  const before = (await dana('GET', '/v1/jobs?limit=1000')).body.items.length as number;
  await cluster.stop();
  const refused = await dana('POST', '/v1/jobs', spec('while-down'));
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'store_unavailable');
  assert.match(refused.body.detail, /database is not reachable/);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After says when to try again');
  const listing = await dana('GET', '/v1/jobs?limit=1000');
  assert.equal(listing.status, 503, JSON.stringify(listing.body));
  assert.equal(listing.body.code, 'store_unavailable');

  await new Promise((r) => setTimeout(r, 2500));
  await cluster.start();
  // The pool replaces the connections the restart cut; the first request after may still meet one.
  const after = await waitFor(async () => {
    const r = await dana('GET', '/v1/jobs?limit=1000');
    return r.status === 200 ? r.body.items : null;
  }, 'the server to read from the database again');
  assert.equal(after.length, before, 'the refused submission left nothing behind');
  assert.ok(!after.some((j: { name: string }) => j.name === 'while-down'));
  const again = await waitFor(async () => {
    const r = await dana('POST', '/v1/jobs', spec('after-restart'), { 'idempotency-key': 'after-restart' });
    return r.status === 201 ? r : null;
  }, 'a submission to be acknowledged again');
  await waitFor(async () => (await dana('GET', `/v1/jobs/${again.body.id}`)).body.state === 'succeeded', 'it to run');
  await waitFor(
    async () => (await dana('GET', `/v1/jobs/${running}`)).body.state === 'succeeded',
    'the job that ended during the outage to be recorded as succeeded',
  );
});
