/**
 * Scheduler policies in the live server: borrowing idle quota, reclaim by preemption (victim
 * requeued with its history, never lost), explain with priority factors, and a policy file error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let lender: ReturnType<typeof api>;
let borrower: ReturnType<typeof api>;
const dir = mkdtempSync(join(tmpdir(), 'gigafab-policy-'));

before(async () => {
  const fleet = writeSmallFleet(dir);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `borrowing: { enabled: true }
preemption: { enabled: true, minRuntimeSeconds: 0, maxEvictedGpusPerRequestedGpu: 2 }
explainIntervalSeconds: 0
stopGraceSeconds: 1
`,
  );
  server = await startTestServer({ fleetPath: fleet, extraArgs: ['--policy', policy], timeScale: 600 });
  op = api(server.url, server.operatorToken);
  for (const org of ['lender', 'borrower']) {
    await op('POST', '/v1/orgs', { id: org, name: org, kind: 'start-up' });
    await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-p` });
    await op('PUT', `/v1/projects/${org}-p/quotas/B200`, { gpus: 16 });
  }
  lender = api(server.url, await tenantToken(op, 'lender', { name: 'L', role: 'member' }));
  borrower = api(server.url, await tenantToken(op, 'borrower', { name: 'B', role: 'member' }));
});

after(async () => {
  await server?.stop();
});

const job = (project: string, nodes: number, seconds: number) => ({
  name: `${project}-${nodes}`,
  project,
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes,
  simulation: { durationSeconds: seconds },
});

test('a project borrows idle quota; the owner reclaims it by preemption; the victim is requeued and runs again', async () => {
  const big = await borrower('POST', '/v1/jobs', job('borrower-p', 4, 6000)); // 32 GPUs on a 16-GPU quota
  await waitFor(async () => (await borrower('GET', `/v1/jobs/${big.body.id}`)).body.state === 'running', 'borrower running');
  const events0 = (await borrower('GET', `/v1/jobs/${big.body.id}/events`)).body.items;
  assert.match(events0.find((e: { type: string }) => e.type === 'running').message, /borrowed capacity/);

  const own = await lender('POST', '/v1/jobs', job('lender-p', 2, 600)); // within its guaranteed 16
  await waitFor(
    async () => (await lender('GET', `/v1/jobs/${own.body.id}`)).body.state === 'succeeded',
    'lender job to run',
    30_000,
  );
  const types = (await borrower('GET', `/v1/jobs/${big.body.id}/events`)).body.items.map((e: { type: string }) => e.type);
  assert.deepEqual(types.slice(0, 5), ['queued', 'running', 'started', 'preempting', 'queued']);
  const audit = await op('GET', '/v1/audit?limit=500');
  assert.ok(
    audit.body.items.some((a: { action: string; objectId: string }) => a.action === 'job.preempt' && a.objectId === big.body.id),
  );
  // Requeued, not lost: once the lender's job is done, the borrower's job runs again and finishes.
  await waitFor(
    async () => (await borrower('GET', `/v1/jobs/${big.body.id}`)).body.state === 'running',
    'borrower running again',
    30_000,
  );
});

test('explain: position, priority factors and counterfactuals for a waiting job', async () => {
  const hog = await lender('POST', '/v1/jobs', job('lender-p', 2, 600000));
  await waitFor(async () => (await lender('GET', `/v1/jobs/${hog.body.id}`)).body.state === 'running', 'hog running');
  const waiting = await lender('POST', '/v1/jobs', job('lender-p', 4, 60));
  const e = await waitFor(async () => {
    const r = (await lender('GET', `/v1/jobs/${waiting.body.id}/explain`)).body;
    return r.priority && r.pendingReason ? r : null;
  }, 'explanation');
  assert.equal(e.state, 'queued');
  assert.ok(e.position >= 1);
  assert.ok(['fairShare', 'age', 'priorityClass', 'size'].every((k) => typeof e.priority.factors[k] === 'number'));
  assert.ok(e.counterfactual.length > 0, JSON.stringify(e));
  assert.equal((await borrower('GET', `/v1/jobs/${waiting.body.id}/explain`)).status, 404);
});

test('a broken policy file stops the server with a clear message', async () => {
  const bad = join(dir, 'bad-policy.yaml');
  writeFileSync(bad, 'preemption: { enabled: maybe }\n');
  await assert.rejects(startTestServer({ extraArgs: ['--policy', bad] }), /invalid policy file .*preemption\.enabled/);
});
