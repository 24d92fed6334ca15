/**
 * `gigafab org export` and `gigafab org verify-archive` through the real CLI against a real server:
 * a busy organisation (several projects, jobs in several states with events, usage, a dataset) is
 * exported by its admin; the archive holds every section, no token or token hash and nothing of
 * another organisation; it verifies offline; an altered record, a cut archive and an altered audit
 * record (hashes recomputed) are named; operators and members are refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeOrgArchive } from '../../src/cli/org-archive.js';
import { cliRunner } from '../helpers/cli.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

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
});

after(async () => {
  await server?.stop();
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
