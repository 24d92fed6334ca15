/**
 * An organisation's registry allow-list against the real server: its admin sets it (audited), its
 * members read it, a viewer cannot set it (403), another organisation's admin cannot see it (404),
 * bad patterns answer 422 registry_pattern_invalid; a job whose image comes from elsewhere is refused
 * at submission with 422 registry_not_allowed naming the allowed hosts; the list survives a restart;
 * an empty list lifts it; `gigafab org registries set|show`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
let acmeToken: string;

before(async () => {
  server = await startTestServer({ fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-orgreg-'))) });
  op = api(server.url, server.operatorToken);
  for (const org of ['acme', 'other']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` })).status, 201);
    assert.equal((await op('PUT', `/v1/projects/${org}-ml/quotas/B200`, { gpus: 16 })).status, 200);
  }
  acmeToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' });
  acme = api(server.url, acmeToken);
});

after(async () => {
  await server?.stop();
});

const job = (name: string, image: string) => ({ name, project: 'acme-ml', gpuType: 'B200', gpusPerNode: 1, image });

test('an org admin sets the allow-list; an image from elsewhere is refused 422 registry_not_allowed, one from it is admitted', async () => {
  assert.deepEqual((await acme('GET', '/v1/orgs/acme/registries')).body, { org: 'acme', registries: [] });
  // No list yet: Docker Hub is fine.
  assert.equal((await acme('POST', '/v1/jobs', job('hub-before', 'pytorch/pytorch:2.5'))).status, 201);

  const set = await acme('PUT', '/v1/orgs/acme/registries', { registries: ['Registry.EU.example', '*.corp.example'] });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.deepEqual(set.body, { org: 'acme', registries: ['*.corp.example', 'registry.eu.example'] });

  const refused = await acme('POST', '/v1/jobs', job('hub', 'pytorch/pytorch:2.5'));
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'registry_not_allowed');
  assert.match(refused.body.detail, /does not allow pulls from docker\.io \(allowed: \*\.corp\.example, registry\.eu\.example\)/);
  // `evil-corp.example` is no subdomain of corp.example.
  assert.equal((await acme('POST', '/v1/jobs', job('lookalike', 'evil-corp.example/x:1'))).body.code, 'registry_not_allowed');

  for (const image of ['registry.eu.example/ml/train:1', `harbor.corp.example/team/x@sha256:${'a'.repeat(64)}`]) {
    const ok = await acme('POST', '/v1/jobs', job(`ok-${image.length}`, image));
    assert.equal(ok.status, 201, `${image}: ${JSON.stringify(ok.body)}`);
  }
  // Another organisation's jobs are not restricted by acme's list.
  const otherAdmin = api(server.url, await tenantToken(op, 'other', { name: 'Olga', role: 'admin' }));
  const theirs = await otherAdmin('POST', '/v1/jobs', { ...job('theirs', 'pytorch/pytorch:2.5'), project: 'other-ml' });
  assert.equal(theirs.status, 201, JSON.stringify(theirs.body));

  const audit = (await op('GET', '/v1/audit?limit=1000')).body.items.filter(
    (e: { action: string }) => e.action === 'org.registries.set',
  );
  assert.equal(audit.length, 1);
  assert.equal(audit[0].org, 'acme');
});

test('who may: a viewer reads but gets 403 setting; another org’s admin gets 404 both ways; operators set', async () => {
  const viewer = api(server.url, await tenantToken(op, 'acme', { name: 'Vic', role: 'viewer' }));
  assert.equal((await viewer('GET', '/v1/orgs/acme/registries')).status, 200);
  const denied = await viewer('PUT', '/v1/orgs/acme/registries', { registries: [] });
  assert.deepEqual([denied.status, denied.body.code], [403, 'forbidden']);
  const stranger = api(server.url, await tenantToken(op, 'other', { name: 'Otto', role: 'admin' }));
  for (const r of [
    await stranger('GET', '/v1/orgs/acme/registries'),
    await stranger('PUT', '/v1/orgs/acme/registries', { registries: [] }),
  ])
    assert.deepEqual([r.status, r.body.code], [404, 'org_not_found']);
  assert.equal((await op('GET', '/v1/orgs/no-such-org/registries')).status, 404);
  const byOperator = await op('PUT', '/v1/orgs/acme/registries', { registries: ['registry.eu.example', '*.corp.example'] });
  assert.equal(byOperator.status, 200, JSON.stringify(byOperator.body));
  // Nothing changed by the refused writes.
  assert.deepEqual((await acme('GET', '/v1/orgs/acme/registries')).body.registries, ['*.corp.example', 'registry.eu.example']);
});

test('bad patterns answer 422 registry_pattern_invalid naming each, and leave the list as it was', async () => {
  const bad = await acme('PUT', '/v1/orgs/acme/registries', { registries: ['ok.example', 'https://x.example/y', '*.com'] });
  assert.equal(bad.status, 422, JSON.stringify(bad.body));
  assert.equal(bad.body.code, 'registry_pattern_invalid');
  assert.match(bad.body.detail, /https:\/\/x\.example\/y/);
  assert.deepEqual((await acme('GET', '/v1/orgs/acme/registries')).body.registries, ['*.corp.example', 'registry.eu.example']);
});

test('the list survives a restart; an empty list lifts it', async () => {
  await server.restart();
  op = api(server.url, server.operatorToken);
  acme = api(server.url, acmeToken);
  assert.equal(
    (await acme('POST', '/v1/jobs', job('hub-after-restart', 'pytorch/pytorch:2.5'))).body.code,
    'registry_not_allowed',
  );
  assert.deepEqual((await acme('PUT', '/v1/orgs/acme/registries', { registries: [] })).body.registries, []);
  assert.equal((await acme('POST', '/v1/jobs', job('hub-lifted', 'pytorch/pytorch:2.5'))).status, 201);
});

test('gigafab org registries set|show', async () => {
  const { gigafab } = cliRunner('gigafab-orgreg-cli-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const set = await gigafab(['org', 'registries', 'set', 'acme', 'registry.eu.example', '*.corp.example'], env);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /org acme pulls images only from: \*\.corp\.example, registry\.eu\.example/);
  const show = await gigafab(['org', 'registries', 'show', 'acme', '-o', 'json'], env);
  assert.equal(show.code, 0, show.err);
  assert.deepEqual(JSON.parse(show.out).registries, ['*.corp.example', 'registry.eu.example']);
  const bad = await gigafab(['org', 'registries', 'set', 'acme', 'https://x'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /registry_pattern_invalid|not a registry host pattern/);
  const lift = await gigafab(['org', 'registries', 'set', 'acme'], env);
  assert.match(lift.out, /no registry restriction of its own/);
});
