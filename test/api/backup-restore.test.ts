/**
 * `gigafab admin backup|restore` on the real things: a running server that accepts jobs while the
 * backup is taken (SQLite online backup; pg_dump on a throwaway PostgreSQL cluster), a restore into a
 * fresh data directory / empty database, a new server started on it with the jobs, their events and
 * an audit log that verifies; a non-empty target refused with nothing written; a damaged file
 * refused; a backup whose audit log was edited (checksums recomputed) restored with exit 4 naming
 * the first bad record.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { writeArchive } from '../../src/compose/backup-archive.js';
import { cliRunner } from '../helpers/cli.js';
import { type PostgresCluster, startPostgres } from '../helpers/postgres.js';
import { api, startTestServer, type TestServer } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const { gigafab } = cliRunner('gigafab-backup-home-');
const servers: TestServer[] = [];
let cluster: PostgresCluster | null = null;
/** The PostgreSQL installation of the pg_dump test, reused by the tamper test. */
let pgSource: { server: TestServer; url: string } | null = null;

after(async () => {
  for (const s of servers) await s.stop();
  await cluster?.remove();
});

const spec = (name: string, seconds: number) => ({
  name,
  project: 'bk-ml',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 1,
  simulation: { durationSeconds: seconds },
});

async function seed(server: TestServer): Promise<string> {
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'bkorg', name: 'Backup AG', kind: 'enterprise' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/bkorg/projects', { id: 'bk-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/bk-ml/quotas/B200', { gpus: 64 })).status, 200);
  return tenantToken(op, 'bkorg', { name: 'Bea', role: 'member' });
}

/**
 * busyBackup: three clients submit jobs while `backup` runs. Returns the jobs acknowledged before the
 * backup began (they must all be in it) and every acknowledged job (the backup holds no other).
 */
async function busyBackup(
  server: TestServer,
  token: string,
  backup: () => Promise<{ code: number | null; out: string; err: string }>,
): Promise<{ before: Map<string, string>; all: Set<string>; run: { code: number | null; out: string; err: string } }> {
  const client = api(server.url, token);
  const all = new Set<string>();
  const names = new Map<string, string>();
  let stop = false;
  let n = 0;
  const worker = async () => {
    while (!stop) {
      const name = `job-${n++}`;
      // Short jobs end while others queue: the backup catches jobs in several states.
      const r = await client('POST', '/v1/jobs', spec(name, n % 3 === 0 ? 6000 : 30));
      assert.equal(r.status, 201, JSON.stringify(r.body));
      all.add(r.body.id);
      names.set(r.body.id, name);
    }
  };
  const workers = [worker(), worker(), worker()];
  while (all.size < 20) await new Promise((r) => setTimeout(r, 20));
  const before = new Map(names);
  const run = await backup();
  const afterCount = all.size;
  stop = true;
  await Promise.all(workers);
  assert.ok(afterCount > before.size, `jobs were accepted while the backup ran (${before.size} → ${afterCount})`);
  return { before, all, run };
}

/** checkRestored: the restored server has every job acknowledged before the backup, with its events, and a verifying log. */
async function checkRestored(restored: TestServer, token: string, before: Map<string, string>, all: Set<string>) {
  const client = api(restored.url, token);
  const listed = (await client('GET', '/v1/jobs?limit=1000')).body.items as { id: string; name: string }[];
  const ids = new Set(listed.map((j) => j.id));
  for (const [id, name] of before) {
    assert.ok(ids.has(id), `job ${id} acknowledged before the backup is restored`);
    // The name is sealed under the organisation's data key: readable only with the restored keys.
    assert.equal(listed.find((j) => j.id === id)?.name, name);
  }
  for (const id of ids) assert.ok(all.has(id), `restored job ${id} was acknowledged`);
  const first = [...before.keys()][0]!;
  const events = (await client('GET', `/v1/jobs/${first}/events`)).body.items as { type: string }[];
  assert.equal(events[0]?.type, 'queued');
  const verify = await api(restored.url, restored.operatorToken)('GET', '/v1/audit/verify');
  assert.equal(verify.status, 200);
  assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
  const actions = (await api(restored.url, restored.operatorToken)('GET', '/v1/audit?limit=1000')).body.items.map(
    (a: { action: string }) => a.action,
  );
  assert.ok(actions.includes('job.submit'), `the audit log holds the submissions: ${actions.slice(0, 5).join(', ')}`);
}

const work = () => mkdtempSync(join(tmpdir(), 'gigafab-backup-test-'));

test('SQLite: backup while the server accepts jobs; restore into a fresh dir; a server on it has the jobs and a verifying audit log', async () => {
  const server = await startTestServer();
  servers.push(server);
  const token = await seed(server);
  const dir = work();
  const file = join(dir, 'gf.gfb');
  const keys = join(dir, 'gf-keys.gfb');
  const { before, all, run } = await busyBackup(server, token, () =>
    gigafab(['admin', 'backup', file, '--data-dir', server.dataDir, '--keys-out', keys], {}),
  );
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /backup written: .*gf\.gfb \(sqlite, 3 files/);
  assert.match(run.err, /database: 100% \(\d+ pages\)/, 'progress on stderr');
  // A plain tar: the manifest first, then the database and the data-directory files.
  const listing = execFileSync('tar', ['tf', file], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(listing, ['manifest.json', 'database.sqlite', 'audit-signing-key.pem', 'operator-token']);
  assert.deepEqual(execFileSync('tar', ['tf', keys], { encoding: 'utf8' }).trim().split('\n'), [
    'manifest.json',
    'keys/root.key',
    'keys/keks.json',
  ]);

  // A backup never overwrites.
  const again = await gigafab(['admin', 'backup', file, '--data-dir', server.dataDir], {});
  assert.equal(again.code, 1);
  assert.match(again.err, /exists: a backup never overwrites a file/);

  // Restore into a non-empty directory: refused, nothing written.
  const busy = join(dir, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'something'), 'x');
  const refused = await gigafab(['admin', 'restore', file, '--data-dir', busy, '--keys', keys], {});
  assert.equal(refused.code, 1);
  assert.match(refused.err, /is not empty: restore goes into a fresh installation only/);
  assert.deepEqual(readdirSync(busy), ['something']);
  // …and into the running server's own directory.
  const own = await gigafab(['admin', 'restore', file, '--data-dir', server.dataDir], {});
  assert.equal(own.code, 1);

  // Without the keys file: restored and verified, but the missing keys are named.
  const keyless = await gigafab(['admin', 'restore', file, '--data-dir', join(dir, 'keyless')], {});
  assert.equal(keyless.code, 0, keyless.err);
  assert.match(
    keyless.err,
    /warning: the local key provider lacks 1 key\(s\) this database needs: lk_[0-9a-f]+ \(organisation bkorg\)/,
  );

  const target = join(dir, 'restored');
  const restored = await gigafab(['admin', 'restore', file, '--data-dir', target, '--keys', keys], {});
  assert.equal(restored.code, 0, restored.err);
  assert.doesNotMatch(restored.err, /warning/);
  assert.match(
    restored.out,
    /^OK: restored into .*; \d+ records of the whole log verify; signed checkpoint \d+ covers record \d+/,
  );
  assert.match(restored.err, /unpacking database\.sqlite/);
  const second = await startTestServer({ dataDir: target });
  servers.push(second);
  assert.equal(second.operatorToken, server.operatorToken, 'the operator token file is restored');
  await checkRestored(second, token, before, all);
});

test('a damaged backup is refused (nothing restored); an audit record edited in the backup is named (exit 4)', async () => {
  const server = servers[0]!;
  const dir = work();
  const file = join(dir, 'gf.gfb');
  assert.equal((await gigafab(['admin', 'backup', file, '--data-dir', server.dataDir], {})).code, 0);

  // A flipped byte in the database member: its SHA-256 no longer matches.
  const bytes = readFileSync(file);
  bytes[512 * 3 + 5000] ^= 0xff;
  const damaged = join(dir, 'damaged.gfb');
  writeFileSync(damaged, bytes);
  const target = join(dir, 'from-damaged');
  const r = await gigafab(['admin', 'restore', damaged, '--data-dir', target], {});
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.err, /database\.sqlite does not match its SHA-256 in the manifest .*damaged backup/);
  assert.equal(existsSync(target), false, 'nothing half-restored is left');
  const truncated = join(dir, 'truncated.gfb');
  writeFileSync(truncated, readFileSync(file).subarray(0, 512 * 20));
  const t = await gigafab(['admin', 'restore', truncated, '--data-dir', join(dir, 'from-truncated')], {});
  assert.equal(t.code, 1);
  assert.match(t.err, /truncated/);
  const notBackup = await gigafab(['admin', 'restore', join(server.dataDir, 'gigafab.db'), '--data-dir', join(dir, 'x')], {});
  assert.equal(notBackup.code, 1);
  assert.match(notBackup.err, /is not a gigafab backup/);

  // Someone with the file edits an audit record and recomputes the file's checksums: the checksums
  // pass, the audit chain does not.
  const unpacked = join(dir, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['xf', file, '-C', unpacked]);
  const db = new SQLite(join(unpacked, 'database.sqlite'));
  db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;');
  const victim = db.prepare("SELECT id FROM audit WHERE action = 'job.submit' ORDER BY id LIMIT 1").get() as { id: number };
  db.prepare(`UPDATE audit SET actor = 'system:nobody' WHERE id = ?`).run(victim.id);
  db.close();
  const manifest = JSON.parse(readFileSync(join(unpacked, 'manifest.json'), 'utf8'));
  const forged = join(dir, 'forged.gfb');
  await writeArchive(
    forged,
    {
      kind: 'database',
      dialect: 'sqlite',
      createdAt: manifest.createdAt,
      gigafabVersion: manifest.gigafabVersion,
      migration: manifest.migration,
    },
    ['database.sqlite', 'audit-signing-key.pem', 'operator-token'].map((name) => ({ name, path: join(unpacked, name) })),
  );
  const f = await gigafab(['admin', 'restore', forged, '--data-dir', join(dir, 'from-forged')], {});
  assert.equal(f.code, 4, f.out + f.err);
  assert.match(
    f.out,
    new RegExp(`^FAILED: restored into .*, but the audit log does not verify: .* — first bad record: ${victim.id}\\n`),
  );
});

test('PostgreSQL: pg_dump while the server accepts jobs; pg_restore into an empty database; a server on it has the jobs and a verifying log', async () => {
  cluster = await startPostgres();
  const srcUrl = await cluster.createDatabase('gf_src');
  const server = await startTestServer({ extraArgs: ['--database', srcUrl] });
  servers.push(server);
  pgSource = { server, url: srcUrl };
  const token = await seed(server);
  const dir = work();
  const file = join(dir, 'pg.gfb');
  const keys = join(dir, 'pg-keys.gfb');
  const { before, all, run } = await busyBackup(server, token, () =>
    gigafab(['admin', 'backup', file, '--data-dir', server.dataDir, '--keys-out', keys], { GIGAFAB_DATABASE_URL: srcUrl }),
  );
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /\(postgres, 3 files/);
  assert.match(run.err, /database: pg_dump of postgres/);

  const dstUrl = await cluster.createDatabase('gf_dst');
  // The SQLite/PostgreSQL mismatch and a non-empty database are refused.
  const noDb = await gigafab(['admin', 'restore', file, '--data-dir', join(dir, 'a')], {});
  assert.equal(noDb.code, 1);
  assert.match(noDb.err, /backup of a PostgreSQL installation: give the empty target database with --database/);
  const full = await gigafab(['admin', 'restore', file, '--data-dir', join(dir, 'b'), '--database', srcUrl], {});
  assert.equal(full.code, 1);
  assert.match(full.err, /is not empty \(\d+ tables\): restore goes into a fresh, empty database only/);
  assert.equal(existsSync(join(dir, 'b')), false);

  const target = join(dir, 'restored');
  const restored = await gigafab(['admin', 'restore', file, '--data-dir', target, '--database', dstUrl, '--keys', keys], {});
  assert.equal(restored.code, 0, restored.err);
  assert.match(restored.out, /^OK: restored into .*records of the whole log verify/);
  assert.match(restored.err, /pg_restore into postgres/);
  const second = await startTestServer({ dataDir: target, extraArgs: ['--database', dstUrl] });
  servers.push(second);
  await checkRestored(second, token, before, all);
});

test('PostgreSQL: a damaged dump is refused (the database stays empty); one byte of an audit row changed inside the dump is named (exit 4)', async () => {
  assert.ok(cluster && pgSource, 'runs after the pg_dump test');
  const { server, url } = pgSource;
  const dir = work();
  const file = join(dir, 'pg.gfb');
  const b = await gigafab(['admin', 'backup', file, '--data-dir', server.dataDir], { GIGAFAB_DATABASE_URL: url });
  assert.equal(b.code, 0, b.err);
  const tables = async (u: string) => {
    const out = execFileSync('psql', ['-Atc', "select count(*) from pg_tables where schemaname = 'public'", u], {
      encoding: 'utf8',
    });
    return Number(out.trim());
  };

  // A flipped byte in the dump member (the manifest's checksums as written): refused before pg_restore runs.
  const bytes = readFileSync(file);
  bytes[512 * 3 + 2000] ^= 0xff;
  const damaged = join(dir, 'damaged.gfb');
  writeFileSync(damaged, bytes);
  const damagedDb = await cluster.createDatabase('gf_damaged');
  const d = await gigafab(['admin', 'restore', damaged, '--data-dir', join(dir, 'from-damaged'), '--database', damagedDb], {});
  assert.equal(d.code, 1, d.out + d.err);
  assert.match(d.err, /database\.pgdump does not match its SHA-256 in the manifest .*damaged backup/);
  assert.equal(existsSync(join(dir, 'from-damaged')), false, 'nothing half-restored is left');
  assert.equal(await tables(damagedDb), 0, 'the target database is still empty');

  // Someone with the file changes one byte of an audit record inside the dump and recomputes the
  // file's checksums. The server's dump is compressed: it is loaded into a scratch database and dumped
  // again uncompressed (the same rows, COPY text in the clear), and the byte is changed there.
  const unpacked = join(dir, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['xf', file, '-C', unpacked]);
  const scratch = await cluster.createDatabase('gf_scratch');
  execFileSync('pg_restore', ['--no-owner', '--no-privileges', '--dbname', scratch, join(unpacked, 'database.pgdump')]);
  const victim = Number(
    execFileSync('psql', ['-Atc', "select id from audit where action = 'job.submit' order by id limit 1", scratch], {
      encoding: 'utf8',
    }).trim(),
  );
  assert.ok(victim > 0);
  const plain = join(dir, 'plain.pgdump');
  execFileSync('pg_dump', [
    '--format=custom',
    '--compress=0',
    '--no-owner',
    '--no-privileges',
    '--file',
    plain,
    '--dbname',
    scratch,
  ]);
  const dump = readFileSync(plain);
  const copyAt = dump.indexOf('COPY public.audit (');
  assert.ok(copyAt >= 0, 'the dump holds the audit table');
  // Each COPY row is a data chunk of its own (a length, then the row's text): the victim's row starts
  // with its id (the first column) and holds its action further on.
  let actionAt = -1;
  for (let k = dump.indexOf('\tjob.submit\t', copyAt); k >= 0 && actionAt < 0; k = dump.indexOf('\tjob.submit\t', k + 1)) {
    const start = dump.lastIndexOf('\n', k) + 1;
    const head = dump.subarray(start, Math.min(start + 16, k)).toString('latin1');
    if (new RegExp(`(^|[^0-9])${victim}\\t`).test(head)) actionAt = k;
  }
  assert.ok(actionAt > 0, `audit record ${victim} found in the dump`);
  dump[actionAt + 1] = 'J'.charCodeAt(0); // job.submit → Job.submit: one byte
  writeFileSync(join(unpacked, 'database.pgdump'), dump);
  const manifest = JSON.parse(readFileSync(join(unpacked, 'manifest.json'), 'utf8'));
  const forged = join(dir, 'forged.gfb');
  await writeArchive(
    forged,
    {
      kind: 'database',
      dialect: 'postgres',
      createdAt: manifest.createdAt,
      gigafabVersion: manifest.gigafabVersion,
      migration: manifest.migration,
    },
    ['database.pgdump', 'audit-signing-key.pem', 'operator-token'].map((name) => ({ name, path: join(unpacked, name) })),
  );
  const forgedDb = await cluster.createDatabase('gf_forged');
  const f = await gigafab(['admin', 'restore', forged, '--data-dir', join(dir, 'from-forged'), '--database', forgedDb], {});
  assert.equal(f.code, 4, f.out + f.err);
  assert.match(
    f.out,
    new RegExp(`^FAILED: restored into .*, but the audit log does not verify: .* — first bad record: ${victim}\\n`),
  );
  // The untouched uncompressed dump restores and verifies: the byte, not the re-dump, broke the chain.
  dump[actionAt + 1] = 'j'.charCodeAt(0);
  writeFileSync(join(unpacked, 'database.pgdump'), dump);
  const honest = join(dir, 'honest.gfb');
  await writeArchive(
    honest,
    {
      kind: 'database',
      dialect: 'postgres',
      createdAt: manifest.createdAt,
      gigafabVersion: manifest.gigafabVersion,
      migration: manifest.migration,
    },
    ['database.pgdump', 'audit-signing-key.pem', 'operator-token'].map((name) => ({ name, path: join(unpacked, name) })),
  );
  const honestDb = await cluster.createDatabase('gf_honest');
  const h = await gigafab(['admin', 'restore', honest, '--data-dir', join(dir, 'from-honest'), '--database', honestDb], {});
  assert.equal(h.code, 0, h.out + h.err);
  assert.match(h.out, /^OK: restored into .*records of the whole log verify/);
});
