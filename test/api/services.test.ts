/**
 * Inference services against the real server (sim driver): a member creates a service and its
 * replicas start as jobs of its project through the scheduler (labelled with the service); list,
 * read, a PATCH that changes the template makes revision 2 (a rolling update: the new replica is
 * surged while the old ones keep serving), scaling applies at once; delete stops the replicas; every
 * change is audited. Tenancy: another organisation gets 404, a viewer 403, an operator reads the
 * service with the template's tenant-written fields withheld and cannot create or change one.
 * Bad input answers 400 validation_failed with the field named.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
let other: ReturnType<typeof api>;
let viewer: ReturnType<typeof api>;
let acmeToken: string;

before(async () => {
  server = await startTestServer({ fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-services-'))) });
  op = api(server.url, server.operatorToken);
  for (const org of ['acme', 'other']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` })).status, 201);
    assert.equal((await op('PUT', `/v1/projects/${org}-ml/quotas/B200`, { gpus: 16 })).status, 200);
  }
  acmeToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'member' });
  acme = api(server.url, acmeToken);
  other = api(server.url, await tenantToken(op, 'other', { name: 'Olga', role: 'admin' }));
  viewer = api(server.url, await tenantToken(op, 'acme', { name: 'Vic', role: 'viewer' }));
});

after(async () => {
  await server?.stop();
});

const template = (tag: string) => ({ gpuType: 'B200', gpusPerNode: 1, command: ['serve', '--model', tag], env: { MODEL: tag } });

interface Replica {
  jobId: string;
  revision: number;
  phase: string;
}

test('a service: replicas run as scheduled jobs; PATCH rolls to a new revision; DELETE stops them; all audited', async () => {
  const created = await acme('POST', '/v1/services', {
    name: 'chat',
    project: 'acme-ml',
    template: template('v1'),
    port: 8000,
    replicas: 2,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id: string = created.body.id;
  assert.match(id, /^svc-[0-9a-f]{10}$/);
  assert.deepEqual([created.body.revision, created.body.scaling.minReplicas, created.body.scaling.maxReplicas], [1, 2, 2]);
  assert.equal(created.body.spec.readiness.path, '/healthz');

  // Two replicas, each a job of the project, placed by the scheduler.
  const first = await waitFor(async () => {
    const s = (await acme('GET', `/v1/services/${id}`)).body;
    return s.replicas.length === 2 ? (s.replicas as Replica[]) : null;
  }, 'two replicas');
  for (const r of first) {
    const job = (await acme('GET', `/v1/jobs/${r.jobId}`)).body;
    assert.equal(job.project, 'acme-ml');
    assert.equal(job.spec.labels['gigafab.io/service'], id);
    assert.equal(job.submittedBy, `service:${id}`);
    await waitFor(async () => (await acme('GET', `/v1/jobs/${r.jobId}`)).body.state === 'running', `replica ${r.jobId} runs`);
  }
  const listed = (await acme('GET', '/v1/services')).body.items.map((s: { id: string }) => s.id);
  assert.deepEqual(listed, [id]);

  // A new template: revision 2. The sim driver reports no endpoint, so no replica passes its
  // readiness probe; old replicas that serve nothing are replaced at once (the surge-one rule
  // protects ready ones: test/lifecycle/replicas.test.ts and the local-driver test).
  const patched = await acme('PATCH', `/v1/services/${id}`, { template: template('v2') });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.revision, 2);
  const rolled = await waitFor(async () => {
    const rs: Replica[] = (await acme('GET', `/v1/services/${id}`)).body.replicas;
    return rs.length === 2 && rs.every((r) => r.revision === 2) ? rs : null;
  }, 'two replicas of revision 2');
  for (const r of first) {
    await waitFor(
      async () => (await acme('GET', `/v1/jobs/${r.jobId}`)).body.state === 'cancelled',
      `old replica ${r.jobId} stopped`,
    );
  }
  // Scaling alone is no new revision.
  const scaled = await acme('PATCH', `/v1/services/${id}`, { minReplicas: 1, maxReplicas: 3 });
  assert.deepEqual([scaled.body.revision, scaled.body.scaling.minReplicas, scaled.body.scaling.maxReplicas], [2, 1, 3]);

  assert.equal((await acme('DELETE', `/v1/services/${id}`)).status, 204);
  assert.equal((await acme('GET', `/v1/services/${id}`)).status, 404);
  for (const r of rolled) {
    await waitFor(
      async () => (await acme('GET', `/v1/jobs/${r.jobId}`)).body.state === 'cancelled',
      `replica ${r.jobId} stopped`,
    );
  }

  const audit = (await op('GET', '/v1/audit?limit=1000')).body.items as { action: string; objectId: string; actor: string }[];
  const mine = audit.filter((e) => e.objectId === id).map((e) => e.action);
  assert.deepEqual(mine.sort(), ['service.create', 'service.delete', 'service.update', 'service.update']);
  assert.ok(
    audit.some((e) => e.action === 'job.submit' && e.actor === `service:${id}`),
    'replica submissions are audited as the service',
  );
});

test('tenancy: another org gets 404, a viewer 403 on changes, an operator reads the service with the template withheld', async () => {
  const s = await acme('POST', '/v1/services', {
    name: 'embed',
    project: 'acme-ml',
    template: template('secret-v1'),
    port: 9000,
  });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const id = s.body.id;
  for (const r of [
    await other('GET', `/v1/services/${id}`),
    await other('PATCH', `/v1/services/${id}`, { replicas: 3 }),
    await other('DELETE', `/v1/services/${id}`),
  ])
    assert.deepEqual([r.status, r.body.code], [404, 'service_not_found']);
  assert.deepEqual((await other('GET', '/v1/services')).body.items, []);
  assert.equal(
    (await other('POST', '/v1/services', { name: 'x1', project: 'acme-ml', template: template('x'), port: 1 })).status,
    404,
  );

  assert.equal((await viewer('GET', `/v1/services/${id}`)).status, 200);
  const denied = await viewer('PATCH', `/v1/services/${id}`, { replicas: 2 });
  assert.deepEqual([denied.status, denied.body.code], [403, 'forbidden']);

  const seen = await op('GET', `/v1/services/${id}`);
  assert.equal(seen.status, 200);
  assert.ok(!JSON.stringify(seen.body).includes('secret-v1'), 'no tenant-written text');
  assert.deepEqual(seen.body.redacted, ['spec.template.command', 'spec.template.env']);
  const opList = (await op('GET', '/v1/services')).body.items;
  assert.ok(!JSON.stringify(opList).includes('secret-v1'));
  assert.equal((await op('PATCH', `/v1/services/${id}`, { replicas: 2 })).status, 403);
  assert.equal(
    (await op('POST', '/v1/services', { name: 'opsvc', project: 'acme-ml', template: template('x'), port: 1 })).status,
    403,
  );
});

test('bad input: 400 validation_failed with the field named; a second service of the same name in the project is 409', async () => {
  const both = await acme('POST', '/v1/services', {
    name: 'bad1',
    project: 'acme-ml',
    template: template('x'),
    port: 8000,
    replicas: 2,
    minReplicas: 1,
  });
  assert.deepEqual([both.status, both.body.code], [400, 'validation_failed'], JSON.stringify(both.body));
  assert.match(JSON.stringify(both.body), /give replicas, or minReplicas\/maxReplicas, not both/);
  const inverted = await acme('POST', '/v1/services', {
    name: 'bad2',
    project: 'acme-ml',
    template: template('x'),
    port: 8000,
    minReplicas: 3,
    maxReplicas: 1,
  });
  assert.equal(inverted.status, 400);
  assert.match(JSON.stringify(inverted.body), /minReplicas must not exceed maxReplicas/);
  const port0 = await acme('POST', '/v1/services', { name: 'bad3', project: 'acme-ml', template: template('x'), port: 0 });
  assert.deepEqual([port0.status, port0.body.errors?.[0]?.path], [400, 'port'], JSON.stringify(port0.body));
  const ok = { name: 'twice', project: 'acme-ml', template: template('x'), port: 8000 };
  assert.equal((await acme('POST', '/v1/services', ok)).status, 201);
  const again = await acme('POST', '/v1/services', ok);
  assert.deepEqual([again.status, again.body.code], [409, 'service_exists']);
});

test("a public service's API keys: org admins issue (shown once) and revoke them, audited; nobody else may", async () => {
  const admin = api(server.url, await tenantToken(op, 'acme', { name: 'Alma', role: 'admin' }));
  const s = await acme('POST', '/v1/services', {
    name: 'public-llm',
    project: 'acme-ml',
    template: template('p'),
    visibility: 'public',
  });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const id = s.body.id;
  assert.equal(s.body.visibility, 'public');

  const issued = await admin('POST', `/v1/services/${id}/api-keys`, { name: 'partner' });
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  assert.match(issued.body.key, /^gfs_[A-Za-z0-9_-]{43}$/);
  const listed = (await acme('GET', `/v1/services/${id}/api-keys`)).body.items;
  assert.deepEqual(
    listed.map((k: { id: string; name: string }) => [k.id, k.name]),
    [[issued.body.id, 'partner']],
  );
  assert.ok(!JSON.stringify(listed).includes(issued.body.key), 'the key is shown once only');

  for (const who of [acme, viewer, op]) {
    assert.equal((await who('POST', `/v1/services/${id}/api-keys`, { name: 'x' })).status, 403);
    assert.equal((await who('POST', `/v1/services/${id}/api-keys/${issued.body.id}/revoke`)).status, 403);
  }
  assert.equal((await other('POST', `/v1/services/${id}/api-keys`, { name: 'x' })).status, 404);
  assert.equal((await other('GET', `/v1/services/${id}/api-keys`)).status, 404);

  const revoked = await admin('POST', `/v1/services/${id}/api-keys/${issued.body.id}/revoke`);
  assert.equal(revoked.status, 200);
  assert.ok(revoked.body.revokedAt);
  const again = await admin('POST', `/v1/services/${id}/api-keys/${issued.body.id}/revoke`);
  assert.deepEqual([again.status, again.body.code], [409, 'api_key_revoked']);
  const audit = (await op('GET', '/v1/audit?limit=1000')).body.items as { action: string; objectId: string }[];
  assert.deepEqual(
    audit
      .filter((e) => e.objectId === id && e.action.startsWith('service.api-key'))
      .map((e) => e.action)
      .sort(),
    ['service.api-key.issue', 'service.api-key.revoke'],
  );
});

test('/metrics has service metrics labelled by org and project only', async () => {
  const text = await waitFor(async () => {
    const t = await (await fetch(`${server.url}/metrics`)).text();
    return /gigafab_service_replicas_desired\{org="acme",project="acme-ml"\} [1-9]/.test(t) ? t : null;
  }, 'service metrics');
  assert.match(text, /gigafab_service_requests\{org="acme",project="acme-ml"\} 0/);
  assert.ok(!/gigafab_service_[a-z_]+\{[^}]*service=/.test(text), 'no per-service label');
});

test('gigafab service create|list|show|update|delete', async () => {
  const { home, gigafab } = cliRunner('gigafab-service-cli-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const file = join(home, 'svc.yaml');
  writeFileSync(file, 'name: cli-svc\nproject: acme-ml\ntemplate: { gpuType: B200, gpusPerNode: 1, command: [serve] }\n');
  const created = await gigafab(
    ['service', 'create', '-f', file, '--min', '1', '--max', '2', '--spread', 'required', '-o', 'json'],
    env,
  );
  assert.equal(created.code, 0, created.err);
  const id: string = JSON.parse(created.out).id;
  assert.equal(JSON.parse(created.out).spec.spread, 'required');
  assert.deepEqual(JSON.parse(created.out).scaling.maxReplicas, 2);
  const list = await gigafab(['service', 'list'], env);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`${id}\\s+cli-svc\\s+acme-ml`));
  await waitFor(async () => (await acme('GET', `/v1/services/${id}`)).body.replicas.length === 1, 'one replica');
  const show = await gigafab(['service', 'show', id], env);
  assert.equal(show.code, 0, show.err);
  assert.match(show.out, /Replicas:\s+0 ready, 1 starting, 0 draining; 1 wanted/);
  assert.match(show.out, /Spread:\s+required/);
  assert.match(show.out, /Traffic:\s+0\.0 req\/s, p50 -, p99 -, 0 errors of 0/);
  const upd = await gigafab(['service', 'update', id, '--replicas', '2'], env);
  assert.equal(upd.code, 0, upd.err);
  assert.match(upd.out, /at revision 1; \d+ replicas wanted/);
  const nothing = await gigafab(['service', 'update', id], env);
  assert.notEqual(nothing.code, 0);
  assert.match(nothing.err, /nothing to change/);
  const del = await gigafab(['service', 'delete', id], env);
  assert.equal(del.code, 0, del.err);
  assert.equal((await acme('GET', `/v1/services/${id}`)).status, 404);
  const gone = await gigafab(['service', 'show', id], env);
  assert.notEqual(gone.code, 0);
  assert.match(gone.err, /does not exist or is not visible to you/);
});
