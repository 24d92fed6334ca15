/** The console's read-only routes over HTTP: GPU snapshot, utilisation history, queue summary; operator only. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let member: ReturnType<typeof api>;

before(async () => {
  server = await startTestServer({ timeScale: 1 });
  op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'initech', name: 'Initech', kind: 'enterprise' });
  await op('POST', '/v1/orgs/initech/projects', { id: 'tps' });
  await op('PUT', '/v1/projects/tps/quotas/B200', { gpus: 8 });
  member = api(server.url, await tenantToken(op, 'initech', { name: 'Peter', role: 'member' }));
});

after(async () => {
  await server?.stop();
});

const job = (name: string, nodes: number) => ({
  name,
  project: 'tps',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes,
  simulation: { durationSeconds: 86_000 },
});

test('GET /v1/fleet/gpus: every GPU, with the job and organisation holding it', async () => {
  const j = await member('POST', '/v1/jobs', job('holder', 1));
  await waitFor(async () => (await member('GET', `/v1/jobs/${j.body.id}`)).body.state === 'running', 'running');
  const { status, body } = await op('GET', '/v1/fleet/gpus');
  assert.equal(status, 200);
  assert.equal(body.gpuJob.length, 10_240);
  assert.equal(body.nodes.id.length, 1280);
  assert.equal(
    body.nodes.gpus.reduce((a: number, n: number) => a + n, 0),
    10_240,
  );
  assert.deepEqual(body.nodeStates, ['up', 'draining', 'down']);
  const k = body.jobs.id.indexOf(j.body.id);
  assert.ok(k >= 0);
  assert.equal(body.orgs[body.jobs.org[k]], 'initech');
  assert.equal(body.gpuJob.filter((x: number) => x === k).length, 8);
  // The job's node holds it on all 8 GPUs, at that node's offset.
  const node = (await member('GET', `/v1/jobs/${j.body.id}`)).body.placement.nodes[0].node;
  const i = body.nodes.id.indexOf(node);
  const offset = body.nodes.gpus.slice(0, i).reduce((a: number, n: number) => a + n, 0);
  assert.deepEqual(body.gpuJob.slice(offset, offset + 8), Array(8).fill(k));

  await op('POST', `/v1/nodes/${body.nodes.id[5]}/drain`, {});
  const after = await op('GET', '/v1/fleet/gpus');
  assert.equal(after.body.nodeStates[after.body.nodes.state[5]], 'draining');
});

test('GET /v1/queue/summary groups waiting jobs by reason code', async () => {
  const big = await member('POST', '/v1/jobs', job('over-quota', 4));
  await waitFor(
    async () => (await member('GET', `/v1/jobs/${big.body.id}`)).body.pendingReason?.code === 'quota_exhausted',
    'quota reason',
  );
  const { status, body } = await op('GET', '/v1/queue/summary?limit=5');
  assert.equal(status, 200);
  assert.equal(body.total, 1);
  assert.equal(body.groups[0].code, 'quota_exhausted');
  assert.equal(body.groups[0].count, 1);
  assert.equal(body.groups[0].gpus, 32);
  assert.equal(body.groups[0].jobs[0].id, big.body.id);
  assert.match(body.groups[0].jobs[0].message, /quota/);
});

test('GET /v1/fleet/history: series per site and GPU type, stored samples and a current reading', async () => {
  const { status, body } = await op('GET', '/v1/fleet/history');
  assert.equal(status, 200);
  assert.equal(body.intervalSeconds, 10);
  assert.deepEqual(
    body.series.map((s: { site: string; gpuType: string }) => `${s.site}/${s.gpuType}`),
    ['muc1/B200', 'fra1/RTX-PRO-6000', 'vie1/RTX-PRO-6000'],
  );
  assert.ok(body.samples.length >= 1, 'the server samples at start');
  assert.equal(body.current.allocated.length, 3);
  assert.ok(body.current.allocated[0] >= 8);
  assert.ok(body.current.queued >= 1);
  const later = await op('GET', `/v1/fleet/history?since=${body.samples.at(-1).at}`);
  assert.deepEqual(later.body.samples, []);
  assert.equal((await op('GET', '/v1/fleet/history?since=soon')).status, 400);
});

test('tenants get 403 from every console route; all are in the OpenAPI document', async () => {
  for (const path of ['/v1/fleet/gpus', '/v1/fleet/history', '/v1/queue/summary']) {
    const r = await member('GET', path);
    assert.equal(r.status, 403, path);
    assert.equal(r.body.code, 'forbidden');
  }
  const doc = await api(server.url)('GET', '/v1/openapi.json');
  for (const path of ['/v1/fleet/gpus', '/v1/fleet/history', '/v1/queue/summary']) assert.ok(doc.body.paths[path], path);
});

test('the console is served at / and for client-side routes; the API keeps its 404s', async () => {
  const root = await fetch(`${server.url}/`);
  assert.equal(root.status, 200);
  assert.match(root.headers.get('content-type') ?? '', /text\/html/);
  assert.match(root.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = await root.text();
  assert.match(html, /<div id="app">/);
  assert.equal((await fetch(`${server.url}/jobs/42`)).status, 200);
  assert.equal((await fetch(`${server.url}/no-such-file.js`)).status, 404);
  for (const path of ['/assets/../../package.json', '/%2e%2e/%2e%2e/package.json', '/..%2f..%2fpackage.json']) {
    assert.equal(await rawStatus(server.url, path), 404, path);
  }
  const apiMiss = await fetch(`${server.url}/v1/no-such-route`, { headers: { authorization: `Bearer ${server.operatorToken}` } });
  assert.equal(apiMiss.status, 404);
  assert.match(apiMiss.headers.get('content-type') ?? '', /problem\+json/);
  const asset = html.match(/\/assets\/[^"]+\.js/);
  if (asset) {
    const a = await fetch(`${server.url}${asset[0]}`);
    assert.equal(a.status, 200);
    assert.match(a.headers.get('cache-control') ?? '', /immutable/);
  }
});

/** rawStatus sends a path exactly as given (fetch would normalise the dot segments away). */
function rawStatus(base: string, path: string): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
