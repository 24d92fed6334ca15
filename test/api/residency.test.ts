/**
 * Data residency through the real server: versioned policies (only stricter for projects, moves of
 * processing audited), datasets with org isolation, rejection of never-placeable jobs, placement
 * evidence and the residency report, the record of processing, and a bypass hunt (a policy tightened
 * while jobs are queued, then a restart: nothing starts outside).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { residencyFleet, rtxJob } from '../helpers/residency.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

type Client = ReturnType<typeof api>;
let server: TestServer;
let op: Client;
let admin: Client;
let member: Client;
let rival: Client;
const ALL = ['public', 'internal', 'confidential', 'personal', 'health'];
const CHECKSUM = `sha256:${'ab'.repeat(32)}`;

before(async () => {
  server = await startTestServer({ fleetPath: residencyFleet(), timeScale: 1 });
  op = api(server.url, server.operatorToken);
  for (const [org, projects] of [
    ['acme', ['imaging', 'analytics', 'batch']],
    ['other', ['rival-p']],
  ] as const) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'enterprise' })).status, 201);
    for (const p of projects) {
      await op('POST', `/v1/orgs/${org}/projects`, { id: p });
      if (p !== 'batch') await op('PUT', `/v1/projects/${p}/quotas/RTX`, { gpus: 64 });
    }
  }
  tokens.admin = await tenantToken(op, 'acme', { name: 'A', role: 'admin' });
  tokens.member = await tenantToken(op, 'acme', { name: 'M', role: 'member' });
  tokens.rival = await tenantToken(op, 'other', { name: 'R', role: 'admin' });
  connect();
});

const tokens = { admin: '', member: '', rival: '' };
/** connect binds the clients to the server's current URL (a restart picks a new port). */
function connect() {
  op = api(server.url, server.operatorToken);
  admin = api(server.url, tokens.admin);
  member = api(server.url, tokens.member);
  rival = api(server.url, tokens.rival);
}

after(async () => {
  await server?.stop();
});

let healthDs = '';

test('policies are versioned; a project may only be stricter; a move of processing is audited', async () => {
  const none = await admin('GET', '/v1/orgs/acme/residency-policy');
  assert.equal(none.status, 200);
  assert.equal(none.body.version, 0);

  const org1 = await admin('PUT', '/v1/orgs/acme/residency-policy', {
    name: 'eu-only',
    rules: { regions: ['EU'] },
    dataClasses: ALL,
  });
  assert.equal(org1.status, 200, JSON.stringify(org1.body));
  assert.equal(org1.body.version, 1);
  assert.deepEqual(org1.body.sitesAfter, ['de1', 'de2', 'at1']);
  assert.equal(org1.body.sitesChanged, false);

  const looser = await admin('PUT', '/v1/projects/imaging/residency-policy', { name: 'anywhere', rules: {}, dataClasses: ALL });
  assert.equal(looser.status, 422);
  assert.equal(looser.body.code, 'policy_looser_than_org');
  assert.match(
    looser.body.detail,
    /only be stricter than its organisation's \(eu-only v1\): location: the project allows any location/,
  );
  const swiss = await admin('PUT', '/v1/projects/imaging/residency-policy', {
    name: 'ch',
    rules: { countries: ['CH'] },
    dataClasses: ALL,
  });
  assert.equal(swiss.body.code, 'policy_looser_than_org');
  assert.match(swiss.body.detail, /allows CH, outside the organisation's the EU/);
  const unknown = await admin('PUT', '/v1/projects/imaging/residency-policy', {
    name: 'x',
    rules: { countries: ['XX'] },
    dataClasses: ALL,
  });
  assert.equal(unknown.body.code, 'unknown_country');
  const badRegion = await admin('PUT', '/v1/projects/imaging/residency-policy', {
    name: 'x',
    rules: { regions: ['MARS'] },
    dataClasses: ALL,
  });
  assert.equal(badRegion.status, 400);
  const byMember = await member('PUT', '/v1/projects/imaging/residency-policy', {
    name: 'de-only',
    rules: { countries: ['DE'] },
    dataClasses: ALL,
  });
  assert.equal(byMember.status, 403);

  const p1 = await admin('PUT', '/v1/projects/imaging/residency-policy', {
    name: 'de-only',
    rules: { countries: ['DE'] },
    dataClasses: ['internal', 'health'],
  });
  assert.equal(p1.status, 200, JSON.stringify(p1.body));
  assert.deepEqual(
    [p1.body.version, p1.body.sitesBefore, p1.body.sitesAfter, p1.body.sitesChanged],
    [1, ['de1', 'de2', 'at1'], ['de1', 'de2'], true],
  );
  const p2 = await admin('PUT', '/v1/projects/imaging/residency-policy', {
    name: 'de-only',
    rules: { countries: ['DE'], attestations: ['ISO/IEC 27001'] },
    dataClasses: ['internal', 'health'],
  });
  assert.equal(p2.body.version, 2);
  assert.equal(p2.body.sitesChanged, false);

  // Old versions stay readable by the tenant, newest first, with the sites before and after.
  const versions = await member('GET', '/v1/projects/imaging/residency-policy/versions');
  assert.deepEqual(
    versions.body.items.map((v: { version: number; sitesChanged: boolean }) => [v.version, v.sitesChanged]),
    [
      [2, false],
      [1, true],
    ],
  );
  const audit = await admin('GET', '/v1/audit?limit=200');
  const move = audit.body.items.find((a: { action: string }) => a.action === 'residency.processing_location_change');
  assert.ok(move, 'the move of processing is in the audit log');
  assert.equal(move.objectId, 'imaging@1');
  assert.deepEqual(
    [move.before.sites, move.after.sites],
    [
      ['de1', 'de2', 'at1'],
      ['de1', 'de2'],
    ],
  );
  assert.equal(audit.body.items.filter((a: { action: string }) => a.action === 'residency_policy.set').length, 3);

  // Analytics: Austria only (stricter than EU); batch: EU like its org, set later by the bypass hunt.
  const at = await admin('PUT', '/v1/projects/analytics/residency-policy', {
    name: 'at-only',
    rules: { countries: ['AT'] },
    dataClasses: ALL,
  });
  assert.equal(at.status, 200);
});

test('datasets: registered with class, home site and checksum; refused where their class may not live; isolated per org', async () => {
  const create = (project: string, body: Record<string, unknown>, who: Client = admin) =>
    who('POST', `/v1/projects/${project}/datasets`, { sizeBytes: 1_000_000, checksum: CHECKSUM, ...body });
  const ds = await create('imaging', { name: 'scans', classification: 'health', homeSite: 'de1' }, member);
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  assert.equal(ds.body.classification, 'health');
  healthDs = ds.body.id;

  const undeclared = await create('imaging', { name: 'crm', classification: 'personal', homeSite: 'de1' });
  assert.equal(undeclared.body.code, 'data_class_not_declared');
  assert.match(undeclared.body.detail, /project imaging policy de-only v2 does not declare data class personal/);
  const wrongHome = await create('imaging', { name: 'scans-fra', classification: 'health', homeSite: 'at1' });
  assert.equal(wrongHome.status, 422);
  assert.equal(wrongHome.body.code, 'residency_forbidden');
  assert.match(wrongHome.body.detail, /may not be kept in at1: at1 is in AT, not in DE/);
  assert.equal((await create('imaging', { name: 'x', classification: 'health', homeSite: 'nowhere' })).body.code, 'unknown_site');
  const badSum = await create('imaging', { name: 'y', classification: 'internal', homeSite: 'de1', checksum: 'md5:1' });
  assert.equal(badSum.status, 400);
  assert.equal(badSum.body.code, 'validation_failed');
  assert.equal((await create('imaging', { name: 'scans', classification: 'health', homeSite: 'de1' })).status, 409);

  assert.equal((await member('GET', `/v1/datasets/${healthDs}`)).body.name, 'scans');
  const patched = await member('PATCH', `/v1/datasets/${healthDs}`, { sizeBytes: 2_000_000 });
  assert.equal(patched.body.sizeBytes, 2_000_000);
  assert.equal((await member('PATCH', `/v1/datasets/${healthDs}`, { classification: 'public' })).status, 400);

  // Another organisation sees nothing of acme's residency objects: 404, never 403.
  for (const [method, path] of [
    ['GET', `/v1/datasets/${healthDs}`],
    ['PATCH', `/v1/datasets/${healthDs}`],
    ['DELETE', `/v1/datasets/${healthDs}`],
    ['POST', '/v1/projects/imaging/datasets'],
    ['GET', '/v1/orgs/acme/residency-policy'],
    ['PUT', '/v1/orgs/acme/residency-policy'],
    ['GET', '/v1/projects/imaging/residency-policy/versions'],
    ['GET', '/v1/orgs/acme/residency-report?from=2020-01-01&to=2100-01-01'],
    ['GET', '/v1/orgs/acme/processing-record'],
  ] as const) {
    const body =
      method === 'PATCH'
        ? { sizeBytes: 1 }
        : method === 'POST'
          ? { name: 'steal', classification: 'public', homeSite: 'de1', sizeBytes: 1, checksum: CHECKSUM }
          : method === 'PUT'
            ? { name: 'x', rules: {}, dataClasses: ALL }
            : undefined;
    const r = await rival(method, path, body);
    assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.body)}`);
  }
  assert.deepEqual((await rival('GET', '/v1/datasets')).body.items, []);
  assert.equal((await rival('POST', '/v1/jobs', rtxJob('rival-p', 'steal', [healthDs]))).body.code, 'dataset_not_found');

  const tmp = await create('imaging', { name: 'tmp', classification: 'internal', homeSite: 'de2' });
  assert.equal((await member('DELETE', `/v1/datasets/${tmp.body.id}`)).status, 403);
  assert.equal((await admin('DELETE', `/v1/datasets/${tmp.body.id}`)).status, 204);
  assert.equal((await admin('GET', `/v1/datasets/${tmp.body.id}`)).status, 404);
  assert.deepEqual(
    (await member('GET', '/v1/datasets?project=imaging')).body.items.map((d: { name: string }) => d.name),
    ['scans'],
  );
});

test('submission: a never-placeable job is rejected with the rule; a placed one records its evidence; report and RoPA', async () => {
  // analytics allows only AT; health data needs a German operator with C5: no site can ever do both.
  const never = await member('POST', '/v1/jobs', rtxJob('analytics', 'never', [healthDs]));
  assert.equal(never.status, 422);
  assert.equal(never.body.code, 'residency_forbidden');
  assert.match(never.body.detail, /no site of the fleet can ever satisfy the residency rules/);
  assert.match(never.body.detail, /project:analytics\/at-only@1:location/);

  // A project may read another project's dataset only if it declares the dataset's class.
  const crm = await member('POST', '/v1/projects/analytics/datasets', {
    name: 'crm',
    classification: 'personal',
    homeSite: 'at1',
    sizeBytes: 1,
    checksum: CHECKSUM,
  });
  assert.equal(crm.status, 201, JSON.stringify(crm.body));
  const undeclared = await member('POST', '/v1/jobs', rtxJob('imaging', 'crm-read', [crm.body.id]));
  assert.equal(undeclared.body.code, 'data_class_not_declared');
  assert.match(undeclared.body.detail, /holds personal data, which project imaging policy de-only v2 does not declare/);

  const j = await member('POST', '/v1/jobs', rtxJob('imaging', 'mri-train', [healthDs]));
  assert.equal(j.status, 201, JSON.stringify(j.body));
  const running = await waitFor(async () => {
    const g = await member('GET', `/v1/jobs/${j.body.id}`);
    return g.body.state === 'running' ? g.body : null;
  }, 'health job running');
  assert.equal(running.placement.site, 'de1', 'de2 has no current C5 Type 2, at1 is not in DE');

  const res = await member('GET', `/v1/jobs/${j.body.id}/residency`);
  assert.equal(res.status, 200);
  const evidence = res.body.placements[0];
  assert.equal(evidence.site.id, 'de1');
  assert.deepEqual(
    evidence.site.currentAttestations.map((a: { name: string }) => a.name),
    ['BSI C5 Type 2', 'ISO/IEC 27001'],
  );
  assert.deepEqual(evidence.policyVersions, { org: { name: 'eu-only', version: 1 }, project: { name: 'de-only', version: 2 } });
  assert.deepEqual(evidence.dataClasses, ['health']);
  assert.ok(evidence.rules.some((r: { id: string }) => r.id === 'class:health:attestation'));
  assert.match(
    evidence.excluded.find((e: { site: string }) => e.site === 'de2').reason,
    /de2's BSI C5 Type 2 expired 2026-10-01/,
  );
  assert.equal((await rival('GET', `/v1/jobs/${j.body.id}/residency`)).status, 404);

  const from = new Date(Date.now() - 3600_000).toISOString();
  const to = new Date(Date.now() + 3600_000).toISOString();
  const report = await member('GET', `/v1/orgs/acme/residency-report?from=${from}&to=${to}`);
  assert.equal(report.status, 200);
  const row = report.body.items.find((i: { jobId: string }) => i.jobId === j.body.id);
  assert.equal(
    row.summary,
    `job ${j.body.id} ran in Munich, DE, BSI C5 Type 2 + ISO/IEC 27001, under policy eu-only v1 and de-only v2, data classes health`,
  );
  const csv = await fetch(`${server.url}/v1/orgs/acme/residency-report?from=${from}&to=${to}&format=csv`, {
    headers: { authorization: `Bearer ${tokens.member}` },
  });
  assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
  const lines = (await csv.text()).trim().split('\r\n');
  assert.equal(lines[0]!.split(',')[0], 'jobId');
  assert.ok(lines.some((l) => l.startsWith(`${j.body.id},mri-train,imaging,`) && l.includes(',de1,Munich,DE,true,true,')));
  const badPeriod = await member('GET', '/v1/orgs/acme/residency-report?from=yesterday&to=2030-01-01');
  assert.equal(badPeriod.body.code, 'invalid_period');

  const ropa = await member('GET', '/v1/orgs/acme/processing-record');
  assert.equal(ropa.status, 200);
  assert.deepEqual(
    ropa.body.sitesUsed.map((s: { id: string; placements: number; datasets: number }) => [s.id, s.placements, s.datasets]),
    [
      ['de1', 1, 1],
      ['at1', 0, 1],
    ],
  );
  assert.deepEqual(ropa.body.transfersOutsideEea, []);
  assert.ok(ropa.body.dataClasses.includes('health'));
  assert.ok(ropa.body.retention.length > 0);
});

test('bypass hunt: a policy tightened while jobs are queued holds for starts and after a restart', async () => {
  // batch has no quota yet: its jobs queue (no_quota) with no residency rule of their own.
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await member('POST', '/v1/jobs', rtxJob('batch', `b${i}`))).body.id);
  const tight = await admin('PUT', '/v1/projects/batch/residency-policy', {
    name: 'at-only',
    rules: { countries: ['AT'] },
    dataClasses: ALL,
  });
  assert.equal(tight.status, 200);
  assert.equal(tight.body.sitesChanged, true);
  await op('PUT', '/v1/projects/batch/quotas/RTX', { gpus: 64 });

  const jobs = async () => Promise.all(ids.map(async (id) => (await member('GET', `/v1/jobs/${id}`)).body));
  const two = await waitFor(async () => {
    const js = await jobs();
    return js.filter((x) => x.state === 'running').length === 2 ? js : null;
  }, 'two batch jobs running');
  // de2 and one de1 node are free, yet only at1 (2 nodes) is allowed.
  for (const x of two.filter((y) => y.state === 'running')) assert.equal(x.placement.site, 'at1');
  await new Promise((r) => setTimeout(r, 600));
  const waiting = (await jobs()).filter((x) => x.state === 'queued');
  assert.equal(waiting.length, 2);
  for (const w of waiting) assert.notEqual(w.pendingReason?.code, 'not_yet_scheduled');

  // Restart: the recovered queue goes through the same gate. Free at1, and the rest start there only.
  await server.restart();
  connect();
  for (const x of two.filter((y) => y.state === 'running'))
    assert.equal((await member('POST', `/v1/jobs/${x.id}/cancel`)).status, 202);
  const after = await waitFor(async () => {
    const js = await Promise.all(ids.map(async (id) => (await member('GET', `/v1/jobs/${id}`)).body));
    return js.filter((x) => x.state === 'running').length === 2 && js.filter((x) => x.state === 'queued').length === 0
      ? js
      : null;
  }, 'the two queued batch jobs running after restart');
  for (const x of after.filter((y) => y.state === 'running')) assert.equal(x.placement.site, 'at1');
  // Each start's evidence names the tightened policy.
  for (const x of after.filter((y) => y.state === 'running')) {
    const ev = (await member('GET', `/v1/jobs/${x.id}/residency`)).body.placements.at(-1);
    assert.deepEqual(ev.policyVersions.project, { name: 'at-only', version: 1 });
  }
});

test('the residency routes are in the OpenAPI document; sites show jurisdiction from the ISO table', async () => {
  const doc = (await api(server.url)('GET', '/v1/openapi.json')).body;
  for (const path of [
    '/v1/residency/sites',
    '/v1/orgs/{id}/residency-policy',
    '/v1/projects/{id}/residency-policy/versions',
    '/v1/projects/{project}/datasets',
    '/v1/datasets/{id}',
    '/v1/jobs/{id}/residency',
    '/v1/orgs/{org}/residency-report',
    '/v1/orgs/{org}/processing-record',
  ])
    assert.ok(doc.paths[path], path);
  assert.ok(doc.components.schemas.JobSpec.properties.datasets);
  const sites = (await member('GET', '/v1/residency/sites')).body.items;
  assert.deepEqual(
    sites.map((s: { id: string; eu: boolean; eea: boolean; operator: { establishment: string } }) => [
      s.id,
      s.eu,
      s.eea,
      s.operator.establishment,
    ]),
    [
      ['de1', true, true, 'DE'],
      ['de2', true, true, 'DE'],
      ['at1', true, true, 'AT'],
    ],
  );
  const de2 = sites.find((s: { id: string }) => s.id === 'de2');
  assert.deepEqual(
    de2.attestations.map((a: { name: string; current: boolean }) => [a.name, a.current]),
    [
      ['BSI C5 Type 2', false],
      ['ISO/IEC 27001', true],
    ],
  );
});
