/**
 * The audit tamper matrix, as an attacker with the database file would play it: a real server writes a
 * log, is killed with SIGKILL (no clean shutdown, no last checkpoint), and each case tampers with a copy
 * of the SQLite file — edit, delete, reorder, truncate (with and without the checkpoints covering the
 * cut), remove a checkpoint, forge the tail with recomputed hashes — then starts a server on it.
 * `audit verify` (API and CLI, operator and tenant) must fail and name the first bad record.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import SQLite from 'better-sqlite3';
import { recordHash } from '../../src/store/audit-chain.js';
import { api, BIN, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken as onboardedToken } from '../helpers/tenants.js';

const run = promisify(execFile);
let pristine: string; // the data directory as the SIGKILLed server left it
let tenantToken: string; // the hospital's admin
/** Heads kept outside the database just before the kill: the whole log's (operator) and the hospital's. */
let opHead: { id: number; hash: string };
let tenantHead: { id: number; hash: string };
/** The heads verified after the first phase of activity: everything after them came later. */
let opMid: { id: number; hash: string };

async function activity(server: TestServer, token: string, org: string, n: number, from: number) {
  const h = api(server.url, token);
  for (let i = 0; i < n; i++) {
    const r = await h('POST', '/v1/jobs', {
      name: `j${from + i}`,
      project: `${org}-ai`,
      gpuType: 'B200',
      simulation: { durationSeconds: 10 },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  await waitFor(
    async () => (await h('GET', '/v1/jobs?state=succeeded')).body.items.length === from + n,
    `${org}'s jobs to finish`,
  );
}

before(async () => {
  const server = await startTestServer();
  const op = api(server.url, server.operatorToken);
  const tokens: Record<string, string> = {};
  for (const org of ['hospital', 'carmaker']) {
    await op('POST', '/v1/orgs', { id: org, name: org, kind: 'enterprise' });
    await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ai` });
    await op('PUT', `/v1/projects/${org}-ai/quotas/B200`, { gpus: 16 });
    tokens[org] = await onboardedToken(op, org, { name: 'Admin', role: 'admin' });
  }
  tenantToken = tokens.hospital!;
  await activity(server, tokens.hospital!, 'hospital', 3, 0);
  await activity(server, tokens.carmaker!, 'carmaker', 2, 0);
  opMid = (await op('GET', '/v1/audit/verify')).body.head;
  await activity(server, tokens.hospital!, 'hospital', 3, 3);
  await activity(server, tokens.carmaker!, 'carmaker', 2, 2);
  const v = await op('GET', '/v1/audit/verify');
  assert.equal(v.body.ok, true, JSON.stringify(v.body));
  opHead = v.body.head;
  const t = await api(server.url, tenantToken)('GET', '/v1/audit/verify');
  assert.equal(t.body.ok, true, JSON.stringify(t.body));
  tenantHead = t.body.head;
  await server.stop('SIGKILL'); // a crash: nothing runs at shutdown
  pristine = mkdtempSync(join(tmpdir(), 'gigafab-tamper-pristine-'));
  cpSync(server.dataDir, pristine, { recursive: true });
});

type Row = Record<string, unknown> & { id: number; org_id: string | null };

/** tampered copies the crashed data directory, lets `tamper` edit the database file, and serves it. */
async function tampered(tamper: (db: SQLite.Database) => void): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-tamper-'));
  cpSync(pristine, dir, { recursive: true });
  const db = new SQLite(join(dir, 'gigafab.db'));
  db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;'); // what an attacker with file access can do
  tamper(db);
  db.close();
  return startTestServer({ dataDir: dir });
}

const all = (db: SQLite.Database, where = '1=1', ...args: unknown[]) =>
  db.prepare(`SELECT * FROM audit WHERE ${where} ORDER BY id`).all(...args) as Row[];
const maxId = (db: SQLite.Database) => (db.prepare('SELECT max(id) AS m FROM audit').get() as { m: number }).m;

/**
 * forge rewrites record `id` (its `after` field) and recomputes every hash from it on, in both
 * chains, as an attacker who knows the documented hash form would: each record is consistent again.
 */
function forge(db: SQLite.Database, id: number): void {
  db.prepare(`UPDATE audit SET after = '{"forged":true}' WHERE id = ?`).run(id);
  const prev = db.prepare('SELECT hash FROM audit WHERE id < ? ORDER BY id DESC LIMIT 1').get(id) as { hash: string } | undefined;
  let prevHash = prev?.hash ?? '';
  const orgPrev = new Map<string, string>();
  const set = db.prepare('UPDATE audit SET prev_hash = ?, hash = ?, org_prev_hash = ?, org_hash = ? WHERE id = ?');
  for (const r of all(db, 'id >= ?', id)) {
    const rec = {
      id: r.id,
      at: r.at as string,
      actor: r.actor as string,
      org: r.org_id,
      action: r.action as string,
      objectType: r.object_type as string,
      objectId: r.object_id as string,
      before: r.before as string | null,
      after: r.after as string | null,
      requestId: r.request_id as string | null,
    };
    const hash = recordHash(rec, prevHash);
    let op: string | null = null;
    let oh: string | null = null;
    if (r.org_id) {
      op =
        orgPrev.get(r.org_id) ??
        (
          db.prepare('SELECT org_hash FROM audit WHERE org_id = ? AND id < ? ORDER BY id DESC LIMIT 1').get(r.org_id, id) as
            | { org_hash: string }
            | undefined
        )?.org_hash ??
        '';
      oh = recordHash(rec, op);
      orgPrev.set(r.org_id, oh);
    }
    set.run(prevHash, hash, op, oh, r.id);
    prevHash = hash;
  }
}

async function verifyCli(url: string, token: string, extra: string[] = []) {
  try {
    const r = await run(process.execPath, [BIN, 'audit', 'verify', ...extra], {
      env: { ...process.env, GIGAFAB_URL: url, GIGAFAB_TOKEN: token, GIGAFAB_CONFIG: '/nonexistent' },
    });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: `${e.stdout}${e.stderr}` };
  }
}

const since = (h: { id: number; hash: string }) => `?sinceId=${h.id}&sinceHash=${h.hash}`;

/** expectBad: verify as the operator (whole log) and as the tenant (its slice) names these records. */
async function expectBad(s: TestServer, opBad: number, tenantBad: number | null, query = { op: '', tenant: '' }) {
  const o = await api(s.url, s.operatorToken)('GET', `/v1/audit/verify${query.op}`);
  assert.equal(o.status, 200);
  assert.equal(o.body.ok, false, 'the operator verify passed');
  assert.equal(o.body.problem.recordId, opBad, o.body.problem.reason);
  if (tenantBad === null) return;
  const t = await api(s.url, tenantToken)('GET', `/v1/audit/verify${query.tenant}`);
  assert.equal(t.body.ok, false, 'the tenant verify passed');
  assert.equal(t.body.problem.recordId, tenantBad, t.body.problem.reason);
}

test('the crashed log verifies untouched, and against the heads kept before the crash', async () => {
  const s = await tampered(() => {});
  try {
    const o = await api(s.url, s.operatorToken)('GET', `/v1/audit/verify${since(opHead)}`);
    assert.equal(o.body.ok, true, JSON.stringify(o.body.problem));
    assert.ok(o.body.head.id >= opHead.id);
    const t = await api(s.url, tenantToken)('GET', `/v1/audit/verify${since(tenantHead)}`);
    assert.equal(t.body.ok, true, JSON.stringify(t.body.problem));
    // The tenant sees its own head in the checkpoint, never another organisation's.
    assert.deepEqual(Object.keys(t.body.checkpoint.orgHeads), ['hospital']);
    const dir = mkdtempSync(join(tmpdir(), 'gigafab-head-'));
    const file = join(dir, 'head.json');
    const cli = await verifyCli(s.url, tenantToken, ['--save-head', file]);
    assert.equal(cli.code, 0, cli.out);
    const again = await verifyCli(s.url, tenantToken, ['--since-head', file]);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /contains and extends your head/);
    // The export carries the head too, and verifies offline against the head kept before the crash.
    const exp = await (await fetch(`${s.url}/v1/audit/export`, { headers: { authorization: `Bearer ${tenantToken}` } })).text();
    assert.deepEqual(JSON.parse(exp.split('\n')[0]!).head, t.body.head);
    const expFile = join(dir, 'audit.jsonl');
    writeFileSync(expFile, exp);
    writeFileSync(file, JSON.stringify({ scope: 'hospital', ...tenantHead, keyId: '', savedAt: '' }));
    const offline = await verifyCli(s.url, tenantToken, ['--file', expFile, '--since-head', file]);
    assert.equal(offline.code, 0, offline.out);
    // Nothing a tenant gets from the audit proofs names another organisation or its chain head.
    const head = await api(s.url, tenantToken)('GET', '/v1/audit/head');
    assert.equal(head.body.head.id, t.body.head.id);
    assert.equal(head.body.checkpoint.orgHeads.hospital[0], t.body.head.id);
    for (const text of [JSON.stringify(t.body), JSON.stringify(head.body), exp]) assert.doesNotMatch(text, /carmaker/);
    // Half a head is refused, not ignored.
    const half = await api(s.url, tenantToken)('GET', `/v1/audit/verify?sinceId=${tenantHead.id}`);
    assert.equal(half.status, 422);
    assert.equal(half.body.code, 'invalid_head');
  } finally {
    await s.stop();
  }
});

test('an edited record is named', async () => {
  let bad = 0;
  const s = await tampered((db) => {
    bad = all(db, "org_id = 'hospital'")[2]!.id;
    db.prepare(`UPDATE audit SET after = '{"gpus":9999}' WHERE id = ?`).run(bad);
  });
  try {
    await expectBad(s, bad, bad);
  } finally {
    await s.stop();
  }
});

test('a deleted record is named (the tenant: its next record, which no longer links)', async () => {
  let gone = 0;
  let nextOwn = 0;
  const s = await tampered((db) => {
    const own = all(db, "org_id = 'hospital'");
    gone = own[3]!.id;
    nextOwn = own[4]!.id;
    db.prepare('DELETE FROM audit WHERE id = ?').run(gone);
  });
  try {
    await expectBad(s, gone, nextOwn);
  } finally {
    await s.stop();
  }
});

test('two swapped records are named', async () => {
  let first = 0;
  const s = await tampered((db) => {
    const own = all(db, "org_id = 'hospital'");
    const [a, b] = [own[4]!, own[5]!];
    first = a.id;
    const set = db.prepare(
      'UPDATE audit SET at=@at, actor=@actor, org_id=@org_id, action=@action, object_type=@object_type, object_id=@object_id, before=@before, after=@after, request_id=@request_id, prev_hash=@prev_hash, hash=@hash, org_prev_hash=@org_prev_hash, org_hash=@org_hash WHERE id=@target',
    );
    set.run({ ...b, target: a.id });
    set.run({ ...a, target: b.id });
  });
  try {
    await expectBad(s, first, first);
  } finally {
    await s.stop();
  }
});

test('the newest records deleted after the crash (checkpoints kept) are caught by the last signed checkpoint', async () => {
  let firstGone = 0;
  let firstOwnGone = 0;
  let lastOwn = 0;
  const s = await tampered((db) => {
    firstGone = maxId(db) - 2;
    const own = all(db, "org_id = 'hospital'");
    lastOwn = own.at(-1)!.id;
    firstOwnGone = own.find((r) => r.id >= firstGone)?.id ?? 0;
    db.prepare('DELETE FROM audit WHERE id >= ?').run(firstGone);
  });
  try {
    // The tenant is told only if its own records were among those cut: then its last pinned head is missing.
    await expectBad(s, firstGone, firstOwnGone ? lastOwn : null);
  } finally {
    await s.stop();
  }
});

test('the newest records cut together with their checkpoints: caught against a head kept outside the database', async () => {
  let cut = 0;
  const s = await tampered((db) => {
    cut = opMid.id;
    db.prepare('DELETE FROM audit WHERE id > ?').run(cut);
    db.prepare('DELETE FROM audit_checkpoints WHERE upto_id > ?').run(cut);
  });
  try {
    // What the database alone cannot show (README, "what is and is not detected"): the cut log is a
    // consistent, shorter log.
    assert.equal((await api(s.url, s.operatorToken)('GET', '/v1/audit/verify')).body.ok, true);
    await expectBad(s, cut + 1, tenantHead.id, { op: since(opHead), tenant: since(tenantHead) });
    const file = join(mkdtempSync(join(tmpdir(), 'gigafab-head-')), 'head.json');
    writeFileSync(file, JSON.stringify({ scope: 'hospital', ...tenantHead, keyId: '', savedAt: '' }));
    const cli = await verifyCli(s.url, tenantToken, ['--since-head', file]);
    assert.equal(cli.code, 4, cli.out);
    assert.match(cli.out, new RegExp(`first bad record: ${tenantHead.id}\\b`));
    // Offline, from the tenant's export of the cut log: the same verdict without trusting the server.
    const exp = await (await fetch(`${s.url}/v1/audit/export`, { headers: { authorization: `Bearer ${tenantToken}` } })).text();
    const expFile = join(mkdtempSync(join(tmpdir(), 'gigafab-export-')), 'audit.jsonl');
    writeFileSync(expFile, exp);
    const offline = await verifyCli(s.url, tenantToken, ['--file', expFile, '--since-head', file]);
    assert.equal(offline.code, 4, offline.out);
    assert.match(offline.out, new RegExp(`first bad record: ${tenantHead.id}\\b`));
  } finally {
    await s.stop();
  }
});

test('a checkpoint removed from the middle of the chain is a gap, naming the first record it covered', async () => {
  let firstCovered = 0;
  const s = await tampered((db) => {
    const cps = db.prepare('SELECT id, upto_id FROM audit_checkpoints ORDER BY id').all() as { id: number; upto_id: number }[];
    const victim = Math.floor(cps.length / 2);
    firstCovered = cps[victim - 1]!.upto_id + 1;
    db.prepare('DELETE FROM audit_checkpoints WHERE id = ?').run(cps[victim]!.id);
  });
  try {
    const o = await api(s.url, s.operatorToken)('GET', '/v1/audit/verify');
    assert.equal(o.body.ok, false);
    assert.equal(o.body.problem.recordId, firstCovered, o.body.problem.reason);
    assert.match(o.body.problem.reason, /checkpoints were removed/);
  } finally {
    await s.stop();
  }
});

test('the tail forged after the crash, hashes recomputed: named at the first forged record', async () => {
  const forged = opMid.id + 1; // the first record written after the mid-run verify: a new write transaction
  let ownForged = 0;
  const s = await tampered((db) => {
    ownForged = all(db, "org_id = 'hospital' AND id >= ?", forged)[0]!.id;
    forge(db, forged);
  });
  try {
    await expectBad(s, forged, ownForged);
    const cli = await verifyCli(s.url, s.operatorToken);
    assert.equal(cli.code, 4);
    assert.match(cli.out, new RegExp(`first bad record: ${forged}\\b`));
  } finally {
    await s.stop();
  }
});

test('the newest checkpoints removed and the records they covered forged: named at the first unsealed record', async () => {
  const forged = opMid.id + 1;
  let ownForged = 0;
  const s = await tampered((db) => {
    ownForged = all(db, "org_id = 'hospital' AND id >= ?", forged)[0]!.id;
    db.prepare('DELETE FROM audit_checkpoints WHERE upto_id >= ?').run(forged);
    forge(db, forged);
  });
  try {
    await expectBad(s, forged, ownForged);
  } finally {
    await s.stop();
  }
});

test('the last record forged after the crash: named at the start of the signed batch that holds it', async () => {
  let batchStart = 0;
  let ownBatchStart = 0;
  const s = await tampered((db) => {
    const last = all(db, "org_id = 'hospital'").at(-1)!;
    // One signed checkpoint per committed write transaction: a rewrite that recomputes hashes shows at
    // the batch's signed head, so the first record not proven authentic is the batch's first.
    const cp = db.prepare('SELECT from_id FROM audit_checkpoints WHERE upto_id >= ? ORDER BY id LIMIT 1').get(last.id) as {
      from_id: number;
    };
    batchStart = cp.from_id;
    ownBatchStart = all(db, "org_id = 'hospital' AND id >= ?", batchStart)[0]!.id;
    forge(db, last.id);
  });
  try {
    await expectBad(s, batchStart, ownBatchStart);
  } finally {
    await s.stop();
  }
});
