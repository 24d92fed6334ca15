/**
 * A run's correction to its driver's report, seen through the real server's HTTP API: the
 * correction is applied to the server's own store from this process (recordReconciliation, as the
 * exit's transaction applies it; the server's simulated driver reports no run time), then
 * GET /v1/usage answers the corrected GPU-seconds in the same shape, and the job's events show
 * `usage_reconciled` with the seconds before and after — to the tenant, and to an operator in full
 * (it is operational). On PostgreSQL with GIGAFAB_TEST_STORE=postgres.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { recordReconciliation } from '../../src/server/usage-reconcile.js';
import { openPostgresStore, openSqliteStore } from '../../src/store/open-store.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { databaseFor } from '../helpers/store-dialects.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer | null = null;
after(async () => {
  await server?.stop();
});

test('GET /v1/usage answers the corrected run in the same shape; the events show the correction', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gigafab-reconcile-api-'));
  server = await startTestServer({
    dataDir,
    fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-reconcile-fleet-'))),
  });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 16 })).status, 200);
  const acme = api(server.url, await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' }));
  const sub = await acme('POST', '/v1/jobs', {
    name: 'short',
    project: 'acme-ml',
    gpuType: 'B200',
    gpusPerNode: 8,
    simulation: { durationSeconds: 600, exitCode: 0 },
  });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  const id = sub.body.id as string;
  const done = await waitFor(async () => {
    const j = (await acme('GET', `/v1/jobs/${id}`)).body;
    return j.state === 'succeeded' ? j : null;
  }, 'the job to succeed');
  const since = new Date(Date.parse(done.startedAt) - 86_400_000).toISOString().slice(0, 10);
  const before = await acme('GET', `/v1/usage?from=${since}&groupBy=project`);
  assert.equal(before.status, 200);
  const metered = (Date.parse(done.finishedAt) - Date.parse(done.startedAt)) / 1000;
  assert.equal(before.body.total.gpuSeconds, 8 * metered);

  // The engine says it started 2 s later and ran 5 s past the exit the control plane saw.
  const store =
    process.env.GIGAFAB_TEST_STORE === 'postgres'
      ? await openPostgresStore(await databaseFor(dataDir))
      : await openSqliteStore(dataDir);
  try {
    const run = {
      jobId: id,
      attempt: 1,
      start: Date.parse(done.startedAt) + 2000,
      end: Date.parse(done.finishedAt) + 5000,
      driver: 'slurm',
    };
    const ev = await store.write((trx) => recordReconciliation(trx, run, new Date().toISOString(), 'system:driver:slurm'));
    assert.ok(ev);
    assert.equal(
      await store.write((trx) => recordReconciliation(trx, run, new Date().toISOString(), 'system:driver:slurm')),
      null,
    );
  } finally {
    await store.close();
  }

  const after = await acme('GET', `/v1/usage?from=${since}&groupBy=project`);
  assert.equal(after.status, 200);
  assert.deepEqual(Object.keys(after.body).sort(), Object.keys(before.body).sort(), 'the same shape');
  assert.deepEqual(Object.keys(after.body.items[0]).sort(), Object.keys(before.body.items[0]).sort());
  const ran = metered + 3;
  assert.ok(Math.abs(after.body.total.gpuSeconds - 8 * ran) < 1e-6, `${after.body.total.gpuSeconds} is 8 × ${ran}`);
  assert.equal(after.body.items[0].segments, 1);

  const events = (await acme('GET', `/v1/jobs/${id}/events`)).body.items as {
    type: string;
    message: string;
    data: Record<string, unknown> | null;
  }[];
  const rec = events.find((e) => e.type === 'usage_reconciled');
  assert.ok(rec, `events: ${events.map((e) => e.type).join(', ')}`);
  assert.equal(rec.data?.beforeSeconds, metered);
  assert.ok(Math.abs(Number(rec.data?.afterSeconds) - ran) < 1e-9);
  assert.match(rec.message, /^run time reconciled with slurm: /);
  const asOperator = (await op('GET', `/v1/jobs/${id}/events`)).body.items as {
    type: string;
    message: string;
    redacted?: string[];
  }[];
  const seen = asOperator.find((e) => e.type === 'usage_reconciled');
  assert.equal(seen?.message, rec.message, 'operational: an operator sees it in full');
  assert.equal(seen?.redacted, undefined);
});
