/**
 * The web console end to end, in real Chromium against the real server process: login, fleet
 * map, submitting and following a job, pending reasons, field validation errors, tenant isolation,
 * node drain with confirmation — with no errors in the browser console. Saves screenshots of the
 * main views to test-results/screenshots/ (GIGAFAB_UPDATE_SCREENSHOTS=1 also copies them to
 * docs/screenshots/ for the README).
 *
 * Needs `npm run build` (the server serves dist/console) and scripts/ensure-chromium.sh.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { collectErrors, httpStatusLogged, launchChromium } from '../helpers/browser.js';
import { assertConsoleBuilt, closeConsole, openConsole, shot, text, updateDocScreenshots } from '../helpers/console.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { addLabTenant, startLocalSiteServer } from '../helpers/local-site.js';
import { ensureTestImage, IMAGE_MARKER } from '../helpers/podman.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let browser: Browser;
let op: ReturnType<typeof api>;
let aliceToken: string; // admin of acme
let bobToken: string; // member of globex
let bob: ReturnType<typeof api>;

before(async () => {
  assertConsoleBuilt();
  server = await startTestServer({ timeScale: 600 });
  op = api(server.url, server.operatorToken);
  for (const [org, project, quota] of [
    ['acme', 'acme-ml', 16],
    ['globex', 'globex-sim', 64],
  ] as const) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org.toUpperCase(), kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: project })).status, 201);
    assert.equal((await op('PUT', `/v1/projects/${project}/quotas/B200`, { gpus: quota })).status, 200);
  }
  aliceToken = await tenantToken(op, 'acme', { name: 'Alice', role: 'admin' });
  bobToken = await tenantToken(op, 'globex', { name: 'Bob', role: 'member' });
  bob = api(server.url, bobToken);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  updateDocScreenshots((f) => f.endsWith('.png'));
});

/** open starts a fresh browser context at 1280×800, optionally signed in (on `base`). */
const open = (token?: string, path = '/', viewport = { width: 1280, height: 800 }, base = server.url) =>
  openConsole(browser, base, token, path, viewport);
const close = closeConsole;

describe('login', () => {
  test('a wrong token shows a plain error; the right one opens the console', async () => {
    const s = await open();
    const { page } = s;
    await page.getByLabel('API token').fill('gf_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.getByTestId('login-error');
    await error.waitFor();
    assert.match(await text(error), /not accepted/);
    await shot(page, 'login');

    await page.getByLabel('API token').fill(server.operatorToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Fleet map' }).waitFor();
    assert.match(await text(page.getByTestId('whoami')), /operator/);
    assert.equal(new URL(page.url()).pathname, '/fleet');
    await close(s, [httpStatusLogged(401)]);
  });

  test('an expired or revoked token in the session leads back to the login with a message', async () => {
    const s = await open('gf_revoked-token', '/jobs');
    const notice = s.page.getByTestId('login-notice');
    await notice.waitFor();
    assert.match(await text(notice), /session ended/i);
    await s.page.getByLabel('API token').waitFor();
    await close(s, [httpStatusLogged(401)]);
  });
});

describe('operator views', () => {
  test('the fleet map draws all 10,240 GPUs of the demo fleet in well under a frame', async () => {
    const s = await open(server.operatorToken, '/fleet');
    const { page } = s;
    const map = page.getByTestId('fleet-map');
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.dataset.gpuCount === '10240',
    );
    assert.match(await text(page.getByTestId('fleet-total')), /10,240 GPUs/);
    assert.ok(Number(await map.getAttribute('data-last-draw-ms')) >= 0);
    // Warm redraws of a full update (every GPU changes colour), as bench/console.ts measures them.
    const times = await map.evaluate(async (canvas: HTMLElement) => {
      const out: number[] = [];
      for (let i = 0; i < 15; i++) {
        canvas.dispatchEvent(new CustomEvent('fleetmap:redraw', { detail: { rotate: true, flush: true } }));
        out.push(Number(canvas.dataset.lastDrawMs));
        await new Promise((r) => requestAnimationFrame(r));
      }
      return out.sort((a, b) => a - b);
    });
    assert.ok(times[7]! < 16, `median full redraw ${times[7]} ms`);
    // The legend names every state with its count.
    for (const label of ['free', 'allocated', 'draining', 'down']) {
      assert.equal(await page.locator(`[data-legend="${label}"]`).count(), 1, label);
    }
    await shot(page, 'fleet-map');

    // Hover: scan down the first column until the pointer is over a node.
    const box = (await map.boundingBox())!;
    for (let y = 1; y < 120; y += 3) {
      await page.mouse.move(box.x + 4, box.y + y);
      if (await page.locator('.map-tooltip').isVisible()) break;
    }
    assert.match(await text(page.locator('.map-tooltip')), /muc1-b200-0001/);

    // Filters re-lay the map out with only the matching GPUs.
    await page.getByLabel('Site').selectOption('vie1');
    await page.waitForFunction(() => document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.dataset.gpuCount === '768');
    await page.getByLabel('Site').selectOption('');
    await page.getByLabel('GPU type').selectOption('RTX-PRO-6000');
    await page.waitForFunction(() => document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.dataset.gpuCount === '2048');
    await page.getByLabel('GPU type').selectOption('');
    await page.getByLabel('Colour by').selectOption('tenant');
    await page.locator('[data-legend="free"]').waitFor();
    await shot(page, 'fleet-map-tenants');
    await close(s);
  });

  test('keyboard: select a node on the map, drain it after confirming, and return it to service', async () => {
    const s = await open(server.operatorToken, '/fleet');
    const { page } = s;
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.dataset.gpuCount === '10240',
    );
    await page.getByRole('application').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    const panel = page.getByRole('region', { name: 'muc1-b200-0001' });
    await panel.waitFor();
    assert.equal(await text(panel.getByTestId('node-state')), 'up');

    await panel.getByRole('button', { name: 'Drain node…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/Reason/).fill('fan replacement');
    await shot(page, 'drain-dialog');
    await dialog.getByRole('button', { name: 'Drain', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=node-state]')?.textContent === 'draining');
    assert.match(await text(page.getByTestId('out-of-service')), /muc1-b200-0001 draining/);
    const nodes = await op('GET', '/v1/nodes?state=draining');
    assert.deepEqual(
      nodes.body.items.map((n: { id: string }) => n.id),
      ['muc1-b200-0001'],
    );

    await panel.getByRole('button', { name: 'Return to service…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Return to service', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=node-state]')?.textContent === 'up');

    // Both changes are in the audit log, with the reason.
    await page.getByRole('link', { name: 'Audit log' }).click();
    const audit = page.getByTestId('audit-table');
    await audit.waitFor();
    const logged = await text(audit);
    assert.match(logged, /node\.drain/);
    assert.match(logged, /node\.undrain/);
    assert.match(logged, /fan replacement/);
    await close(s);
  });

  test('utilisation, queue and tenants views render', async () => {
    const s = await open(server.operatorToken, '/utilisation');
    const { page } = s;
    await page.getByRole('heading', { name: /muc1 · B200/ }).waitFor();
    assert.ok((await page.locator('.uplot').count()) >= 4, 'one chart per site/GPU type plus the queue');
    await shot(page, 'utilisation');
    await page.getByRole('link', { name: 'Queue' }).click();
    await page.getByTestId('queue-total').waitFor();
    await shot(page, 'queue');
    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('heading', { name: /ACME/ }).waitFor();
    assert.ok((await page.getByRole('meter').count()) >= 2);
    await shot(page, 'tenants');
    await close(s);
  });
});

describe('tenant views', () => {
  test('submit through the form, then watch the job run and succeed in the jobs view', async () => {
    const s = await open(aliceToken, '/submit');
    const { page } = s;
    await page.getByRole('heading', { name: 'Submit a job' }).waitFor();
    await page.getByLabel('Name').fill('ui-train');
    await page.getByLabel('GPU type').selectOption('B200');
    await page.getByLabel('Nodes').fill('1');
    await page.getByLabel('GPUs per node').fill('2');
    // 3,600 simulated seconds at time scale 600: about 6 s of running.
    await page.getByLabel('Runs for (seconds)').fill('3600');
    await page.getByLabel('Labels').fill('team=vision');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/\/jobs\/\d+$/);
    const id = new URL(page.url()).pathname.split('/').pop()!;
    await page.locator('[data-testid=job-state][data-state=running]').waitFor({ timeout: 20_000 });
    assert.match(await text(page.getByTestId('placement')), /muc1/);
    await shot(page, 'job-detail');

    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    const row = page.locator(`tr[data-job-id="${id}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-state'), 'running');
    await shot(page, 'jobs');
    await page.locator(`tr[data-job-id="${id}"][data-state=succeeded]`).waitFor({ timeout: 30_000 });

    // The detail's timeline, read from the SSE stream, shows the whole life of the job.
    await row.getByRole('link', { name: id }).click();
    await page.locator('[data-testid=timeline] li[data-type=succeeded]').waitFor({ timeout: 20_000 });
    const types = await page
      .locator('[data-testid=timeline] li')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-type')));
    assert.deepEqual(types, ['queued', 'running', 'started', 'succeeded']);
    // The simulated fleet keeps no output: the logs panel says so in a plain sentence.
    const note = page.locator('[data-testid=logs-note][data-status=unavailable]');
    await note.waitFor();
    assert.equal(await text(note), 'This job ran on the simulated fleet, which produces no output.');

    // The state filter keeps only matching jobs.
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByTestId('state-filter').selectOption('succeeded');
    await page.waitForURL(/state=succeeded/);
    await page.locator(`tr[data-job-id="${id}"]`).waitFor();
    const states = await page.locator('tr[data-job-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    assert.ok(states.every((st) => st === 'succeeded'));
    // The one expected 404: logs_not_available for the simulated job.
    await close(s, [httpStatusLogged(404)]);
  });

  test('a job over quota shows why it waits, and can be cancelled after confirming', async () => {
    const over = await api(server.url, aliceToken)('POST', '/v1/jobs', {
      name: 'too-big',
      project: 'acme-ml',
      gpuType: 'B200',
      gpusPerNode: 8,
      nodes: 4,
    });
    assert.equal(over.status, 201);
    const s = await open(aliceToken, `/jobs/${over.body.id}`);
    const { page } = s;
    const why = page.getByTestId('pending-reason');
    await page.waitForFunction(() =>
      /quota_exhausted/.test(document.querySelector('[data-testid=pending-reason]')?.textContent ?? ''),
    );
    assert.match(await text(why), /quota/i);
    assert.match(await text(why), /acme-ml/);
    await shot(page, 'job-waiting');

    // Over quota, the scheduler does not rank the job: the explanation says so plainly.
    await page.getByTestId('job-explain').waitFor();
    assert.match(await text(page.getByTestId('expected-start')), /^(unknown|in \d|any moment now)/);
    assert.match(await text(page.getByTestId('logs-note')), /once the job starts/);

    await page.getByRole('button', { name: 'Cancel job…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel job', exact: true }).click();
    await page.locator('[data-testid=job-state][data-state=cancelled]').waitFor();
    await close(s);
  });

  test('API validation errors appear next to their fields', async () => {
    const s = await open(aliceToken, '/submit');
    const { page } = s;
    await page.getByLabel('Name').fill('');
    await page.getByLabel('GPUs per node').fill('64');
    await page.getByLabel('Labels').fill('Not A Key=1');
    await page.getByRole('button', { name: 'Submit job' }).click();
    const gpusError = page.getByTestId('error-gpusPerNode');
    await gpusError.waitFor();
    // The API's plain sentences (model/validation-messages), never zod's wording.
    assert.equal(await text(gpusError), 'gpusPerNode must be at most 16');
    await page.getByTestId('error-name').waitFor();
    assert.equal(await text(page.getByTestId('error-name')), 'name must not be empty');
    await page.getByTestId('error-labels').waitFor();
    assert.equal(await page.getByLabel('GPUs per node').getAttribute('aria-invalid'), 'true');
    // The error is inside the field's own box and named by its aria-describedby.
    assert.equal(await page.locator('[data-field=gpusPerNode] [data-testid=error-gpusPerNode]').count(), 1);
    assert.match((await page.getByLabel('GPUs per node').getAttribute('aria-describedby')) ?? '', /e-gpusPerNode/);
    assert.equal(new URL(page.url()).pathname, '/submit');
    await shot(page, 'submit-errors');
    await close(s, [httpStatusLogged(400)]);
  });

  test("a tenant sees only its own organisation's jobs, and no operator views", async () => {
    const theirs = await bob('POST', '/v1/jobs', { name: 'globex-secret', project: 'globex-sim', gpuType: 'B200', nodes: 1 });
    assert.equal(theirs.status, 201);
    const s = await open(aliceToken, '/jobs');
    const { page } = s;
    await page.getByTestId('jobs-table').waitFor();
    const listed = await text(page.getByTestId('jobs-table'));
    assert.doesNotMatch(listed, /globex/);
    assert.equal(await page.locator(`tr[data-job-id="${theirs.body.id}"]`).count(), 0);

    // Not even by URL: the API answers 404 and the view says so.
    await page.goto(`${server.url}/jobs/${theirs.body.id}`);
    await page.getByText(/does not exist or is not visible/).waitFor();

    // Operator-only views are not offered, and their paths lead home.
    assert.equal(await page.getByRole('link', { name: 'Fleet map' }).count(), 0);
    await page.goto(`${server.url}/fleet`);
    await page.waitForURL(/\/jobs$/);
    const denied = await api(server.url, aliceToken)('GET', '/v1/fleet/gpus');
    assert.equal(denied.status, 403);

    // Bob, in turn, sees his job and none of acme's.
    const b = await open(bobToken, '/jobs');
    await b.page.locator(`tr[data-job-id="${theirs.body.id}"]`).waitFor();
    assert.doesNotMatch(await text(b.page.getByTestId('jobs-table')), /acme/);
    await close(b);
    await close(s, [httpStatusLogged(404)]);
  });

  test('usage and quota, and the audit log of the organisation', async () => {
    const s = await open(aliceToken, '/usage');
    const { page } = s;
    const acme = page.locator('[data-project=acme-ml]');
    await acme.waitFor();
    assert.match(await text(acme), /B200/);
    await acme.getByRole('meter').waitFor();
    await shot(page, 'usage');
    await page.getByRole('link', { name: 'Audit log' }).click();
    const audit = page.getByTestId('audit-table');
    await audit.waitFor();
    const logged = await text(audit);
    assert.match(logged, /job\.submit/);
    assert.doesNotMatch(logged, /globex/);
    await shot(page, 'audit');
    await close(s);
  });

  test('the fleet map fits its column from 1280×800 to 4K, unclipped, before and after a node is selected', async () => {
    const measure = (page: import('playwright-core').Page) =>
      page.evaluate(() => {
        const canvas = document.querySelector<HTMLElement>('[data-testid=fleet-map]')!;
        const stack = canvas.parentElement!;
        const column = document.querySelector<HTMLElement>('.fleet-map')!;
        const panel = document.querySelector<HTMLElement>('.node-panel');
        const c = canvas.getBoundingClientRect();
        const s = stack.getBoundingClientRect();
        const k = column.getBoundingClientRect();
        return {
          gpus: canvas.dataset.gpuCount,
          canvas: { left: c.left, right: c.right, top: c.top, bottom: c.bottom, width: c.width },
          stackBottom: s.bottom,
          column: { right: k.right, width: k.width },
          panelLeft: panel ? panel.getBoundingClientRect().left : null,
          pageScrollsSideways: document.documentElement.scrollWidth > window.innerWidth,
        };
      });
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 1920, height: 1080 },
      { width: 2560, height: 1440 },
      { width: 3840, height: 2160 },
    ]) {
      const s = await open(server.operatorToken, '/fleet', viewport);
      const { page } = s;
      await page.waitForFunction(
        () => document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.dataset.gpuCount === '10240',
      );
      const check = async (when: string) => {
        const m = await measure(page);
        const at = `${viewport.width}×${viewport.height} ${when}`;
        assert.equal(m.gpus, '10240', `${at}: every GPU is laid out`);
        assert.equal(m.pageScrollsSideways, false, `${at}: the page does not scroll sideways`);
        assert.ok(
          m.canvas.right <= m.column.right + 0.5,
          `${at}: the map ends inside its column (${m.canvas.right} > ${m.column.right})`,
        );
        // The map is as wide as its column up to one grid cell (whole cells only): no gap beside it.
        assert.ok(m.column.width - m.canvas.width < 24, `${at}: ${m.column.width - m.canvas.width} px left unused`);
        // Nothing hangs below the box that holds the canvases (the old fixed 1008×600 canvas was cut off).
        assert.ok(m.canvas.bottom <= m.stackBottom + 0.5, `${at}: the map is not clipped at the bottom`);
        if (m.panelLeft !== null) assert.ok(m.canvas.right <= m.panelLeft, `${at}: the map stays left of the node panel`);
      };
      await check('without a selection');
      await page.getByRole('application').focus();
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('Enter');
      await page.locator('.node-panel').waitFor();
      // The panel narrows the column; the map relayouts on the next resize observation. Give it that
      // moment (check() below fails if it never fits).
      await page
        .waitForFunction(
          () => {
            const c = document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.getBoundingClientRect();
            const k = document.querySelector<HTMLElement>('.fleet-map')?.getBoundingClientRect();
            return c !== undefined && k !== undefined && c.right <= k.right + 0.5;
          },
          null,
          { timeout: 5000 },
        )
        .catch(() => {});
      await check('with a node selected');
      await close(s);
    }
  });

  test('works at 4K', async () => {
    const s = await open(server.operatorToken, '/fleet', { width: 3840, height: 2160 });
    await s.page.waitForFunction(
      () => document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.dataset.gpuCount === '10240',
    );
    const box = (await s.page.getByTestId('fleet-map').boundingBox())!;
    assert.ok(box.width > 2000, `the map uses the screen (${box.width} px wide)`);
    await close(s);
  });
});

test('a gang job behind a long-running one: position, expected start, blocker, suggestion and priority', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-console-explain-'));
  const fleet = writeSmallFleet(dir, { h200: true });
  // Explanations on every cycle, so the one after the submission explains the new job.
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'explainIntervalSeconds: 0\n');
  const small = await startTestServer({ fleetPath: fleet, extraArgs: ['--policy', policy] });
  try {
    const sop = api(small.url, small.operatorToken);
    const tokens: Record<string, string> = {};
    for (const org of ['acme', 'globex']) {
      await sop('POST', '/v1/orgs', { id: org, name: org.toUpperCase(), kind: 'start-up' });
      await sop('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` });
      for (const t of ['B200', 'H200']) await sop('PUT', `/v1/projects/${org}-ml/quotas/${t}`, { gpus: 32 });
      tokens[org] = await tenantToken(sop, org, { name: org, role: 'member' });
    }
    const b200 = (project: string, name: string, nodes: number, seconds: number) => ({
      name,
      project,
      gpuType: 'B200',
      gpusPerNode: 8,
      nodes,
      simulation: { durationSeconds: seconds },
    });
    const hog = await api(small.url, tokens.globex)('POST', '/v1/jobs', b200('globex-ml', 'hog', 2, 600_000));
    await waitFor(async () => (await sop('GET', `/v1/jobs/${hog.body.id}`)).body.state === 'running', 'hog running');
    const gang = await api(small.url, tokens.acme)('POST', '/v1/jobs', b200('acme-ml', 'gang-4x8', 4, 3600));
    assert.equal(gang.status, 201);

    const s = await open(tokens.acme, `/jobs/${gang.body.id}`, undefined, small.url);
    const { page } = s;
    const suggestion = page.getByTestId('counterfactual');
    await suggestion.waitFor({ timeout: 20_000 });
    assert.match(await text(suggestion), /would start now on H200/);
    assert.equal(await text(page.getByTestId('queue-position')), '#1');
    // Expected starts are wall-clock time: at --time-scale 600 the hog's 600,000 s limit ends in minutes.
    assert.match(await text(page.getByTestId('expected-start')), /^in \d+(d|h|m)/);
    const blocked = page.getByTestId('blocked-by');
    assert.equal(await text(blocked), `job ${hog.body.id}`);
    assert.equal(await blocked.getByRole('link').getAttribute('href'), `/jobs/${hog.body.id}`);
    const factors = page.getByTestId('priority-factors');
    assert.match(await text(factors), /^Priority \d+\.\d/);
    for (const [f, label] of [
      ['fairShare', 'Fair share'],
      ['age', 'Age'],
      ['priorityClass', 'Priority class'],
      ['size', 'Size'],
    ] as const) {
      assert.match(await text(factors.locator(`tr[data-factor=${f}]`)), new RegExp(`^${label}\\d\\.\\d{3}$`), f);
    }
    // Which cycle the answer describes (every cycle explains here, so never a newer reason).
    const cycleLine = await text(page.getByTestId('explain-cycle'));
    assert.match(
      cycleLine,
      /^Explained as of scheduling cycle \d+( of leader term \d+)? \(\d\d:\d\d:\d\d UTC, (just now|\d+s ago)\)\.$/,
    );
    assert.match(await text(page.getByTestId('reason-cycle')), /^, from scheduling cycle \d+$/);
    await page.getByTestId('job-explain').scrollIntoViewIfNeeded();
    await shot(page, 'job-explain');
    await close(s);

    // The queue view (operator) shows the place and expected start of the waiting job.
    const q = await open(small.operatorToken, '/queue', undefined, small.url);
    const row = q.page.locator('tr[data-reason=insufficient_capacity]');
    await row.waitFor();
    await row.locator('summary').click();
    const eta = row.locator(`li[data-job-id="${gang.body.id}"] [data-testid=queue-eta]`);
    await eta.waitFor({ timeout: 15_000 });
    assert.match(await text(eta), /^#1 · starts in \d+(d|h|m)/);
    assert.match(await text(row.locator('td').nth(2)), new RegExp(`job ${gang.body.id} #1 · starts in`));
    await shot(q.page, 'queue-explain');
    await close(q);
  } finally {
    await small.stop();
  }
});

test("a job on a local-driver site: the detail follows the real command's output live", async () => {
  const local = await startLocalSiteServer('gigafab-console-local-');
  try {
    const lop = api(local.url, local.operatorToken);
    const token = await addLabTenant(lop, { name: 'R', role: 'member' });
    const j = await api(local.url, token)('POST', '/v1/jobs', {
      name: 'train-steps',
      project: 'lab-ml',
      gpuType: 'L4',
      gpusPerNode: 2,
      command: [
        'sh',
        '-c',
        'for i in 1 2 3 4; do echo "step $i/4 loss=0.$((9 - i)) gpus=$CUDA_VISIBLE_DEVICES"; sleep 1; done; echo done',
      ],
    });
    assert.equal(j.status, 201);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((t) => sessionStorage.setItem('gigafab.token', t), token);
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${local.url}/jobs/${j.body.id}`);
    const logs = page.getByTestId('job-logs');
    // The first lines arrive over the follow stream while the command still runs.
    await page.waitForFunction(
      () => /step 1\/4/.test(document.querySelector('[data-testid=job-logs]')?.textContent ?? ''),
      null,
      {
        timeout: 20_000,
      },
    );
    assert.equal(await logs.getAttribute('data-status'), 'following');
    await page.locator('[data-testid=job-state][data-state=succeeded]').waitFor({ timeout: 20_000 });
    await page.locator('[data-testid=job-logs][data-status=complete]').waitFor({ timeout: 10_000 });
    const out = await text(logs);
    assert.match(out, /step 1\/4 loss=0\.8 gpus=\d,\d\nstep 2\/4/);
    assert.match(out, /step 4\/4 loss=0\.5 gpus=\d,\d\ndone\n$/);
    assert.equal(out.match(/step 1\//g)?.length, 1, 'no line twice');
    await logs.scrollIntoViewIfNeeded();
    await shot(page, 'job-logs');
    await context.close();
    assert.deepEqual(errors.unexpected(), [], 'errors in the browser console');
  } finally {
    await local.stop();
  }
});

test('a job in a container image: the detail names the image, the timeline the container, the logs what only the image has', async () => {
  const image = ensureTestImage();
  // Stand-in GPUs have no device nodes: they reach the container as variables only.
  const local = await startLocalSiteServer('gigafab-console-image-', 'gpuPassthrough: none');
  try {
    const lop = api(local.url, local.operatorToken);
    const token = await addLabTenant(lop, { name: 'I', role: 'member' });
    const j = await api(local.url, token)('POST', '/v1/jobs', {
      name: 'in-image',
      project: 'lab-ml',
      gpuType: 'L4',
      gpusPerNode: 1,
      image,
      command: ['cat', '/etc/gigafab-image'],
    });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((t) => sessionStorage.setItem('gigafab.token', t), token);
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${local.url}/jobs/${j.body.id}`);
    await page.locator('[data-testid=job-state][data-state=succeeded]').waitFor({ timeout: 30_000 });
    assert.ok((await text(page.getByTestId('job-image'))).includes(image), 'the image is named');
    await page.locator('[data-testid=job-logs][data-status=complete]').waitFor({ timeout: 10_000 });
    assert.match(await text(page.getByTestId('job-logs')), new RegExp(IMAGE_MARKER));
    assert.match(await text(page.locator('[data-testid=timeline] li[data-type=started]')), /in container gigafab-/);
    await context.close();
    assert.deepEqual(errors.unexpected(), [], 'errors in the browser console');
  } finally {
    await local.stop();
  }
});

test('screenshots of a busy fleet (server with --demo-load)', async () => {
  const busy = await startTestServer({ timeScale: 60, extraArgs: ['--demo-load'] });
  try {
    const busyOp = api(busy.url, busy.operatorToken);
    await waitFor(async () => (await busyOp('GET', '/v1/fleet')).body.allocatedGpus > 2500, 'a busy fleet', 40_000);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((t) => sessionStorage.setItem('gigafab.token', t), busy.operatorToken);
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${busy.url}/fleet`);
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.dataset.gpuCount === '10240',
    );
    await shot(page, 'busy-fleet-map');
    await page.getByLabel('Colour by').selectOption('tenant');
    await page.locator('[data-legend="bund-ki"]').waitFor();
    await shot(page, 'busy-fleet-map-tenants');
    for (const [link, name] of [
      ['Utilisation', 'busy-utilisation'],
      ['Queue', 'busy-queue'],
      ['Jobs', 'busy-jobs'],
    ] as const) {
      await page.getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { name: link, exact: true }).waitFor();
      await page.waitForTimeout(1000); // let the view's first poll land
      await shot(page, name);
    }
    await context.close();
    assert.deepEqual(errors.unexpected(), [], 'errors in the browser console');
  } finally {
    await busy.stop();
  }
});

test('test server is still healthy', async () => {
  const r = await waitFor(async () => (await fetch(`${server.url}/healthz`)).ok, 'healthz');
  assert.ok(r);
});
