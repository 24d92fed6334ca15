/**
 * A site served by the `local` driver, through the whole product: the server places the job, the
 * driver runs the real command with exactly its GPUs, output reaches `gigafab job logs`, exit codes
 * and cancel come back as job states.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { addLabTenant, startLocalSiteServer } from '../helpers/local-site.js';
import { api, BIN, type TestServer, waitFor } from '../helpers/server.js';

const run = promisify(execFile);
let server: TestServer;
let user: ReturnType<typeof api>;
let token: string;

before(async () => {
  server = await startLocalSiteServer('gigafab-local-');
  const op = api(server.url, server.operatorToken);
  token = await addLabTenant(op, { name: 'R', role: 'member' });
  user = api(server.url, token);
});

after(async () => {
  await server?.stop();
});

const spec = (name: string, command: string[], extra: Record<string, unknown> = {}) => ({
  name,
  project: 'lab-ml',
  gpuType: 'L4',
  gpusPerNode: 2,
  command,
  env: { GREETING: 'hallo' },
  ...extra,
});

test('a real command runs with its GPUs and env; its output and exit code come back', async () => {
  const j = await user('POST', '/v1/jobs', spec('echo', ['sh', '-c', 'echo "$GREETING gpus=$CUDA_VISIBLE_DEVICES"; exit 3']));
  assert.equal(j.status, 201);
  const done = await waitFor(async () => {
    const r = (await user('GET', `/v1/jobs/${j.body.id}`)).body;
    return r.state === 'failed' ? r : null;
  }, 'job to fail with exit 3');
  assert.equal(done.exitCode, 3);
  const gpus = done.placement.nodes[0].gpus.join(',');
  const logs = await fetch(`${server.url}/v1/jobs/${j.body.id}/logs`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(logs.status, 200);
  assert.equal((await logs.text()).trim(), `hallo gpus=${gpus}`);
  const cli = await run(process.execPath, [BIN, 'job', 'logs', j.body.id, '--follow'], {
    env: { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: token, GIGAFAB_CONFIG: '/nonexistent' },
  });
  assert.equal(cli.stdout.trim(), `hallo gpus=${gpus}`);
});

test('cancel stops a running command; the wall-clock limit ends a long one as timed-out', async () => {
  const long = await user('POST', '/v1/jobs', spec('sleep', ['sleep', '300']));
  await waitFor(async () => (await user('GET', `/v1/jobs/${long.body.id}`)).body.state === 'running', 'running');
  assert.equal((await user('POST', `/v1/jobs/${long.body.id}/cancel`)).status, 202);
  await waitFor(async () => (await user('GET', `/v1/jobs/${long.body.id}`)).body.state === 'cancelled', 'cancelled');
  const limited = await user('POST', '/v1/jobs', spec('limited', ['sleep', '300'], { maxRuntimeSeconds: 1 }));
  await waitFor(async () => (await user('GET', `/v1/jobs/${limited.body.id}`)).body.state === 'timed-out', 'timed-out');
});

test('a simulated job has no log: a clear 404', async () => {
  const r = await user('GET', '/v1/jobs/999999/logs');
  assert.equal(r.status, 404);
});
