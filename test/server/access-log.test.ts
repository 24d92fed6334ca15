/**
 * Structured logs on the real server process: every request is one JSON line on stderr with its
 * request id, principal, route, status and duration; /metrics carries the process's default metrics.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import { parseJson } from '../../src/model/json.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';

const AccessLine = z.object({
  level: z.literal('info'),
  time: z.iso.datetime(),
  service: z.literal('gigafab'),
  msg: z.literal('request'),
  requestId: z.string().min(1),
  principal: z.object({ user: z.string(), role: z.string(), org: z.string().nullable() }).nullable(),
  method: z.string(),
  route: z.string().nullable(),
  path: z.string(),
  status: z.number().int(),
  durationMs: z.number().nonnegative(),
});
type AccessLine = z.infer<typeof AccessLine>;

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

/** accessLines: the server's output lines that are JSON access-log records, each checked against the schema. */
function accessLines(): AccessLine[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('"msg":"request"'))
    .map((l) => parseJson(l, AccessLine, 'access log line'));
}

async function lineFor(requestId: string): Promise<AccessLine> {
  return waitFor(async () => accessLines().find((l) => l.requestId === requestId), `access log line for ${requestId}`, 5000);
}

test('every request is one JSON access-log line: request id, principal, route, status, duration; no query string', async () => {
  const op = api(server.url, server.operatorToken);
  const ok = await op('GET', '/v1/fleet', undefined, { 'x-request-id': 'req-fleet-1' });
  assert.equal(ok.status, 200);
  assert.deepEqual(
    { ...(await lineFor('req-fleet-1')), time: '', durationMs: 0 },
    {
      level: 'info',
      time: '',
      service: 'gigafab',
      msg: 'request',
      requestId: 'req-fleet-1',
      principal: { user: 'operator', role: 'operator', org: null },
      method: 'GET',
      route: '/v1/fleet',
      path: '/v1/fleet',
      status: 200,
      durationMs: 0,
    },
  );

  // A refused request is logged too, under the route it asked for; its id is the one the response carries.
  const anon = await api(server.url)('GET', '/v1/jobs?label=team=marker-in-query');
  assert.equal(anon.status, 401);
  const id = anon.headers.get('x-request-id') ?? '';
  const refused = await lineFor(id);
  assert.equal(refused.principal, null);
  assert.equal(refused.status, 401);
  assert.equal(refused.route, '/v1/jobs');
  assert.equal(refused.path, '/v1/jobs');
  assert.doesNotMatch(server.output(), /marker-in-query/);

  const missing = await op('GET', '/v1/jobs/4711', undefined, { 'x-request-id': 'req-job-404' });
  assert.equal(missing.status, 404);
  const notFound = await lineFor('req-job-404');
  assert.equal(notFound.route, '/v1/jobs/:id');
  assert.equal(notFound.path, '/v1/jobs/4711');
  assert.equal(notFound.status, 404);
  assert.ok(notFound.durationMs < 30_000);
});

test('/metrics has the default process and Node.js metrics next to the control plane', async () => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  for (const name of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_seconds',
    'nodejs_heap_size_used_bytes',
    'gigafab_scheduler_cycle_seconds_count',
  ]) {
    assert.match(text, new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'), name);
  }
});

test('--log-level warn keeps the access log out; an unknown level is refused', async () => {
  const quiet = await startTestServer({ extraArgs: ['--log-level', 'warn'] });
  try {
    const r = await api(quiet.url, quiet.operatorToken)('GET', '/v1/fleet');
    assert.equal(r.status, 200);
    // The same request on the info-level server above is logged within milliseconds; allow far more.
    await new Promise((res) => setTimeout(res, 500));
    assert.doesNotMatch(quiet.output(), /"msg":"request"/);
  } finally {
    await quiet.stop();
  }
  await assert.rejects(startTestServer({ extraArgs: ['--log-level', 'loud'] }), /argument 'loud' is invalid/);
});
