/**
 * The console's "API tokens" page end to end, in real Chromium against the real server: an admin
 * sees the organisation's tokens (metadata only) with expiry and last use, issues one for itself
 * (shown once), revokes a member's token and disables a user behind confirmations; a member sees
 * only its own tokens and no user controls.
 *
 * Needs `npm run build` (the server serves dist/console) and scripts/ensure-chromium.sh.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { assertConsoleBuilt, closeConsole, openConsole, shot, text } from '../helpers/console.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

let server: TestServer;
let browser: Browser;
let admin: { token: string; userId: string };
let member: { token: string; userId: string };
let leaver: { token: string; userId: string };

before(async () => {
  assertConsoleBuilt();
  server = await startTestServer();
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'ACME', kind: 'enterprise' })).status, 201);
  admin = await tenantUser(op, 'acme', { name: 'Alice', role: 'admin' });
  member = await tenantUser(op, 'acme', { name: 'Mo', role: 'member' });
  leaver = await tenantUser(op, 'acme', { name: 'Lee', role: 'member' });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const open = (token: string) => openConsole(browser, server.url, token, '/tokens', { width: 1280, height: 1000 });
const status = async (token: string) => (await api(server.url, token)('GET', '/v1/whoami')).status;

test("an admin sees the organisation's tokens, issues one shown once, revokes a member's and disables a user", async () => {
  const memberTokenId = (await api(server.url, admin.token)('GET', `/v1/tokens?user=${member.userId}`)).body.items[0].id;
  const s = await open(admin.token);
  const { page } = s;
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();
  const row = page.locator(`[data-token="${memberTokenId}"]`);
  await row.waitFor();
  assert.match(await text(row), new RegExp(`${member.userId}.*active`));
  assert.ok(!(await page.content()).includes(member.token), 'no token in the page');

  await page.getByLabel('Name (what it is for)').fill('notebook');
  await page.getByRole('button', { name: 'Issue token' }).click();
  const issued = page.getByTestId('token-issued');
  await issued.waitFor();
  const token = /gf_[A-Za-z0-9_-]+/.exec(await text(issued))?.[0];
  assert.ok(token, 'the new token is shown once');
  assert.equal(await status(token), 200);
  await page.getByRole('button', { name: 'Done' }).click();
  assert.ok(!(await page.content()).includes(token), 'gone from the page once dismissed');

  await row.getByRole('button', { name: 'Revoke…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
  await waitFor(async () => (await text(row)).includes('revoked'), 'the row to say revoked');
  assert.equal(await status(member.token), 401);

  const user = page.locator(`[data-user="${leaver.userId}"]`);
  await user.getByRole('button', { name: 'Disable…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Reason (recorded in the audit log)').fill('left the company');
  await dialog.getByRole('button', { name: 'Disable user' }).click();
  await waitFor(async () => (await text(user)).includes('disabled'), 'the user to be disabled');
  assert.equal(await status(leaver.token), 401);
  await shot(page, 'tokens', true);
  await closeConsole(s);
});

test('a member sees only its own tokens and no user controls', async () => {
  const fresh = await api(server.url, admin.token)('POST', `/v1/users/${leaver.userId}/enable`);
  assert.equal(fresh.status, 200);
  const own = await api(server.url, admin.token)('POST', `/v1/users/${member.userId}/tokens`, { name: 'mo-laptop' });
  const s = await open(own.body.token);
  const { page } = s;
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();
  await page.getByTestId('tokens').waitFor();
  const owners = await page.locator('[data-token] td:nth-of-type(2)').allTextContents();
  assert.ok(owners.length >= 1);
  assert.ok(
    owners.every((o) => o === member.userId),
    owners.join(','),
  );
  assert.equal(await page.getByRole('heading', { name: /Users of/ }).count(), 0);
  await closeConsole(s);
});
