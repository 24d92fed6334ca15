/**
 * Service replicas spread across nodes, against the real server (sim driver, 4 B200 nodes of 8):
 * three replicas of a `preferred` service land on three distinct nodes (best fit alone would pack
 * them onto one); a `required` service with more replicas than nodes runs one per node and the rest
 * wait with pending reason `spread`, a readable sentence; `none` packs them like any jobs; a bad
 * spread value is a 400 naming the field; spread over a node label (all four nodes share one power
 * domain here) runs one replica and says why the other waits, and a label no node has is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let acme: ReturnType<typeof api>;

before(async () => {
  server = await startTestServer({
    fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-spread-')), { labels: { power: 'pd-1' } }),
  });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 32 })).status, 200);
  acme = api(server.url, await tenantToken(op, 'acme', { name: 'Ada', role: 'member' }));
});

after(async () => {
  await server?.stop();
});

const template = { gpuType: 'B200', gpusPerNode: 1, command: ['serve'] };

interface Job {
  state: string;
  placement: { nodes: { node: string }[] } | null;
  pendingReason: { code: string; message: string } | null;
}

/** replicaJobs: the service's replica jobs once `n` exist and every one is running or has a reason. */
async function replicaJobs(id: string, n: number): Promise<Job[]> {
  return waitFor(async () => {
    const s = (await acme('GET', `/v1/services/${id}`)).body;
    if (s.replicas.length !== n) return null;
    const jobs: Job[] = [];
    for (const r of s.replicas as { jobId: string }[]) jobs.push((await acme('GET', `/v1/jobs/${r.jobId}`)).body);
    return jobs.every((j) => j.state === 'running' || j.pendingReason) ? jobs : null;
  }, `${n} replicas of ${id} decided`);
}

const nodeOf = (j: Job) => j.placement?.nodes[0]?.node;

test('preferred (the default): three replicas land on three distinct nodes; none packs them', async () => {
  const created = await acme('POST', '/v1/services', { name: 'chat', project: 'acme-ml', template, replicas: 3 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.spec.spread, 'preferred');
  const jobs = await replicaJobs(created.body.id, 3);
  assert.ok(
    jobs.every((j) => j.state === 'running'),
    JSON.stringify(jobs.map((j) => j.state)),
  );
  assert.equal(new Set(jobs.map(nodeOf)).size, 3, `nodes: ${jobs.map(nodeOf).join(', ')}`);

  const packed = await acme('POST', '/v1/services', {
    name: 'packed',
    project: 'acme-ml',
    template,
    replicas: 3,
    spread: 'none',
  });
  assert.equal(packed.status, 201, JSON.stringify(packed.body));
  const pj = await replicaJobs(packed.body.id, 3);
  assert.equal(new Set(pj.map(nodeOf)).size, 1, `none packs by best fit: ${pj.map(nodeOf).join(', ')}`);
  for (const id of [created.body.id, packed.body.id]) assert.equal((await acme('DELETE', `/v1/services/${id}`)).status, 204);
});

test('required: one replica per node; the fifth waits with reason spread', async () => {
  const created = await acme('POST', '/v1/services', {
    name: 'strict',
    project: 'acme-ml',
    template,
    replicas: 5,
    spread: 'required',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id: string = created.body.id;
  const jobs = await waitFor(async () => {
    const js = await replicaJobs(id, 5);
    return js.filter((j) => j.state === 'running').length === 4 ? js : null;
  }, 'four running replicas');
  const running = jobs.filter((j) => j.state === 'running');
  assert.equal(new Set(running.map(nodeOf)).size, 4);
  const waiting = jobs.filter((j) => j.state !== 'running');
  assert.equal(waiting.length, 1);
  assert.equal(waiting[0].pendingReason?.code, 'spread');
  assert.equal(
    waiting[0].pendingReason?.message,
    `waiting: every B200 node with a free GPU already runs a replica of ${id} (spread: required; 4 nodes hold one)`,
  );
  const show = (await acme('GET', `/v1/services/${id}`)).body;
  assert.equal(show.spec.spread, 'required');
  assert.equal((await acme('DELETE', `/v1/services/${id}`)).status, 204);
});

test('a bad spread value is a 400 naming the field', async () => {
  const r = await acme('POST', '/v1/services', { name: 'bad', project: 'acme-ml', template, spread: 'always' });
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'validation_failed');
  assert.ok(
    (r.body.errors as { path: string }[]).some((e) => e.path === 'spread'),
    JSON.stringify(r.body),
  );
});

test('spreadOver unit: one replica per scalable unit (this fleet has one), the second waits saying so; bad values refused', async () => {
  const created = await acme('POST', '/v1/services', {
    name: 'racks',
    project: 'acme-ml',
    template,
    replicas: 2,
    spread: 'required',
    spreadOver: 'unit',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id: string = created.body.id;
  assert.equal(created.body.spec.spreadOver, 'unit');
  const jobs = await waitFor(async () => {
    const js = await replicaJobs(id, 2);
    return js.some((j) => j.state === 'running') && js.some((j) => j.pendingReason?.code === 'spread') ? js : null;
  }, 'one running replica and one waiting for spread');
  const waiting = jobs.find((j) => j.state !== 'running');
  assert.equal(
    waiting?.pendingReason?.message,
    `waiting: every B200 node with a free GPU is in a scalable unit that already runs a replica of ${id} (spread: required over scalable units; 1 scalable unit holds one)`,
  );
  // Back to node-level spread: a new revision, and the rolling update places both replicas.
  const patched = await acme('PATCH', `/v1/services/${id}`, { spreadOver: 'node' });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.spec.spreadOver, undefined);
  const revision: number = patched.body.revision;
  await waitFor(async () => {
    const s = (await acme('GET', `/v1/services/${id}`)).body;
    const mine = (s.replicas as { jobId: string; revision: number }[]).filter((r) => r.revision === revision);
    if (mine.length !== 2) return null;
    for (const r of mine) if ((await acme('GET', `/v1/jobs/${r.jobId}`)).body.state !== 'running') return null;
    return s;
  }, 'both replicas of the new revision running after spreadOver node');
  // spreadOver needs spread: refused on create (400, the field named) and on update (422, its code).
  const bad = await acme('POST', '/v1/services', {
    name: 'bad2',
    project: 'acme-ml',
    template,
    spread: 'none',
    spreadOver: 'site',
  });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  assert.ok(
    (bad.body.errors as { path: string }[]).some((e) => e.path === 'spreadOver'),
    JSON.stringify(bad.body),
  );
  const odd = await acme('POST', '/v1/services', { name: 'bad3', project: 'acme-ml', template, spreadOver: 'rack' });
  assert.equal(odd.status, 400);
  const off = await acme('PATCH', `/v1/services/${id}`, { spread: 'none', spreadOver: 'unit' });
  assert.equal(off.status, 422, JSON.stringify(off.body));
  assert.equal(off.body.code, 'spread_over_without_spread');
  assert.equal((await acme('GET', `/v1/services/${id}`)).body.spec.spread, 'required', 'the refused update changed nothing');
  assert.equal((await acme('DELETE', `/v1/services/${id}`)).status, 204);
});

test('spreadOver label:power: one replica per power domain (all four nodes share one), the second waits saying so; a label no node has is refused', async () => {
  const created = await acme('POST', '/v1/services', {
    name: 'power',
    project: 'acme-ml',
    template,
    replicas: 2,
    spread: 'required',
    spreadOver: 'label:power',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id: string = created.body.id;
  assert.equal(created.body.spec.spreadOver, 'label:power');
  const jobs = await waitFor(async () => {
    const js = await replicaJobs(id, 2);
    return js.some((j) => j.state === 'running') && js.some((j) => j.pendingReason?.code === 'spread') ? js : null;
  }, 'one running replica and one waiting for spread over the power label');
  assert.equal(
    jobs.find((j) => j.state !== 'running')?.pendingReason?.message,
    `waiting: every B200 node with a free GPU has a power that already runs a replica of ${id} (spread: required over label power; 1 value holds one)`,
  );
  const unknown = await acme('POST', '/v1/services', {
    name: 'nolabel',
    project: 'acme-ml',
    template,
    spread: 'required',
    spreadOver: 'label:rack',
  });
  assert.equal(unknown.status, 422, JSON.stringify(unknown.body));
  assert.equal(unknown.body.code, 'unknown_spread_label');
  assert.match(unknown.body.detail ?? unknown.body.message ?? '', /no node of the fleet has a label rack.*power/);
  const patched = await acme('PATCH', `/v1/services/${id}`, { spreadOver: 'label:rack' });
  assert.equal(patched.status, 422);
  assert.equal(patched.body.code, 'unknown_spread_label');
  const malformed = await acme('POST', '/v1/services', { name: 'bad4', project: 'acme-ml', template, spreadOver: 'label:' });
  assert.equal(malformed.status, 400);
  assert.equal(
    (await acme('GET', `/v1/services/${id}`)).body.spec.spreadOver,
    'label:power',
    'the refused update changed nothing',
  );
  assert.equal((await acme('DELETE', `/v1/services/${id}`)).status, 204);
});
