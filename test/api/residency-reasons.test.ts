/**
 * Waiting reasons of jobs bound by residency, on a live server: the free-GPU counts cover only the
 * sites the job may use and say so (never "fleet-wide"), every excluded site with the job's GPU type
 * is named with its free GPUs and the rule that excludes it, and the reason's rule is that of a site
 * that could host the job.
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

/** us1 first in fleet order (so "the first excluded site" is the wrong one to name), then fra1 and ber1. */
function fleet(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gigafab-reasons-')), 'fleet.yaml');
  writeFileSync(
    path,
    `name: reasons
sites:
  - { id: us1, name: Ashburn 1, city: Ashburn, country: US, operator: { name: Cloud Inc, establishment: US } }
  - { id: fra1, name: Frankfurt 1, city: Frankfurt am Main, country: DE, operator: { name: Cloud GmbH, establishment: DE } }
  - { id: ber1, name: Berlin 1, city: Berlin, country: DE, operator: { name: Cloud GmbH, establishment: DE } }
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: 8, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }
pools:
  - { site: us1, nodeType: dgx, count: 32, namePrefix: us1-b200 }
  - { site: fra1, nodeType: dgx, count: 1, namePrefix: fra1-b200 }
  - { site: ber1, nodeType: dgx, count: 1, namePrefix: ber1-b200 }
`,
  );
  return path;
}

before(async () => {
  server = await startTestServer({ fleetPath: fleet(), timeScale: 1 });
  op = api(server.url, server.operatorToken);
});

after(async () => {
  await server?.stop();
});

async function tenant(org: string) {
  await op('POST', '/v1/orgs', { id: org, name: org, kind: 'enterprise' });
  await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-p` });
  await op('PUT', `/v1/projects/${org}-p/quotas/B200`, { gpus: 512 });
  return api(server.url, await tenantToken(op, org, { name: 'A', role: 'admin' }));
}

const b200 = (project: string, name: string, extra: Record<string, unknown> = {}) => ({
  name,
  project,
  gpuType: 'B200',
  gpusPerNode: 8,
  simulation: { durationSeconds: 100_000 },
  ...extra,
});

test('a DE-only job with both German sites busy: "0 B200 free" in the 2 allowed sites, us1 free but excluded by the location rule', async () => {
  const de = await tenant('de');
  const other = await tenant('other');
  const policy = { name: 'de-only', rules: { countries: ['DE'] }, dataClasses: ['internal'] };
  assert.equal((await de('PUT', '/v1/orgs/de/residency-policy', policy)).status, 200);
  for (const site of ['fra1', 'ber1']) {
    const id = (await other('POST', '/v1/jobs', b200('other-p', site, { constraints: { requiredSites: [site] } }))).body.id;
    await waitFor(async () => (await other('GET', `/v1/jobs/${id}`)).body.state === 'running', `${site} busy`);
  }
  const id = (await de('POST', '/v1/jobs', b200('de-p', 'waits'))).body.id as string;
  const reason = await waitFor(async () => {
    const r = (await de('GET', `/v1/jobs/${id}`)).body.pendingReason;
    return r && r.code !== 'not_yet_scheduled' ? r : null;
  }, 'a pending reason');
  assert.equal(reason.code, 'insufficient_capacity');
  assert.equal(
    reason.message,
    'waiting: no node with 8 free B200 GPUs in the 2 sites your residency rules allow (fra1, ber1) ' +
      '(0 B200 free there, at most 0 free on one node); ' +
      '256 B200 free in us1, excluded: us1 is in US, not in DE [org:de/de-only@1:location]',
  );
  assert.doesNotMatch(reason.message, /fleet-wide/);
  assert.equal(reason.details.freeFleetWide, 0);
  assert.equal(reason.details.freeInExcluded, 256);
  assert.equal(reason.details.scopeSites, 'fra1,ber1');
  assert.equal(reason.details.residencyExcluded, 'us1:org:de/de-only@1:location');

  // A job held to sites by its own constraints is told so too (no residency involved).
  const pinned = (await other('POST', '/v1/jobs', b200('other-p', 'pinned', { constraints: { requiredSites: ['fra1'] } }))).body
    .id as string;
  const pinnedReason = await waitFor(async () => {
    const r = (await other('GET', `/v1/jobs/${pinned}`)).body.pendingReason;
    return r && r.code !== 'not_yet_scheduled' ? r : null;
  }, 'pinned reason');
  assert.match(pinnedReason.message, /in the 1 site the job's constraints allow \(fra1\) \(0 B200 free there/);
});
