/**
 * The console's operator-wide usage page (/usage-all), in real Chromium against the real server:
 * two organisations' usage in the store as the server meters it, one of them with reserved capacity.
 * The operator sees GPU-hours and cost per UTC day stacked per organisation over 30 and 7 days —
 * each bar the figure GET /v1/usage?groupBy=day,org answers — a table per organisation with the
 * API's figures (the net cost after reserved capacity included), and downloads the API's own CSV.
 * A tenant has no such page.
 *
 * Needs `npm run build` (the server serves dist/console) and scripts/ensure-chromium.sh.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { seedPrices, seedUsage, withStore } from '../helpers/billing-history.js';
import { launchChromium } from '../helpers/browser.js';
import { assertConsoleBuilt, chartBars as bars, closeConsole, openConsole, text } from '../helpers/console.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

const DAY = 86_400_000;
const H = 3_600_000;

let server: TestServer;
let browser: Browser;
let op: ReturnType<typeof api>;
let admin: { token: string; userId: string };

const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);
const period = (n: number) => `from=${dayOf(today - (n - 1) * DAY)}&to=${dayOf(today + DAY)}`;
const eur = new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmtEur = (cents: number) => `EUR ${eur.format(cents / 100)}`;

const reservedDay = today - 3 * DAY;
const month = dayOf(reservedDay).slice(0, 7);
const RESERVED_GPUS = 4;
/** acme's runs, none overlapping another: each covered up to 4 GPUs where it falls in the reserved month. */
const ACME = [
  { org: 'acme', project: 'acme-ml', job: 900_001, start: reservedDay + 10 * H, seconds: 3600, gpus: 8 },
  { org: 'acme', project: 'acme-ml', job: 900_002, start: today - 5 * DAY + 9 * H, seconds: 1800, gpus: 2 },
  { org: 'acme', project: 'acme-ml', job: 900_003, start: today - 20 * DAY + 8 * H, seconds: 3600, gpus: 2 },
];
/** coveredCents: what the reservation covers of acme's runs in the last `days` days, at one cent per GPU-second. */
const coveredCents = (days: number) =>
  ACME.filter((r) => dayOf(r.start).slice(0, 7) === month && r.start >= today - (days - 1) * DAY).reduce(
    (a, r) => a + Math.min(r.gpus, RESERVED_GPUS) * r.seconds,
    0,
  );

interface Row {
  org: string;
  day?: string;
  gpuHours: number;
  gpuSeconds: number;
  segments: number;
  cost: number;
  netCost?: number;
}

before(async () => {
  assertConsoleBuilt();
  server = await startTestServer({});
  op = api(server.url, server.operatorToken);
  for (const [org, project] of [
    ['acme', 'acme-ml'],
    ['globex', 'globex-sim'],
  ] as const) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org.toUpperCase(), kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: project })).status, 201);
  }
  admin = await tenantUser(op, 'acme', { name: 'Alice', role: 'admin' });
  await withStore(server.dataDir, async (s) => {
    await seedPrices(s, today - 120 * DAY, [{ gpuType: 'B200', class: 'on-demand', cents: 3600 }]);
    await seedUsage(s, [
      ...ACME,
      { org: 'globex', project: 'globex-sim', job: 900_004, start: today - 1 * DAY + 8 * H, seconds: 3600, gpus: 8 },
      { org: 'globex', project: 'globex-sim', job: 900_005, start: reservedDay + 12 * H, seconds: 7200, gpus: 4 },
    ]);
  });
  // acme reserves 4 B200 for the month of its 8-GPU run.
  const r = await op('PUT', '/v1/reserved-capacity', {
    org: 'acme',
    gpuType: 'B200',
    month,
    gpus: RESERVED_GPUS,
    centsPerGpuMonth: 1000,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("an operator sees every organisation's usage per day and per organisation, the API's figures, and the API's CSV", async () => {
  const s = await openConsole(browser, server.url, server.operatorToken, '/usage-all', { width: 1400, height: 900 });
  const { page } = s;
  try {
    await page.getByRole('heading', { name: 'Usage, all organisations' }).waitFor();
    for (const days of [30, 7]) {
      if (days !== 30) await page.getByLabel('Period').selectOption(String(days));
      const perDay = await op('GET', `/v1/usage?${period(days)}&groupBy=day%2Corg`);
      const perOrg = await op('GET', `/v1/usage?${period(days)}&groupBy=org`);
      assert.equal(perDay.status, 200, JSON.stringify(perDay.body));
      const dayRows: Row[] = perDay.body.items;
      const orgRows: Row[] = perOrg.body.items;
      const orgs = [...new Set(dayRows.map((r) => r.org))].sort();
      assert.deepEqual(orgs, ['acme', 'globex'], `both organisations in the last ${days} days`);
      await waitFor(
        async () =>
          (await page.locator('[data-testid=usage-all-hours-chart] g[data-series] rect').count()) === orgs.length * days,
        `the ${days}-day plot`,
      );
      for (const [testid, value] of [
        ['usage-all-hours-chart', (r: Row) => r.gpuHours],
        ['usage-all-cost-chart', (r: Row) => r.cost / 100],
      ] as const) {
        const drawn = await bars(page, testid);
        assert.deepEqual([...drawn.keys()], orgs, `${testid}: one series per organisation`);
        for (const [org, rects] of drawn) {
          assert.equal(rects.length, days);
          for (const b of rects) {
            const row = dayRows.find((r) => r.org === org && r.day === b.day);
            assert.equal(b.value, row ? value(row) : 0, `${testid}: ${org} on ${b.day}`);
          }
        }
      }
      // The table: a row per organisation; the net column since acme's commitment falls in both periods.
      const table = page.getByTestId('usage-all-table');
      assert.equal(await table.locator('tbody tr').count(), orgRows.length);
      for (const r of orgRows) {
        const tr = table.locator(`tr[data-row="${r.org}"]`);
        assert.deepEqual(
          [
            await text(tr.locator('[data-col=gpuHours]')),
            await text(tr.locator('[data-col=gpuSeconds]')),
            await text(tr.locator('[data-col=segments]')),
            await text(tr.locator('[data-col=cost]')),
            await text(tr.locator('[data-col=netCost]')),
          ],
          [r.gpuHours.toFixed(4), String(r.gpuSeconds), String(r.segments), fmtEur(r.cost), fmtEur(r.netCost ?? -1)],
          r.org,
        );
      }
      const acme = orgRows.find((r) => r.org === 'acme')!;
      assert.equal(acme.cost - acme.netCost!, coveredCents(days), "acme's reserved GPUs covered its runs of the month, up to 4");
      assert.equal(orgRows.find((r) => r.org === 'globex')!.netCost, orgRows.find((r) => r.org === 'globex')!.cost);
      assert.match(
        await text(page.getByTestId('usage-all-total')),
        new RegExp(
          `${perOrg.body.total.gpuHours.toFixed(4)} GPU-hours, ${fmtEur(perOrg.body.total.cost).replace('.', '\\.')} \\(net of reserved capacity ${fmtEur(perOrg.body.total.netCost).replace('.', '\\.')}\\)`,
        ),
      );
    }
    // The CSV is the API's own answer for the period shown (7 days now).
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.equal(dl.suggestedFilename(), `usage-all-${dayOf(today - 6 * DAY)}-${dayOf(today)}.csv`);
    const path = await dl.path();
    assert.ok(path);
    const direct = await fetch(`${server.url}/v1/usage?${period(7)}&groupBy=org%2Cday&format=csv`, {
      headers: { authorization: `Bearer ${server.operatorToken}` },
    });
    assert.equal(readFileSync(path, 'utf8'), await direct.text());
  } finally {
    await closeConsole(s);
  }
});

test('a tenant has no operator-wide usage page', async () => {
  const s = await openConsole(browser, server.url, admin.token, '/usage', { width: 1400, height: 900 });
  try {
    await s.page.getByRole('heading', { name: 'Usage over time' }).waitFor();
    assert.equal(await s.page.getByRole('link', { name: 'Usage, all organisations' }).count(), 0);
  } finally {
    await closeConsole(s);
  }
});
