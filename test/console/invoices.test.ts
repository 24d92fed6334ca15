/**
 * The console's invoice pages, in real Chromium against the real server: last month's usage is in
 * the store as metering writes it, an operator's invoice run issued the invoices and a credit note
 * corrects acme's. An org admin sees the list (month, status, net, VAT, gross, kWh, CO₂ — the API's
 * figures), opens an invoice and reads its line items as the API answers them, its hash checked
 * against the audit record, and downloads the PDF, which is the API's own (application/pdf, the
 * same bytes). Another organisation's user sees only its own invoice and the API's sentence for
 * acme's; an operator sees every organisation's and narrows the list to one. An invoice altered
 * behind the database's back keeps its row in the list with the API's 409 sentence, and its page
 * shows that sentence instead of figures.
 *
 * Needs `npm run build` (the server serves dist/console) and scripts/ensure-chromium.sh.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { lastMonth, seedPrices, seedUsage, tamperInvoice, withStore } from '../helpers/billing-history.js';
import { httpStatusLogged, launchChromium } from '../helpers/browser.js';
import { assertConsoleBuilt, closeConsole, openConsole, shot, text, updateDocScreenshots } from '../helpers/console.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

const NEW_SHOTS = ['invoices.png', 'invoice.png'];
const H = 3_600_000;
const { month, from } = lastMonth();
const dir = mkdtempSync(join(tmpdir(), 'gigafab-console-invoices-'));
const eur = new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmtEur = (cents: number) => `EUR ${eur.format(cents / 100)}`;

let server: TestServer;
let browser: Browser;
let op: ReturnType<typeof api>;
let admin: { token: string; userId: string };
let globex: { token: string; userId: string };
let acmeId: string;
let globexId: string;

interface Line {
  gpuType: string;
  class: string;
  priceVersion: number;
  centsPerGpuHour: number;
  gpuHours: number;
  amountCents: number;
}

before(async () => {
  assertConsoleBuilt();
  server = await startTestServer({ fleetPath: writeSmallFleet(dir) });
  op = api(server.url, server.operatorToken);
  for (const org of ['acme', 'globex']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org.toUpperCase(), kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` })).status, 201);
  }
  admin = await tenantUser(op, 'acme', { name: 'Alice', role: 'admin' });
  globex = await tenantUser(op, 'globex', { name: 'Gus', role: 'admin' });
  await withStore(server.dataDir, async (s) => {
    await seedPrices(s, from, [
      { gpuType: 'B200', class: 'on-demand', cents: 450 },
      { gpuType: 'B200', class: 'preemptible', cents: 180 },
      { gpuType: 'B200', class: 'lent-credit', cents: 100 },
    ]);
    await seedUsage(s, [
      { org: 'acme', project: 'acme-ml', job: 900_001, start: from + 24 * H, seconds: 7200, gpus: 16 }, // 32 GPU-h × 4.50 = 144.00
      { org: 'acme', project: 'acme-ml', job: 900_002, start: from + 48 * H, seconds: 3600, gpus: 8, cls: 'preemptible' }, // 8 × 1.80 = 14.40
      { org: 'globex', project: 'globex-ml', job: 900_003, start: from + 72 * H, seconds: 1800, gpus: 2 }, // 1 × 4.50
    ]);
  });
  const factors = { site: 's1', month, pue: 1.2, gridGCo2PerKwh: 380, renewableShare: 0.5, source: 'test: UBA mix' };
  assert.equal((await op('PUT', '/v1/energy-factors', factors)).status, 200);
  const run = await op('POST', '/v1/invoices/runs', { month });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const issued = run.body.issued as { id: string; org: string }[];
  acmeId = issued.find((i) => i.org === 'acme')?.id ?? '';
  globexId = issued.find((i) => i.org === 'globex')?.id ?? '';
  assert.ok(acmeId && globexId, JSON.stringify(run.body));
  const credit = await op('POST', `/v1/invoices/${acmeId}/credit-notes`, {
    netCents: 1200,
    reason: 'node failure billed in error',
  });
  assert.equal(credit.status, 201, JSON.stringify(credit.body));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  updateDocScreenshots((f) => NEW_SHOTS.includes(f));
});

const open = (token: string, path: string) => openConsole(browser, server.url, token, path, { width: 1400, height: 900 });

test("an org admin lists the invoices, reads one's lines as the API answers them, and downloads the API's PDF", async () => {
  const acme = api(server.url, admin.token);
  const s = await open(admin.token, '/jobs');
  const { page } = s;
  await page.getByRole('link', { name: 'Invoices' }).click();
  const table = page.getByTestId('invoices');
  await table.waitFor();
  const list = (await acme('GET', '/v1/invoices')).body.items as { id: string; number: string; creditedCents: number }[];
  assert.deepEqual(
    list.map((i) => i.id),
    [acmeId],
  );
  assert.equal(await table.locator('tbody tr').count(), 1);
  const inv = (await acme('GET', `/v1/invoices/${acmeId}`)).body;
  const row = table.locator(`tr[data-invoice="${acmeId}"]`);
  const cell = (col: string) => text(row.locator(`[data-col=${col}]`));
  assert.equal(await cell('net'), fmtEur(inv.netCents));
  assert.equal(await cell('vat'), `${fmtEur(inv.vatCents)} (${inv.vatRatePercent}%)`);
  assert.equal(await cell('gross'), fmtEur(inv.grossCents));
  assert.equal(await cell('kwh'), `${inv.energy.facilityKwh.toFixed(3)} kWh`);
  assert.equal(await cell('co2'), `${inv.energy.co2Kg.toFixed(3)} kg`);
  assert.equal(await cell('status'), `issued, ${fmtEur(list[0]?.creditedCents ?? 0)} credited`);
  // The figures the API test pins: EUR 158.40 net, 19 % VAT, 48 kWh with PUE 1.2, 18.24 kg CO₂.
  assert.deepEqual(
    [await cell('net'), await cell('vat'), await cell('gross'), await cell('kwh'), await cell('co2')],
    ['EUR 158.40', 'EUR 30.10 (19%)', 'EUR 188.50', '48.000 kWh', '18.240 kg'],
  );
  await shot(page, 'invoices');

  await row.getByRole('link', { name: inv.number }).click();
  await page.getByRole('heading', { name: `Invoice ${inv.number}` }).waitFor();
  const lines = page.locator('[data-testid=invoice-lines] tbody tr');
  await lines.first().waitFor();
  assert.equal(await lines.count(), inv.lines.length);
  assert.equal(inv.lines.length, 2);
  for (const l of inv.lines as Line[]) {
    const tr = page.locator(`tr[data-line="${l.gpuType}/${l.class}/${l.priceVersion}"]`);
    assert.deepEqual(
      [
        await text(tr.locator('[data-col=unit]')),
        await text(tr.locator('[data-col=gpuHours]')),
        await text(tr.locator('[data-col=amount]')),
      ],
      [fmtEur(l.centsPerGpuHour), String(l.gpuHours), fmtEur(l.amountCents)],
      `line ${l.gpuType} ${l.class}`,
    );
  }
  assert.equal(await text(page.getByTestId('invoice-net')), fmtEur(inv.netCents));
  assert.equal(await text(page.getByTestId('invoice-vat')), fmtEur(inv.vatCents));
  assert.equal(await text(page.getByTestId('invoice-gross')), fmtEur(inv.grossCents));
  const verify = (await acme('GET', `/v1/invoices/${acmeId}/verify`)).body;
  assert.equal(verify.ok, true);
  assert.equal(await text(page.getByTestId('invoice-verified')), `matches audit record ${verify.auditId}`);
  assert.match(await text(page.getByTestId('credit-notes')), /node failure billed in error.*EUR 12\.00/);
  await shot(page, 'invoice', true);

  // The PDF: the API answers application/pdf, and the browser saves exactly its bytes.
  const [response, download] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/v1/invoices/${acmeId}/pdf`)),
    page.waitForEvent('download'),
    page.getByTestId('invoice-pdf').click(),
  ]);
  assert.equal(response.status(), 200);
  assert.equal(response.headers()['content-type'], 'application/pdf');
  assert.equal(download.suggestedFilename(), `${inv.number}.pdf`);
  const path = await download.path();
  assert.ok(path);
  const saved = readFileSync(path);
  assert.equal(saved.subarray(0, 5).toString(), '%PDF-');
  const direct = await fetch(`${server.url}/v1/invoices/${acmeId}/pdf`, { headers: { authorization: `Bearer ${admin.token}` } });
  assert.ok(saved.equals(Buffer.from(await direct.arrayBuffer())), 'the saved PDF is the API’s');
  const pdfText = execFileSync('pdftotext', ['-layout', path, '-'], { encoding: 'utf8' });
  assert.ok(pdfText.includes(`Invoice ${inv.number}`), pdfText);
  await closeConsole(s);
});

test("another organisation's user sees its own invoice only, and the API's sentence for acme's", async () => {
  const s = await open(globex.token, '/invoices');
  const { page } = s;
  const table = page.getByTestId('invoices');
  await table.waitFor();
  assert.deepEqual(await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-invoice'))), [
    globexId,
  ]);
  assert.doesNotMatch(await text(page.locator('main')), /acme/i);

  await page.goto(`${server.url}/invoices/${acmeId}`);
  const refused = await api(server.url, globex.token)('GET', `/v1/invoices/${acmeId}`);
  assert.equal(refused.status, 404);
  assert.equal(refused.body.code, 'invoice_not_found');
  const err = page.getByRole('alert');
  await err.first().waitFor();
  assert.equal(await text(err.first()), refused.body.detail);
  assert.equal(await page.getByTestId('invoice-lines').count(), 0);
  assert.equal(await page.getByTestId('invoice-pdf').count(), 0);
  const pdf = await api(server.url, globex.token)('GET', `/v1/invoices/${acmeId}/pdf`);
  assert.equal(pdf.status, 404);
  await closeConsole(s, [httpStatusLogged(404)]);
});

test("an operator sees every organisation's invoices and narrows the list to one", async () => {
  const s = await open(server.operatorToken, '/invoices');
  const { page } = s;
  const rows = page.locator('[data-testid=invoices] tbody tr');
  await waitFor(async () => (await rows.count()) === 2, 'both invoices');
  await page.getByLabel('Organisation').selectOption('globex');
  await waitFor(async () => (await rows.count()) === 1, "globex's invoice only");
  assert.equal(await rows.first().getAttribute('data-invoice'), globexId);
  await closeConsole(s);
});

test("an invoice altered in the database keeps its row with the API's sentence, and its page shows no figures", async () => {
  await withStore(server.dataDir, (s) => tamperInvoice(s, Number(globexId), (b) => b.replace('"netCents":450', '"netCents":45')));
  await server.restart();
  const refused = await api(server.url, server.operatorToken)('GET', `/v1/invoices/${globexId}`);
  assert.equal(refused.status, 409);
  assert.equal(refused.body.code, 'invoice_altered');
  const s = await open(server.operatorToken, '/invoices');
  const { page } = s;
  const row = page.locator(`tr[data-invoice="${globexId}"]`);
  await waitFor(
    async () => (await text(row.locator('[data-col=status]'))) === refused.body.detail,
    "the API's sentence in the row",
  );
  assert.equal(await text(row.locator('[data-col=vat]')), '–');
  // The other organisation's invoice is still listed with its figures.
  assert.equal(await text(page.locator(`tr[data-invoice="${acmeId}"] [data-col=gross]`)), 'EUR 188.50');
  await row.getByRole('link').click();
  const err = page.getByRole('alert');
  await err.first().waitFor();
  assert.equal(await text(err.first()), refused.body.detail);
  assert.equal(await page.getByTestId('invoice-lines').count(), 0);
  await closeConsole(s, [httpStatusLogged(409)]);
});

test("a reserved organisation's invoice page shows its reservation (the monthly amount, the GPU-hours covered at 0) and its lent credit", async () => {
  // The server restarted in the test before: a client for its current address.
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'anchor', name: 'Anchor', kind: 'public-sector' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/anchor/projects', { id: 'anchor-ml' })).status, 201);
  const anchor = await tenantUser(op, 'anchor', { name: 'Ann', role: 'admin' });
  // 4 GPUs for an hour against 2 reserved: 2 GPU-hours covered, 2 at EUR 4.50; 2 × EUR 500.00 reserved.
  // globex borrows 2 GPUs of anchor-ml's lent quota for an hour while anchor's 2 are idle: 2 GPU-hours × EUR 1.00 credited.
  await withStore(server.dataDir, (s) =>
    seedUsage(s, [
      { org: 'anchor', project: 'anchor-ml', job: 900_004, start: from + 96 * H, seconds: 3600, gpus: 4 },
      {
        org: 'globex',
        project: 'globex-ml',
        job: 900_005,
        start: from + 120 * H,
        seconds: 3600,
        gpus: 2,
        cls: 'borrowed',
        lenders: [{ project: 'anchor-ml', gpus: 2 }],
      },
    ]),
  );
  const set = await op('PUT', '/v1/reserved-capacity', {
    org: 'anchor',
    gpuType: 'B200',
    month,
    gpus: 2,
    centsPerGpuMonth: 50_000,
  });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const run = await op('POST', '/v1/invoices/runs', { month });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const id = (run.body.issued as { id: string; org: string; netCents: number }[]).find((i) => i.org === 'anchor');
  assert.equal(id?.netCents, 100_000 + 900 - 200, JSON.stringify(run.body));
  const s = await open(anchor.token, `/invoices/${id.id}`);
  const { page } = s;
  const reserved = page.locator('[data-testid=invoice-reserved] tbody tr[data-reserved="B200"]');
  await reserved.waitFor();
  assert.equal(await text(reserved.locator('[data-col=amount]')), 'EUR 1,000.00');
  assert.equal(await text(reserved.locator('[data-col=covered]')), '2');
  const line = page.locator('tr[data-line="B200/on-demand/1"] [data-col=gpuHours]');
  assert.equal(await text(line), '2');
  const lent = page.locator('[data-testid=invoice-lent-credits] tbody tr[data-lent="B200/1"]');
  assert.equal(await text(lent.locator('[data-col=gpuHours]')), '2');
  assert.equal(await text(lent.locator('[data-col=amount]')), fmtEur(-200));
  assert.equal(await text(page.getByTestId('invoice-lent-credit')), fmtEur(-200));
  assert.equal(await text(page.getByTestId('invoice-net')), fmtEur(100_700));
  await closeConsole(s, []);
});

test('an invoice that charges a correction of an earlier one shows it: the corrected invoice, the month, the job, the amount', async () => {
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'delta', name: 'Delta', kind: 'start-up' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/delta/projects', { id: 'delta-ml' })).status, 201);
  const delta = await tenantUser(op, 'delta', { name: 'Dan', role: 'admin' });
  // The month before last: a run (before any price: billed 0), invoiced.
  const earlier = lastMonth(from);
  await withStore(server.dataDir, (s) =>
    seedUsage(s, [{ org: 'delta', project: 'delta-ml', job: 900_105, start: earlier.from + 24 * H, seconds: 3600, gpus: 2 }]),
  );
  const first = await op('POST', '/v1/invoices/runs', { month: earlier.month });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const corrected = (first.body.issued as { id: string; org: string; number: string }[]).find((i) => i.org === 'delta');
  assert.ok(corrected, JSON.stringify(first.body));
  // Its run reconciled afterwards to more billed time, as invoice-corrections.ts records it: EUR 9.00 to charge.
  await withStore(server.dataDir, (s) =>
    s.write(async (trx) => {
      await trx
        .insertInto('invoice_corrections')
        .values({
          usage_correction_id: 1,
          org_id: 'delta',
          invoice_id: Number(corrected.id),
          month: earlier.month,
          job_id: 900_105,
          attempt: 1,
          net_cents: 900,
          credit_note_id: null,
          charged_invoice_id: null,
          at: new Date().toISOString(),
        })
        .execute();
    }),
  );
  const run = await op('POST', '/v1/invoices/runs', { month });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const next = (run.body.issued as { id: string; org: string; netCents: number }[]).find((i) => i.org === 'delta');
  assert.equal(next?.netCents, 900, 'the correction alone is invoiced');
  const api_ = await api(server.url, delta.token)('GET', `/v1/invoices/${next.id}`);
  assert.deepEqual(
    api_.body.corrections.map((c: { invoiceNumber: string; netCents: number }) => [c.invoiceNumber, c.netCents]),
    [[corrected.number, 900]],
  );
  const s = await open(delta.token, `/invoices/${next.id}`);
  const row = s.page.locator('[data-testid=invoice-corrections] tbody tr');
  await row.first().waitFor();
  assert.equal(await row.count(), 1);
  assert.equal(await text(row.locator('th')), corrected.number);
  assert.equal(await text(row.locator('[data-col=amount]')), 'EUR 9.00');
  assert.match(await text(row), new RegExp(`${earlier.month}.*900105`));
  await closeConsole(s, []);
});
