/**
 * Tamper evidence: edit, delete, reorder or truncate audit records behind the server's back and
 * `audit verify` names the first bad record; a tenant's export verifies offline, and a doctored export
 * does not.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import SQLite from 'better-sqlite3';
import { api, BIN, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const run = promisify(execFile);
let server: TestServer;
let pristine: string; // a stopped copy of the data directory, checkpoint included
let adminToken: string;

before(async () => {
  server = await startTestServer();
  const op = api(server.url, server.operatorToken);
  for (const org of ['hospital', 'carmaker']) {
    await op('POST', '/v1/orgs', { id: org, name: org, kind: 'enterprise' });
    await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ai` });
    await op('PUT', `/v1/projects/${org}-ai/quotas/B200`, { gpus: 16 });
  }
  adminToken = await tenantToken(op, 'hospital', { name: 'Admin', role: 'admin' });
  const h = api(server.url, adminToken);
  for (let i = 0; i < 5; i++)
    await h('POST', '/v1/jobs', { name: `j${i}`, project: 'hospital-ai', gpuType: 'B200', simulation: { durationSeconds: 10 } });
  await waitFor(async () => (await h('GET', '/v1/jobs?state=succeeded')).body.items.length === 5, 'jobs to finish');
  await server.stop(); // a graceful stop signs a checkpoint over everything so far
  pristine = mkdtempSync(join(tmpdir(), 'gigafab-audit-'));
  cpSync(server.dataDir, pristine, { recursive: true });
  await server.restart();
});

after(async () => {
  await server?.stop();
});

async function verifyCli(url: string, token: string, extra: string[] = []) {
  try {
    const r = await run(process.execPath, [BIN, 'audit', 'verify', ...extra], {
      env: { ...process.env, GIGAFAB_URL: url, GIGAFAB_TOKEN: token, GIGAFAB_CONFIG: '/nonexistent' },
    });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

test('an untouched log verifies, with a signed checkpoint', async () => {
  const r = await api(server.url, server.operatorToken)('GET', '/v1/audit/verify');
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, true, JSON.stringify(r.body));
  assert.ok(r.body.checked > 10);
  assert.ok(r.body.checkpoint);
  const cli = await verifyCli(server.url, server.operatorToken);
  assert.equal(cli.code, 0);
  assert.match(cli.out, /^OK: \d+ records of the whole log verify/);
});

const tampers: [string, (db: SQLite.Database, last: number) => number][] = [
  [
    'an edited record',
    (db) => {
      db.prepare('UPDATE audit SET after = \'{"gpus":9999}\' WHERE id = 5').run();
      return 5;
    },
  ],
  [
    'a deleted record',
    (db) => {
      db.prepare('DELETE FROM audit WHERE id = 7').run();
      return 7;
    },
  ],
  [
    'two swapped records',
    (db) => {
      const a = db.prepare('SELECT * FROM audit WHERE id = 8').get() as Record<string, unknown>;
      const b = db.prepare('SELECT * FROM audit WHERE id = 9').get() as Record<string, unknown>;
      const set = db.prepare(
        'UPDATE audit SET at=@at, actor=@actor, org_id=@org_id, action=@action, object_type=@object_type, object_id=@object_id, before=@before, after=@after, request_id=@request_id, prev_hash=@prev_hash, hash=@hash, org_prev_hash=@org_prev_hash, org_hash=@org_hash WHERE id=@target',
      );
      set.run({ ...b, target: 8 });
      set.run({ ...a, target: 9 });
      return 8;
    },
  ],
  [
    'a truncated tail',
    (db, last) => {
      db.prepare('DELETE FROM audit WHERE id > ?').run(last - 3);
      return last - 2;
    },
  ],
];

for (const [name, tamper] of tampers) {
  test(`verify names the first bad record: ${name}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gigafab-tamper-'));
    cpSync(pristine, dir, { recursive: true });
    const db = new SQLite(join(dir, 'gigafab.db'));
    db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;'); // what an attacker with file access can do
    const last = (db.prepare('SELECT max(id) AS m FROM audit').get() as { m: number }).m;
    const bad = tamper(db, last);
    db.close();
    const s = await startTestServer({ dataDir: dir });
    try {
      const r = await api(s.url, s.operatorToken)('GET', '/v1/audit/verify');
      assert.equal(r.body.ok, false);
      assert.equal(r.body.problem.recordId, bad, r.body.problem.reason);
      const cli = await verifyCli(s.url, s.operatorToken);
      assert.equal(cli.code, 4);
      assert.match(cli.out, new RegExp(`first bad record: ${bad}\\b`));
    } finally {
      await s.stop();
    }
  });
}

test("a tenant exports its slice and verifies it offline; a doctored export fails; others' records are absent", async () => {
  const h = api(server.url, adminToken);
  const exp = await fetch(`${server.url}/v1/audit/export`, { headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(exp.status, 200);
  const text = await exp.text();
  const lines = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines[0].type, 'checkpoint');
  assert.ok(lines.slice(1).every((l: { org: string }) => l.org === 'hospital'));
  const file = join(mkdtempSync(join(tmpdir(), 'gigafab-export-')), 'audit.jsonl');
  writeFileSync(file, text);
  const ok = await verifyCli(server.url, adminToken, ['--file', file, '--key-id', lines[0].keyId]);
  assert.equal(ok.code, 0, ok.out);
  const doctored = readFileSync(file, 'utf8').replace('"action":"job.submit"', '"action":"job.cancel"');
  writeFileSync(file, doctored);
  const bad = await verifyCli(server.url, adminToken, ['--file', file]);
  assert.equal(bad.code, 4);
  assert.match(bad.out, /altered/);
  const csv = await fetch(`${server.url}/v1/audit/export?format=csv`, { headers: { authorization: `Bearer ${adminToken}` } });
  assert.match((await csv.text()).split('\n')[0]!, /^id,at,actor,org,action/);
  const member = await h('POST', '/v1/orgs/hospital/users', { name: 'M', role: 'member' });
  assert.equal((await api(server.url, member.body.token)('GET', '/v1/audit/verify')).status, 403);
  assert.equal((await h('GET', '/v1/audit/verify')).body.ok, true);
});
