/**
 * Policy matrix, API slice: organisation policy x project policy x data class through the real
 * server on the three-site residency fleet (de1: DE, C5 Type 2 current; de2: DE, C5 expired; at1: AT
 * operator). Each combination is rejected (looser project policy, or never placeable), placed on an
 * allowed site, or left waiting with a residency reason, exactly as the hand-written oracle says.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { residencyFleet } from '../helpers/residency.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
const ALL = ['public', 'internal', 'confidential', 'personal', 'health'];
const SITES = ['de1', 'de2', 'at1'];

const ORGS = [
  { id: 'o-any', rules: null, ok: (_: string) => true },
  { id: 'o-eu', rules: { regions: ['EU'] }, ok: (_: string) => true },
  { id: 'o-de', rules: { countries: ['DE'] }, ok: (s: string) => s !== 'at1' },
];
const PROJECTS = [
  { id: 'none', rules: null, ok: (_: string) => true },
  { id: 'de', rules: { countries: ['DE'] }, ok: (s: string) => s !== 'at1' },
  { id: 'at', rules: { countries: ['AT'] }, ok: (s: string) => s === 'at1' },
];
/** Now, and with every attestation counted regardless of dates. */
const CLASSES = [
  { cls: 'internal', now: (_: string) => true, ever: (_: string) => true },
  { cls: 'health', now: (s: string) => s === 'de1', ever: (s: string) => s !== 'at1' },
];

before(async () => {
  server = await startTestServer({ fleetPath: residencyFleet(), timeScale: 1 });
  op = api(server.url, server.operatorToken);
});

after(async () => {
  await server?.stop();
});

test('org policy x project policy x data class: rejected, placed only where allowed, or waiting with the rule', async () => {
  let placed = 0;
  let waiting = 0;
  let rejected = 0;
  for (const org of ORGS) {
    await op('POST', '/v1/orgs', { id: org.id, name: org.id, kind: 'enterprise' });
    const admin = api(server.url, await tenantToken(op, org.id, { name: 'A', role: 'admin' }));
    if (org.rules)
      assert.equal(
        (await admin('PUT', `/v1/orgs/${org.id}/residency-policy`, { name: 'o', rules: org.rules, dataClasses: ALL })).status,
        200,
      );
    for (const proj of PROJECTS) {
      const pid = `${org.id}-${proj.id}`;
      await op('POST', `/v1/orgs/${org.id}/projects`, { id: pid });
      await op('PUT', `/v1/projects/${pid}/quotas/RTX`, { gpus: 48 });
      if (proj.rules) {
        const set = await admin('PUT', `/v1/projects/${pid}/residency-policy`, {
          name: proj.id,
          rules: proj.rules,
          dataClasses: ALL,
        });
        const looser = org.id === 'o-de' && proj.id === 'at';
        assert.equal(set.status, looser ? 422 : 200, `${pid}: ${JSON.stringify(set.body)}`);
        if (looser) {
          assert.equal(set.body.code, 'policy_looser_than_org');
          rejected++;
          continue;
        }
      }
      for (const c of CLASSES) {
        const what = `${pid} / ${c.cls}`;
        const allowed = SITES.filter((s) => org.ok(s) && proj.ok(s) && c.now(s));
        const ever = SITES.filter((s) => org.ok(s) && proj.ok(s) && c.ever(s));
        // The dataset lives at a site its rules could ever allow (if there is none, registration is refused).
        const ds = await admin('POST', `/v1/projects/${pid}/datasets`, {
          name: c.cls,
          classification: c.cls,
          homeSite: ever[0] ?? 'at1',
          sizeBytes: 1,
          checksum: `sha256:${'c'.repeat(64)}`,
        });
        if (ever.length === 0) {
          assert.equal(ds.body.code, 'residency_forbidden', what);
          rejected++;
          continue;
        }
        assert.equal(ds.status, 201, `${what}: ${JSON.stringify(ds.body)}`);
        const job = await admin('POST', '/v1/jobs', {
          name: c.cls,
          project: pid,
          gpuType: 'RTX',
          gpusPerNode: 8,
          simulation: { durationSeconds: 1 },
          datasets: { reads: [ds.body.id] },
        });
        assert.equal(job.status, 201, `${what}: ${JSON.stringify(job.body)}`);
        const seen = await waitFor(async () => {
          const j = (await admin('GET', `/v1/jobs/${job.body.id}`)).body;
          return j.placement || j.pendingReason?.code === 'residency' ? j : null;
        }, what);
        if (allowed.length === 0) {
          assert.equal(seen.pendingReason.code, 'residency', what);
          assert.match(seen.pendingReason.message, /BSI C5 Type 2/, what);
          await admin('POST', `/v1/jobs/${job.body.id}/cancel`);
          waiting++;
        } else {
          assert.ok(allowed.includes(seen.placement.site), `${what}: placed on ${seen.placement.site}, allowed ${allowed}`);
          placed++;
        }
      }
    }
  }
  // 8 internal placed; health: 6 placed on de1, 2 refused (AT-only project); 1 looser project policy.
  assert.deepEqual([placed, waiting, rejected], [14, 0, 3]);
});
