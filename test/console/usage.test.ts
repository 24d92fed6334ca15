/**
 * The console's usage page and the budgets page's spend history, in real Chromium against the real
 * server: simulated jobs ran today (time scale 600) and earlier days' usage is in the store as the
 * server meters it. An org admin sees GPU-hours and cost per UTC day stacked per project over 7, 30
 * and 90 days — the SVG has a series per project and a bar per day, each bar's figure is the one
 * GET /v1/usage answers, the table's numbers are the API's — and downloads the API's own CSV; the
 * quota bars stay. Another organisation's user sees only its own usage (the API refuses acme's);
 * an operator picks an organisation. The budgets page plots the month's spend per day.
 *
 * Needs `npm run build` (the server serves dist/console) and scripts/ensure-chromium.sh.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { seedPrices, seedUsage, withStore } from '../helpers/billing-history.js';
import { launchChromium } from '../helpers/browser.js';
import {
  assertConsoleBuilt,
  chartBars as bars,
  closeConsole,
  openConsole,
  shot,
  text,
  updateDocScreenshots,
} from '../helpers/console.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

const NEW_SHOTS = ['usage-history.png', 'budgets-spend.png'];
const DAY = 86_400_000;
const H = 3_600_000;

let server: TestServer;
let browser: Browser;
let op: ReturnType<typeof api>;
let admin: { token: string; userId: string };
let globex: { token: string; userId: string };

const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);
/** The query the page asks for `n` days: today and the n-1 UTC days before it, grouped by day and project. */
const query = (n: number, extra = '') =>
  `/v1/usage?from=${dayOf(today - (n - 1) * DAY)}&to=${dayOf(today + DAY)}&groupBy=day%2Cproject${extra}`;
const eur = new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmtEur = (cents: number) => `EUR ${eur.format(cents / 100)}`;

interface Row {
  day: string;
  project: string;
  gpuHours: number;
  gpuSeconds: number;
  segments: number;
  cost: number;
  itKwh: number;
}

before(async () => {
  assertConsoleBuilt();
  server = await startTestServer({ timeScale: 600 });
  op = api(server.url, server.operatorToken);
  for (const [org, projects] of [
    ['acme', ['acme-ml', 'acme-cv']],
    ['globex', ['globex-sim']],
  ] as const) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org.toUpperCase(), kind: 'start-up' })).status, 201);
    for (const p of projects) {
      assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: p })).status, 201);
      assert.equal((await op('PUT', `/v1/projects/${p}/quotas/B200`, { gpus: 16 })).status, 200);
    }
  }
  admin = await tenantUser(op, 'acme', { name: 'Alice', role: 'admin' });
  globex = await tenantUser(op, 'globex', { name: 'Gus', role: 'admin' });
  // Earlier days, written the way metering writes them (a server cannot run days back in time), at
  // EUR 36.00 per B200-hour (one cent per GPU-second) in effect since 120 days ago.
  await withStore(server.dataDir, async (s) => {
    await seedPrices(s, today - 120 * DAY, [{ gpuType: 'B200', class: 'on-demand', cents: 3600 }]);
    await seedUsage(s, [
      { org: 'acme', project: 'acme-ml', job: 900_001, start: today - 3 * DAY + 10 * H, seconds: 3600, gpus: 8 },
      // Measured: 4 GPUs at 400 W for 2 h, 3.2 kWh (the model: 8).
      {
        org: 'acme',
        project: 'acme-cv',
        job: 900_002,
        start: today - 3 * DAY + 12 * H,
        seconds: 7200,
        gpus: 4,
        measuredJoules: 11_520_000,
      },
      { org: 'acme', project: 'acme-ml', job: 900_003, start: today - 5 * DAY + 9 * H, seconds: 1800, gpus: 2 },
      { org: 'acme', project: 'acme-ml', job: 900_004, start: today - 20 * DAY + 8 * H, seconds: 3600, gpus: 2 },
      { org: 'acme', project: 'acme-cv', job: 900_005, start: today - 60 * DAY + 8 * H, seconds: 3600, gpus: 1 },
      { org: 'globex', project: 'globex-sim', job: 900_006, start: today - 1 * DAY + 8 * H, seconds: 3600, gpus: 8 },
    ]);
  });
  // Today: simulated jobs that run (3,600 and 1,800 simulated seconds at time scale 600: 6 s and 3 s).
  const acme = api(server.url, admin.token);
  const ids: string[] = [];
  for (const [project, gpus, seconds] of [
    ['acme-ml', 8, 3600],
    ['acme-cv', 4, 1800],
  ] as const) {
    const job = { name: `run-${project}`, project, gpuType: 'B200', gpusPerNode: gpus, simulation: { durationSeconds: seconds } };
    const r = await acme('POST', '/v1/jobs', job);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ids.push(r.body.id);
  }
  await waitFor(
    async () =>
      (await Promise.all(ids.map(async (id) => (await acme('GET', `/v1/jobs/${id}`)).body.state))).every(
        (s) => s === 'succeeded',
      ),
    "today's jobs to succeed",
    30_000,
  );
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  updateDocScreenshots((f) => NEW_SHOTS.includes(f));
});

const open = (token: string, path: string) => openConsole(browser, server.url, token, path, { width: 1400, height: 900 });

/** assertChartIs: one series per project, one bar per day of the period, each bar the API's figure. */
async function assertChartIs(page: Page, testid: string, rows: Row[], days: number, value: (r: Row) => number) {
  const drawn = await bars(page, testid);
  const projects = [...new Set(rows.map((r) => r.project))].sort();
  assert.deepEqual([...drawn.keys()], projects, `${testid}: one series per project`);
  for (const [project, rects] of drawn) {
    assert.equal(rects.length, days, `${testid}: ${project} has a bar per day`);
    assert.deepEqual(
      rects.map((b) => b.day),
      Array.from({ length: days }, (_, i) => dayOf(today - (days - 1 - i) * DAY)),
    );
    for (const b of rects) {
      const row = rows.find((r) => r.project === project && r.day === b.day);
      assert.equal(b.value, row ? value(row) : 0, `${testid}: ${project} on ${b.day}`);
    }
  }
}

async function assertTableIs(page: Page, rows: Row[]) {
  const table = page.getByTestId('usage-table');
  assert.equal(await table.locator('tbody tr').count(), rows.length);
  for (const r of rows) {
    const tr = table.locator(`tr[data-row="${r.day}/${r.project}"]`);
    assert.deepEqual(
      [
        await text(tr.locator('[data-col=gpuHours]')),
        await text(tr.locator('[data-col=gpuSeconds]')),
        await text(tr.locator('[data-col=segments]')),
        await text(tr.locator('[data-col=cost]')),
        await text(tr.locator('[data-col=itKwh]')),
      ],
      [r.gpuHours.toFixed(4), String(r.gpuSeconds), String(r.segments), fmtEur(r.cost), r.itKwh.toFixed(3)],
      `${r.day} ${r.project}`,
    );
  }
}

test("an org admin sees GPU-hours and cost per day per project over 7, 30 and 90 days, the API's figures in plot and table, and the API's CSV", async () => {
  const acme = api(server.url, admin.token);
  const s = await open(admin.token, '/usage');
  const { page } = s;
  await page.getByRole('heading', { name: 'Usage over time' }).waitFor();
  for (const days of [30, 7, 90]) {
    if (days !== 30) await page.getByLabel('Period').selectOption(String(days));
    const report = await acme('GET', query(days));
    assert.equal(report.status, 200, JSON.stringify(report.body));
    const rows: Row[] = report.body.items;
    assert.ok(rows.length >= (days === 7 ? 4 : days === 30 ? 5 : 6), `usage in the last ${days} days: ${JSON.stringify(rows)}`);
    await waitFor(
      async () => (await page.locator('[data-testid=usage-hours-chart] g[data-series] rect').count()) === 2 * days,
      `the ${days}-day plot`,
    );
    await assertChartIs(page, 'usage-hours-chart', rows, days, (r) => r.gpuHours);
    await assertChartIs(page, 'usage-cost-chart', rows, days, (r) => r.cost / 100);
    await assertChartIs(page, 'usage-kwh-chart', rows, days, (r) => r.itKwh);
    await assertTableIs(page, rows);
    assert.match(
      await text(page.getByTestId('usage-total')),
      new RegExp(
        `${report.body.total.gpuHours.toFixed(4)} GPU-hours, ${fmtEur(report.body.total.cost).replace('.', '\\.')}, ${report.body.total.itKwh.toFixed(3)} kWh at the GPUs`,
      ),
    );
    if (days === 30) await shot(page, 'usage-history', true);
  }
  // Today's simulated runs are there, priced: 8 GPUs for about 6 s at one cent per GPU-second.
  const todays = (await acme('GET', query(1))).body.items as Row[];
  assert.deepEqual(todays.map((r) => r.project).sort(), ['acme-cv', 'acme-ml']);
  assert.ok(
    todays.every((r) => r.gpuSeconds > 0 && r.cost > 0 && r.itKwh > 0),
    JSON.stringify(todays),
  );
  // The measured day plots its measurement, not the model's 8 kWh.
  const measured = ((await acme('GET', query(7))).body.items as (Row & { measuredKwh: number })[]).find(
    (r) => r.project === 'acme-cv' && r.day === dayOf(today - 3 * DAY),
  );
  assert.deepEqual([measured?.itKwh, measured?.measuredKwh], [3.2, 3.2]);

  // The CSV is the API's own answer for the period shown (90 days now).
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  assert.equal(dl.suggestedFilename(), `usage-acme-${dayOf(today - 89 * DAY)}-${dayOf(today)}.csv`);
  const path = await dl.path();
  assert.ok(path);
  const csv = readFileSync(path, 'utf8');
  const direct = await fetch(`${server.url}${query(90)}&format=csv`, { headers: { authorization: `Bearer ${admin.token}` } });
  assert.equal(direct.headers.get('content-type')?.split(';')[0], 'text/csv');
  assert.equal(csv, await direct.text());
  assert.match(csv.split('\n')[0] ?? '', /^day,project,gpuSeconds,gpuHours,segments,openSegments,cost,unpricedGpuSeconds/);

  // The quota bars stay, below.
  await page.locator('section[data-project=acme-ml]').getByRole('meter').waitFor();
  await closeConsole(s);
});

test("another organisation's user sees its own usage only, and the API refuses it acme's", async () => {
  const s = await open(globex.token, '/usage');
  const { page } = s;
  await page.locator('[data-testid=usage-hours-chart] g[data-series]').first().waitFor();
  assert.deepEqual([...(await bars(page, 'usage-hours-chart')).keys()], ['globex-sim']);
  const shown = await text(page.locator('main'));
  assert.doesNotMatch(shown, /acme/);
  const theirs = await api(server.url, globex.token)('GET', query(30, '&org=acme'));
  assert.equal(theirs.status, 404);
  assert.equal(theirs.body.code, 'org_not_found');
  await closeConsole(s);
});

test('an operator picks an organisation and sees its usage', async () => {
  const s = await open(server.operatorToken, '/usage');
  const { page } = s;
  await page.getByLabel('Organisation').selectOption('globex');
  await waitFor(
    async () => [...(await bars(page, 'usage-hours-chart')).keys()].join() === 'globex-sim',
    "globex's usage in the operator's plot",
  );
  const rows = (await op('GET', query(30, '&org=globex'))).body.items as Row[];
  await assertTableIs(page, rows);
  await page.getByLabel('Organisation').selectOption('acme');
  await waitFor(
    async () => [...(await bars(page, 'usage-hours-chart')).keys()].join() === 'acme-cv,acme-ml',
    "acme's usage in the operator's plot",
  );
  await closeConsole(s);
});

test("the budgets page plots the month's spend per day, per project, as GET /v1/usage answers it", async () => {
  const acme = api(server.url, admin.token);
  assert.equal((await acme('PUT', '/v1/orgs/acme/budget', { capCents: 500_000, alertThresholds: [80] })).status, 200);
  const s = await open(admin.token, '/budgets');
  const { page } = s;
  const budget = (await acme('GET', '/v1/orgs/acme/budget')).body;
  const month: string = budget.month;
  const [y, m] = month.split('-').map(Number) as [number, number];
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const next = new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 10);
  const report = (await acme('GET', `/v1/usage?from=${month}-01&to=${next}&groupBy=day%2Cproject`)).body;
  await page.locator('[data-testid=spend-chart] g[data-series]').first().waitFor();
  const drawn = await bars(page, 'spend-chart');
  assert.deepEqual([...drawn.keys()], [...new Set((report.items as Row[]).map((r) => r.project))].sort());
  for (const [project, rects] of drawn) {
    assert.equal(rects.length, days, `a bar per day of ${month}`);
    assert.equal(rects[0]?.day, `${month}-01`);
    for (const b of rects) {
      const row = (report.items as Row[]).find((r) => r.project === project && r.day === b.day);
      assert.equal(b.value, row ? row.cost / 100 : 0, `${project} on ${b.day}`);
    }
  }
  assert.match(
    await text(page.getByTestId('spend-total')),
    new RegExp(`^${fmtEur(report.total.cost).replace('.', '\\.')} metered`),
  );
  // The month's spend the budget counts is the same figure.
  assert.equal(budget.spentCents, report.total.cost);
  await page.getByTestId('spend-chart').scrollIntoViewIfNeeded();
  await shot(page, 'budgets-spend', true);
  await closeConsole(s);
});
