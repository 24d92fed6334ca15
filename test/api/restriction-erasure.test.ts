/**
 * GDPR restriction (Art. 18) and erasure (Art. 17) on the real server with the `local` driver:
 * a restricted organisation's new jobs are refused, queued ones wait with the reason, running ones
 * are stopped and requeued, and everything resumes when it is lifted. Erasure destroys the
 * organisation's keys (a database backup taken before can no longer be decrypted with the key
 * material the server keeps), stops its jobs, removes names and e-mail addresses, revokes tokens,
 * writes an erasure certificate into the audit chain, and the chain still verifies.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import SQLite from 'better-sqlite3';
import { aad } from '../../src/sovereignty/keys/envelope.js';
import { LocalFileKeyProvider } from '../../src/sovereignty/keys/local-provider.js';
import { KeyNotFoundError } from '../../src/sovereignty/keys/provider.js';
import { startLocalSiteServer } from '../helpers/local-site.js';
import { api, BIN, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const run = promisify(execFile);
let server: TestServer;
let op: ReturnType<typeof api>;

before(async () => {
  server = await startLocalSiteServer('gigafab-gdpr-');
  op = api(server.url, server.operatorToken);
});

after(async () => {
  await server?.stop();
});

async function tenant(org: string, adminName: string, email: string) {
  await op('POST', '/v1/orgs', { id: org, name: `${org} GmbH`, kind: 'enterprise' });
  await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-p` });
  await op('PUT', `/v1/projects/${org}-p/quotas/L4`, { gpus: 2 });
  const adminToken = (await tenantToken(op, org, { name: adminName, email, role: 'admin' })) as string;
  const memberToken = await tenantToken(op, org, { name: `${adminName} Jr`, role: 'member' });
  return { admin: api(server.url, adminToken), member: api(server.url, memberToken), adminToken, memberToken };
}

const sleeper = (project: string, name: string, extra: Record<string, unknown> = {}) => ({
  name,
  project,
  gpuType: 'L4',
  gpusPerNode: 2,
  command: ['sleep', '300'],
  ...extra,
});

const stateOf = async (who: ReturnType<typeof api>, id: string) => (await who('GET', `/v1/jobs/${id}`)).body;

test('restriction: new jobs refused (409), running jobs stopped and requeued, queued jobs held with the reason; lifting resumes', async () => {
  const { admin, member } = await tenant('frozen', 'Fritz Frost', 'fritz@example.com');
  const running = (await member('POST', '/v1/jobs', sleeper('frozen-p', 'long'))).body.id as string;
  await waitFor(async () => (await stateOf(member, running)).state === 'running', 'job running');
  const queued = (await member('POST', '/v1/jobs', sleeper('frozen-p', 'waits'))).body.id as string;

  assert.equal((await member('POST', '/v1/orgs/frozen/restriction', { reason: 'x' })).status, 403);
  assert.equal((await admin('POST', '/v1/orgs/frozen/restriction', {})).status, 400);
  const r = await admin('POST', '/v1/orgs/frozen/restriction', { reason: 'data subject contests accuracy' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.heldJobs, [running]);
  assert.equal((await admin('POST', '/v1/orgs/frozen/restriction', { reason: 'again' })).body.code, 'already_restricted');

  const refused = await member('POST', '/v1/jobs', sleeper('frozen-p', 'new'));
  assert.equal(refused.status, 409);
  assert.equal(refused.body.code, 'processing_restricted');
  assert.match(refused.body.detail, /restricted since .* \(data subject contests accuracy\)/);

  for (const id of [running, queued]) {
    const j = await waitFor(async () => {
      const s = await stateOf(member, id);
      return s.state === 'queued' && s.pendingReason?.code === 'processing_restricted' ? s : null;
    }, `job ${id} held`);
    assert.match(j.pendingReason.message, /restricted/);
  }
  const events = (await member('GET', `/v1/jobs/${running}/events`)).body;
  const types = (Array.isArray(events) ? events : events.items).map((e: { type: string }) => e.type);
  assert.ok(types.includes('holding'), `events: ${types}`);
  // Held: several cycles later still not started.
  await new Promise((res) => setTimeout(res, 600));
  assert.equal((await stateOf(member, queued)).state, 'queued');

  const cli = await run(process.execPath, [BIN, 'restriction', 'show', '--org', 'frozen'], {
    env: { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: server.operatorToken, GIGAFAB_CONFIG: '/nonexistent' },
  });
  assert.match(cli.stdout, /Restricted:\s+yes/);

  const lifted = await admin('DELETE', '/v1/orgs/frozen/restriction');
  assert.equal(lifted.body.restricted, false);
  // Quota allows one of the two at a time: whichever the scheduler picks, processing resumes.
  await waitFor(async () => {
    const states = [(await stateOf(member, running)).state, (await stateOf(member, queued)).state];
    return states.includes('running');
  }, 'a held job runs again');
  assert.equal((await member('POST', '/v1/jobs', sleeper('frozen-p', 'after'))).status, 201);
  const audit = (await admin('GET', '/v1/audit?limit=200')).body.items.map((a: { action: string }) => a.action);
  for (const a of ['org.restrict', 'job.hold', 'job.requeue', 'org.unrestrict']) assert.ok(audit.includes(a), `audit has ${a}`);
  for (const j of (await member('GET', '/v1/jobs?project=frozen-p')).body.items) {
    if (j.state === 'queued' || j.state === 'running') await member('POST', `/v1/jobs/${j.id}/cancel`);
  }
});

test('erasure: keys destroyed (a backup cannot be decrypted), jobs stopped, personal data removed, certificate in a chain that still verifies', async () => {
  const { admin, member } = await tenant('gone', 'Erika Mustermann', 'erika@example.com');
  const secret = await admin('POST', '/v1/orgs/gone/secrets', { name: 'db-password', value: 'correct horse battery staple' });
  assert.equal(secret.status, 201);
  const job = (await member('POST', '/v1/jobs', sleeper('gone-p', 'runs', { secretEnv: { DB: 'db-password' } }))).body
    .id as string;
  await waitFor(async () => (await stateOf(member, job)).state === 'running', 'job running');

  // A backup of the database, taken before the erasure (the WAL holds the latest pages).
  const backup = mkdtempSync(join(tmpdir(), 'gigafab-backup-'));
  for (const f of ['gigafab.db', 'gigafab.db-wal', 'gigafab.db-shm']) {
    if (existsSync(join(server.dataDir, f))) copyFileSync(join(server.dataDir, f), join(backup, f));
  }

  const wrong = await admin('POST', '/v1/orgs/gone/erasure', { confirm: 'gon', reason: 'contract ended' });
  assert.equal(wrong.status, 422);
  assert.equal(wrong.body.code, 'confirmation_mismatch');
  assert.equal((await member('POST', '/v1/orgs/gone/erasure', { confirm: 'gone', reason: 'x' })).status, 403);

  const erased = await admin('POST', '/v1/orgs/gone/erasure', { confirm: 'gone', reason: 'contract ended' });
  assert.equal(erased.status, 201, JSON.stringify(erased.body));
  const cert = erased.body;
  assert.equal(cert.type, 'gigafab-erasure-certificate-v1');
  assert.equal(cert.keysDestroyed.length, 1);
  assert.equal(cert.keysDestroyed[0].stillHeldByProvider, false);
  assert.equal(cert.secretsUnreadable, 1);
  assert.equal(cert.usersPseudonymised, 2);
  assert.deepEqual(cert.jobsStopped, [job]);

  // Tokens revoked; the job stops; the organisation stays frozen.
  assert.equal((await admin('GET', '/v1/whoami')).status, 401);
  await waitFor(async () => (await stateOf(op, job)).state === 'cancelled', 'job cancelled');
  assert.equal((await op('DELETE', '/v1/orgs/gone/restriction')).body.code, 'org_erased');
  assert.equal((await op('POST', '/v1/orgs/gone/erasure', { confirm: 'gone', reason: 'again' })).body.code, 'org_erased');
  assert.deepEqual((await op('GET', '/v1/orgs/gone/erasure')).body, cert);

  // Personal data is gone from the live tables; the audit log never held it.
  // (Read from the database: operators see tenant-created users' names withheld anyway.)
  const liveDb = new SQLite(join(server.dataDir, 'gigafab.db'), { readonly: true });
  const users = liveDb.prepare(`SELECT name, email FROM users WHERE org_id = 'gone'`).all() as {
    name: string;
    email: string | null;
  }[];
  liveDb.close();
  assert.equal(users.length, 2);
  assert.ok(users.every((u) => u.name === '[erased]' && u.email === null));
  const exported = await (
    await fetch(`${server.url}/v1/audit/export`, { headers: { authorization: `Bearer ${server.operatorToken}` } })
  ).text();
  assert.ok(
    !/Erika|Mustermann|erika@example\.com|Fritz|fritz@/.test(exported),
    'audit records name actors by pseudonymous ids only',
  );
  const certRecord = exported
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((r) => r.action === 'org.erasure-certificate');
  assert.equal(JSON.parse(certRecord.after).id, cert.id);

  // The chain still verifies, through the API and the CLI.
  const verify = await op('GET', '/v1/audit/verify');
  assert.equal(verify.body.ok, true, JSON.stringify(verify.body.problem));
  const cli = await run(process.execPath, [BIN, 'audit', 'verify'], {
    env: { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: server.operatorToken, GIGAFAB_CONFIG: '/nonexistent' },
  });
  assert.match(cli.stdout, /OK|ok/);

  // Crypto-shredding: the backup still holds the ciphertext and the wrapped data key, but the
  // KEK is gone from the key provider, so nothing the server keeps can open them.
  const db = new SQLite(join(backup, 'gigafab.db'), { readonly: true });
  const row = db
    .prepare(
      `SELECT s.id, s.ciphertext, s.data_key_id, d.wrapped, d.kek_version FROM secrets s JOIN data_keys d ON d.id = s.data_key_id WHERE s.org_id = 'gone'`,
    )
    .get() as { id: string; ciphertext: string; data_key_id: string; wrapped: string; kek_version: number };
  const kek = db.prepare(`SELECT key_id FROM org_keks WHERE org_id = 'gone'`).get() as { key_id: string };
  db.close();
  assert.ok(row.ciphertext.length > 0 && row.wrapped.length > 0);
  assert.ok(!readFileSync(join(server.dataDir, 'keys', 'keks.json'), 'utf8').includes(kek.key_id));
  const provider = new LocalFileKeyProvider(join(server.dataDir, 'keys'));
  await assert.rejects(
    provider.unwrap(kek.key_id, Buffer.from(row.wrapped, 'base64'), aad('dek', 'gone', row.data_key_id, row.kek_version)),
    KeyNotFoundError,
  );
  // Not with any other key the server holds either (the other organisations' KEKs).
  const keks = JSON.parse(readFileSync(join(server.dataDir, 'keys', 'keks.json'), 'utf8')) as Record<string, unknown>;
  for (const other of Object.keys(keks)) {
    await assert.rejects(
      provider.unwrap(other, Buffer.from(row.wrapped, 'base64'), aad('dek', 'gone', row.data_key_id, row.kek_version)),
    );
  }
  // And the live database no longer holds the wrapped data key at all.
  const live = new SQLite(join(server.dataDir, 'gigafab.db'), { readonly: true });
  const liveKey = live.prepare(`SELECT wrapped, state FROM data_keys WHERE id = ?`).get(row.data_key_id) as {
    wrapped: string | null;
  };
  live.close();
  assert.equal(liveKey.wrapped, null);
});

test('a restriction survives a restart: held jobs stay queued with the reason', async () => {
  const t = await tenant('paused', 'Paula Pause', 'paula@example.com');
  let { admin, member } = t;
  const id = (await member('POST', '/v1/jobs', sleeper('paused-p', 'long'))).body.id as string;
  await waitFor(async () => (await stateOf(member, id)).state === 'running', 'job running');
  await admin('POST', '/v1/orgs/paused/restriction', { reason: 'legal hold' });
  await waitFor(async () => (await stateOf(member, id)).state === 'queued', 'job requeued');
  await server.restart();
  // The restarted server listens on a new port.
  admin = api(server.url, t.adminToken);
  member = api(server.url, t.memberToken);
  const after = await waitFor(async () => {
    const j = await stateOf(member, id);
    return j.pendingReason?.code === 'processing_restricted' ? j : null;
  }, 'held after restart');
  assert.equal(after.state, 'queued');
  assert.equal((await admin('GET', '/v1/orgs/paused/restriction')).body.reason, 'legal hold');
  assert.equal((await member('POST', '/v1/jobs', sleeper('paused-p', 'new'))).body.code, 'processing_restricted');
});
