/**
 * A customer-managed key through the whole server: the operator connects the customer's KMS
 * (GIGAFAB_KMS_PROVIDERS), the organisation moves its KEK there by rotation, jobs still get their
 * secrets (every unwrap is visible in the KMS's own log), and when the customer revokes the key at
 * their KMS, gigafab can no longer decrypt: the next job that needs the secret fails with a
 * readable reason and no secret material.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { api, REPO, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const VALUE = 'customer-held-s3cret-value';
let kms: ChildProcess;
let kmsUrl: string;
let kmsOut = '';
let server: TestServer;

before(async () => {
  kms = spawn(
    process.execPath,
    [join(REPO, 'dist/src/sovereignty/keys/kms-server.js'), '--dir', mkdtempSync(join(tmpdir(), 'gigafab-ckms-')), '--port', '0'],
    { env: { ...process.env, GIGAFAB_KMS_SERVER_TOKEN: 'tok-123' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  kms.stdout!.on('data', (d) => {
    kmsOut += d;
  });
  kmsUrl = await waitFor(async () => /kms listening on (\S+)/.exec(kmsOut)?.[1], 'kms to start');
  server = await startTestServer({
    env: { GIGAFAB_KMS_PROVIDERS: `customer-kms=${kmsUrl}`, GIGAFAB_KMS_TOKEN_CUSTOMER_KMS: 'tok-123' },
  });
});

after(async () => {
  await server?.stop();
  kms?.kill();
});

test('KEK moved to the customer KMS; jobs get secrets through it; revoking the key there stops decryption', async () => {
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'bank', name: 'Bank', kind: 'enterprise' });
  await op('POST', '/v1/orgs/bank/projects', { id: 'bank-ml' });
  await op('PUT', '/v1/projects/bank-ml/quotas/B200', { gpus: 8 });
  const admin = api(server.url, await tenantToken(op, 'bank', { name: 'A', role: 'admin' }));
  assert.equal((await admin('POST', '/v1/orgs/bank/secrets', { name: 'api-key', value: VALUE })).status, 201);

  const keys = await admin('GET', '/v1/orgs/bank/keys');
  assert.deepEqual(keys.body.providers, ['local', 'customer-kms']);
  assert.equal(keys.body.keks[0].provider, 'local');
  const moved = await admin('POST', '/v1/orgs/bank/keys/rotate', { provider: 'customer-kms' });
  assert.equal(moved.status, 200);
  assert.equal(moved.body.provider, 'customer-kms');
  assert.match(kmsOut, new RegExp(`kms: create key=${moved.body.keyId}`));

  const job = {
    name: 'uses-key',
    project: 'bank-ml',
    gpuType: 'B200',
    gpusPerNode: 1,
    secretEnv: { API_KEY: 'api-key' },
    simulation: { durationSeconds: 1 },
  };
  const j1 = await admin('POST', '/v1/jobs', job);
  assert.equal(j1.status, 201);
  await waitFor(async () => (await admin('GET', `/v1/jobs/${j1.body.id}`)).body.state === 'succeeded', 'job 1 succeeded');
  assert.match(kmsOut, new RegExp(`kms: unwrap key=${moved.body.keyId} ok`));

  // The customer revokes the key at their own KMS.
  const revoke = await fetch(`${kmsUrl}/v1/keys/${moved.body.keyId}`, {
    method: 'DELETE',
    headers: { authorization: 'Bearer tok-123' },
  });
  assert.equal(revoke.status, 204);
  const j2 = await admin('POST', '/v1/jobs', { ...job, name: 'after-revoke' });
  const failed = await waitFor(async () => {
    const j = (await admin('GET', `/v1/jobs/${j2.body.id}`)).body;
    return j.state === 'failed' ? j : null;
  }, 'job 2 failed');
  const events = (await admin('GET', `/v1/jobs/${failed.id}/events`)).body;
  const text = JSON.stringify(events);
  assert.match(text, /cannot be decrypted: its key was destroyed/);
  assert.ok(!text.includes(VALUE));
  assert.ok(!server.output().includes(VALUE));
  assert.ok(!kmsOut.includes(VALUE));
});
