/**
 * Reserved capacity against the real server: an operator commits an organisation to GPUs of a type
 * for a month at a price per GPU per month, audited, replacing the same key's commitment; tenants
 * cannot set one and read only their own organisation's; bad commitments (unknown organisation or
 * type, no GPUs, a malformed month, a month already invoiced) answer 422 with a code and change
 * nothing. The invoice of the month bills the commitment and covers the organisation's usage of the
 * type up to its GPUs at every instant (API, `gigafab invoice show`, the PDF's text).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { lastMonth, seedPrices, seedUsage, withStore } from '../helpers/billing-history.js';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
let acmeToken: string;
const { month, from } = lastMonth();
const next = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1)).toISOString().slice(0, 7);
const { gigafab } = cliRunner('gigafab-reserved-cli-');
const H = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'gigafab-reserved-'));

before(async () => {
  server = await startTestServer({ fleetPath: writeSmallFleet(dir) });
  op = api(server.url, server.operatorToken);
  for (const org of ['anchor', 'beta']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'public-sector' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` })).status, 201);
  }
  acmeToken = await tenantToken(op, 'anchor', { name: 'Ada', role: 'admin' });
  acme = api(server.url, acmeToken);
});
after(async () => {
  await server?.stop();
});

const commitment = (over: Record<string, unknown> = {}) => ({
  org: 'anchor',
  gpuType: 'B200',
  month: next,
  gpus: 8,
  centsPerGpuMonth: 150_000,
  ...over,
});

test('an operator sets reserved capacity, audited, and replaces it; tenants cannot, and read only their own', async () => {
  const set = await op('PUT', '/v1/reserved-capacity', commitment());
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal(set.body.gpus, 8);
  assert.equal(set.body.centsPerGpuMonth, 150_000);
  const again = await op('PUT', '/v1/reserved-capacity', commitment({ gpus: 16 }));
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal((await op('PUT', '/v1/reserved-capacity', commitment({ org: 'beta', gpus: 2 }))).status, 200);
  const denied = await acme('PUT', '/v1/reserved-capacity', commitment({ gpus: 1000 }));
  assert.equal(denied.status, 403);

  const own = await acme('GET', '/v1/reserved-capacity');
  assert.equal(own.status, 200, JSON.stringify(own.body));
  assert.deepEqual(
    own.body.items.map((c: { org: string; month: string; gpus: number }) => [c.org, c.month, c.gpus]),
    [['anchor', next, 16]],
  );
  assert.equal((await acme('GET', '/v1/reserved-capacity?org=beta')).body.code, 'org_not_found');
  const all = await op('GET', `/v1/reserved-capacity?month=${next}`);
  assert.deepEqual(
    all.body.items.map((c: { org: string }) => c.org),
    ['anchor', 'beta'],
  );
  assert.deepEqual((await op('GET', '/v1/reserved-capacity?org=beta')).body.items.length, 1);

  const audit = await op('GET', '/v1/audit?limit=1000');
  const records = audit.body.items.filter((a: { action: string }) => a.action === 'reserved-capacity.set');
  assert.equal(records.length, 3, JSON.stringify(records));
  const replaced = records.find(
    (a: { objectId: string; after: { gpus: number } }) => a.objectId === `anchor/${next}/B200` && a.after.gpus === 16,
  );
  assert.ok(replaced, JSON.stringify(records));
  assert.deepEqual(replaced.before, { gpus: 8, centsPerGpuMonth: 150_000 });
});

test('bad commitments answer 422 with a code and a sentence, and change nothing', async () => {
  const before = (await op('GET', '/v1/reserved-capacity')).body.items;
  const cases: [Record<string, unknown>, string][] = [
    [commitment({ org: 'nobody' }), 'unknown_org'],
    [commitment({ gpuType: 'Z9000' }), 'unknown_gpu_type'],
    [commitment({ gpus: 0 }), 'invalid_gpu_count'],
    [commitment({ gpus: -4 }), 'invalid_gpu_count'],
    [commitment({ month: '2027-13' }), 'invalid_month'],
  ];
  for (const [body, code] of cases) {
    const r = await op('PUT', '/v1/reserved-capacity', body);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.code, code, JSON.stringify(r.body));
    assert.ok(r.body.detail.length > 10);
  }
  const malformed = await op('PUT', '/v1/reserved-capacity', commitment({ centsPerGpuMonth: -1 }));
  assert.ok(malformed.status === 400 || malformed.status === 422, JSON.stringify(malformed.body));
  assert.equal((await op('GET', '/v1/reserved-capacity?month=May')).body.code, 'invalid_month');
  assert.deepEqual((await op('GET', '/v1/reserved-capacity')).body.items, before);
});

test("the month's invoice bills the commitment and covers the organisation's usage up to its GPUs at every instant", async () => {
  await withStore(server.dataDir, async (s) => {
    await seedPrices(s, from, [
      { gpuType: 'B200', class: 'on-demand', cents: 450 },
      { gpuType: 'B200', class: 'preemptible', cents: 180 },
    ]);
    await seedUsage(s, [
      // Hour 1: 16 on demand, 8 covered. Hour 2: 16 on demand and 4 preemptible; the dearer 8 on demand covered.
      { org: 'anchor', project: 'anchor-ml', job: 910_001, start: from + 24 * H, seconds: 7200, gpus: 16 },
      { org: 'anchor', project: 'anchor-ml', job: 910_002, start: from + 25 * H, seconds: 3600, gpus: 4, cls: 'preemptible' },
      // 2 GPUs for an hour, under the 8 reserved: all covered.
      { org: 'anchor', project: 'anchor-ml', job: 910_003, start: from + 48 * H, seconds: 3600, gpus: 2 },
    ]);
  });
  assert.equal((await op('PUT', '/v1/reserved-capacity', commitment({ month }))).status, 200);
  // beta reserved capacity and used none: its invoice bills the commitment alone.
  assert.equal(
    (await op('PUT', '/v1/reserved-capacity', commitment({ org: 'beta', month, gpus: 2, centsPerGpuMonth: 100_000 }))).status,
    200,
  );
  const run = await op('POST', '/v1/invoices/runs', { month });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  assert.deepEqual(
    run.body.issued.map((i: { org: string; netCents: number }) => [i.org, i.netCents]),
    // anchor: 8 × EUR 1500 + 16 GPU-h × 4.50 + 4 GPU-h × 1.80; beta: 2 × EUR 1000.
    [
      ['anchor', 1_200_000 + 7200 + 720],
      ['beta', 200_000],
    ],
  );
  const id = run.body.issued[0].id;
  const inv = (await acme('GET', `/v1/invoices/${id}`)).body;
  assert.deepEqual(
    inv.lines.map((l: { class: string; gpuHours: number; amountCents: number }) => [l.class, l.gpuHours, l.amountCents]),
    [
      ['on-demand', 16, 7200],
      ['preemptible', 4, 720],
    ],
  );
  assert.deepEqual(inv.reservedCapacity, [
    {
      gpuType: 'B200',
      gpus: 8,
      centsPerGpuMonth: 150_000,
      amountCents: 1_200_000,
      coveredGpuSeconds: 18 * 3600,
      coveredGpuHours: 18,
    },
  ]);
  assert.equal(inv.vatCents, Math.round((1_207_920 * 19) / 100));
  assert.equal(inv.grossCents, inv.netCents + inv.vatCents);
  assert.ok(inv.energy.itKwh > 0, 'energy counts the covered run time too');
  assert.equal((await op('GET', `/v1/invoices/${id}/verify`)).body.ok, true);

  const late = await op('PUT', '/v1/reserved-capacity', commitment({ month, gpus: 64 }));
  assert.equal(late.status, 422, JSON.stringify(late.body));
  assert.equal(late.body.code, 'month_invoiced');
  assert.equal((await op('GET', `/v1/reserved-capacity?org=anchor&month=${month}`)).body.items[0].gpus, 8);

  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const show = await gigafab(['invoice', 'show', id], env);
  assert.equal(show.code, 0, show.err);
  for (const want of ['reserved, 8 GPUs', '1500.00/GPU-month', '12000.00', 'covered by reservation', '18.000000', 'EUR 12079.20'])
    assert.ok(show.out.includes(want), `${want}:\n${show.out}`);
  const r = await fetch(`${server.url}/v1/invoices/${id}/pdf`, { headers: { authorization: `Bearer ${acmeToken}` } });
  assert.equal(r.status, 200);
  const file = join(dir, 'reserved.pdf');
  writeFileSync(file, Buffer.from(await r.arrayBuffer()));
  const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
  for (const want of ['reserved, 8 GPUs', '12000.00', 'covered by reservation', '18.000000', 'EUR 12079.20'])
    assert.ok(text.includes(want), `the PDF's text has ${want}:\n${text}`);
});

test('gigafab prices reserve and reservations', async () => {
  const opEnv = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: server.operatorToken };
  const set = await gigafab(
    ['prices', 'reserve', 'beta', '--gpu-type', 'B200', '--gpus', '4', '--month', next, '--price', '120000'],
    opEnv,
  );
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, new RegExp(`reserved 4 B200 for beta in ${next} at EUR 1200\\.00 per GPU-month \\(EUR 4800\\.00\\)`));
  const bad = await gigafab(
    ['prices', 'reserve', 'nobody', '--gpu-type', 'B200', '--gpus', '4', '--month', next, '--price', '1'],
    opEnv,
  );
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /unknown_org/);
  const mine = await gigafab(['prices', 'reservations'], { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken });
  assert.equal(mine.code, 0, mine.err);
  assert.match(mine.out, /ORG\s+MONTH\s+GPU TYPE\s+GPUS\s+EUR PER GPU-MONTH/);
  assert.match(mine.out, new RegExp(`anchor\\s+${next}\\s+B200\\s+16\\s+1500\\.00\\s+24000\\.00`));
  assert.doesNotMatch(mine.out, /beta/);
  const json = await gigafab(['prices', 'reservations', '--org', 'beta', '--month', next, '--output', 'json'], opEnv);
  assert.equal(json.code, 0, json.err);
  assert.deepEqual(
    JSON.parse(json.out).items.map((c: { gpus: number }) => c.gpus),
    [4],
  );
});
