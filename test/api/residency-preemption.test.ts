/**
 * Bypass hunt, requeue path: a job preempted after its project's policy was tightened is requeued
 * through the same residency gate. With free capacity both inside and outside the allowed sites, it
 * restarts only inside, and its new evidence names the tightened policy version.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { residencyFleet, rtxJob } from '../helpers/residency.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let low: ReturnType<typeof api>;
let high: ReturnType<typeof api>;
let admin: ReturnType<typeof api>;

before(async () => {
  const fleet = residencyFleet();
  const policy = join(dirname(fleet), 'policy.yaml');
  writeFileSync(
    policy,
    `preemption: { enabled: true, minRuntimeSeconds: 0, maxEvictedGpusPerRequestedGpu: 2 }
stopGraceSeconds: 1
`,
  );
  server = await startTestServer({ fleetPath: fleet, extraArgs: ['--policy', policy], timeScale: 1 });
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'acme', name: 'Acme', kind: 'enterprise' });
  for (const p of ['low', 'high']) {
    await op('POST', '/v1/orgs/acme/projects', { id: p });
    await op('PUT', `/v1/projects/${p}/quotas/RTX`, { gpus: 48 });
  }
  admin = api(server.url, await tenantToken(op, 'acme', { name: 'A', role: 'admin' }));
  low = admin;
  high = admin;
});

after(async () => {
  await server?.stop();
});

type J = { id: string; state: string; placement: { site: string } | null };

test('a job preempted after its policy was tightened restarts only where the new policy allows', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await low('POST', '/v1/jobs', { ...rtxJob('low', `low-${i}`), priorityClass: 'preemptible' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ids.push(r.body.id);
  }
  const get = async (id: string): Promise<J> => (await low('GET', `/v1/jobs/${id}`)).body;
  await waitFor(async () => (await Promise.all(ids.map(get))).every((j) => j.state === 'running'), 'the fleet full of low jobs');

  const tight = await admin('PUT', '/v1/projects/low/residency-policy', {
    name: 'at-only',
    rules: { countries: ['AT'] },
    dataClasses: ['public', 'internal'],
  });
  assert.deepEqual(tight.body.sitesAfter, ['at1']);
  // The four low jobs now outside the policy are flagged, not stopped.
  await waitFor(async () => {
    let flagged = 0;
    for (const id of ids) flagged += (await low('GET', `/v1/jobs/${id}/residency`)).body.flags.length;
    return flagged === 4;
  }, 'four flagged low jobs');

  const h = await high('POST', '/v1/jobs', { ...rtxJob('high', 'urgent'), priorityClass: 'high' });
  await waitFor(async () => (await get(h.body.id)).state === 'running', 'the high job running (by preemption)');
  const victims = (await Promise.all(ids.map(get))).filter((j) => j.state === 'queued');
  assert.equal(victims.length, 1, 'one low job preempted and requeued');
  const victim = victims[0]!;
  const types = (await low('GET', `/v1/jobs/${victim.id}/events`)).body.items.map((e: { type: string }) => e.type);
  assert.ok(types.includes('preempting') && types.at(-1) === 'queued', types.join(','));

  // Free one node outside the policy (de*) and one inside (at1): the victim may only take at1.
  const running = (await Promise.all(ids.map(get))).filter((j) => j.state === 'running');
  const outside = running.find((j) => j.placement!.site !== 'at1')!;
  const inside = running.find((j) => j.placement!.site === 'at1')!;
  assert.ok(outside && inside);
  await low('POST', `/v1/jobs/${outside.id}/cancel`);
  await low('POST', `/v1/jobs/${inside.id}/cancel`);
  const restarted = await waitFor(async () => {
    const j = await get(victim.id);
    return j.state === 'running' ? j : null;
  }, 'the victim running again');
  assert.equal(restarted.placement!.site, 'at1');
  const evidence = (await low('GET', `/v1/jobs/${victim.id}/residency`)).body.placements;
  assert.equal(evidence.length, 2, 'one evidence record per start');
  assert.equal(evidence[0].policyVersions.project, null);
  assert.deepEqual(evidence[1].policyVersions.project, { name: 'at-only', version: 1 });
  assert.equal(evidence[1].site.id, 'at1');
});
