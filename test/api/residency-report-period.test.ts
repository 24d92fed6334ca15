/**
 * The residency report answers "where was my data processed in this period": every placement that
 * ran during the period is in it, including jobs that started before the period and are still
 * running in it; placements that ended before the period (a finished job, the first run of a
 * requeued one) are not, and each row's finishedAt is when that placement ended.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { residencyFleet, rtxJob } from '../helpers/residency.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;

before(async () => {
  server = await startTestServer({ fleetPath: residencyFleet(), timeScale: 1 });
});

after(async () => {
  await server?.stop();
});

interface Row {
  jobId: string;
  startedAt: string;
  finishedAt: string | null;
  site: string;
}

test('a period after the starts: long-running placements are in the report, ended ones are not', async () => {
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'acme', name: 'Acme', kind: 'enterprise' });
  await op('POST', '/v1/orgs/acme/projects', { id: 'acme-p' });
  await op('PUT', '/v1/projects/acme-p/quotas/RTX', { gpus: 48 });
  const admin = api(server.url, await tenantToken(op, 'acme', { name: 'A', role: 'admin' }));
  const policy = { name: 'de-only', rules: { countries: ['DE'] }, dataClasses: ['public', 'internal'] };
  assert.equal((await admin('PUT', '/v1/orgs/acme/residency-policy', policy)).status, 200);
  const job = async (name: string, seconds: number) =>
    (await admin('POST', '/v1/jobs', { ...rtxJob('acme-p', name), simulation: { durationSeconds: seconds } })).body.id as string;
  const state = async (id: string) => (await admin('GET', `/v1/jobs/${id}`)).body;

  const long = await job('long', 100_000);
  const short = await job('short', 1);
  const moved = await job('moved', 100_000);
  const first = await waitFor(async () => ((await state(moved)).state === 'running' ? state(moved) : null), 'moved running');
  await waitFor(async () => (await state(long)).state === 'running', 'long running');
  await waitFor(async () => (await state(short)).state === 'succeeded', 'short done');
  // moved's node goes down: its first run ends, it runs again elsewhere.
  const node = first.placement.nodes[0].node as string;
  assert.equal((await op('PUT', `/v1/nodes/${node}/state`, { state: 'down', reason: 'fan' })).status, 200);
  await waitFor(async () => {
    const j = await state(moved);
    return j.state === 'running' && j.attempt === 2;
  }, 'moved running again');

  await new Promise((r) => setTimeout(r, 20));
  const from = new Date().toISOString();
  const to = new Date(Date.now() + 3600_000).toISOString();
  const report = await admin('GET', `/v1/orgs/acme/residency-report?from=${from}&to=${to}`);
  assert.equal(report.status, 200);
  const rows = report.body.items as Row[];
  assert.deepEqual(rows.map((r) => r.jobId).sort(), [long, moved].sort(), JSON.stringify(rows));
  for (const r of rows) {
    assert.ok(r.startedAt < from, 'each started before the period');
    assert.equal(r.finishedAt, null, 'and is still running');
    assert.ok(['de1', 'de2'].includes(r.site));
  }

  // The whole history: every placement, the requeued job's first run with the time it ended.
  const all = (await admin('GET', `/v1/orgs/acme/residency-report?from=2020-01-01&to=${to}`)).body.items as Row[];
  const runs = all.filter((r) => r.jobId === moved);
  assert.equal(runs.length, 2);
  assert.ok(runs[0].finishedAt && runs[0].finishedAt <= runs[1].startedAt, JSON.stringify(runs));
  assert.equal(runs[1].finishedAt, null);
  const done = all.find((r) => r.jobId === short);
  assert.ok(done?.finishedAt && done.finishedAt > done.startedAt);
  // A period that ends before anything started has nothing.
  assert.equal((await admin('GET', '/v1/orgs/acme/residency-report?from=2020-01-01&to=2020-02-01')).body.items.length, 0);
  // The CSV has the same rows.
  const csv = await fetch(`${server.url}/v1/orgs/acme/residency-report?from=${from}&to=${to}&format=csv`, {
    headers: { authorization: `Bearer ${await tenantToken(op, 'acme', { name: 'B', role: 'member' })}` },
  });
  assert.equal((await csv.text()).trim().split('\r\n').length, 3);
});
