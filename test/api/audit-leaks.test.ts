/**
 * Audit leaks (issue 11, defect 7): operators read no tenant-written text in audit records (a
 * secret's description and name, a dataset's name) — in the list, the JSON Lines export or the CSV
 * export — while the tenant sees its own slice in full; and an organisation's admin never learns
 * other organisations' ids or chain heads from verify or export, yet can still check the signed
 * checkpoint offline.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { api, BIN, startTestServer, type TestServer } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

const run = promisify(execFile);
const MARK = `leak${Date.now().toString(36)}`;
/** The other organisation's id: operators may see it (they created it), acme's admin may not. */
const ZETA = `zeta-${Date.now().toString(36)}`;
let server: TestServer;
let op: ReturnType<typeof api>;
let acmeToken: string;
let acme: ReturnType<typeof api>;

const fetchText = async (path: string, token: string) =>
  (await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).text();

before(async () => {
  server = await startTestServer();
  op = api(server.url, server.operatorToken);
  // The second organisation's id is itself a marker: acme must never see it.
  for (const org of ['acme', ZETA]) await op('POST', '/v1/orgs', { id: org, name: org, kind: 'enterprise' });
  acmeToken = (await tenantUser(op, 'acme', { name: 'Ada', role: 'admin' })).token;
  acme = api(server.url, acmeToken);
  const zeta = api(server.url, (await tenantUser(op, ZETA, { name: 'Zed', role: 'admin' })).token);
  const s = await acme('PUT', `/v1/orgs/acme/secrets/db-${MARK}`, { value: 'hunter2', description: `desc-${MARK}` });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  await op('POST', '/v1/orgs/acme/projects', { id: 'acme-p' });
  await op('POST', `/v1/orgs/${ZETA}/projects`, { id: 'zeta-p' });
  await zeta('PUT', `/v1/orgs/${ZETA}/secrets/z`, { value: 'x' });
  // Signed checkpoints cover both organisations.
  await server.stop();
  await server.restart();
  op = api(server.url, server.operatorToken);
  acme = api(server.url, acmeToken);
});

after(async () => {
  await server?.stop();
});

describe('operators read no tenant-written text in audit records', () => {
  test('GET /v1/audit withholds the payload and the secret name, and says so', async () => {
    const text = JSON.stringify((await op('GET', '/v1/audit?limit=1000')).body);
    assert.ok(
      !text.includes(MARK),
      `operator audit view leaks: ${text.slice(text.indexOf(MARK) - 300, text.indexOf(MARK) + 50)}`,
    );
    const items = (await op('GET', '/v1/audit?limit=1000')).body.items;
    const created = items.find((r: { action: string; org: string }) => r.action === 'secret.create' && r.org === 'acme');
    assert.ok(created);
    assert.equal(created.after, null);
    assert.match(created.objectId, /^withheld:[0-9a-f]{12}$/);
    assert.deepEqual(created.redacted, ['before', 'after', 'objectId']);
    // Operator-written and system records stay readable.
    const project = items.find(
      (r: { action: string; objectId: string }) => r.action === 'project.create' && r.objectId === 'acme-p',
    );
    assert.equal(project.after.org, 'acme');
    // An operator's own record shows what it wrote (after); a 'before' copied from a tenant object would be withheld.
    assert.equal(project.redacted, undefined);
  });

  test('the JSON Lines and CSV exports withhold it too', async () => {
    for (const format of ['jsonl', 'csv']) {
      const text = await fetchText(`/v1/audit/export?format=${format}`, server.operatorToken);
      assert.ok(text.includes('secret.create'), format);
      assert.ok(!text.includes(MARK), `${format} export leaks tenant text`);
    }
  });

  test('the tenant sees its own records in full', async () => {
    const items = (await acme('GET', '/v1/audit?limit=1000')).body.items;
    const created = items.find((r: { action: string }) => r.action === 'secret.create');
    assert.equal(created.objectId, `db-${MARK}`);
    // The chain itself is not encrypted, so even the tenant's record says only that a description was given.
    assert.equal(created.after.described, true);
    assert.equal(created.redacted, undefined);
  });
});

describe("an organisation's admin sees no other organisation's chain", () => {
  test('verify and export name only its own head; the checkpoint still verifies offline', async () => {
    const verify = await acme('GET', '/v1/audit/verify');
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
    assert.deepEqual(Object.keys(verify.body.checkpoint.orgHeads), ['acme']);
    assert.ok(!JSON.stringify(verify.body).includes(ZETA), 'verify names another organisation');
    const whole = await op('GET', '/v1/audit/verify');
    assert.ok(Object.keys(whole.body.checkpoint.orgHeads).includes(ZETA), 'operators see every head');

    const exported = await fetchText('/v1/audit/export', acmeToken);
    assert.ok(!exported.includes(ZETA), 'export names another organisation');
    const head = JSON.parse(exported.split('\n')[0]!);
    assert.deepEqual(Object.keys(head.checkpoint.orgHeads), ['acme']);
    const file = join(mkdtempSync(join(tmpdir(), 'gigafab-leaks-')), 'acme.jsonl');
    writeFileSync(file, exported);
    const ok = await run(process.execPath, [BIN, 'audit', 'verify', '--file', file, '--key-id', head.keyId], {
      env: { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken },
    });
    assert.match(ok.stdout, /records verify/);
    // A checkpoint edited to claim another head for acme fails: the checkpoint signed a commitment to the real one.
    const [id] = head.checkpoint.orgHeads.acme;
    const forged = { ...head, checkpoint: { ...head.checkpoint, orgHeads: { acme: [id, '0'.repeat(64)] } } };
    writeFileSync(file, [JSON.stringify(forged), ...exported.split('\n').slice(1)].join('\n'));
    const bad = await run(process.execPath, [BIN, 'audit', 'verify', '--file', file], {
      env: { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    assert.equal((bad as { code?: number }).code, 4);
  });
});
