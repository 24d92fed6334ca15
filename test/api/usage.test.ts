/**
 * GET /v1/usage and `gigafab usage` against the real server: a finished job's GPU-seconds are its
 * GPUs × its run time as the job reports it, a running one counts as open, another organisation
 * sees none of it, CSV and table forms, and each bad input answers 422 with its code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let acme: ReturnType<typeof api>;
let acmeToken: string;
let other: ReturnType<typeof api>;
/** A day before the test ran: every segment of this server is after it. */
const SINCE = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
let done: { id: string; startedAt: string; finishedAt: string };

before(async () => {
  server = await startTestServer({ fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-usage-'))) });
  const op = api(server.url, server.operatorToken);
  for (const [org, project] of [
    ['acme', 'acme-ml'],
    ['other', 'other-ml'],
  ] as const) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: project })).status, 201);
    assert.equal((await op('PUT', `/v1/projects/${project}/quotas/B200`, { gpus: 16 })).status, 200);
  }
  acmeToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' });
  acme = api(server.url, acmeToken);
  other = api(server.url, await tenantToken(op, 'other', { name: 'Otto', role: 'admin' }));
  const submit = async (name: string, seconds: number) => {
    const r = await acme('POST', '/v1/jobs', {
      name,
      project: 'acme-ml',
      gpuType: 'B200',
      gpusPerNode: 8,
      simulation: { durationSeconds: seconds, exitCode: 0 },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  };
  const short = await submit('short', 600); // 1 s at time scale 600
  done = await waitFor(async () => {
    const j = (await acme('GET', `/v1/jobs/${short}`)).body;
    return j.state === 'succeeded' ? j : null;
  }, 'the short job to succeed');
  // Started after the short one ended: a period covering the short run holds nothing else.
  const long = await submit('long', 6_000_000);
  await waitFor(async () => (await acme('GET', `/v1/jobs/${long}`)).body.state === 'running', 'the long job to run');
});
after(async () => {
  await server?.stop();
});

test("a finished job's GPU-seconds are its GPUs × its run time; a running job counts as an open segment", async () => {
  const r = await acme('GET', `/v1/usage?from=${SINCE}&groupBy=project,class`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.groupBy, ['project', 'class']);
  assert.equal(r.body.items.length, 1);
  const row = r.body.items[0];
  assert.deepEqual([row.project, row.class, row.segments, row.openSegments], ['acme-ml', 'on-demand', 2, 1]);
  const ran = (Date.parse(done.finishedAt) - Date.parse(done.startedAt)) / 1000;
  assert.ok(ran > 0);
  const op = api(server.url, server.operatorToken);
  const only = await op('GET', `/v1/usage?from=${done.startedAt}&to=${done.finishedAt}&groupBy=org&org=acme`);
  assert.equal(only.status, 200, JSON.stringify(only.body));
  assert.deepEqual(only.body.items, [
    {
      org: 'acme',
      gpuSeconds: 8 * ran,
      gpuHours: Math.round(((8 * ran) / 3600) * 1e6) / 1e6,
      segments: 1,
      openSegments: 0,
      cost: 0,
      unpricedGpuSeconds: 8 * ran, // no price set in this suite; the period ends where the run did
      itKwh: Math.round(((8 * ran * 1000) / 3.6e6) * 1e6) / 1e6, // 8 B200 at the model's 1000 W
      measuredKwh: 0,
    },
  ]);
  // The report's kWh are the job's own energy (GET /v1/jobs/{id}/energy).
  const energy = await acme('GET', `/v1/jobs/${done.id}/energy`);
  assert.equal(energy.body.itKwh, only.body.items[0].itKwh);
  assert.ok(row.gpuSeconds > 8 * ran, 'the open segment adds to the finished one');
});

test("another organisation sees none of it, and naming it answers as for an organisation that doesn't exist", async () => {
  const mine = await other('GET', `/v1/usage?from=${SINCE}&groupBy=org,project`);
  assert.equal(mine.status, 200);
  assert.deepEqual(mine.body.items, []);
  assert.equal(mine.body.total.gpuSeconds, 0);
  const named = await other('GET', '/v1/usage?org=acme');
  const none = await other('GET', '/v1/usage?org=no-such-acme');
  assert.equal(named.status, 404);
  assert.equal(named.body.code, 'org_not_found');
  assert.equal(named.body.detail, none.body.detail.replace('no-such-acme', 'acme'));
  const theirs = await other('GET', `/v1/usage?from=${SINCE}&project=acme-ml`);
  assert.deepEqual(theirs.body.items, []);
});

test('format=csv answers text/csv with the group columns first', async () => {
  const res = await fetch(`${server.url}/v1/usage?from=${SINCE}&groupBy=org&format=csv`, {
    headers: { authorization: `Bearer ${acmeToken}` },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
  const lines = (await res.text()).trim().split('\r\n');
  assert.equal(lines[0], 'org,gpuSeconds,gpuHours,segments,openSegments,cost,unpricedGpuSeconds,itKwh,measuredKwh');
  assert.match(lines[1] ?? '', /^acme,[0-9.]+,[0-9.]+,2,1,0,[0-9.]+,[0-9.]+,0$/);
});

test('bad input answers 422 with a machine-readable code and a sentence', async () => {
  for (const [q, code] of [
    ['from=last-week', 'invalid_period'],
    ['from=2026-02-01&to=2026-01-01', 'invalid_period'],
    ['from=2024-01-01&to=2026-01-01', 'invalid_period'],
    ['groupBy=tenant', 'invalid_group_by'],
    ['format=xml', 'invalid_format'],
  ] as const) {
    const r = await acme('GET', `/v1/usage?${q}`);
    assert.equal(r.status, 422, `${q}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, code, q);
    assert.ok(typeof r.body.detail === 'string' && r.body.detail.length > 10, q);
  }
});

test('gigafab usage prints a table with a total, and --csv the same CSV as the API', async () => {
  const { gigafab } = cliRunner('gigafab-usage-cli-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const table = await gigafab(['usage', '--from', SINCE, '--group-by', 'project,class'], env);
  assert.equal(table.code, 0, table.err);
  const lines = table.out.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^PROJECT\s+CLASS\s+GPU-HOURS\s+GPU-SECONDS\s+SEGMENTS\s+EUR\s+KWH$/);
  assert.match(
    lines[1] ?? '',
    /^acme-ml\s+on-demand\s+[0-9.]+\s+█+.*\s+[0-9.]+\s+2 \(1 running\)\s+0\.00 \*\s+[0-9]+\.[0-9]{3}$/,
  );
  assert.match(
    lines[2] ?? '',
    new RegExp(
      `^total: [0-9.]+ GPU-hours \\([0-9.]+ GPU-seconds\\), EUR 0.00, [0-9]+\\.[0-9]{3} kWh at the GPUs \\(0\\.000 measured\\), from ${SINCE}T00:00:00.000Z to `,
    ),
  );
  assert.match(lines[3] ?? '', /^\* [0-9.]+ GPU-seconds had no price in effect and are not in the cost$/);
  const csv = await gigafab(['usage', '--from', SINCE, '--group-by', 'org', '--csv'], env);
  assert.equal(csv.code, 0, csv.err);
  assert.match(
    csv.out,
    /^org,gpuSeconds,gpuHours,segments,openSegments,cost,unpricedGpuSeconds,itKwh,measuredKwh\r\nacme,[0-9.]+,[0-9.]+,2,1,0,[0-9.]+,[0-9.]+,0\r\n$/,
  );
  const bad = await gigafab(['usage', '--group-by', 'tenant'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /groupBy takes a comma-separated list/);
});

test('a kill -9 while a job runs: after the restart its one segment is still open, and its end closes it once', async () => {
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: 'acme-crash' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/acme-crash/quotas/B200', { gpus: 8 })).status, 200);
  const spec = {
    name: 'crash',
    project: 'acme-crash',
    gpuType: 'B200',
    gpusPerNode: 8,
    simulation: { durationSeconds: 3000, exitCode: 0 },
  };
  const id = (await acme('POST', '/v1/jobs', spec)).body.id as string;
  await waitFor(async () => (await acme('GET', `/v1/jobs/${id}`)).body.state === 'running', 'the job to run');
  await server.stop('SIGKILL');
  await server.restart();
  const again = api(server.url, acmeToken);
  const open = await again('GET', `/v1/usage?from=${SINCE}&project=acme-crash`);
  assert.deepEqual(
    open.body.items.map((i: { segments: number; openSegments: number }) => [i.segments, i.openSegments]),
    [[1, 1]],
  );
  const job = await waitFor(async () => {
    const j = (await again('GET', `/v1/jobs/${id}`)).body;
    return j.state === 'succeeded' ? j : null;
  }, 'the job to end after the restart');
  assert.equal(job.attempt, 1, 'never started twice');
  const ran = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
  const closed = await again('GET', `/v1/usage?from=${SINCE}&project=acme-crash`);
  assert.deepEqual(closed.body.items, [
    {
      project: 'acme-crash',
      gpuSeconds: 8 * ran,
      gpuHours: Math.round(((8 * ran) / 3600) * 1e6) / 1e6,
      segments: 1,
      openSegments: 0,
      cost: 0,
      unpricedGpuSeconds: 8 * Math.ceil(ran), // no price set; billed time is rounded up to the second
      itKwh: Math.round(((8 * ran * 1000) / 3.6e6) * 1e6) / 1e6,
      measuredKwh: 0,
    },
  ]);
});
