/**
 * The console's "Sessions" page end to end, in real Chromium against the real server (local driver,
 * workload proxy): a member sees a running http session with its time left, Open opens it in a new tab
 * on the session's own host (through a one-time link), Stop asks first and ends it; a viewer sees the
 * list without the buttons.
 *
 * Needs `npm run build` (the server serves dist/console) and scripts/ensure-chromium.sh.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type SessionWorld, startSessionWorld } from '../api/sessions/fixture.js';
import { launchChromium } from '../helpers/browser.js';
import { assertConsoleBuilt, closeConsole, openConsole, shot, text } from '../helpers/console.js';
import { api, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let w: SessionWorld;
let browser: Browser;
let id = '';

before(async () => {
  assertConsoleBuilt();
  w = await startSessionWorld('gigafab-console-sessions-');
  browser = await launchChromium();
  const serve =
    'mkdir -p www; echo "console session $GIGAFAB_JOB_ID" > www/index.html; exec python3 -m http.server "$GIGAFAB_PORT" --bind 127.0.0.1 --directory www';
  const r = await api(w.server.url, w.member)('POST', '/v1/jobs', {
    name: 'web-app',
    project: 'lab-ml',
    gpuType: 'L4',
    kind: 'session',
    session: { preset: 'http', idleTimeoutMinutes: 60 },
    command: ['/bin/sh', '-c', serve],
    maxRuntimeSeconds: 3600,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  id = r.body.id;
  await waitFor(
    async () => (await api(w.server.url, w.member)('GET', '/v1/sessions')).body.items.find((s: { ready: boolean }) => s.ready),
    'the session to run',
  );
});

after(async () => {
  await browser?.close();
  await w?.server.stop();
});

test('a member opens a session in a new tab on its own host, then stops it', async () => {
  const s = await openConsole(browser, w.server.url, w.member, '/sessions', { width: 1280, height: 900 });
  const { page, context } = s;
  const row = page.locator(`tr[data-session="${id}"]`);
  await row.waitFor();
  assert.match(await text(row), /web-app/);
  assert.match(await text(row.getByTestId('time-left')), /^(59|60)m|^1h/);
  assert.equal(await text(row.getByTestId('kept-in')), 'scratch (gone with it)');
  await shot(page, 'sessions');
  const [tab] = await Promise.all([context.waitForEvent('page'), row.getByRole('button', { name: 'Open' }).click()]);
  await tab.waitForURL(new RegExp(`^http://${id}\\.localhost:${w.proxyPort()}/$`));
  assert.equal((await tab.textContent('body'))?.trim(), `console session ${id}`);
  await tab.close();
  await row.getByRole('button', { name: 'Stop…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Stop session' }).click();
  await waitFor(async () => (await api(w.server.url, w.member)('GET', `/v1/jobs/${id}`)).body.state === 'cancelled', 'the stop');
  await page.getByText('No sessions.').waitFor({ timeout: 15_000 });
  await closeConsole(s);
});

test('a viewer sees sessions but cannot open or stop them', async () => {
  const viewer = await tenantToken(api(w.server.url, w.server.operatorToken), 'lab', { name: 'vic', role: 'viewer' });
  const r = await api(w.server.url, viewer)('POST', '/v1/sessions/1/open');
  assert.equal(r.status, 403);
  const s = await openConsole(browser, w.server.url, viewer, '/sessions', { width: 1280, height: 900 });
  await s.page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();
  assert.equal(await s.page.getByRole('button', { name: 'Open' }).count(), 0);
  await closeConsole(s);
});
