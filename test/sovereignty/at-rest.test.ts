/**
 * At rest (issue 11, defect 2): on the real server with the local driver, unique markers are
 * planted in every tenant-written field (job name, command arguments, image, env values, labels,
 * checkpoint labels and their events, dataset names, secret descriptions, job output). None of
 * them is in clear in the database file, its WAL, the server's output, a backup of the database or
 * the local driver's job directories (job output is sealed there by a log sealer, AES-256-CTR),
 * while the tenant reads every one back through the API. After `erasure`, the API answers them as
 * erased, the files still hold none of them, the organisation's data key is shredded and its KEK
 * is gone from the key provider, so the ciphertext left in the files and the backup stays unreadable.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { LocalFileKeyProvider } from '../../src/sovereignty/keys/local-provider.js';
import { fakeGpus, writeFakeNvidiaSmi } from '../drivers/fixtures.js';
import { ensureTestImage, TEST_IMAGE } from '../helpers/podman.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

const TAG = randomBytes(8).toString('hex');
/** One marker per tenant-written field; every one must stay out of the files in clear. */
const M = {
  jobName: `jobname-${TAG}`,
  arg: `cmdarg-${TAG}`,
  // A tag of the local test image: podman runs `localhost/` images without a pull.
  image: `localhost/img-${TAG}:1`,
  env: `envvalue-${TAG}`,
  label: `label-${TAG}`,
  checkpoint: `ckpt-${TAG}`,
  dataset: `dataset-${TAG}`,
  secretDescription: `secretdesc-${TAG}`,
  log: `joboutput-${TAG}`,
};
const CHECKSUM = `sha256:${'b'.repeat(64)}`;

let server: TestServer;
let siteDir: string;
let op: ReturnType<typeof api>;
let admin: ReturnType<typeof api>;
let member: ReturnType<typeof api>;
let jobId: string;
let datasetId: string;

/** The local-site fleet (tests/helpers/local-site.ts) with its job directory where this test can search it. */
async function startServer(): Promise<TestServer> {
  siteDir = mkdtempSync(join(tmpdir(), 'gigafab-atrest-'));
  const fleet = join(siteDir, 'fleet.yaml');
  writeFileSync(
    fleet,
    `name: workstation
sites:
  - { id: lab1, name: Lab, city: Munich, country: DE, certifications: [], driver: { kind: local, baseDir: ${join(siteDir, 'jobs')}, timeoutGraceSeconds: 1, gpuPassthrough: none } }
nodeTypes:
  - { id: ws, gpuType: L4, gpusPerNode: 4, gpuMemoryGiB: 24, interconnect: pcie, cpus: 16, memoryGiB: 64 }
pools:
  - { site: lab1, nodeType: ws, count: 1, unitSize: 1, namePrefix: lab1-ws }
`,
  );
  const bin = join(siteDir, 'bin');
  // Stand-in GPUs have no device nodes: they reach the container as variables only.
  writeFakeNvidiaSmi(bin, 'gpus', fakeGpus(4, 'NVIDIA L4'));
  return startTestServer({ fleetPath: fleet, env: { PATH: `${bin}:${process.env.PATH}` } });
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/** cleartext: which markers a set of files (and the server's output) holds in clear, as "marker in file". */
function cleartext(files: string[], markers: Record<string, string>, withOutput = true): string[] {
  const found: string[] = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const [k, m] of Object.entries(markers)) if (bytes.includes(m)) found.push(`${k} in ${f}`);
  }
  if (withOutput)
    for (const [k, m] of Object.entries(markers)) if (server.output().includes(m)) found.push(`${k} in server output`);
  return found;
}

/** backup copies the database with SQLite's online backup (what an operator's backup job does) and as raw files. */
async function backup(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-atrest-backup-'));
  const live = new SQLite(join(server.dataDir, 'gigafab.db'), { readonly: true });
  await live.backup(join(dir, 'online-backup.db'));
  live.close();
  for (const f of ['gigafab.db', 'gigafab.db-wal']) {
    if (existsSync(join(server.dataDir, f))) copyFileSync(join(server.dataDir, f), join(dir, `copy-${f}`));
  }
  return filesUnder(dir);
}

const dbFiles = () => ['gigafab.db', 'gigafab.db-wal'].map((f) => join(server.dataDir, f)).filter(existsSync);
before(async () => {
  execFileSync('podman', ['tag', ensureTestImage(), M.image]);
  server = await startServer();
  op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'vault', name: 'Vault AG', kind: 'enterprise' });
  await op('POST', '/v1/orgs/vault/projects', { id: 'vault-p' });
  await op('PUT', '/v1/projects/vault-p/quotas/L4', { gpus: 4 });
  // The operator onboards the first admin; that admin creates the member (test/helpers/tenants.ts).
  admin = api(server.url, (await tenantUser(op, 'vault', { name: 'Vera Admin', role: 'admin' })).token);
  member = api(server.url, (await tenantUser(op, 'vault', { name: 'Max Member', role: 'member' })).token);
});

after(async () => {
  await server?.stop();
  execFileSync('podman', ['untag', TEST_IMAGE, M.image], { stdio: 'ignore' });
});

test('every tenant-written field is sealed at rest; the tenant reads it back', async () => {
  const secret = await admin('POST', '/v1/orgs/vault/secrets', {
    name: 'hub-token',
    value: `v-${randomBytes(6).toString('hex')}`,
    description: M.secretDescription,
  });
  assert.equal(secret.status, 201, JSON.stringify(secret.body));
  const ds = await member('POST', '/v1/projects/vault-p/datasets', {
    name: M.dataset,
    classification: 'internal',
    homeSite: 'lab1',
    sizeBytes: 1_000,
    checksum: CHECKSUM,
  });
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  datasetId = ds.body.id;
  // A second registration under the same name is still refused (names are sealed, uniqueness is checked in memory).
  const dup = await member('POST', '/v1/projects/vault-p/datasets', {
    name: M.dataset,
    classification: 'internal',
    homeSite: 'lab1',
    sizeBytes: 1,
    checksum: CHECKSUM,
  });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.code, 'dataset_exists');

  const submitted = await member('POST', '/v1/jobs', {
    name: M.jobName,
    project: 'vault-p',
    gpuType: 'L4',
    gpusPerNode: 1,
    // The output marker is assembled by the shell, so the command itself does not contain it.
    command: ['sh', '-c', `echo "joboutput-""${TAG}"; sleep 60`, M.arg],
    image: M.image,
    env: { PLAIN_SETTING: M.env },
    labels: { team: M.label },
    datasets: { reads: [datasetId], writes: [] },
  });
  assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
  jobId = submitted.body.id;
  await waitFor(async () => (await member('GET', `/v1/jobs/${jobId}`)).body.state === 'running', 'job running');
  const ck = await member('POST', `/v1/jobs/${jobId}/checkpoints`, { step: 7, label: M.checkpoint });
  assert.equal(ck.status, 201, JSON.stringify(ck.body));

  // The tenant reads everything back through the API.
  const job = (await member('GET', `/v1/jobs/${jobId}`)).body;
  assert.equal(job.name, M.jobName);
  assert.deepEqual(job.spec.command.at(-1), M.arg);
  assert.equal(job.spec.image, M.image);
  assert.equal(job.spec.env.PLAIN_SETTING, M.env);
  assert.deepEqual(job.spec.labels, { team: M.label });
  assert.equal((await member('GET', `/v1/jobs?label=team=${M.label}`)).body.items.length, 1);
  const events = (await member('GET', `/v1/jobs/${jobId}/events`)).body;
  const ckpt = (Array.isArray(events) ? events : events.items).find((e: { type: string }) => e.type === 'checkpoint');
  assert.match(ckpt.message, new RegExp(M.checkpoint));
  assert.equal(ckpt.data.label, M.checkpoint);
  assert.equal((await member('GET', `/v1/datasets/${datasetId}`)).body.name, M.dataset);
  assert.equal((await admin('GET', '/v1/orgs/vault/secrets/hub-token')).body.description, M.secretDescription);
  const residency = (await member('GET', `/v1/jobs/${jobId}/residency`)).body;
  assert.equal(residency.placements[0].datasets[0].name, M.dataset);
  const logs = await waitFor(async () => {
    const text = (await member('GET', `/v1/jobs/${jobId}/logs`)).body;
    return typeof text === 'string' && text.includes(M.log) ? text : null;
  }, 'job output');
  assert.ok(logs.includes(M.log));
  // A range from a byte offset decrypts exactly (AES-256-CTR keeps offsets).
  const from = logs.indexOf(M.log) + 5;
  const part = await member('GET', `/v1/jobs/${jobId}/logs?offset=${from}`);
  assert.equal(part.body, logs.slice(from));
  // While the job runs, its output is on the site's disk only sealed (the log sealer's file), nothing in clear.
  const siteFiles = filesUnder(join(siteDir, 'jobs'));
  assert.ok(
    siteFiles.some((f) => f.endsWith('output.log.sealed') && statSync(f).size >= M.log.length),
    siteFiles.join(', '),
  );
  assert.deepEqual(cleartext(siteFiles, M, false), []);

  // None of it is in clear in the database, its WAL, the server's output or a backup.
  const files = [...dbFiles(), ...(await backup())];
  assert.ok(
    files.some((f) => f.endsWith('-wal')),
    'the WAL is searched too',
  );
  assert.deepEqual(cleartext(files, M), []);
  // The whole data directory (keys, audit checkpoints) holds none of it either.
  assert.deepEqual(cleartext(filesUnder(server.dataDir), M, false), []);
});

test('after erasure the markers are unrecoverable: answered as erased, in no file, the data key shredded and its KEK gone', async () => {
  const before = await backup();
  const erased = await admin('POST', '/v1/orgs/vault/erasure', { confirm: 'vault', reason: 'contract ended' });
  assert.equal(erased.status, 201, JSON.stringify(erased.body));
  const cert = erased.body;
  assert.equal(cert.tenantData.jobs, 1);
  assert.equal(cert.tenantData.checkpointLabels, 1);
  assert.ok(cert.tenantData.fields.includes('job environment values and secret references'));
  assert.match(cert.tenantData.how, /AES-256-GCM/);
  assert.ok(cert.remains.some((r: string) => /audit chain/.test(r)));
  assert.ok(cert.remains.some((r: string) => /scheduling shape/.test(r)));
  await waitFor(async () => (await op('GET', `/v1/jobs/${jobId}`)).body.state === 'cancelled', 'job stopped');

  // The API answers the sealed fields as erased (the operator reads the job; the tenant's tokens are revoked).
  const job = (await op('GET', `/v1/jobs/${jobId}`)).body;
  // Operators see a neutral stand-in for job names (never the tenant's), erased or not.
  assert.notEqual(job.name, M.jobName);
  assert.ok(!JSON.stringify(job).includes(TAG), JSON.stringify(job));
  assert.equal(job.spec.gpuType, 'L4', 'the scheduling shape remains');

  // The files hold none of the markers, before or after; the data key is shredded, the KEK destroyed.
  assert.deepEqual(cleartext([...dbFiles(), ...(await backup()), ...before], M), []);
  const db = new SQLite(join(server.dataDir, 'gigafab.db'), { readonly: true });
  const key = db.prepare(`SELECT wrapped, state FROM data_keys WHERE object_type = 'org-data' AND org_id = 'vault'`).get() as {
    wrapped: string | null;
    state: string;
  };
  const sealedName = (db.prepare('SELECT name FROM jobs WHERE id = ?').get(Number(jobId)) as { name: string }).name;
  const keks = db.prepare(`SELECT key_id FROM org_keks WHERE org_id = 'vault'`).all() as { key_id: string }[];
  db.close();
  assert.deepEqual(key, { wrapped: null, state: 'shredded' });
  assert.match(sealedName, /^gf1:/, 'the ciphertext stays, unreadable');
  const provider = new LocalFileKeyProvider(join(server.dataDir, 'keys'));
  for (const k of keks) assert.equal(await provider.hasKey(k.key_id), false);

  // The job's output on the site's disk is deleted once the job has stopped.
  assert.match(cert.jobOutput, /sealed.*AES-256-CTR.*deleted/);
  await waitFor(
    async () => cleartext(filesUnder(join(siteDir, 'jobs')), { log: M.log }, false).length === 0,
    'job output deleted',
  );

  // A restart does not bring anything back.
  await server.restart();
  op = api(server.url, server.operatorToken);
  assert.ok(!JSON.stringify((await op('GET', `/v1/jobs/${jobId}`)).body).includes(TAG));
});

test('job output is sealed on the site disk across a control-plane restart; the tenant reads and follows it; exit codes are kept', async () => {
  const OUT = { first: `first-${TAG}`, second: `second-${TAG}` };
  await op('POST', '/v1/orgs', { id: 'scribe', name: 'Scribe GmbH', kind: 'enterprise' });
  await op('POST', '/v1/orgs/scribe/projects', { id: 'scribe-p' });
  await op('PUT', '/v1/projects/scribe-p/quotas/L4', { gpus: 1 });
  const { token } = await tenantUser(op, 'scribe', { name: 'Sam Scribe', role: 'admin' });
  const sam = api(server.url, token);
  // The markers are assembled by the shell, so the command does not contain them; the second goes to stderr.
  const script = `echo "first-""${TAG}"; while [ ! -e go ]; do sleep 0.1; done; echo "second-""${TAG}" >&2; exit 3`;
  const job = (
    await sam('POST', '/v1/jobs', { name: 'scribe', project: 'scribe-p', gpuType: 'L4', command: ['sh', '-c', script] })
  ).body;
  await waitFor(async () => {
    const r = await sam('GET', `/v1/jobs/${job.id}/logs`);
    return typeof r.body === 'string' && r.body.includes(OUT.first);
  }, 'first output');
  const run = filesUnder(join(siteDir, 'jobs', job.id)).find((f) => f.endsWith('output.log.sealed'));
  assert.ok(run, 'the run has a sealed log');
  assert.deepEqual(cleartext(filesUnder(siteDir), OUT, false), []);

  // The control plane restarts while the job runs; the job and its sealer go on, and reattach finds the job.
  await server.restart();
  const sam2 = api(server.url, token);
  writeFileSync(join(run, '..', 'go'), '');
  const followed = await sam2('GET', `/v1/jobs/${job.id}/logs?follow=true`);
  assert.equal(followed.status, 200);
  assert.equal(followed.body, `${OUT.first}\n${OUT.second}\n`);
  const ended = await waitFor(async () => {
    const j = (await sam2('GET', `/v1/jobs/${job.id}`)).body;
    return j.state === 'running' ? null : j;
  }, 'job ended');
  assert.equal(ended.state, 'failed');
  assert.equal(ended.exitCode, 3, 'the sealer does not change the job exit status');
  const page = await sam2('GET', `/v1/jobs/${job.id}/logs?offset=${OUT.first.length + 1}`);
  assert.equal(page.body, `${OUT.second}\n`);
  assert.equal(page.headers.get('x-log-eof'), 'true');
  assert.deepEqual(cleartext([...filesUnder(siteDir), ...filesUnder(server.dataDir)], OUT, false), []);
  op = api(server.url, server.operatorToken);
});

test('rows written in clear by an older version are sealed at the next start; the tenant still reads them', async () => {
  const OLD = {
    jobName: `oldname-${TAG}`,
    env: `oldenv-${TAG}`,
    checkpoint: `oldckpt-${TAG}`,
    dataset: `olddataset-${TAG}`,
    secretDescription: `oldsecret-${TAG}`,
  };
  await op('POST', '/v1/orgs', { id: 'legacy', name: 'Legacy KG', kind: 'enterprise' });
  await op('POST', '/v1/orgs/legacy/projects', { id: 'legacy-p' });
  await op('PUT', '/v1/projects/legacy-p/quotas/L4', { gpus: 1 });
  const { token } = await tenantUser(op, 'legacy', { name: 'Lea Legacy', role: 'admin' });
  const lea = api(server.url, token);
  const job = (
    await lea('POST', '/v1/jobs', { name: 'placeholder', project: 'legacy-p', gpuType: 'L4', command: ['true'], env: { X: 'y' } })
  ).body;
  await waitFor(async () => (await lea('GET', `/v1/jobs/${job.id}`)).body.state === 'succeeded', 'job ran');
  const ds = (
    await lea('POST', '/v1/projects/legacy-p/datasets', {
      name: 'placeholder',
      classification: 'internal',
      homeSite: 'lab1',
      sizeBytes: 1,
      checksum: CHECKSUM,
    })
  ).body;
  assert.equal((await lea('POST', '/v1/orgs/legacy/secrets', { name: 's', value: 'v', description: 'x' })).status, 201);
  await server.stop();

  // What an older version wrote: everything in clear.
  const spec = { ...job.spec, name: OLD.jobName, env: { X: OLD.env } };
  const db = new SQLite(join(server.dataDir, 'gigafab.db'));
  db.prepare('UPDATE jobs SET name = ?, spec = ?, labels = ? WHERE id = ?').run(
    OLD.jobName,
    JSON.stringify(spec),
    '{}',
    Number(job.id),
  );
  db.prepare('INSERT INTO job_checkpoints (job_id, at, step, label) VALUES (?, ?, 3, ?)').run(
    Number(job.id),
    job.createdAt,
    OLD.checkpoint,
  );
  db.prepare(`INSERT INTO job_events (job_id, at, type, message, data) VALUES (?, ?, 'checkpoint', ?, ?)`).run(
    Number(job.id),
    job.createdAt,
    `checkpoint at step 3 (${OLD.checkpoint})`,
    JSON.stringify({ step: 3, label: OLD.checkpoint }),
  );
  db.prepare('UPDATE datasets SET name = ? WHERE id = ?').run(OLD.dataset, ds.id);
  db.prepare(`UPDATE secrets SET description = ? WHERE org_id = 'legacy'`).run(OLD.secretDescription);
  db.close();
  assert.ok(cleartext(dbFiles(), OLD, false).length > 0, 'the planted rows are in clear before the upgrade');

  await server.restart();
  const lea2 = api(server.url, token);
  assert.deepEqual(cleartext(dbFiles(), OLD, false), []);
  const read = (await lea2('GET', `/v1/jobs/${job.id}`)).body;
  assert.equal(read.name, OLD.jobName);
  assert.equal(read.spec.env.X, OLD.env);
  const events = (await lea2('GET', `/v1/jobs/${job.id}/events`)).body.items as { type: string; message: string }[];
  assert.match(events.find((e) => e.type === 'checkpoint')?.message ?? '', new RegExp(OLD.checkpoint));
  assert.equal((await lea2('GET', `/v1/datasets/${ds.id}`)).body.name, OLD.dataset);
  assert.equal((await lea2('GET', '/v1/orgs/legacy/secrets/s')).body.description, OLD.secretDescription);
  op = api(server.url, server.operatorToken);
});
