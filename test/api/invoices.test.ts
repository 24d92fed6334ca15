/**
 * Invoices against the real server: an operator's run for last month issues one invoice per
 * organisation with usage (tenants cannot run one; a second run issues nothing); tenants read only
 * their own; the PDF is rendered by Debian's pdftoppm and its text read back with pdftotext; `gigafab
 * invoice list|show|download|verify` print and save the same; an invoice row altered in the database
 * fails verification (API and CLI, exit 4) and is no longer served.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { lastMonth, seedPrices, seedUsage, tamperInvoice, withStore } from '../helpers/billing-history.js';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
let acmeToken: string;
const { month, from } = lastMonth();
const dir = mkdtempSync(join(tmpdir(), 'gigafab-invoices-'));
const { gigafab } = cliRunner('gigafab-invoices-cli-');
const H = 3_600_000;

before(async () => {
  execFileSync('bash', ['scripts/ensure-poppler.sh'], { cwd: join(import.meta.dirname, '../../..'), stdio: 'ignore' });
  server = await startTestServer({ fleetPath: writeSmallFleet(dir) });
  op = api(server.url, server.operatorToken);
  for (const org of ['acme', 'beta']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` })).status, 201);
  }
  acmeToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' });
  acme = api(server.url, acmeToken);
  await withStore(server.dataDir, async (s) => {
    await seedPrices(s, from, [
      { gpuType: 'B200', class: 'on-demand', cents: 450 },
      { gpuType: 'B200', class: 'preemptible', cents: 180 },
    ]);
    await seedUsage(s, [
      { org: 'acme', project: 'acme-ml', job: 900_001, start: from + 24 * H, seconds: 7200, gpus: 16 }, // 32 GPU-h × 4.50 = 144.00
      { org: 'acme', project: 'acme-ml', job: 900_002, start: from + 48 * H, seconds: 3600, gpus: 8, cls: 'preemptible' }, // 8 × 1.80 = 14.40
      { org: 'beta', project: 'beta-ml', job: 900_003, start: from + 72 * H, seconds: 1800, gpus: 2 }, // 1 × 4.50
    ]);
  });
  const f = await op('PUT', '/v1/energy-factors', {
    site: 's1',
    month,
    pue: 1.2,
    gridGCo2PerKwh: 380,
    renewableShare: 0.5,
    source: 'test: UBA mix',
  });
  assert.equal(f.status, 200, JSON.stringify(f.body));
});
after(async () => {
  await server?.stop();
});

test('an operator runs invoicing for last month once; tenants cannot; a month not yet ended is refused', async () => {
  assert.equal((await acme('POST', '/v1/invoices/runs', { month })).status, 403);
  const current = new Date().toISOString().slice(0, 7);
  const early = await op('POST', '/v1/invoices/runs', { month: current });
  assert.equal(early.status, 422);
  assert.equal(early.body.code, 'month_not_ended');
  assert.equal((await op('POST', '/v1/invoices/runs', { month: '11/2026' })).body.code, 'invalid_month');
  assert.equal(
    (await acme('PUT', '/v1/energy-factors', { site: 's1', month, pue: 1, gridGCo2PerKwh: 1, source: 'mine' })).status,
    403,
  );
  const run = await op('POST', '/v1/invoices/runs', { month });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  assert.deepEqual(
    run.body.issued.map((i: { org: string; netCents: number }) => [i.org, i.netCents]),
    [
      ['acme', 15840],
      ['beta', 450],
    ],
  );
  const again = await op('POST', '/v1/invoices/runs', { month });
  assert.deepEqual(again.body.issued, []);
  assert.equal(again.body.alreadyIssued, 2);
  const audit = await op('GET', '/v1/audit?limit=1000');
  const issues = audit.body.items.filter((a: { action: string }) => a.action === 'invoice.issue');
  assert.equal(issues.length, 2);
  assert.ok(
    issues.every((a: { after: { sha256?: string } }) => /^[0-9a-f]{64}$/.test(a.after?.sha256 ?? '')),
    'operators see the hashes',
  );
});

test("tenants see their own invoices, with VAT and the energy columns; another organisation's is not found", async () => {
  const list = await acme('GET', '/v1/invoices');
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.items.map((i: { org: string }) => i.org),
    ['acme'],
  );
  const all = await op('GET', '/v1/invoices');
  const beta = all.body.items.find((i: { org: string }) => i.org === 'beta');
  for (const path of [`/v1/invoices/${beta.id}`, `/v1/invoices/${beta.id}/pdf`, `/v1/invoices/${beta.id}/verify`]) {
    const r = await acme('GET', path);
    assert.equal(r.status, 404, path);
    assert.equal(r.body.code, 'invoice_not_found');
  }
  assert.equal((await acme('GET', '/v1/invoices?org=beta')).status, 404);
  const inv = await acme('GET', `/v1/invoices/${list.body.items[0].id}`);
  assert.equal(inv.status, 200);
  assert.equal(inv.body.grossCents, 15840 + 3010); // 19 % of 158.40 = 30.096
  // 40 B200 GPU-hours at 1000 W = 40 kWh; × PUE 1.2 = 48 kWh; × 380 g = 18.24 kg.
  assert.deepEqual([inv.body.energy.itKwh, inv.body.energy.facilityKwh, inv.body.energy.co2Kg], [40, 48, 18.24]);
  assert.equal((await acme('GET', '/v1/invoices/999999')).body.code, 'invoice_not_found');
  assert.equal((await acme('GET', '/v1/invoices/abc')).status, 404);
});

test('the PDF renders (pdftoppm) and reads back (pdftotext) with the numbers of the JSON', async () => {
  const [item] = (await acme('GET', '/v1/invoices')).body.items;
  const inv = (await acme('GET', `/v1/invoices/${item.id}`)).body;
  const r = await fetch(`${server.url}/v1/invoices/${item.id}/pdf`, { headers: { authorization: `Bearer ${acmeToken}` } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/pdf');
  const pdf = Buffer.from(await r.arrayBuffer());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  const file = join(dir, 'invoice.pdf');
  writeFileSync(file, pdf);
  execFileSync('pdftoppm', ['-png', '-r', '40', file, join(dir, 'page')]);
  const pages = readdirSync(dir).filter((f) => f.startsWith('page') && f.endsWith('.png'));
  assert.equal(pages.length, 1);
  assert.ok(statSync(join(dir, pages[0]!)).size > 1000, 'the page rendered to an image');
  const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
  for (const want of [
    `Invoice ${inv.number}`,
    'organisation acme, DE',
    'on-demand',
    'preemptible',
    '32.000000',
    '144.00',
    '14.40',
    'EUR 158.40',
    'VAT 19%',
    'EUR 30.10',
    'EUR 188.50',
    '48.000',
    '18.240',
    inv.sha256,
  ]) {
    assert.ok(text.includes(want), `the PDF's text has ${want}:\n${text}`);
  }
});

test('gigafab invoice list, show, download and verify', async () => {
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const [item] = (await acme('GET', '/v1/invoices')).body.items;
  const list = await gigafab(['invoice', 'list'], env);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`${item.number}.*acme.*${month}.*158\\.40.*188\\.50`));
  const show = await gigafab(['invoice', 'show', item.id], env);
  assert.equal(show.code, 0, show.err);
  for (const want of ['on-demand', '144.00', 'VAT 19%', 'EUR 188.50', '48 kWh with PUE', item.sha256])
    assert.ok(show.out.includes(want), `${want}:\n${show.out}`);
  const out = join(dir, 'cli.pdf');
  const dl = await gigafab(['invoice', 'download', item.id, '--file', out], env);
  assert.equal(dl.code, 0, dl.err);
  const api = Buffer.from(
    await (
      await fetch(`${server.url}/v1/invoices/${item.id}/pdf`, { headers: { authorization: `Bearer ${acmeToken}` } })
    ).arrayBuffer(),
  );
  assert.deepEqual(readFileSync(out), api, 'the same bytes as the API serves (the PDF is deterministic)');
  const ok = await gigafab(['invoice', 'verify', item.id], env);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /^OK: invoice/);
  const theirs = await gigafab(['invoice', 'show', String(Number(item.id) + 1)], env);
  assert.notEqual(theirs.code, 0);
});

test('an invoice altered in the database fails verification (API, CLI exit 4) and is not served; the audit chain still verifies', async () => {
  const [item] = (await op('GET', '/v1/invoices?org=beta')).body.items;
  await server.stop();
  await withStore(server.dataDir, (s) => tamperInvoice(s, Number(item.id), (b) => b.replace('"netCents":450', '"netCents":45')));
  await server.restart();
  op = api(server.url, server.operatorToken);
  acme = api(server.url, acmeToken);
  const v = await op('GET', `/v1/invoices/${item.id}/verify`);
  assert.equal(v.status, 200);
  assert.equal(v.body.ok, false);
  assert.match(v.body.problem, /altered/);
  const get = await op('GET', `/v1/invoices/${item.id}`);
  assert.equal(get.status, 409);
  assert.equal(get.body.code, 'invoice_altered');
  assert.equal((await op('GET', `/v1/invoices/${item.id}/pdf`)).status, 409);
  const cli = await gigafab(['invoice', 'verify', item.id], { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: server.operatorToken });
  assert.equal(cli.code, 4, cli.out + cli.err);
  assert.match(cli.out, /^FAILED: /);
  // The audit record still holds the hash the invoice was issued with: it is the evidence.
  assert.equal((await op('GET', '/v1/audit/verify')).body.ok, true);
});

test("a job's energy per run segment: the power model × its GPUs × its run time, × PUE and grid factor; `job show` prints it; /metrics shows the power", async () => {
  const now = new Date().toISOString().slice(0, 7);
  assert.equal(
    (await op('PUT', '/v1/energy-factors', { site: 's1', month: now, pue: 1.5, gridGCo2PerKwh: 200, source: 'test' })).status,
    200,
  );
  await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 8 });
  const job = await acme('POST', '/v1/jobs', {
    name: 'e',
    project: 'acme-ml',
    gpuType: 'B200',
    gpusPerNode: 8,
    nodes: 1,
    command: ['x'],
    simulation: { durationSeconds: 36_000 },
  });
  assert.equal(job.status, 201, JSON.stringify(job.body));
  await waitFor(async () => (await acme('GET', `/v1/jobs/${job.body.id}`)).body.state === 'running', 'the job to run');
  // /metrics: 8 allocated B200 at 1000 W, the other 24 idle at 140 W; energy accumulates between scrapes.
  await fetch(`${server.url}/metrics`);
  await new Promise((r) => setTimeout(r, 200));
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /gigafab_gpu_power_watts\{site="s1",gpu_type="B200",state="allocated"\} 8000\n/);
  assert.match(metrics, /gigafab_gpu_power_watts\{site="s1",gpu_type="B200",state="free"\} 3360\n/);
  const joules = Number(/gigafab_gpu_energy_joules_total\{site="s1",gpu_type="B200"\} ([\d.e+]+)/.exec(metrics)?.[1]);
  assert.ok(joules > 0, metrics);
  const e = await acme('GET', `/v1/jobs/${job.body.id}/energy`);
  assert.equal(e.status, 200, JSON.stringify(e.body));
  assert.equal(e.body.segments.length, 1);
  const s = e.body.segments[0];
  assert.equal(s.endedAt, null);
  const ranMs = Date.now() - Date.parse(s.startedAt);
  // 8 B200 at 1000 W: 8 kW; the figure was taken between the start and now.
  assert.ok(e.body.itKwh > 0 && e.body.itKwh <= (8 * ranMs) / 3.6e6 + 1e-6, JSON.stringify(e.body));
  assert.ok(Math.abs(e.body.facilityKwh - e.body.itKwh * 1.5) < 1e-5);
  assert.ok(Math.abs(e.body.co2Kg - e.body.facilityKwh * 0.2) < 1e-5);
  const betaAdmin = api(server.url, await tenantToken(op, 'beta', { name: 'Bo', role: 'admin' }));
  assert.equal((await betaAdmin('GET', `/v1/jobs/${job.body.id}/energy`)).status, 404);
  const show = await gigafab(['job', 'show', job.body.id], { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken });
  assert.equal(show.code, 0, show.err);
  assert.match(show.out, /Energy: +[\d.]+ kWh at the GPUs, [\d.]+ kWh with PUE, [\d.]+ kg CO₂e/);
  await acme('POST', `/v1/jobs/${job.body.id}/cancel`);
});
