/**
 * The console's budgets page and the submit form's estimate, in real Chromium against the real
 * server: an org admin sees the organisation's and projects' budgets (cap, spent, committed,
 * remaining, policy, thresholds, webhook set or not, spend against cap) and the alerts they raised,
 * sets a project budget from the page (read back through the API), and sees the API's sentence when
 * a project's cap would pass the organisation's; a member sees the budgets and no form; an operator
 * picks an organisation. The submit form shows the estimate and what the budget would do before
 * submission, and a refusal for budget with the API's sentence.
 *
 * Needs `npm run build` (the server serves dist/console) and scripts/ensure-chromium.sh.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { httpStatusLogged, launchChromium } from '../helpers/browser.js';
import { assertConsoleBuilt, closeConsole, openConsole, shot, text } from '../helpers/console.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

let server: TestServer;
let browser: Browser;
let op: ReturnType<typeof api>;
let admin: { token: string; userId: string };
let member: { token: string; userId: string };

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
  // EUR 36.00 per B200-hour on demand: one cent per GPU-second.
  const prices = { granularity: 'second', prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 3600 }] };
  assert.equal((await op('POST', '/v1/price-versions', prices)).status, 201);
  admin = await tenantUser(op, 'acme', { name: 'Alice', role: 'admin' });
  member = await tenantUser(op, 'acme', { name: 'Mo', role: 'member' });
  const acme = api(server.url, admin.token);
  assert.equal((await acme('PUT', '/v1/orgs/acme/budget', { capCents: 200_000, alertThresholds: [10] })).status, 200);
  assert.equal((await op('PUT', '/v1/orgs/globex/budget', { capCents: 7_500, policy: 'wait' })).status, 200);
  // 32 GPUs over a 16-GPU quota: it stays queued, EUR 640.00 committed under acme's EUR 2000.00, past
  // its 10 % threshold, so the leader records an alert.
  const job = { name: 'big', project: 'acme-cv', gpuType: 'B200', nodes: 4, gpusPerNode: 8, maxRuntimeSeconds: 2000 };
  assert.equal((await acme('POST', '/v1/jobs', job)).status, 201);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const open = (token: string, path: string) => openConsole(browser, server.url, token, path, { width: 1400, height: 900 });

test("an org admin sees the budgets and their alerts, sets a project's budget, and reads the API's sentence when it is refused", async () => {
  const s = await open(admin.token, '/budgets');
  const { page } = s;
  await page.getByRole('heading', { name: 'Budgets', exact: true }).waitFor();
  const orgRow = page.locator('tr[data-budget=org]');
  await orgRow.waitFor();
  const orgText = await text(orgRow);
  assert.match(orgText, /organisation acme.*EUR 2,000\.00.*refuse.*10%.*not set/);
  assert.match(await text(orgRow.getByTestId('remaining')), /^EUR [0-9,.]+$/);
  assert.match(
    (await orgRow.getByTestId('spend-bar').locator('svg').getAttribute('aria-label')) ?? '',
    /^EUR [0-9,.]+ spent and EUR [0-9,.]+ committed of EUR 2,000\.00$/,
  );
  assert.match(await text(page.getByTestId('without-budget')), /acme-ml/);

  // A project budget from the page: through PUT /v1/projects/{project}/budget, read back through the API.
  await page.getByLabel('Budget of').selectOption('acme-ml');
  await page.getByLabel('Cap per month (EUR)').fill('12.5');
  await page.getByLabel('At the cap').selectOption('wait');
  await page.getByLabel('Alert thresholds (% of cap)').fill('50, 100');
  await page.getByRole('button', { name: 'Set budget' }).click();
  await page.getByTestId('budget-set').waitFor();
  assert.equal(await text(page.getByTestId('budget-set')), 'The budget of project acme-ml is EUR 12.50 a month, policy wait.');
  const row = page.locator('tr[data-budget=acme-ml]');
  await row.waitFor();
  assert.match(await text(row), /project acme-ml.*EUR 12\.50.*wait.*50%, 100%.*not set/);
  const stored = await api(server.url, admin.token)('GET', '/v1/projects/acme-ml/budget');
  assert.deepEqual(
    [stored.body.capCents, stored.body.policy, stored.body.alertThresholds],
    [1250, 'wait', [50, 100]],
    JSON.stringify(stored.body),
  );

  // Above the organisation's cap: the API's 422 sentence, nothing changed.
  await page.getByLabel('Budget of').selectOption('acme-cv');
  await page.getByLabel('Cap per month (EUR)').fill('5000');
  await page.getByRole('button', { name: 'Set budget' }).click();
  const err = page.locator('#budget-error');
  await err.waitFor();
  assert.equal(
    await text(err),
    "a budget of EUR 5000.00 for project acme-cv exceeds organisation acme's cap of EUR 2000.00; ask for at most that, or raise the organisation's budget first",
  );
  assert.equal((await api(server.url, admin.token)('GET', '/v1/projects/acme-cv/budget')).status, 404);

  // The alert the leader recorded for the organisation's 10 % threshold (checked every 10 s).
  const alert = page.locator('[data-testid=budget-alerts] tr[data-alert]').first();
  await alert.waitFor({ timeout: 30_000 });
  assert.match(await text(alert), /organisation acme.*10%.*of EUR 2,000\.00.*no webhook/);
  await shot(page, 'budgets', true);
  await closeConsole(s, [httpStatusLogged(422)]);
});

test('a member sees the budgets but no form to change them', async () => {
  const s = await open(member.token, '/budgets');
  const { page } = s;
  await page.locator('tr[data-budget=org]').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Set budget' }).count(), 0);
  await closeConsole(s);
});

test("an operator picks an organisation and sees what the API shows it: that organisation's budgets", async () => {
  const s = await open(server.operatorToken, '/budgets');
  const { page } = s;
  await page.getByLabel('Organisation').selectOption('globex');
  const row = page.locator('tr[data-budget=org]');
  await waitFor(async () => /organisation globex/.test(await text(row)), 'the globex budget');
  assert.match(await text(row), /EUR 75\.00.*wait/);
  assert.equal(await page.locator('tr[data-budget=acme-ml]').count(), 0);
  await closeConsole(s);
});

test('the submit form shows the estimate and the budget outcome before submission, and a refusal for budget with the sentence', async () => {
  const acme = api(server.url, admin.token);
  assert.equal((await acme('PUT', '/v1/projects/acme-ml/budget', { capCents: 100, policy: 'refuse' })).status, 200);
  const s = await open(admin.token, '/submit');
  const { page } = s;
  await page.getByRole('heading', { name: 'Submit a job' }).waitFor();
  await page.getByLabel('Name').fill('too-dear');
  await page.getByLabel('Project').selectOption('acme-ml');
  await page.getByLabel('GPU type').selectOption('B200');
  await page.getByLabel('GPUs per node').fill('8');
  await page.getByLabel('Wall-clock limit (seconds)').fill('7200');
  const estimate = page.locator('[data-testid=estimate][data-blocked=true]');
  await waitFor(async () => /EUR 576\.00/.test(await text(page.getByTestId('estimate'))), 'the estimate for 8 GPUs × 2h');
  await estimate.waitFor();
  assert.match(
    await text(estimate),
    /Estimate: EUR 576\.00 for 8 B200 GPUs \(on-demand\) × 2h 0m at EUR 36\.00 per GPU-hour \(price version 1, billed per second\)/,
  );
  assert.match(
    await text(estimate),
    /Project acme-ml's budget has EUR 1\.00 left of EUR 1\.00 for \d{4}-\d{2}: the job would be refused \(policy refuse\)\./,
  );
  await shot(page, 'submit-estimate');
  await page.getByRole('button', { name: 'Submit job' }).click();
  const refused = page.getByTestId('budget-refused');
  await refused.waitFor();
  assert.match(
    await text(refused),
    /^Not submitted: over budget\. the job could cost EUR 576\.00, but project acme-ml has EUR 1\.00 left of its EUR 1\.00 budget/,
  );
  assert.equal(new URL(page.url()).pathname, '/submit');

  // One GPU for a minute fits: the verdict says so.
  await page.getByLabel('GPUs per node').fill('1');
  await page.getByLabel('Wall-clock limit (seconds)').fill('60');
  await waitFor(async () => /EUR 0\.60/.test(await text(page.getByTestId('estimate'))), 'the estimate for 1 GPU × 1 min');
  assert.match(
    await text(page.getByTestId('estimate')),
    /Project acme-ml's budget has EUR 1\.00 left of EUR 1\.00 for .*: the job fits\./,
  );
  await closeConsole(s, [httpStatusLogged(422)]);
});
