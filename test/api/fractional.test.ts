/**
 * Fractional GPUs over HTTP: a fraction submitted to the demo fleet runs on a sharing site with its
 * slice in the placement, the quota shows GPU-equivalents, the fleet map snapshot marks its GPU as
 * partly used (gpuShareMilli), and a site without sharing is refused with sharing_not_allowed.
 */
import assert from 'node:assert/strict';
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
  await op('PUT', '/v1/projects/tps/quotas/RTX-PRO-6000', { gpus: 1 });
  member = api(server.url, await tenantToken(op, 'initech', { name: 'Peter', role: 'member' }));
});

after(async () => {
  await server?.stop();
});

const share = (name: string, extra: Record<string, unknown>) => ({
  name,
  project: 'tps',
  gpuType: 'RTX-PRO-6000',
  simulation: { durationSeconds: 86_000 },
  ...extra,
});

test('a fraction runs on a sharing site; quota in GPU-equivalents; the GPU map shows it partly used', async () => {
  const a = await member('POST', '/v1/jobs', share('quarter', { gpuFraction: 250 }));
  const b = await member('POST', '/v1/jobs', share('half', { gpuFraction: 500 }));
  assert.equal(a.status, 201);
  for (const j of [a, b]) {
    await waitFor(async () => (await member('GET', `/v1/jobs/${j.body.id}`)).body.state === 'running', 'running');
  }
  const ja = (await member('GET', `/v1/jobs/${a.body.id}`)).body;
  const jb = (await member('GET', `/v1/jobs/${b.body.id}`)).body;
  assert.equal(ja.placement.site, 'fra1', 'vie1 does not allow sharing in the demo fleet');
  assert.equal(ja.placement.nodes[0].milli, 250);
  assert.deepEqual(
    [jb.placement.nodes[0].node, jb.placement.nodes[0].gpus],
    [ja.placement.nodes[0].node, ja.placement.nodes[0].gpus],
  );
  const project = await member('GET', '/v1/projects/tps');
  const quota = project.body.quotas.find((q: { gpuType: string }) => q.gpuType === 'RTX-PRO-6000');
  assert.equal(quota.used, 0.75);

  const { body } = await op('GET', '/v1/fleet/gpus');
  const i = body.nodes.id.indexOf(ja.placement.nodes[0].node);
  const offset = body.nodes.gpus.slice(0, i).reduce((s: number, n: number) => s + n, 0);
  const g = offset + ja.placement.nodes[0].gpus[0];
  assert.equal(body.gpuShareMilli[g], 750);
  assert.equal(body.gpuShareMilli.filter((m: number) => m > 0).length, 1);
});

test('a fraction only vie1 may run is refused with sharing_not_allowed; two GPUs with a fraction is a 400', async () => {
  const r = await member('POST', '/v1/jobs', share('vienna', { gpuFraction: 250, constraints: { requiredSites: ['vie1'] } }));
  assert.equal(r.body.code, 'sharing_not_allowed');
  assert.match(r.body.detail, /site vie1 does not allow GPU sharing/);
  const two = await member('POST', '/v1/jobs', share('two', { gpuFraction: 250, gpusPerNode: 2 }));
  assert.equal(two.status, 400);
});

test('a service of fractional replicas: each replica a quarter GPU, spread required over nodes; bad templates refused', async () => {
  await op('POST', '/v1/orgs/initech/projects', { id: 'tps-serve' });
  await op('PUT', '/v1/projects/tps-serve/quotas/RTX-PRO-6000', { gpus: 2 });
  const template = { gpuType: 'RTX-PRO-6000', gpusPerNode: 1, gpuFraction: 250, command: ['serve'] };
  const created = await member('POST', '/v1/services', {
    name: 'quarter',
    project: 'tps-serve',
    template,
    replicas: 3,
    spread: 'required',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.spec.template.gpuFraction, 250);
  const jobs = await waitFor(async () => {
    const s = (await member('GET', `/v1/services/${created.body.id}`)).body;
    if (s.replicas.length !== 3) return null;
    const js = [];
    for (const r of s.replicas as { jobId: string }[]) js.push((await member('GET', `/v1/jobs/${r.jobId}`)).body);
    return js.every((j) => j.state === 'running') ? js : null;
  }, 'three running replicas');
  const places = jobs.map((j) => j.placement.nodes[0]);
  assert.ok(
    places.every((p) => p.milli === 250),
    JSON.stringify(places),
  );
  assert.equal(new Set(places.map((p) => p.node)).size, 3, `one node each: ${places.map((p) => p.node).join(', ')}`);
  const quota = (await member('GET', '/v1/projects/tps-serve')).body.quotas.find(
    (q: { gpuType: string }) => q.gpuType === 'RTX-PRO-6000',
  );
  assert.equal(quota.used, 0.75, 'three quarters in GPU-equivalents');

  const noMig = await member('POST', '/v1/services', {
    name: 'nomig',
    project: 'tps-serve',
    template: { gpuType: 'RTX-PRO-6000', gpusPerNode: 1, migProfile: '9g.999gb', command: ['serve'] },
  });
  assert.equal(noMig.status, 422, JSON.stringify(noMig.body));
  assert.equal(noMig.body.code, 'mig_profile_unknown');
  const two = await member('POST', '/v1/services', {
    name: 'two',
    project: 'tps-serve',
    template: { ...template, gpusPerNode: 2 },
  });
  assert.equal(two.status, 400, JSON.stringify(two.body));
  assert.match(JSON.stringify(two.body), /gpuFraction is part of ONE GPU: gpusPerNode must be 1/);
  assert.equal((await member('DELETE', `/v1/services/${created.body.id}`)).status, 204);
});
