/**
 * The console's "Services" page end to end, in real Chromium against the real server (sim driver,
 * 4 B200 nodes): a member sees the organisation's service in the list (image, ready/wanted replicas),
 * opens it and sees its two running replicas on two distinct nodes (spread), scales it to three
 * through the form (the third replica appears), updates its spread (revision 2), and a bad scale shows the API's problem sentence and
 * changes nothing. A viewer sees the service without the controls.
 *
 * Needs `npm run build` (the server serves dist/console) and scripts/ensure-chromium.sh.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { httpStatusLogged, launchChromium } from '../helpers/browser.js';
import { assertConsoleBuilt, closeConsole, openConsole, shot, text } from '../helpers/console.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let browser: Browser;
let member = '';
let viewer = '';
let id = '';

before(async () => {
  assertConsoleBuilt();
  server = await startTestServer({ fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-console-svc-'))) });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 16 })).status, 200);
  member = await tenantToken(op, 'acme', { name: 'Ada', role: 'member' });
  viewer = await tenantToken(op, 'acme', { name: 'Vic', role: 'viewer' });
  const r = await api(server.url, member)('POST', '/v1/services', {
    name: 'chat',
    project: 'acme-ml',
    template: { gpuType: 'B200', gpusPerNode: 1, image: 'registry.example/llm:1' },
    port: 8000,
    replicas: 2,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  id = r.body.id;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a member sees the service, its replicas on distinct nodes, scales it, and reads a refusal', async () => {
  const s = await openConsole(browser, server.url, member, '/services', { width: 1280, height: 900 });
  const { page } = s;
  const row = page.locator(`tr[data-service="${id}"]`);
  await row.waitFor();
  assert.match(await text(row), /chat/);
  assert.match(await text(row), /registry\.example\/llm:1/);
  await waitFor(async () => /0 \/ 2/.test(await text(row.getByTestId('replicas'))), 'ready / wanted 0 / 2');

  await row.getByRole('link', { name: 'chat' }).click();
  await page.getByRole('heading', { name: 'Service chat', level: 1 }).waitFor();
  assert.equal(await text(page.getByTestId('svc-per-replica')), '1 × B200');
  const replicas = page.getByTestId('service-replicas').locator('tbody tr');
  await waitFor(async () => {
    if ((await replicas.count()) !== 2) return false;
    const states = await replicas.getByTestId('replica-state').allTextContents();
    return states.every((t) => t.startsWith('running'));
  }, 'two running replicas in the page');
  const nodes = await replicas.getByTestId('replica-node').allTextContents();
  assert.equal(new Set(nodes).size, 2, `distinct nodes: ${nodes.join(', ')}`);
  assert.ok(
    nodes.every((n) => /^s1-dgx/.test(n)),
    nodes.join(', '),
  );
  await shot(page, 'service-detail');

  // Scale to three: the PATCH goes through, a third replica appears.
  await page.getByLabel('Min replicas').fill('3');
  await page.getByLabel('Max replicas').fill('3');
  await page.getByRole('button', { name: 'Scale' }).click();
  await page.getByTestId('svc-done').waitFor();
  assert.match(await text(page.getByTestId('svc-done')), /scaled: revision 1, 3–3 replicas/);
  await waitFor(async () => (await replicas.count()) === 3, 'a third replica in the page');
  const after = (await api(server.url, member)('GET', `/v1/services/${id}`)).body;
  assert.deepEqual([after.scaling.minReplicas, after.scaling.maxReplicas], [3, 3]);

  // Update: spread required is a new revision (a rolling update).
  await page.getByLabel('Spread').selectOption('required');
  await page.getByRole('button', { name: 'Update' }).click();
  await waitFor(async () => /updated: revision 2/.test(await text(page.getByTestId('svc-done'))), 'revision 2');
  assert.equal((await api(server.url, member)('GET', `/v1/services/${id}`)).body.spec.spread, 'required');

  // min above max: the API refuses, the page says why, nothing changes.
  await page.getByLabel('Min replicas').fill('5');
  await page.getByLabel('Max replicas').fill('2');
  await page.getByRole('button', { name: 'Scale' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await text(alert), /minReplicas must not exceed maxReplicas/);
  const unchanged = (await api(server.url, member)('GET', `/v1/services/${id}`)).body;
  assert.deepEqual([unchanged.scaling.minReplicas, unchanged.scaling.maxReplicas], [3, 3]);
  await closeConsole(s, [httpStatusLogged(400)]);
});

test('a viewer sees the service and its replicas but no controls', async () => {
  const s = await openConsole(browser, server.url, viewer, `/services/${id}`, { width: 1280, height: 900 });
  await s.page.getByRole('heading', { name: 'Service chat', level: 1 }).waitFor();
  await s.page.getByTestId('service-replicas').waitFor();
  assert.equal(await s.page.getByRole('button', { name: 'Scale' }).count(), 0);
  await closeConsole(s);
});
