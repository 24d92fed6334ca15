/**
 * A Jupyter session end to end, with real processes: the server (local driver, workload proxy), Debian's
 * jupyter-notebook (scripts/ensure-jupyter.sh) and Debian's Chromium. A member opens the session with
 * a one-time link, the notebook loads, its kernel computes 1+1 over the WebSocket through the proxy;
 * another organisation's token gets 404, the operator 403 (no lockbox approval); with the browser
 * gone the session warns, then stops itself at its idle timeout.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { collectErrors, launchChromium } from '../../helpers/browser.js';
import { api, waitFor } from '../../helpers/server.js';
import { proxyGet, type SessionWorld, startSessionWorld } from './fixture.js';

const JUPYTER = '/usr/bin/jupyter-notebook';
const skip = !existsSync(JUPYTER) && 'jupyter-notebook missing: run scripts/ensure-jupyter.sh (as root)';

let w: SessionWorld;
const get = (id: string, path: string, token?: string) => proxyGet(w.proxyPort(), id, path, token);

const NOTEBOOK = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
  cells: [{ cell_type: 'code', id: 'c1', metadata: {}, execution_count: null, outputs: [], source: '1+1' }],
};

before(async () => {
  if (!skip) w = await startSessionWorld('gigafab-jupyter-');
});

after(async () => {
  await w?.server.stop();
});

describe('a Jupyter session through the workload proxy', { skip }, () => {
  let id = '';

  test('submitted as kind session; it runs and its notebook server answers through the proxy', async () => {
    const me = api(w.server.url, w.member);
    const r = await me('POST', '/v1/jobs', {
      name: 'notebook',
      project: 'lab-ml',
      gpuType: 'L4',
      kind: 'session',
      priorityClass: 'interactive',
      session: { preset: 'jupyter', idleTimeoutMinutes: 0.5 },
      maxRuntimeSeconds: 900,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    id = r.body.id;
    await waitFor(
      async () =>
        (await me('GET', '/v1/sessions')).body.items.find((s: { jobId: string; ready: boolean }) => s.jobId === id && s.ready),
      'the session to report its endpoint',
    );
    const apiInfo = await waitFor(
      async () => {
        const g = await get(id, '/api', w.member);
        return g.status === 200 ? g : null;
      },
      'Jupyter to answer through the proxy',
      60_000,
    );
    assert.match(apiInfo.body, /"version"/);
    // The notebook the browser opens, in the session's own working directory.
    writeFileSync(join(w.jobsDir, id, 'attempt-1', 'scratch', 't.ipynb'), JSON.stringify(NOTEBOOK));
  });

  test('another organisation’s token: 404; the operator: 403 at the proxy and at the open link; no credentials: 401', async () => {
    const other = await get(id, '/api', w.stranger);
    assert.equal(other.status, 404);
    assert.equal(JSON.parse(other.body).code, 'workload_not_found');
    const op = await get(id, '/api', w.server.operatorToken);
    assert.equal(op.status, 403);
    assert.equal(JSON.parse(op.body).code, 'lockbox_approval_required');
    const link = await api(w.server.url, w.server.operatorToken)('POST', `/v1/sessions/${id}/open`);
    assert.equal(link.status, 403);
    assert.equal((await api(w.server.url, w.stranger)('POST', `/v1/sessions/${id}/open`)).status, 404);
    assert.equal((await get(id, '/api')).status, 401);
  });

  test('opened in Chromium with a one-time link: the notebook loads and its kernel computes 1+1 over the WebSocket', async () => {
    const link = await api(w.server.url, w.member)('POST', `/v1/sessions/${id}/open`);
    assert.equal(link.status, 200, JSON.stringify(link.body));
    assert.match(link.body.url, new RegExp(`^http://${id}\\.localhost:${w.proxyPort()}/_gigafab/open\\?ticket=`));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors = collectErrors(page);
      await page.goto(link.body.url);
      assert.equal(new URL(page.url()).host, `${id}.localhost:${w.proxyPort()}`);
      await page.goto(`http://${id}.localhost:${w.proxyPort()}/notebooks/t.ipynb`);
      await page.waitForSelector('#kernel_indicator_icon.kernel_idle_icon', { timeout: 60_000 });
      await page.click('.cell .CodeMirror');
      await page.keyboard.press('Shift+Enter');
      const out = await page.waitForSelector('.output_area .output_subarea', { timeout: 60_000 });
      assert.equal((await out.textContent())?.trim(), '2');
      // Debian's notebook package enables the ipywidgets extension without shipping it (a 404 at Jupyter, not the proxy).
      assert.deepEqual(errors.unexpected([/nbextensions\/widgets\/notebook\/js\/extension\.js/]), []);
    } finally {
      await browser.close();
    }
    const events = await api(w.server.url, w.member)('GET', `/v1/jobs/${id}/events`);
    const types = events.body.items.map((e: { type: string }) => e.type);
    assert.ok(types.includes('session-opened'), `the open is recorded: ${types}`);
  });

  test('left alone, it warns and then stops at its idle timeout; the proxy then answers 404', async () => {
    const me = api(w.server.url, w.member);
    const job = await waitFor(
      async () => {
        const j = await me('GET', `/v1/jobs/${id}`);
        return ['cancelled', 'failed', 'succeeded'].includes(j.body.state) ? j.body : null;
      },
      'the idle stop',
      90_000,
    );
    assert.equal(job.state, 'cancelled');
    const events = (await me('GET', `/v1/jobs/${id}/events`)).body.items as { type: string; message: string }[];
    const warn = events.findIndex((e) => e.type === 'idle-warning');
    const stop = events.findIndex((e) => e.type === 'idle-stop');
    assert.ok(warn >= 0 && stop > warn, `a warning, then the stop: ${events.map((e) => e.type)}`);
    assert.match(events[stop]!.message, /no traffic through the proxy for 0.5 min/);
    assert.equal((await get(id, '/api', w.member)).status, 404);
    assert.equal((await me('GET', '/v1/sessions')).body.items.length, 0);
  });
});
