/**
 * Attestation expiry on a live server: de1's C5 Type 2 runs out a few seconds after the start.
 * Before: a health-data job is placed on de1. After: the running job is flagged (job event, visible
 * in its residency view and the audit log), and a new health-data job waits, naming the rule.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { residencyFleet, rtxJob } from '../helpers/residency.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let admin: ReturnType<typeof api>;
// Whole seconds, so the fleet file's date-time is exactly the instant the test compares with.
const expiresAt = new Date(Math.ceil((Date.now() + 8_000) / 1000) * 1000);

before(async () => {
  server = await startTestServer({ fleetPath: residencyFleet(expiresAt.toISOString().replace(/\.\d+Z$/, 'Z')), timeScale: 1 });
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'clinic', name: 'Clinic', kind: 'public-sector' });
  await op('POST', '/v1/orgs/clinic/projects', { id: 'radiology' });
  await op('PUT', '/v1/projects/radiology/quotas/RTX', { gpus: 64 });
  admin = api(server.url, await tenantToken(op, 'clinic', { name: 'A', role: 'admin' }));
});

after(async () => {
  await server?.stop();
});

test('an expiring C5 Type 2 flags the running health job and makes new ones wait with the rule', async () => {
  const ds = await admin('POST', '/v1/projects/radiology/datasets', {
    name: 'ct-scans',
    classification: 'health',
    homeSite: 'de1',
    sizeBytes: 10,
    checksum: `sha256:${'0'.repeat(64)}`,
  });
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  const first = await admin('POST', '/v1/jobs', rtxJob('radiology', 'before-expiry', [ds.body.id]));
  const running = await waitFor(async () => {
    const j = (await admin('GET', `/v1/jobs/${first.body.id}`)).body;
    return j.state === 'running' ? j : null;
  }, 'health job running before the expiry');
  assert.equal(running.placement.site, 'de1');
  assert.ok(Date.now() < expiresAt.getTime(), 'the test set up before the attestation expired');
  assert.deepEqual((await admin('GET', `/v1/jobs/${first.body.id}/residency`)).body.flags, []);

  // After the expiry the server re-evaluates on its own (no other change happens meanwhile).
  const flag = await waitFor(
    async () => {
      const evs = (await admin('GET', `/v1/jobs/${first.body.id}/events`)).body.items;
      return evs.find((e: { type: string }) => e.type === 'residency-flagged');
    },
    'the running job flagged',
    20_000,
  );
  assert.ok(Date.now() >= expiresAt.getTime());
  assert.match(flag.message, /site de1 no longer satisfies the rules in force \(de1's BSI C5 Type 2 expired /);
  assert.equal((await admin('GET', `/v1/jobs/${first.body.id}`)).body.state, 'running', 'flagged, not killed');
  const view = (await admin('GET', `/v1/jobs/${first.body.id}/residency`)).body;
  assert.equal(view.flags.length, 1);
  assert.deepEqual(view.evaluation.allowedSites, []);
  const audit = (await admin('GET', '/v1/audit?limit=100')).body.items;
  assert.ok(
    audit.some((a: { action: string; objectId: string }) => a.action === 'job.residency_flag' && a.objectId === first.body.id),
  );

  // A new health job is accepted (the attestation can be renewed) but waits, naming the rule.
  const second = await admin('POST', '/v1/jobs', rtxJob('radiology', 'after-expiry', [ds.body.id]));
  assert.equal(second.status, 201, JSON.stringify(second.body));
  const reason = await waitFor(async () => {
    const j = (await admin('GET', `/v1/jobs/${second.body.id}`)).body;
    return j.pendingReason?.code === 'residency' ? j.pendingReason : null;
  }, 'residency pending reason');
  assert.match(
    reason.message,
    /^waiting: health data of project radiology needs a site with a current BSI C5 Type 2 attestation/,
  );
  assert.match(reason.message, /de1's BSI C5 Type 2 expired .*; de2's BSI C5 Type 2 expired 2026-10-01/);
  // A job without health data still runs on the same site.
  const plain = await admin('POST', '/v1/jobs', rtxJob('radiology', 'no-data'));
  await waitFor(async () => (await admin('GET', `/v1/jobs/${plain.body.id}`)).body.state === 'running', 'plain job running');
});
