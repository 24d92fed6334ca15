/**
 * GET /v1/usage/focus and `gigafab usage --focus` against the real server, on last month's history
 * written the way the server writes it (two organisations, a price change in the middle of a day
 * and of a run, a run across midnight, a preemptible run): the FOCUS rows' costs add up to the
 * same totals as GET /v1/usage and as the invoices of the month, per organisation and overall; each
 * priced row is its billed GPU-hours × its one list unit price; the CSV has the FOCUS columns in
 * order and the same rows; tenants see only their organisation; bad input answers 4xx with a code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { FOCUS_COLUMNS } from '../../src/model/usage-focus.js';
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
const to = new Date(Date.UTC(new Date(from).getUTCFullYear(), new Date(from).getUTCMonth() + 1, 1)).toISOString();
const H = 3_600_000;
const D = 24 * H;
/** The price change: day 10 of the month at 12:00 UTC. */
const CHANGE = from + 9 * D + 12 * H;
const period = `from=${new Date(from).toISOString()}&to=${to}`;
const cents = (eur: number) => Math.round(eur * 100);

before(async () => {
  server = await startTestServer({ fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-focus-'))) });
  op = api(server.url, server.operatorToken);
  for (const org of ['acme', 'beta']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: `${org} GmbH`, kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` })).status, 201);
  }
  acmeToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' });
  acme = api(server.url, acmeToken);
  await withStore(server.dataDir, async (s) => {
    await seedPrices(s, from, [
      { gpuType: 'B200', class: 'on-demand', cents: 450 },
      { gpuType: 'B200', class: 'preemptible', cents: 180 },
    ]);
    await seedPrices(s, CHANGE, [
      { gpuType: 'B200', class: 'on-demand', cents: 500 },
      { gpuType: 'B200', class: 'preemptible', cents: 200 },
    ]);
    await seedUsage(s, [
      // 32 GPU-h × 4.50 = 144.00
      { org: 'acme', project: 'acme-ml', job: 910_001, start: from + D, seconds: 7200, gpus: 16 },
      // Across midnight: 4 GPU-h on each day × 4.50 = 18.00 + 18.00
      { org: 'acme', project: 'acme-ml', job: 910_002, start: from + 3 * D - H, seconds: 7200, gpus: 4 },
      // Across the price change: 8 GPU-h × 4.50 + 8 GPU-h × 5.00 = 36.00 + 40.00
      { org: 'acme', project: 'acme-ml', job: 910_003, start: CHANGE - H, seconds: 7200, gpus: 8 },
      // Preemptible after the change: 8 GPU-h × 2.00 = 16.00
      { org: 'acme', project: 'acme-ml', job: 910_004, start: from + 20 * D, seconds: 3600, gpus: 8, cls: 'preemptible' },
      // 1 GPU-h × 4.50
      { org: 'beta', project: 'beta-ml', job: 910_005, start: from + 5 * D, seconds: 1800, gpus: 2 },
    ]);
  });
});
after(async () => {
  await server?.stop();
});

interface Row {
  [k: string]: unknown;
  BillingAccountId: string;
  SubAccountId: string;
  BilledCost: number;
  ListUnitPrice: number | null;
  PricingQuantity: number;
  ChargePeriodStart: string;
  ChargePeriodEnd: string;
  SkuPriceId: string | null;
}
const sumCents = (rows: Row[]) => rows.reduce((s, r) => s + cents(r.BilledCost), 0);

test('the FOCUS rows add up to GET /v1/usage and to the invoices of the month, per organisation and overall', async () => {
  const focus = await op('GET', `/v1/usage/focus?${period}`);
  assert.equal(focus.status, 200, JSON.stringify(focus.body));
  assert.equal(focus.body.focusVersion, '1.0');
  const rows = focus.body.items as Row[];
  assert.equal(sumCents(rows), 14400 + 3600 + 7600 + 1600 + 450);
  assert.equal(cents(focus.body.total.BilledCost), sumCents(rows));
  const usage = await op('GET', `/v1/usage?${period}&groupBy=org`);
  assert.equal(usage.status, 200);
  assert.equal(usage.body.total.cost, sumCents(rows));
  const run = await op('POST', '/v1/invoices/runs', { month });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const net = new Map<string, number>(run.body.issued.map((i: { org: string; netCents: number }) => [i.org, i.netCents]));
  for (const org of ['acme', 'beta']) {
    const mine = rows.filter((r) => r.BillingAccountId === org);
    const u = usage.body.items.find((i: { org: string }) => i.org === org);
    assert.equal(sumCents(mine), u.cost, org);
    assert.equal(sumCents(mine), net.get(org), org);
  }
  // A tenant's own export says the same for its organisation.
  const own = await acme('GET', `/v1/usage/focus?${period}`);
  assert.equal(own.status, 200);
  assert.equal(cents(own.body.total.BilledCost), net.get('acme'));
});

test('each row lies in one UTC day under one price: billed GPU-hours × list unit price = billed cost', async () => {
  const rows = (await op('GET', `/v1/usage/focus?${period}`)).body.items as Row[];
  for (const r of rows) {
    for (const c of FOCUS_COLUMNS) assert.ok(c in r, `${c} missing`);
    assert.equal(r.ChargePeriodStart.slice(0, 10), new Date(Date.parse(r.ChargePeriodEnd) - 1).toISOString().slice(0, 10));
    assert.equal(r.BillingPeriodStart, new Date(from).toISOString());
    assert.equal(r.BillingPeriodEnd, to);
    assert.equal(r.BillingCurrency, 'EUR');
    assert.equal(r.ChargeCategory, 'Usage');
    assert.notEqual(r.ListUnitPrice, null);
    assert.equal(cents(r.PricingQuantity * (r.ListUnitPrice ?? 0)), cents(r.BilledCost), JSON.stringify(r));
  }
  const changeDay = rows.filter((r) => r.ChargePeriodStart.startsWith(new Date(CHANGE).toISOString().slice(0, 10)));
  assert.deepEqual(
    changeDay.map((r) => [r.ChargePeriodStart, r.ChargePeriodEnd, r.ListUnitPrice, r.SkuPriceId, r.BilledCost]),
    [
      [new Date(CHANGE - 12 * H).toISOString(), new Date(CHANGE).toISOString(), 4.5, 'B200/on-demand/v1', 36],
      [new Date(CHANGE).toISOString(), new Date(CHANGE + 12 * H).toISOString(), 5, 'B200/on-demand/v2', 40],
    ],
  );
  const midnight = rows.filter((r) => r.BilledCost === 18);
  assert.equal(midnight.length, 2, 'a run across midnight is a row on each day');
  const beta = rows.find((r) => r.BillingAccountId === 'beta');
  assert.equal(beta?.BillingAccountName, 'beta GmbH');
  assert.equal(beta?.SubAccountId, 'beta-ml');
  assert.equal(beta?.RegionId, 's1');
  assert.deepEqual(beta?.Tags, { 'gigafab/project': 'beta-ml', 'gigafab/class': 'on-demand', 'gigafab/gpu-type': 'B200' });
});

test('format=csv has the FOCUS columns in order and the same rows and cost', async () => {
  const res = await fetch(`${server.url}/v1/usage/focus?${period}&format=csv`, {
    headers: { authorization: `Bearer ${server.operatorToken}` },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
  assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="gigafab-focus-/);
  const text = await res.text();
  assert.equal(text.split('\r\n')[0], FOCUS_COLUMNS.join(','));
  const records = parse(text, { columns: true }) as Record<string, string>[];
  const json = (await op('GET', `/v1/usage/focus?${period}`)).body.items as Row[];
  assert.equal(records.length, json.length);
  assert.equal(
    records.reduce((s, r) => s + cents(Number(r.BilledCost)), 0),
    sumCents(json),
  );
  records.forEach((r, i) => {
    assert.equal(r.ChargePeriodStart, json[i]?.ChargePeriodStart);
    assert.deepEqual(JSON.parse(r.Tags ?? ''), json[i]?.Tags);
    assert.equal(r.ChargeClass, '', 'null is an empty cell');
  });
});

test("tenants see their organisation only; naming another answers as for one that doesn't exist", async () => {
  const own = await acme('GET', `/v1/usage/focus?${period}`);
  assert.ok((own.body.items as Row[]).length > 0);
  assert.ok((own.body.items as Row[]).every((r) => r.BillingAccountId === 'acme'));
  const theirs = await acme('GET', `/v1/usage/focus?${period}&project=beta-ml`);
  assert.deepEqual(theirs.body.items, []);
  const named = await acme('GET', `/v1/usage/focus?${period}&org=beta`);
  assert.equal(named.status, 404);
  assert.equal(named.body.code, 'org_not_found');
  const only = await op('GET', `/v1/usage/focus?${period}&org=beta`);
  assert.deepEqual(
    (only.body.items as Row[]).map((r) => [r.BillingAccountId, r.BilledCost]),
    [['beta', 4.5]],
  );
  const anon = await fetch(`${server.url}/v1/usage/focus`);
  assert.equal(anon.status, 401);
});

test('bad input answers 4xx with a machine-readable code and a sentence, and changes nothing', async () => {
  for (const [q, status, code] of [
    ['from=last-week', 422, 'invalid_period'],
    ['from=2026-02-01&to=2026-01-01', 422, 'invalid_period'],
    ['from=2024-01-01&to=2026-01-01', 422, 'invalid_period'],
    ['to=2026-13-45', 422, 'invalid_period'],
    ['format=xml', 422, 'invalid_format'],
    [`format=${'x'.repeat(100)}`, 400, undefined],
    [`org=${'a'.repeat(100)}`, 400, undefined],
  ] as const) {
    const r = await acme('GET', `/v1/usage/focus?${q}`);
    assert.equal(r.status, status, `${q}: ${JSON.stringify(r.body)}`);
    if (code !== undefined) assert.equal(r.body.code, code, q);
    else assert.equal(typeof r.body.code, 'string', q);
    assert.ok(typeof r.body.detail === 'string' && r.body.detail.length > 10, q);
  }
  const after = await op('GET', `/v1/usage/focus?${period}`);
  assert.equal(cents(after.body.total.BilledCost), 14400 + 3600 + 7600 + 1600 + 450);
});

test('gigafab usage --focus writes the API’s CSV; -o json the JSON; --group-by with it is refused', async () => {
  const { gigafab } = cliRunner('gigafab-focus-cli-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const args = ['usage', '--focus', '--from', new Date(from).toISOString(), '--to', to];
  const csv = await gigafab(args, env);
  assert.equal(csv.code, 0, csv.err);
  const res = await fetch(`${server.url}/v1/usage/focus?${period}&format=csv`, {
    headers: { authorization: `Bearer ${acmeToken}` },
  });
  assert.equal(csv.out, await res.text());
  const json = await gigafab([...args, '-o', 'json'], env);
  assert.equal(json.code, 0, json.err);
  assert.equal(cents(JSON.parse(json.out).total.BilledCost), 14400 + 3600 + 7600 + 1600);
  const bad = await gigafab([...args, '--group-by', 'org'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /drop --group-by/);
});
