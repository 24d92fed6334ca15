/**
 * Submission: a job whose own constraints (requiredSites, forbiddenSites, requiredCertifications,
 * nodeLabels) leave only sites its residency rules exclude for ever is refused with 422
 * residency_forbidden naming the rule, instead of being accepted to wait for ever. Every
 * combination of organisation policy x data class x constraint is checked against an oracle
 * written out by hand; accepted jobs are placed only where both allow, or wait for an attestation.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
const ALL = ['public', 'internal', 'confidential', 'personal', 'health'];
const SITES = ['de1', 'de2', 'at1'];

/** de1: DE, C5 current; de2: DE, C5 expired; at1: AT operator, TISAX-certified, nodes labelled fabric=ib. */
function fleet(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gigafab-admission-')), 'fleet.yaml');
  writeFileSync(
    path,
    `name: admission
sites:
  - id: de1
    name: Munich 1
    city: Munich
    country: DE
    operator: { name: Cloud GmbH, establishment: DE }
    attestations: [{ name: BSI C5 Type 2, validFrom: 2026-01-01, validUntil: 2099-12-31 }]
  - id: de2
    name: Frankfurt 1
    city: Frankfurt am Main
    country: DE
    operator: { name: Cloud GmbH, establishment: DE }
    attestations: [{ name: BSI C5 Type 2, validFrom: 2025-10-02, validUntil: 2026-10-01 }]
  - id: at1
    name: Vienna 1
    city: Vienna
    country: AT
    certifications: [tisax]
    operator: { name: Cloud Austria GmbH, establishment: AT }
nodeTypes:
  - { id: rtx, gpuType: RTX, gpusPerNode: 8, gpuMemoryGiB: 96, interconnect: pcie, cpus: 64, memoryGiB: 1024 }
pools:
  - { site: de1, nodeType: rtx, count: 2, namePrefix: de1-rtx }
  - { site: de2, nodeType: rtx, count: 2, namePrefix: de2-rtx }
  - { site: at1, nodeType: rtx, count: 2, namePrefix: at1-rtx, labels: { fabric: ib } }
`,
  );
  return path;
}

const ORGS = [
  { id: 'any', rules: null, ever: (_: string) => true },
  { id: 'de', rules: { countries: ['DE'] }, ever: (s: string) => s !== 'at1' },
  { id: 'eu', rules: { regions: ['EU'] }, ever: (_: string) => true },
];
/** Health data: C5 Type 2 (renewable: de2 counts) and a German operator (at1 never). */
const CLASSES = [
  { cls: null, ever: (_: string) => true },
  { cls: 'health', ever: (s: string) => s !== 'at1' },
];
const CONSTRAINTS: { name: string; c: Record<string, unknown>; sites: (s: string) => boolean }[] = [
  { name: 'none', c: {}, sites: () => true },
  { name: 'requiredSites at1', c: { requiredSites: ['at1'] }, sites: (s) => s === 'at1' },
  { name: 'requiredSites de2', c: { requiredSites: ['de2'] }, sites: (s) => s === 'de2' },
  { name: 'requiredSites de1+at1', c: { requiredSites: ['de1', 'at1'] }, sites: (s) => s === 'de1' || s === 'at1' },
  { name: 'forbiddenSites de1+de2', c: { forbiddenSites: ['de1', 'de2'] }, sites: (s) => s === 'at1' },
  { name: 'requiredCertifications tisax', c: { requiredCertifications: ['tisax'] }, sites: (s) => s === 'at1' },
  { name: 'nodeLabels fabric=ib', c: { nodeLabels: { fabric: 'ib' } }, sites: (s) => s === 'at1' },
];

before(async () => {
  server = await startTestServer({ fleetPath: fleet(), timeScale: 1 });
  op = api(server.url, server.operatorToken);
});

after(async () => {
  await server?.stop();
});

test('organisation policy x data class x constraints: refused (422 naming the rule) exactly when no site is allowed by both', async () => {
  const seen = { accepted: 0, refused: 0 };
  for (const org of ORGS) {
    await op('POST', '/v1/orgs', { id: org.id, name: org.id, kind: 'enterprise' });
    await op('POST', `/v1/orgs/${org.id}/projects`, { id: `${org.id}-p` });
    await op('PUT', `/v1/projects/${org.id}-p/quotas/RTX`, { gpus: 48 });
    const admin = api(server.url, await tenantToken(op, org.id, { name: 'A', role: 'admin' }));
    if (org.rules) {
      const set = await admin('PUT', `/v1/orgs/${org.id}/residency-policy`, { name: 'p', rules: org.rules, dataClasses: ALL });
      assert.equal(set.status, 200);
    }
    const ds = await admin('POST', `/v1/projects/${org.id}-p/datasets`, {
      name: 'scans',
      classification: 'health',
      homeSite: 'de1',
      sizeBytes: 1,
      checksum: `sha256:${'c'.repeat(64)}`,
    });
    assert.equal(ds.status, 201, JSON.stringify(ds.body));
    for (const cls of CLASSES) {
      for (const con of CONSTRAINTS) {
        const what = `org ${org.id} / ${cls.cls ?? 'no data'} / ${con.name}`;
        const both = SITES.filter((s) => org.ever(s) && cls.ever(s) && con.sites(s));
        const res = await admin('POST', '/v1/jobs', {
          name: 'j',
          project: `${org.id}-p`,
          gpuType: 'RTX',
          gpusPerNode: 8,
          simulation: { durationSeconds: 1 },
          constraints: con.c,
          ...(cls.cls ? { datasets: { reads: [ds.body.id] } } : {}),
        });
        if (both.length === 0) {
          assert.equal(res.status, 422, `${what}: ${JSON.stringify(res.body)}`);
          assert.equal(res.body.code, 'residency_forbidden', what);
          // The rule is named: an id in brackets or in the field error.
          const named = `${res.body.detail} ${JSON.stringify(res.body.errors ?? [])}`;
          assert.match(named, /(org:[\w-]+\/p@1:location|class:health:operator)/, `${what}: ${named}`);
          seen.refused++;
          continue;
        }
        assert.equal(res.status, 201, `${what}: ${JSON.stringify(res.body)}`);
        seen.accepted++;
        const job = await waitFor(async () => {
          const j = (await admin('GET', `/v1/jobs/${res.body.id}`)).body;
          return j.placement || j.pendingReason?.code === 'residency' || j.pendingReason?.code === 'constraints' ? j : null;
        }, what);
        // Placed only where both allow now (de2's C5 has expired: health data waits there).
        const now = both.filter((s) => !(cls.cls === 'health' && s === 'de2'));
        if (job.placement) assert.ok(now.includes(job.placement.site), `${what}: placed on ${job.placement.site}`);
        else assert.deepEqual(now, [], `${what}: waits although ${now} allow it`);
        await admin('POST', `/v1/jobs/${res.body.id}/cancel`);
      }
    }
  }
  // 42 combinations: the four at1-only constraints are refused under a DE-only policy or with health data.
  assert.deepEqual(seen, { accepted: 26, refused: 16 });
});

test('the case from the field: health data, requiredSites [at1] in a DE-only organisation', async () => {
  const admin = api(server.url, await tenantToken(op, 'de', { name: 'B', role: 'admin' }));
  const ds = (await admin('GET', '/v1/datasets?project=de-p')).body.items[0].id as string;
  const res = await admin('POST', '/v1/jobs', {
    name: 'impossible',
    project: 'de-p',
    gpuType: 'RTX',
    gpusPerNode: 8,
    simulation: { durationSeconds: 1 },
    constraints: { requiredSites: ['at1'] },
    datasets: { reads: [ds] },
  });
  assert.equal(res.status, 422);
  assert.equal(res.body.code, 'residency_forbidden');
  assert.match(res.body.detail, /at1 is in AT, not in DE \[org:de\/p@1:location\]/);
  assert.equal((await admin('GET', '/v1/jobs?project=de-p&state=queued')).body.items.length, 0, 'nothing was queued');
});
