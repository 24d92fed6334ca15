/**
 * A job on the `local` driver that is stopped and requeued (a node down then up with
 * onNodeFailure: requeue, or a GDPR restriction lifted) starts again as its next attempt, in a
 * directory of its own: the restart does not fail on the first run's files, the logs of the
 * current attempt are the default, earlier attempts stay readable (API ?attempt=K, CLI --attempt K),
 * and a control-plane restart reattaches the attempt that is current.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { addLabTenant, startLocalSiteServer } from '../helpers/local-site.js';
import { api, BIN, type TestServer, waitFor } from '../helpers/server.js';

const run = promisify(execFile);
let server: TestServer;
let op: ReturnType<typeof api>;
let admin: ReturnType<typeof api>;
let token: string;

before(async () => {
  server = await startLocalSiteServer('gigafab-attempts-');
  op = api(server.url, server.operatorToken);
  token = await addLabTenant(op, { name: 'R', role: 'admin' });
  admin = api(server.url, token);
});

after(async () => {
  await server?.stop();
});

// Prints the run's own directory, so each attempt's log names the attempt it belongs to.
const spec = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  project: 'lab-ml',
  gpuType: 'L4',
  gpusPerNode: 2,
  command: ['sh', '-c', 'echo "run in $GIGAFAB_WORKDIR"; exec sleep 300'],
  ...extra,
});

async function logs(id: string, query = ''): Promise<{ status: number; text: string; attempt: string | null }> {
  const r = await fetch(`${server.url}/v1/jobs/${id}/logs${query}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, text: await r.text(), attempt: r.headers.get('x-attempt') };
}

async function runningAttempt(id: string, attempt: number) {
  return waitFor(async () => {
    const j = (await admin('GET', `/v1/jobs/${id}`)).body;
    assert.notEqual(j.state, 'failed', `job ${id} failed: ${JSON.stringify((await admin('GET', `/v1/jobs/${id}/events`)).body)}`);
    return j.state === 'running' && j.attempt === attempt ? j : null;
  }, `job ${id} running as attempt ${attempt}`);
}

async function printed(id: string, attempt: number) {
  return waitFor(async () => {
    const l = await logs(id, `?attempt=${attempt}`);
    return /run in /.test(l.text) ? l : null;
  }, `attempt ${attempt} of job ${id} wrote its line`);
}

test('node down then up (onNodeFailure: requeue): attempt 2 runs in its own directory; attempt 1 logs stay readable', async () => {
  const id = (await admin('POST', '/v1/jobs', spec('node-down', { onNodeFailure: 'requeue' }))).body.id as string;
  const first = await runningAttempt(id, 1);
  const l1 = await printed(id, 1);
  assert.match(l1.text, /^run in \S+\/jobs\/\d+\/attempt-1$/m);
  const node = first.placement.nodes[0].node as string;

  assert.equal((await op('PUT', `/v1/nodes/${node}/state`, { state: 'down', reason: 'PSU swap' })).status, 200);
  await waitFor(async () => (await admin('GET', `/v1/jobs/${id}`)).body.state === 'queued', 'requeued');
  assert.equal((await op('PUT', `/v1/nodes/${node}/state`, { state: 'up' })).status, 200);
  await runningAttempt(id, 2);
  const l2 = await printed(id, 2);
  assert.match(l2.text, /^run in \S+\/jobs\/\d+\/attempt-2$/m);

  // Default: the current attempt; the earlier one is unchanged and ended.
  const cur = await logs(id);
  assert.equal(cur.attempt, '2');
  assert.equal(cur.text, l2.text);
  const old = await fetch(`${server.url}/v1/jobs/${id}/logs?attempt=1`, { headers: { authorization: `Bearer ${token}` } });
  const oldText = await old.text();
  assert.ok(oldText.startsWith(l1.text), oldText);
  assert.doesNotMatch(oldText, /attempt-2/);
  assert.equal(old.headers.get('x-log-eof'), 'true');
  const none = await admin('GET', `/v1/jobs/${id}/logs?attempt=3`);
  assert.equal(none.status, 404);
  assert.equal(none.body.code, 'attempt_not_found');
  assert.equal((await admin('GET', `/v1/jobs/${id}/logs?attempt=0`)).status, 400);

  const env = { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: token, GIGAFAB_CONFIG: '/nonexistent' };
  const cli = await run(process.execPath, [BIN, 'job', 'logs', id, '--attempt', '1'], { env });
  assert.equal(cli.stdout, oldText);

  // A restarted control plane reattaches attempt 2 (it neither loses it nor starts it a third time).
  await server.restart();
  admin = api(server.url, token);
  op = api(server.url, server.operatorToken);
  const after = admin;
  await new Promise((r) => setTimeout(r, 1500));
  const j = (await after('GET', `/v1/jobs/${id}`)).body;
  assert.equal(j.state, 'running');
  assert.equal(j.attempt, 2);
  assert.equal((await after('POST', `/v1/jobs/${id}/cancel`)).status, 202);
  await waitFor(async () => (await after('GET', `/v1/jobs/${id}`)).body.state === 'cancelled', 'cancelled');
});

test('restriction lifted: the held job starts again as attempt 2 instead of failing', async () => {
  const id = (await admin('POST', '/v1/jobs', spec('held'))).body.id as string;
  await runningAttempt(id, 1);
  await printed(id, 1);
  assert.equal((await admin('POST', '/v1/orgs/lab/restriction', { reason: 'data subject contests accuracy' })).status, 200);
  await waitFor(async () => {
    const j = (await admin('GET', `/v1/jobs/${id}`)).body;
    return j.state === 'queued' && j.pendingReason?.code === 'processing_restricted';
  }, 'held');
  assert.equal((await admin('DELETE', '/v1/orgs/lab/restriction')).status, 200);
  await runningAttempt(id, 2);
  assert.match((await printed(id, 2)).text, /^run in \S+\/jobs\/\d+\/attempt-2$/m);
  assert.match((await logs(id, '?attempt=1')).text, /^run in \S+\/jobs\/\d+\/attempt-1$/m);
  await admin('POST', `/v1/jobs/${id}/cancel`);
  await waitFor(async () => (await admin('GET', `/v1/jobs/${id}`)).body.state === 'cancelled', 'cancelled');
});
