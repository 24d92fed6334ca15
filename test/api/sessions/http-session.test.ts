/**
 * An `http` session (any command serving on $GIGAFAB_PORT) through the proxy with real processes:
 * queued/starting answers 503 with Retry-After, the endpoint survives a control-plane restart (the
 * local driver leaves the process running; job_endpoints brings the endpoint back), the session
 * list shows time left, and once stopped the proxy answers 404.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, waitFor } from '../../helpers/server.js';
import { adminOf } from '../../helpers/tenants.js';
import { proxyGet, type SessionWorld, startSessionWorld } from './fixture.js';

let w: SessionWorld;
const get = (id: string, path: string, token?: string) => proxyGet(w.proxyPort(), id, path, token);

before(async () => {
  w = await startSessionWorld('gigafab-http-session-');
});

after(async () => {
  await w?.server.stop();
});

describe('an http session through the workload proxy', () => {
  let id = '';

  test('a session without a time limit is refused with a clear sentence', async () => {
    const r = await api(w.server.url, w.member)('POST', '/v1/jobs', {
      name: 'web',
      project: 'lab-ml',
      kind: 'session',
      session: { preset: 'http' },
      command: ['true'],
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.code, 'validation_failed');
    assert.deepEqual(
      r.body.errors.map((e: { path: string }) => e.path),
      ['maxRuntimeSeconds'],
    );
  });

  test('a session that is not listening yet answers 503 with Retry-After, then its page', async () => {
    const me = api(w.server.url, w.member);
    // It starts listening only after a few seconds, as a slow notebook would.
    const serve =
      'sleep 2; mkdir -p www; echo "hello from $GIGAFAB_JOB_ID" > www/index.html; exec python3 -m http.server "$GIGAFAB_PORT" --bind 127.0.0.1 --directory www';
    const r = await me('POST', '/v1/jobs', {
      name: 'web',
      project: 'lab-ml',
      gpuType: 'L4',
      kind: 'session',
      session: { preset: 'http' },
      command: ['/bin/sh', '-c', serve],
      maxRuntimeSeconds: 600,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    id = r.body.id;
    const early = await waitFor(async () => {
      const g = await get(id, '/', w.member);
      return g.status === 503 ? g : null;
    }, 'a 503 while the session starts');
    assert.ok(Number(early.headers['retry-after']) >= 1);
    assert.equal(JSON.parse(early.body).code, 'not_ready');
    const page = await waitFor(
      async () => {
        const g = await get(id, '/', w.member);
        return g.status === 200 ? g : null;
      },
      'the page',
      30_000,
    );
    assert.equal(page.body.trim(), `hello from ${id}`);
    const list = (await me('GET', '/v1/sessions')).body.items;
    assert.equal(list.length, 1);
    assert.equal(list[0].jobId, id);
    assert.equal(list[0].ready, true);
    assert.equal(list[0].url, `http://${id}.localhost:${w.proxyPort()}`);
    assert.ok(list[0].timeLeftSeconds > 500 && list[0].timeLeftSeconds <= 600);
  });

  test('the operator: 403 until the tenant approves `open-session` on the job, then through (each use recorded)', async () => {
    const op = api(w.server.url, w.server.operatorToken);
    assert.equal((await get(id, '/', w.server.operatorToken)).status, 403);
    const filed = await op('POST', '/v1/access-requests', {
      org: 'lab',
      cause: 'ticket 4712: the session hangs',
      scope: { objects: [`job:${id}`], verbs: ['open-session'] },
      durationSeconds: 600,
      requesterCountry: 'DE',
      derivedDataRetentionDays: 0,
      approvalDeadline: new Date(Date.now() + 3600_000).toISOString(),
    });
    assert.equal(filed.status, 201, JSON.stringify(filed.body));
    const approved = await api(w.server.url, adminOf(op, 'lab'))('POST', `/v1/access-requests/${filed.body.id}/approve`, {});
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const page = await get(id, '/', w.server.operatorToken);
    assert.equal(page.status, 200);
    const uses = (await api(w.server.url, w.member)('GET', `/v1/access-requests/${filed.body.id}`)).body.uses;
    assert.ok(uses.some((u: { verb: string; object: string }) => u.verb === 'open-session' && u.object === `job:${id}`));
  });

  test('after a control-plane restart the proxy still reaches the running session', async () => {
    await w.server.restart();
    const page = await waitFor(
      async () => {
        const g = await get(id, '/', w.member);
        return g.status === 200 ? g : null;
      },
      'the page after the restart',
      30_000,
    );
    assert.equal(page.body.trim(), `hello from ${id}`);
  });

  test('stopped, it is gone: 404 at the proxy and not in the list', async () => {
    const me = api(w.server.url, w.member);
    assert.equal((await me('POST', `/v1/jobs/${id}/cancel`)).status, 202);
    await waitFor(async () => (await me('GET', `/v1/jobs/${id}`)).body.state === 'cancelled', 'the session to end');
    const gone = await get(id, '/', w.member);
    assert.equal(gone.status, 404);
    assert.equal((await me('GET', '/v1/sessions')).body.items.length, 0);
  });
});
