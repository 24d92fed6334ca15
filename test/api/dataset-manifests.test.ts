/**
 * The wiring between datasets, keys, lockbox and real drivers, on the real server with the local
 * driver: a dataset's manifest is stored only encrypted under its own data key, delivered to the
 * jobs that declare the dataset (the job prints a hash of it), audited as key.use, and never seen in
 * an API response, the server output, the audit export or the data directory; deleting the dataset
 * crypto-shreds it (a backup of the database taken before cannot be decrypted) and writes an
 * erasure certificate into a chain that still verifies; an organisation's erasure covers its
 * datasets. Also: a job's checkpoint file reaches its events and checkpoints, and report exports
 * are audited for the tenant.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import SQLite from 'better-sqlite3';
import { aad } from '../../src/sovereignty/keys/envelope.js';
import { LocalFileKeyProvider } from '../../src/sovereignty/keys/local-provider.js';
import { recorder, startLocalSiteServer } from '../helpers/local-site.js';
import { api, BIN, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const MARK = randomBytes(10).toString('hex');
const MANIFEST = { uri: `s3://scans-${MARK}/2026/`, accessKeyId: `AKIA${MARK}`, secretAccessKey: `sk-${MARK}-v1` };
const MANIFEST2 = { ...MANIFEST, secretAccessKey: `sk-${MARK}-v2` };
const CHECKSUM = `sha256:${'a'.repeat(64)}`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let server: TestServer;
let op: ReturnType<typeof api>;
let admin: ReturnType<typeof api>;
let member: ReturnType<typeof api>;
let memberToken: string;
let adminToken: string;
let datasetId: string;
const seen: string[] = [];

const recorded = recorder(seen);

before(async () => {
  server = await startLocalSiteServer('gigafab-manifests-');
  op = recorded(api(server.url, server.operatorToken));
  for (const org of ['lab', 'gone']) {
    await op('POST', '/v1/orgs', { id: org, name: org, kind: 'research' });
    await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` });
    await op('PUT', `/v1/projects/${org}-ml/quotas/L4`, { gpus: 4 });
  }
  adminToken = await tenantToken(op, 'lab', { name: 'Ada', role: 'admin' });
  memberToken = await tenantToken(op, 'lab', { name: 'Max', role: 'member' });
  admin = recorded(api(server.url, adminToken));
  member = recorded(api(server.url, memberToken));
});

after(async () => {
  await server?.stop();
});

const hashJob = (name: string, reads: string[], env = 'GIGAFAB_DATASET_PATIENT_SCANS_V2') => ({
  name,
  project: 'lab-ml',
  gpuType: 'L4',
  gpusPerNode: 1,
  command: ['sh', '-c', `printf "%s" "$${env}" | sha256sum | cut -c1-64`],
  datasets: { reads, writes: [] },
});

async function finished(who: ReturnType<typeof api>, id: string) {
  return waitFor(async () => {
    const j = (await who('GET', `/v1/jobs/${id}`)).body;
    return ['succeeded', 'failed', 'cancelled', 'timed-out'].includes(j.state) ? j : null;
  }, `job ${id} to finish`);
}

async function logsOf(id: string): Promise<string> {
  const r = await fetch(`${server.url}/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${memberToken}` } });
  const text = await r.text();
  seen.push(text);
  return text;
}

function backupDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-backup-'));
  for (const f of ['gigafab.db', 'gigafab.db-wal', 'gigafab.db-shm']) {
    if (existsSync(join(server.dataDir, f))) copyFileSync(join(server.dataDir, f), join(dir, f));
  }
  return dir;
}

test('a manifest is write-only: stored encrypted, shown as hasManifest, its errors never echo it', async () => {
  const created = await member('POST', '/v1/projects/lab-ml/datasets', {
    name: 'patient-scans.v2',
    classification: 'internal',
    homeSite: 'lab1',
    sizeBytes: 1_000,
    checksum: CHECKSUM,
    manifest: MANIFEST,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  datasetId = created.body.id;
  assert.equal(created.body.hasManifest, true);
  assert.equal(created.body.manifest, undefined);
  assert.equal((await member('GET', `/v1/datasets/${datasetId}`)).body.hasManifest, true);
  const plain = await member('POST', '/v1/projects/lab-ml/datasets', {
    name: 'plain',
    classification: 'public',
    homeSite: 'lab1',
    sizeBytes: 1,
    checksum: CHECKSUM,
  });
  assert.equal(plain.body.hasManifest, false);
  const bad = await member('POST', '/v1/projects/lab-ml/datasets', {
    name: 'bad',
    classification: 'public',
    homeSite: 'lab1',
    sizeBytes: 1,
    checksum: CHECKSUM,
    manifest: { uri: { nested: `s3://${MARK}` } },
  });
  assert.equal(bad.status, 400);
  const big = await member('POST', '/v1/projects/lab-ml/datasets', {
    name: 'big',
    classification: 'public',
    homeSite: 'lab1',
    sizeBytes: 1,
    checksum: CHECKSUM,
    manifest: Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`f${i}`, `${MARK}${'x'.repeat(8000)}`])),
  });
  assert.equal(big.status, 422);
  assert.equal(big.body.code, 'manifest_too_large');
  // Viewers and operators cannot set manifests.
  const viewer = api(server.url, await tenantToken(op, 'lab', { name: 'Vi', role: 'viewer' }));
  assert.equal((await viewer('PATCH', `/v1/datasets/${datasetId}`, { manifest: { uri: 'x' } })).status, 403);
  assert.equal((await op('PATCH', `/v1/datasets/${datasetId}`, { manifest: { uri: 'x' } })).status, 403);
  // In the database only as ciphertext.
  const db = new SQLite(join(server.dataDir, 'gigafab.db'), { readonly: true });
  const row = db.prepare('SELECT ciphertext, version FROM dataset_manifests WHERE dataset_id = ?').get(datasetId) as {
    ciphertext: string;
    version: number;
  };
  db.close();
  assert.equal(row.version, 1);
  assert.ok(row.ciphertext.length > 40 && !Buffer.from(row.ciphertext, 'base64').toString('latin1').includes(MARK));
});

test('a job that declares the dataset gets its manifest through the secrets channel; each use is a key.use', async () => {
  const j = await member('POST', '/v1/jobs', hashJob('reads-scans', [datasetId]));
  assert.equal(j.status, 201, JSON.stringify(j.body));
  const done = await finished(member, j.body.id);
  assert.equal(done.state, 'succeeded');
  assert.equal((await logsOf(j.body.id)).trim(), sha(JSON.stringify(MANIFEST)));
  // A job that does not declare it gets nothing.
  const other = await member('POST', '/v1/jobs', hashJob('no-datasets', []));
  await finished(member, other.body.id);
  assert.equal((await logsOf(other.body.id)).trim(), sha(''));

  const audit = await admin('GET', '/v1/audit?limit=100');
  const uses = audit.body.items.filter(
    (a: { action: string; objectType: string }) => a.action === 'key.use' && a.objectType === 'dataset',
  );
  assert.equal(uses.length, 1);
  assert.equal(uses[0].actor, 'system:dataset-delivery');
  assert.equal(uses[0].objectId, datasetId);
  assert.equal(uses[0].after.job, j.body.id);
  assert.equal(uses[0].after.env, 'GIGAFAB_DATASET_PATIENT_SCANS_V2');

  // Replacing the manifest: a new version under a fresh data key, the old key shredded.
  const patched = await member('PATCH', `/v1/datasets/${datasetId}`, { manifest: MANIFEST2 });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.hasManifest, true);
  const j2 = await member('POST', '/v1/jobs', hashJob('reads-v2', [datasetId]));
  await finished(member, j2.body.id);
  assert.equal((await logsOf(j2.body.id)).trim(), sha(JSON.stringify(MANIFEST2)));
  const db = new SQLite(join(server.dataDir, 'gigafab.db'), { readonly: true });
  const keys = db
    .prepare(`SELECT state, wrapped FROM data_keys WHERE object_type = 'dataset' AND object_id = ? ORDER BY created_at`)
    .all(datasetId) as { state: string; wrapped: string | null }[];
  db.close();
  assert.deepEqual(
    keys.map((k) => [k.state, k.wrapped === null]),
    [
      ['shredded', true],
      ['active', false],
    ],
  );
});

test('a job writing to GIGAFAB_CHECKPOINT_FILE reports checkpoints: job event and stored checkpoint', async () => {
  const j = await member('POST', '/v1/jobs', {
    name: 'checkpointer',
    project: 'lab-ml',
    gpuType: 'L4',
    gpusPerNode: 1,
    command: [
      'sh',
      '-c',
      'echo "step=1200 label=epoch-3" >> "$GIGAFAB_CHECKPOINT_FILE"; sleep 3; echo "not a checkpoint line" >> "$GIGAFAB_CHECKPOINT_FILE"',
    ],
  });
  assert.equal(j.status, 201);
  const ev = await waitFor(async () => {
    const events = (await member('GET', `/v1/jobs/${j.body.id}/events`)).body.items as {
      type: string;
      message: string;
      data: Record<string, unknown> | null;
    }[];
    return events.find((e) => e.type === 'checkpoint') ?? null;
  }, 'checkpoint event');
  assert.match(ev.message, /checkpoint at step 1200 \(epoch-3\)/);
  assert.deepEqual(ev.data, { step: 1200, label: 'epoch-3' });
  await finished(member, j.body.id);
  const db = new SQLite(join(server.dataDir, 'gigafab.db'), { readonly: true });
  const rows = db.prepare('SELECT step, label FROM job_checkpoints WHERE job_id = ?').all(Number(j.body.id)) as {
    step: number;
    label: string;
  }[];
  db.close();
  // The label is tenant-written: stored sealed under the organisation's data key (at-rest.test.ts).
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.step, 1200);
  assert.match(rows[0]!.label, /^gf1:/);
  assert.ok(!rows[0]!.label.includes('epoch-3'));
  const audit = await admin('GET', '/v1/audit?limit=50');
  const rec = audit.body.items.find(
    (a: { action: string; objectId: string }) => a.action === 'job.checkpoint' && a.objectId === j.body.id,
  );
  assert.equal(rec.actor, 'system:driver:local');
});

test('the CLI takes a manifest from a file and never prints it', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'gigafab-manifest-')), 'm.json');
  writeFileSync(file, JSON.stringify({ uri: `s3://cli-${MARK}` }));
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: memberToken, GIGAFAB_CONFIG: '/nonexistent' },
    });
  const created = await cli(
    'dataset',
    'create',
    'lab-ml',
    'cli-set',
    '--class',
    'public',
    '--home-site',
    'lab1',
    '--size',
    '1',
    '--checksum',
    CHECKSUM,
    '--manifest-file',
    file,
    '-o',
    'json',
  );
  const id = JSON.parse(created.stdout).id as string;
  const shown = await cli('dataset', 'show', id);
  assert.match(shown.stdout, /Manifest:\s+stored encrypted \(never shown\)/);
  const replaced = await cli('dataset', 'manifest', id, '--from-file', file);
  assert.match(replaced.stdout, /manifest replaced/);
  for (const out of [created, shown, replaced]) assert.ok(!`${out.stdout}${out.stderr}`.includes(MARK));
});

test('report exports are audited in the tenant slice: who exported what', async () => {
  const from = new Date(Date.now() - 86400_000).toISOString();
  const to = new Date(Date.now() + 86400_000).toISOString();
  assert.equal((await admin('GET', `/v1/orgs/lab/residency-report?from=${from}&to=${to}&format=csv`)).status, 200);
  assert.equal((await member('GET', '/v1/orgs/lab/processing-record')).status, 200);
  assert.equal((await op('GET', '/v1/orgs/lab/processing-record')).status, 403, 'operators need a lockbox access');
  const audit = await admin('GET', '/v1/audit?limit=50');
  const exports = audit.body.items.filter((a: { action: string }) => a.action.endsWith('.export'));
  assert.deepEqual(exports.map((a: { action: string }) => a.action).sort(), [
    'processing-record.export',
    'residency-report.export',
  ]);
  const rep = exports.find((a: { action: string }) => a.action === 'residency-report.export');
  assert.equal(rep.after.format, 'csv');
  assert.equal(rep.org, 'lab');
  assert.ok(rep.actor.length > 0 && rep.actor !== 'operator');
});

test('deleting the dataset crypto-shreds it: a backup cannot be decrypted, a certificate is in the verified chain', async () => {
  const backup = backupDb();
  const del = await admin('DELETE', `/v1/datasets/${datasetId}`);
  assert.equal(del.status, 204);
  const audit = await admin('GET', '/v1/audit?limit=50');
  const certRec = audit.body.items.find((a: { action: string }) => a.action === 'dataset.erasure-certificate');
  assert.ok(certRec, 'erasure certificate in the audit log');
  const cert = certRec.after;
  assert.equal(cert.type, 'gigafab-erasure-certificate-v1');
  assert.equal(cert.dataset, datasetId);
  assert.equal(cert.dataKeysShredded.length, 1);
  assert.equal(cert.manifestsUnreadable, 1);
  assert.equal(cert.backupsCaveat, null);
  assert.equal(cert.keysDestroyed.length, 1);
  assert.equal(cert.keysDestroyed[0].stillHeldByProvider, false);
  const verify = await op('GET', '/v1/audit/verify');
  assert.equal(verify.body.ok, true, JSON.stringify(verify.body.problem));

  // The backup holds the ciphertext and the wrapped data key; no key the server holds opens them.
  const db = new SQLite(join(backup, 'gigafab.db'), { readonly: true });
  const row = db
    .prepare(
      `SELECT m.ciphertext, m.data_key_id, d.wrapped, d.kek_version, k.key_id FROM dataset_manifests m
       JOIN data_keys d ON d.id = m.data_key_id JOIN org_keks k ON k.org_id = d.org_id AND k.version = d.kek_version
       WHERE m.dataset_id = ?`,
    )
    .get(datasetId) as { ciphertext: string; data_key_id: string; wrapped: string; kek_version: number; key_id: string };
  db.close();
  assert.ok(row.ciphertext && row.wrapped);
  assert.equal(cert.keysDestroyed[0].keyId, row.key_id);
  const provider = new LocalFileKeyProvider(join(server.dataDir, 'keys'));
  const keks = JSON.parse(readFileSync(join(server.dataDir, 'keys', 'keks.json'), 'utf8')) as Record<string, unknown>;
  assert.ok(!Object.keys(keks).includes(row.key_id));
  for (const keyId of [row.key_id, ...Object.keys(keks)]) {
    await assert.rejects(
      provider.unwrap(keyId, Buffer.from(row.wrapped, 'base64'), aad('dek', 'lab', row.data_key_id, row.kek_version)),
    );
  }
  // The live database keeps neither the ciphertext nor the wrapped key.
  const live = new SQLite(join(server.dataDir, 'gigafab.db'), { readonly: true });
  const m = live.prepare('SELECT ciphertext, erased_at FROM dataset_manifests WHERE dataset_id = ?').get(datasetId) as {
    ciphertext: string | null;
    erased_at: string | null;
  };
  const k = live.prepare('SELECT wrapped FROM data_keys WHERE id = ?').get(row.data_key_id) as { wrapped: string | null };
  live.close();
  assert.equal(m.ciphertext, null);
  assert.ok(m.erased_at);
  assert.equal(k.wrapped, null);
  // The dataset is gone for jobs.
  const late = await member('POST', '/v1/jobs', hashJob('too-late', [datasetId]));
  assert.equal(late.status, 404);
});

test("an organisation's erasure makes its dataset manifests unreadable too", async () => {
  const goneAdmin = api(server.url, await tenantToken(op, 'gone', { name: 'G', role: 'admin' }));
  const ds = await goneAdmin('POST', '/v1/projects/gone-ml/datasets', {
    name: 'g',
    classification: 'internal',
    homeSite: 'lab1',
    sizeBytes: 1,
    checksum: CHECKSUM,
    manifest: { uri: `s3://gone-${MARK}` },
  });
  assert.equal(ds.status, 201);
  const backup = backupDb();
  const erased = await goneAdmin('POST', '/v1/orgs/gone/erasure', { confirm: 'gone', reason: 'contract ended' });
  assert.equal(erased.status, 201, JSON.stringify(erased.body));
  const db = new SQLite(join(backup, 'gigafab.db'), { readonly: true });
  const row = db
    .prepare(
      `SELECT m.data_key_id, d.wrapped, d.kek_version FROM dataset_manifests m JOIN data_keys d ON d.id = m.data_key_id WHERE m.dataset_id = ?`,
    )
    .get(ds.body.id) as { data_key_id: string; wrapped: string; kek_version: number };
  db.close();
  const provider = new LocalFileKeyProvider(join(server.dataDir, 'keys'));
  const keks = JSON.parse(readFileSync(join(server.dataDir, 'keys', 'keks.json'), 'utf8')) as Record<string, unknown>;
  for (const keyId of Object.keys(keks)) {
    await assert.rejects(
      provider.unwrap(keyId, Buffer.from(row.wrapped, 'base64'), aad('dek', 'gone', row.data_key_id, row.kek_version)),
    );
  }
  assert.equal((await op('GET', '/v1/audit/verify')).body.ok, true);
});

test('the manifests appear nowhere: responses, errors, server output, audit export, data directory', async () => {
  const exp = await fetch(`${server.url}/v1/audit/export`, { headers: { authorization: `Bearer ${server.operatorToken}` } });
  const exported = await exp.text();
  assert.ok(exported.includes('"key.use"') && exported.includes('dataset.erasure-certificate'));
  const csv = await (
    await fetch(`${server.url}/v1/audit/export?format=csv`, { headers: { authorization: `Bearer ${adminToken}` } })
  ).text();
  const haystacks: [string, string][] = [
    ['API responses', seen.join('\n')],
    ['server output', server.output()],
    ['audit export', exported],
    ['audit csv', csv],
    ['datasets', JSON.stringify((await member('GET', '/v1/datasets')).body)],
  ];
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
  for (const f of files(server.dataDir)) haystacks.push([f, readFileSync(f).toString('latin1')]);
  for (const [where, text] of haystacks) {
    assert.ok(!text.includes(MARK), `a manifest leaked into ${where}`);
    assert.ok(
      !text.includes(Buffer.from(MANIFEST.secretAccessKey).toString('base64')),
      `a manifest (base64) leaked into ${where}`,
    );
  }
});

test('deleting a secret shreds its data key and rotates the organisation key away: a backup cannot unwrap it', async () => {
  const value = `tok-${MARK}-secret`;
  assert.equal((await admin('POST', '/v1/orgs/lab/secrets', { name: 'to-delete', value })).status, 201);
  const backup = backupDb();
  assert.equal((await admin('DELETE', '/v1/orgs/lab/secrets/to-delete')).status, 204);
  const db = new SQLite(join(backup, 'gigafab.db'), { readonly: true });
  const row = db
    .prepare(
      `SELECT s.data_key_id, d.wrapped, d.kek_version, k.key_id FROM secrets s
       JOIN data_keys d ON d.id = s.data_key_id JOIN org_keks k ON k.org_id = d.org_id AND k.version = d.kek_version
       WHERE s.org_id = 'lab' AND s.name = 'to-delete'`,
    )
    .get() as { data_key_id: string; wrapped: string; kek_version: number; key_id: string };
  db.close();
  assert.ok(row.wrapped, 'the backup holds the wrapped data key');
  const provider = new LocalFileKeyProvider(join(server.dataDir, 'keys'));
  const keks = JSON.parse(readFileSync(join(server.dataDir, 'keys', 'keks.json'), 'utf8')) as Record<string, unknown>;
  assert.ok(!Object.keys(keks).includes(row.key_id), 'the KEK that wrapped it is destroyed');
  for (const keyId of [row.key_id, ...Object.keys(keks)]) {
    await assert.rejects(
      provider.unwrap(keyId, Buffer.from(row.wrapped, 'base64'), aad('dek', 'lab', row.data_key_id, row.kek_version)),
    );
  }
  const audit = (await admin('GET', '/v1/audit?limit=20')).body.items.map((a: { action: string }) => a.action);
  assert.ok(audit.includes('secret.delete') && audit.includes('kek.rotate'), audit.join(','));
  assert.ok(!JSON.stringify(audit).includes(value));
});
