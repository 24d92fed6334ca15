/**
 * `gigafab org export` and `gigafab org verify-archive` through the real CLI against a real server:
 * a busy organisation (several projects, jobs in several states with events, usage, a dataset) is
 * exported by its admin; the archive holds every section, no token or token hash and nothing of
 * another organisation; it verifies offline; an altered record, a cut archive and an altered audit
 * record (hashes recomputed) are named; operators and members are refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeOrgArchive } from '../../src/server/tenancy/org-archive.js';
import { cliRunner } from '../helpers/cli.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { generateToken, tenantUser } from '../helpers/tenants.js';

const { gigafab } = cliRunner('gigafab-org-export-');
let server: TestServer;
let admin: { token: string; userId: string };
let member: { token: string; userId: string };
const dir = mkdtempSync(join(tmpdir(), 'gigafab-org-export-'));
const archive = join(dir, 'acme.jsonl');
const jobIds: string[] = [];

const spec = (name: string, project: string, seconds: number) => ({
  name,
  project,
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 1,
  simulation: { durationSeconds: seconds },
});

before(async () => {
  server = await startTestServer({ timeScale: 600 });
  const op = api(server.url, server.operatorToken);
  for (const org of ['acme', 'other']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: `${org} GmbH`, kind: 'enterprise' })).status, 201);
    for (const p of [`${org}-ml`, `${org}-vision`]) {
      assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: p })).status, 201);
      assert.equal((await op('PUT', `/v1/projects/${p}/quotas/B200`, { gpus: 16 })).status, 200);
    }
  }
  admin = await tenantUser(op, 'acme', { name: 'Ada Admin', role: 'admin' });
  member = await tenantUser(op, 'acme', { name: 'Max Member', role: 'member' });
  const otherAdmin = await tenantUser(op, 'other', { name: 'Olga Other', role: 'admin' });
  const a = api(server.url, member.token);
  // Finished (30 s simulated = 50 ms), long-running (quota 16 = 2 jobs per project), queued, cancelled.
  for (const [name, project, seconds] of [
    ['short-1', 'acme-ml', 30],
    ['short-2', 'acme-vision', 30],
    ['long-1', 'acme-ml', 600_000],
    ['long-2', 'acme-ml', 600_000],
    ['waits', 'acme-ml', 600_000],
    ['to-cancel', 'acme-ml', 600_000],
  ] as const) {
    const r = await a('POST', '/v1/jobs', spec(name, project, seconds));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    jobIds.push(r.body.id);
  }
  assert.ok([200, 202].includes((await a('POST', `/v1/jobs/${jobIds[5]}/cancel`)).status));
  await waitFor(async () => (await a('GET', `/v1/jobs/${jobIds[5]}`)).body.state === 'cancelled', 'the cancel');
  await waitFor(async () => (await a('GET', '/v1/jobs?state=succeeded')).body.items.length === 2, 'the short jobs to succeed');
  await waitFor(async () => (await a('GET', `/v1/jobs/${jobIds[2]}`)).body.state === 'running', 'a long job to run');
  const o = api(server.url, otherAdmin.token);
  assert.equal((await o('POST', '/v1/jobs', spec('secret-other-job', 'other-ml', 30))).status, 201);
  // A dataset with a manifest (write-only: its content never leaves the server, not even in the archive).
  const ds = await a('POST', '/v1/projects/acme-ml/datasets', DATASET);
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  datasetId = ds.body.id;
});

const MANIFEST = { uri: 's3://acme-scans/2026/', accessKeyId: 'AKIAACMEEXPORT', secretAccessKey: 'sk-acme-export-v1' };
const DATASET = {
  name: 'scans-2026',
  classification: 'internal',
  homeSite: 'muc1',
  sizeBytes: 123_456,
  checksum: `sha256:${'b'.repeat(64)}`,
  manifest: MANIFEST,
};
let datasetId = '';

let second: TestServer | null = null;
after(async () => {
  await server?.stop();
  await second?.stop();
});

const env = (token: string) => ({ GIGAFAB_URL: server.url, GIGAFAB_TOKEN: token });

test("the org's admin exports a complete archive that verifies offline; no secrets, nothing of another org", async () => {
  const r = await gigafab(['org', 'export', 'acme', '--file', archive], env(admin.token));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /archive of acme written to/);
  const text = readFileSync(archive, 'utf8');
  const lines = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const manifest = lines[0];
  assert.equal(manifest.format, 'gigafab-org-archive');
  assert.equal(manifest.formatVersion, 1);
  assert.equal(manifest.org, 'acme');
  const count = Object.fromEntries(manifest.sections.map((s: { name: string; records: number }) => [s.name, s.records]));
  assert.deepEqual(Object.keys(count), [
    'org',
    'projects',
    'users',
    'jobs',
    'datasets',
    'usage',
    'residency',
    'processing-record',
    'audit',
  ]);
  assert.equal(count.org, 1);
  assert.equal(count.projects, 2);
  assert.equal(count.users, 2);
  assert.equal(count.jobs, 6);
  assert.ok(count.usage > 0, 'usage of the finished jobs');
  assert.equal(count.datasets, 1);
  assert.ok(!text.includes(MANIFEST.secretAccessKey) && !text.includes(MANIFEST.uri), 'no manifest in the archive');
  assert.ok(count.audit > 10, 'the audit slice');
  const jobs = lines.filter((l) => l.section === 'jobs').map((l) => l.record);
  const states = new Set(jobs.map((j: { job: { state: string } }) => j.job.state));
  for (const s of ['succeeded', 'running', 'queued', 'cancelled']) assert.ok(states.has(s), `a ${s} job: ${[...states]}`);
  for (const j of jobs) assert.equal(j.events[0].type, 'queued', 'each job with its events');
  assert.ok(jobs.some((j: { job: { spec?: unknown; name: string } }) => j.job.name === 'long-1'));
  // No credential, nothing of the other organisation.
  assert.doesNotMatch(text, /tokenSha256|tokenHash|token_hash|gf_[A-Za-z0-9_-]{20}/);
  assert.ok(!text.includes(admin.token) && !text.includes(member.token));
  assert.doesNotMatch(text, /secret-other-job|other-ml|Olga/);

  const v = await gigafab(['org', 'verify-archive', archive], {});
  assert.equal(v.code, 0, v.out + v.err);
  assert.match(
    v.out,
    /^OK: archive of organisation acme .* verifies: 1 org, 2 projects, 2 users, 6 jobs, .*audit: \d+ records verify \(scope acme; key /,
  );
});

test('verify-archive names the first bad record: an altered job, a cut archive, an altered audit record with hashes recomputed', async () => {
  const lines = readFileSync(archive, 'utf8').trim().split('\n');
  const at = lines.findIndex((l) => JSON.parse(l).section === 'jobs');
  const rec = JSON.parse(lines[at + 1]!);
  rec.record.job.state = 'succeeded';
  rec.record.job.name = 'renamed';
  const altered = [...lines];
  altered[at + 1] = JSON.stringify(rec);
  writeFileSync(join(dir, 'altered.jsonl'), `${altered.join('\n')}\n`);
  const a = await gigafab(['org', 'verify-archive', join(dir, 'altered.jsonl')], {});
  assert.equal(a.code, 4);
  assert.match(
    a.out,
    new RegExp(
      `^FAILED: record 2 of section jobs \\(${rec.record.job.id}\\) was altered: its hash does not match — first bad record: jobs 2`,
    ),
  );

  writeFileSync(join(dir, 'cut.jsonl'), `${lines.slice(0, -3).join('\n')}\n`);
  const c = await gigafab(['org', 'verify-archive', join(dir, 'cut.jsonl')], {});
  assert.equal(c.code, 4);
  assert.match(c.out, /^FAILED: record \d+ of section audit is missing/);

  // Rebuilt with every checksum recomputed, one audit record's actor changed: the signed chain catches it.
  const parsed = lines.map((l) => JSON.parse(l));
  const bySection = (name: string) => parsed.filter((l) => l.section === name).map((l) => l.record);
  const audit = bySection('audit');
  const victim = audit.find((r: { type: string; action?: string }) => r.type === 'record' && r.action === 'job.submit');
  victim.actor = 'system:nobody';
  const m = parsed[0];
  const forged = writeOrgArchive(
    { org: m.org, exportedAt: m.exportedAt, exportedBy: m.exportedBy, source: m.source },
    {
      org: bySection('org'),
      projects: bySection('projects'),
      users: bySection('users'),
      jobs: bySection('jobs'),
      datasets: bySection('datasets'),
      usage: bySection('usage'),
      residency: bySection('residency'),
      'processing-record': bySection('processing-record'),
      audit,
    },
  );
  writeFileSync(join(dir, 'forged.jsonl'), forged);
  const f = await gigafab(['org', 'verify-archive', join(dir, 'forged.jsonl')], {});
  assert.equal(f.code, 4, f.out);
  assert.match(f.out, new RegExp(`^FAILED: the audit slice does not verify: .* — first bad record: ${victim.id}\\n`));

  const notArchive = await gigafab(['org', 'verify-archive', join(server.dataDir, 'operator-token')], {});
  assert.equal(notArchive.code, 4);
  assert.match(notArchive.out, /not a gigafab organisation archive/);
});

test('the operator and a member are refused: the export is the organisation admins’ own', async () => {
  const op = await gigafab(['org', 'export', 'acme'], env(server.operatorToken));
  assert.equal(op.code, 1);
  assert.match(op.err, /run it as an admin of acme; operators read tenant data only through the lockbox/);
  assert.equal(op.out, '');
  const m = await gigafab(['org', 'export', 'acme'], env(member.token));
  assert.equal(m.code, 1);
  assert.match(m.err, /only an admin of acme can export it/);
  const other = await gigafab(['org', 'export', 'other'], env(admin.token));
  assert.equal(other.code, 1);
});

type Line = { section: string; record: Record<string, unknown> };
const sectionOf = (text: string, name: string) =>
  text
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.section === name)
    .map((l) => l.record);
const withoutUsed = (p: Record<string, unknown>) => ({
  ...p,
  quotas: (p.quotas as { used?: unknown }[]).map(({ used: _used, ...q }) => q),
});

test('round trip: the archive imported into a second server (tampered refused, nothing re-run), exported again: what must match matches', async () => {
  // The import has a body limit of its own (here 4 MiB), above the API's 1 MiB.
  const limits = join(dir, 'limits.yaml');
  writeFileSync(limits, 'body:\n  maxImportBytes: 4194304\n');
  second = await startTestServer({ timeScale: 600, extraArgs: ['--limits', limits] });
  const op2 = api(second.url, second.operatorToken);
  const opEnv = { GIGAFAB_URL: second.url, GIGAFAB_TOKEN: second.operatorToken };
  const text = readFileSync(archive, 'utf8');
  const lines = text.trim().split('\n');

  // A tampered archive is refused with 422 archive_invalid naming its first bad record; nothing written.
  const at = lines.findIndex((l) => JSON.parse(l).section === 'users');
  const rec = JSON.parse(lines[at]!);
  rec.record.role = 'viewer';
  const tampered = [...lines];
  tampered[at] = JSON.stringify(rec);
  const bad = await op2('POST', '/v1/orgs/import', { archive: `${tampered.join('\n')}\n` });
  assert.equal(bad.status, 422, JSON.stringify(bad.body));
  assert.equal(bad.body.code, 'archive_invalid');
  assert.match(
    bad.body.detail,
    /record 1 of section users \(u_[0-9a-f]+\) was altered: its hash does not match — first bad record: users 1/,
  );
  assert.equal((await op2('GET', '/v1/orgs/acme')).status, 404, 'nothing was written');
  const cli = await gigafab(['org', 'import', join(dir, 'forged.jsonl')], opEnv);
  assert.equal(cli.code, 1);
  assert.match(
    cli.err,
    /the archive does not verify: the audit slice does not verify: .* — first bad record: \d+ \(archive_invalid\)/,
  );
  // The wrong signing key, and a tenant (not an operator), are refused too.
  // (2 MiB of trailing spaces, a blank last line: over the API's 1 MiB, within the import's limit, and harmless.)
  const padded = `${text}${' '.repeat(2 * 1024 * 1024)}`;
  const wrongKey = await op2('POST', '/v1/orgs/import', { archive: padded, keyId: '0000000000000000' });
  assert.equal(wrongKey.status, 422, JSON.stringify(wrongKey.body));
  assert.match(wrongKey.body.detail, /signed with key [0-9a-f]{16}, expected 0000000000000000/);

  const huge = await op2('POST', '/v1/orgs/import', { archive: `${text}${' '.repeat(5 * 1024 * 1024)}` });
  assert.equal(huge.status, 413);
  assert.equal(huge.body.code, 'payload_too_large');
  assert.match(huge.body.detail, /exceeds 4194304 bytes/);
  const bigJob = await op2('POST', '/v1/jobs', { name: 'x'.repeat(2 * 1024 * 1024) });
  assert.equal(bigJob.status, 413, 'other routes keep the 1 MiB limit');

  // The operator imports it; Ada (an imported admin) gets a token whose SHA-256 only the operator saw.
  const ada = generateToken();
  const imported = await gigafab(
    ['org', 'import', archive, '--admin-user', admin.userId, '--admin-token-sha256', ada.sha256, '-o', 'json'],
    opEnv,
  );
  assert.equal(imported.code, 0, imported.err);
  const result = JSON.parse(imported.out);
  assert.equal(result.org, 'acme');
  assert.equal(result.jobs.imported, 6);
  assert.equal(result.jobs.stoppedAtImport, 3, 'two long jobs running, one queued at the export');
  const again = await op2('POST', '/v1/orgs/import', { archive: text });
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'org_exists');
  const tenant = await api(second.url, ada.token)('POST', '/v1/orgs/import', { archive: text });
  assert.equal(tenant.status, 403);
  // Datasets registered again with their ids; their manifests were never exported: the tenant sets them again.
  assert.deepEqual(result.datasets, { imported: 1, awaitingManifest: [datasetId], skipped: [] });
  assert.equal(result.datasetsNotImported, 0);
  assert.deepEqual(result.kept, {
    usage: sectionOf(text, 'usage').length,
    residency: sectionOf(text, 'residency').length,
  });
  assert.ok(result.kept.usage > 0 && result.kept.residency > 0, JSON.stringify(result.kept));
  const ada2 = api(second.url, ada.token);
  assert.equal((await ada2('GET', `/v1/datasets/${datasetId}`)).body.hasManifest, false);
  const patched = await ada2('PATCH', `/v1/datasets/${datasetId}`, { manifest: MANIFEST });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  // Imported usage is the old provider's metering: shown with its origin, never billed here.
  const usage2 = await ada2('GET', '/v1/usage?org=acme');
  assert.equal(usage2.status, 200, JSON.stringify(usage2.body));
  assert.equal(usage2.body.total.gpuSeconds, 0, 'no imported GPU-second in this installation’s metering');
  const keptUsage = await ada2('GET', '/v1/orgs/acme/imported-records?section=usage');
  assert.equal(keptUsage.status, 200, JSON.stringify(keptUsage.body));
  assert.equal(keptUsage.body.items.length, result.kept.usage);
  assert.deepEqual(keptUsage.body.items[0].importedFrom.importId, result.importId);
  assert.equal((await op2('GET', '/v1/orgs/acme/imported-records?section=usage')).status, 403, 'operators: lockbox');
  assert.equal((await api(second.url, second.operatorToken)('GET', '/v1/orgs/nope/imported-records?section=usage')).status, 404);

  // Job names are tenant-written: sealed in the jobs, their events and the kept archive alike.
  const files = ['gigafab.db', 'gigafab.db-wal'].map((f) => join(second!.dataDir, f)).filter((f) => existsSync(f));
  for (const f of files) assert.ok(!readFileSync(f).includes('to-cancel'), `a job name in clear in ${f}`);

  // Nothing is re-run: a while later no imported job is queued or running.
  await new Promise((r) => setTimeout(r, 1000));
  const jobs2 = (await api(second.url, ada.token)('GET', '/v1/jobs')).body.items as { state: string }[];
  assert.equal(jobs2.length, 6);
  assert.ok(
    jobs2.every((j) => !['queued', 'running'].includes(j.state)),
    JSON.stringify(jobs2.map((j) => j.state)),
  );

  const archive2 = join(dir, 'acme-second.jsonl');
  const r2 = await gigafab(['org', 'export', 'acme', '--file', archive2], { GIGAFAB_URL: second.url, GIGAFAB_TOKEN: ada.token });
  assert.equal(r2.code, 0, r2.err);
  const text2 = readFileSync(archive2, 'utf8');
  assert.equal((await gigafab(['org', 'verify-archive', archive2], {})).code, 0);
  // Byte for byte: the organisation and its users; projects but for the live `used` of their quotas.
  assert.equal(JSON.stringify(sectionOf(text2, 'org')), JSON.stringify(sectionOf(text, 'org')));
  assert.equal(JSON.stringify(sectionOf(text2, 'users')), JSON.stringify(sectionOf(text, 'users')));
  assert.equal(
    JSON.stringify(sectionOf(text2, 'projects').map(withoutUsed)),
    JSON.stringify(sectionOf(text, 'projects').map(withoutUsed)),
  );
  // Datasets byte for byte (the manifest set again from the tenant's copy); usage and residency
  // evidence as they were, each marked with its origin (the first installation, this import).
  assert.equal(JSON.stringify(sectionOf(text2, 'datasets')), JSON.stringify(sectionOf(text, 'datasets')));
  for (const section of ['usage', 'residency']) {
    const items = sectionOf(text2, section);
    for (const r of items) {
      const from = r.importedFrom as { source: string; importId: number; exportedAt: string };
      assert.equal(from.source, JSON.parse(text.split('\n')[0]!).source, section);
      assert.equal(from.importId, result.importId);
    }
    const stripped = items.map(({ importedFrom: _f, ...rest }) => rest);
    assert.equal(JSON.stringify(stripped), JSON.stringify(sectionOf(text, section)), section);
  }
  // Jobs: new ids (mapped in the import's answer, same order); ended ones as they were, events and all;
  // queued or running ones cancelled, with one event more saying so.
  type J = { job: Record<string, unknown>; events: Record<string, unknown>[] };
  const before = (sectionOf(text, 'jobs') as unknown as J[]).sort((a, b) => Number(a.job.id) - Number(b.job.id));
  const after2 = sectionOf(text2, 'jobs') as unknown as J[];
  const strip = (j: J) => {
    const { id: _id, pendingReason: _p, reasonCycle: _c, state: _s, finishedAt: _f, ...rest } = j.job;
    return { job: rest, events: j.events.map(({ id: _i, jobId: _j, ...e }) => e) };
  };
  for (const old of before) {
    const now = after2.find((j) => j.job.id === result.jobs.ids[String(old.job.id)]);
    assert.ok(now, `job ${old.job.id} imported as ${result.jobs.ids[String(old.job.id)]}`);
    const ended = ['succeeded', 'failed', 'cancelled', 'timed-out'].includes(String(old.job.state));
    if (ended) {
      assert.equal(JSON.stringify(strip(now)), JSON.stringify(strip(old)), `job ${old.job.id}`);
      assert.equal(now.job.state, old.job.state);
      assert.equal(now.job.finishedAt, old.job.finishedAt);
    } else {
      assert.equal(now.job.state, 'cancelled');
      const s = strip(now);
      assert.equal(JSON.stringify({ ...s, events: s.events.slice(0, -1) }), JSON.stringify(strip(old)));
      assert.match(
        String(s.events.at(-1)?.message),
        new RegExp(`imported from .* while ${old.job.state}: not run on this installation`),
      );
    }
  }
  // The import is audited in the new chain, naming the archive's SHA-256 and the old chain's head.
  const audit2 = sectionOf(text2, 'audit').filter((r) => r.type === 'record');
  const imp = audit2.find((r) => r.action === 'org.import');
  assert.ok(imp, 'an org.import record');
  const impAfter = JSON.parse(String(imp.after));
  assert.equal(impAfter.archiveSha256, createHash('sha256').update(text).digest('hex'));
  const oldHead = sectionOf(text, 'audit')[0]!.head as { id: number; hash: string };
  assert.deepEqual(impAfter.importedAuditHead, oldHead);
});
