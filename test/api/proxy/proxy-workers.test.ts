/**
 * The workload proxy in worker processes (`gigafab server --proxy-workers 2`), end to end: the real
 * server with the local driver, a service of one model-server replica, clients on loopback. The
 * workers answer on the one proxy port; admission is the server process's (a member passes, no or a
 * wrong token is 401, another organisation's member gets 404, a revoked token is refused on the
 * very next request); what the workers report reaches the service's traffic (every request
 * counted, nothing left in flight); a worker that dies is replaced. The other proxy suites run
 * through workers too with GIGAFAB_TEST_PROXY_WORKERS=2 (test/helpers/server.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { addLabTenant, startLocalSiteServer } from '../../helpers/local-site.js';
import { api, REPO, type TestServer, waitFor } from '../../helpers/server.js';
import { tenantToken } from '../../helpers/tenants.js';

const MODEL_SERVER = join(REPO, 'test/fixtures/model-server.mjs');

let server: TestServer;
let user: ReturnType<typeof api>;
let token: string;
let proxyPort = 0;
let serviceId = '';
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

before(async () => {
  server = await startLocalSiteServer('gigafab-proxy-workers-', '', ['--proxy-port', '0', '--proxy-workers', '2']);
  const m = /workload proxy: http:\/\/\*\.localhost:(\d+) \(2 worker processes\)/.exec(server.output());
  assert.ok(m, `the proxy's address and its workers in the banner:\n${server.output()}`);
  proxyPort = Number(m[1]);
  token = await addLabTenant(api(server.url, server.operatorToken), { name: 'R', role: 'member' });
  user = api(server.url, token);
  const svc = await user('POST', '/v1/services', {
    name: 'workers',
    project: 'lab-ml',
    template: { gpuType: 'L4', gpusPerNode: 1, command: [process.execPath, MODEL_SERVER] },
    readiness: { path: '/healthz', periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 1 },
    replicas: 1,
  });
  assert.equal(svc.status, 201, JSON.stringify(svc.body));
  serviceId = svc.body.id;
  await waitFor(
    async () =>
      (await user('GET', `/v1/services/${serviceId}`)).body.replicas.some((r: { phase: string }) => r.phase === 'ready'),
    'a ready replica',
  );
});

after(async () => {
  agent.destroy();
  // The local driver leaves replicas running across a server stop (by design): delete the service first.
  if (serviceId) await user('DELETE', `/v1/services/${serviceId}`);
  await server?.stop();
});

type Answer = { status: number; body: string; retryAfter: string | undefined };

/** call: one request through the proxy to the service's host; the status and body. */
function call(
  path: string,
  bearer: string | null,
  fresh = false,
  to: { port: number; id: string } = { port: proxyPort, id: serviceId },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: to.port,
        path,
        agent: fresh ? false : agent,
        headers: { host: `${to.id}.localhost:${to.port}`, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** admissions: how many admissions the workers asked of the server process so far (its /metrics). */
async function admissions(s: TestServer): Promise<{ asked: number; ahead: number; remembered: number }> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const of = (how: string) =>
    Number(new RegExp(`^gigafab_proxy_worker_admissions\\{how="${how}"\\} (\\d+)`, 'm').exec(text)?.[1]);
  return { asked: of('asked'), ahead: of('ahead'), remembered: of('remembered') };
}

/** workerPids: the server's proxy worker processes. */
function workerPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(server.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes('api/proxy/worker.js'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

test('admission is the server process’s: member 200, no or a wrong token 401, another organisation 404', async () => {
  const ok = await call('/v1/predict?x=1', token);
  assert.equal(ok.status, 200, ok.body);
  assert.ok(JSON.parse(ok.body).output !== undefined, ok.body);
  const none = await call('/v1/predict?x=1', null);
  assert.equal(none.status, 401, none.body);
  assert.equal(JSON.parse(none.body).code, 'unauthenticated');
  assert.equal((await call('/v1/predict?x=1', 'gf_not_a_token')).status, 401);
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'other', name: 'Other', kind: 'research' });
  const other = await tenantToken(op, 'other', { name: 'O', role: 'member' });
  const hidden = await call('/v1/predict?x=1', other);
  assert.equal(hidden.status, 404, hidden.body);
  assert.equal(JSON.parse(hidden.body).code, 'workload_not_found');
});

test('every request through the workers is counted for the service, and none stays in flight', async () => {
  const before = (await user('GET', `/v1/services/${serviceId}`)).body.traffic.requests as number;
  const n = 200;
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => call(`/v1/predict?x=${i}`, token)));
  assert.deepEqual(
    answers.filter((a) => a.status !== 200),
    [],
  );
  await waitFor(async () => {
    const t = (await user('GET', `/v1/services/${serviceId}`)).body.traffic;
    return t.requests - before === n && t.inFlight === 0;
  }, `${n} more requests counted and none in flight`);
});

test('a revoked token is refused on its next request through a worker', async () => {
  const admin = api(server.url, await tenantToken(api(server.url, server.operatorToken), 'lab', { name: 'A', role: 'admin' }));
  const fresh = await tenantToken(api(server.url, server.operatorToken), 'lab', { name: 'M', role: 'member' });
  assert.equal((await call('/v1/predict?x=1', fresh)).status, 200);
  const mine = (await api(server.url, fresh)('GET', '/v1/tokens')).body.items[0].id;
  assert.equal((await admin('POST', `/v1/tokens/${mine}/revoke`)).status, 200);
  // Both workers (fresh connections land on either): refused at once, not after a cache expires.
  for (let i = 0; i < 6; i++) assert.equal((await call('/v1/predict?x=1', fresh, true)).status, 401);
});

test('a member’s repeated requests are admitted by the workers locally, not asked of the server process each time', async () => {
  await call('/v1/predict?x=0', token, true);
  const before = await admissions(server);
  assert.ok(before.asked > 0 && before.remembered > 0, JSON.stringify(before));
  const n = 300;
  const t0 = Date.now();
  for (let i = 0; i < n; i++) assert.equal((await call(`/v1/predict?x=${i}`, token, i % 2 === 0)).status, 200);
  const seconds = Math.ceil((Date.now() - t0) / 1000);
  const asked = (await admissions(server)).asked - before.asked;
  // Each worker asks again once its remembered admission is ADMISSION_TTL_MS (1 s) old.
  assert.ok(asked <= 2 * (seconds + 1), `${asked} admissions asked for ${n} requests in ${seconds} s`);
});

test('requests that miss together share one ask per worker', async () => {
  const fresh = await tenantToken(api(server.url, server.operatorToken), 'lab', { name: 'C', role: 'member' });
  const before = await admissions(server);
  const n = 40;
  // Fresh connections: the two workers each get some; none has seen this token.
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => call(`/v1/predict?x=${i}`, fresh, true)));
  assert.deepEqual(
    answers.filter((a) => a.status !== 200),
    [],
  );
  const asked = (await admissions(server)).asked - before.asked;
  assert.ok(asked >= 1 && asked <= 2, `${asked} admissions asked for ${n} concurrent requests (at most one per worker)`);
});

test('a busy workload’s requests do not wait for the server process each time the admission expires', async () => {
  const fresh = await tenantToken(api(server.url, server.operatorToken), 'lab', { name: 'B', role: 'member' });
  const one = new Agent({ keepAlive: true, maxSockets: 1 });
  const before = await admissions(server);
  const t0 = Date.now();
  try {
    // One kept-alive connection (one worker), a request every ~20 ms for 3.5 ttls.
    while (Date.now() - t0 < 3500) {
      const got = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: proxyPort,
            path: '/v1/predict?x=1',
            agent: one,
            headers: { host: `${serviceId}.localhost:${proxyPort}`, authorization: `Bearer ${fresh}` },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(got, 200);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    one.destroy();
  }
  const after = await admissions(server);
  // Without asking ahead, a request waits for an ask at the start and once per expiry (4 here).
  assert.ok(after.asked - before.asked <= 2, `requests waited for ${after.asked - before.asked} asks in 3.5 s`);
  assert.ok(after.ahead - before.ahead >= 3, `${after.ahead - before.ahead} admissions asked ahead of their expiry`);
});

test('a disabled user is refused on its next request, though the workers had admitted it locally', async () => {
  const op = api(server.url, server.operatorToken);
  const admin = api(server.url, await tenantToken(op, 'lab', { name: 'A2', role: 'admin' }));
  const fresh = await tenantToken(op, 'lab', { name: 'D', role: 'member' });
  // Both workers remember it (fresh connections land on either).
  for (let i = 0; i < 6; i++) assert.equal((await call('/v1/predict?x=1', fresh, true)).status, 200);
  const me = (await api(server.url, fresh)('GET', '/v1/tokens')).body.items[0].owner as string;
  const off = await admin('POST', `/v1/users/${me}/disable`, { reason: 'test' });
  assert.equal(off.status, 200, JSON.stringify(off.body));
  for (let i = 0; i < 6; i++) assert.equal((await call('/v1/predict?x=1', fresh, true)).status, 401);
});

test('the organisation’s rate limit is one set of counters across the workers', async () => {
  const limits = join(tmpdir(), `gigafab-proxy-workers-limits-${process.pid}.yaml`);
  const limit = 40;
  writeFileSync(limits, `rateLimits: { proxyPerOrg: { requests: ${limit}, perSeconds: 60 } }\n`);
  const s2 = await startLocalSiteServer('gigafab-proxy-workers-rl-', '', [
    '--proxy-port',
    '0',
    '--proxy-workers',
    '2',
    '--limits',
    limits,
  ]);
  let id2 = '';
  let user2: ReturnType<typeof api> | null = null;
  try {
    const port2 = Number(/workload proxy: http:\/\/\*\.localhost:(\d+)/.exec(s2.output())?.[1]);
    const t2 = await addLabTenant(api(s2.url, s2.operatorToken), { name: 'R', role: 'member' });
    user2 = api(s2.url, t2);
    const svc = await user2('POST', '/v1/services', {
      name: 'limited',
      project: 'lab-ml',
      template: { gpuType: 'L4', gpusPerNode: 1, command: [process.execPath, MODEL_SERVER] },
      readiness: { path: '/healthz', periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 1 },
      replicas: 1,
    });
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    id2 = svc.body.id;
    const u2 = user2;
    await waitFor(
      async () => (await u2('GET', `/v1/services/${id2}`)).body.replicas.some((r: { phase: string }) => r.phase === 'ready'),
      'a ready replica',
    );
    const answers: Answer[] = [];
    // Fresh connections: the requests are spread over both workers.
    for (let i = 0; i < 3 * limit; i++) answers.push(await call('/v1/predict?x=1', t2, true, { port: port2, id: id2 }));
    const ok = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 429);
    // The bound (workers.ts): what a worker admits between the counter crossing the limit and the
    // push reaching it; one request at a time here, so a handful at most.
    assert.ok(ok >= limit - 1 && ok <= limit + 4, `${ok} of ${answers.length} admitted with a limit of ${limit}`);
    assert.ok(limited.length >= 2 * limit - 4, `${limited.length} refused`);
    for (const a of limited) {
      assert.equal(JSON.parse(a.body).code, 'rate_limited', a.body);
      assert.ok(Number(a.retryAfter) >= 1, `Retry-After: ${a.retryAfter}`);
    }
  } finally {
    if (user2 && id2) await user2('DELETE', `/v1/services/${id2}`);
    await s2.stop();
  }
});

test('a proxy worker that dies is replaced, and the proxy keeps answering', async () => {
  const pids = workerPids();
  assert.equal(pids.length, 2, `two workers: ${pids.join(', ')}`);
  process.kill(pids[0]!, 'SIGKILL');
  await waitFor(async () => {
    const now = workerPids();
    return now.length === 2 && !now.includes(pids[0]!);
  }, 'a new worker in place of the killed one');
  for (let i = 0; i < 6; i++) assert.equal((await call('/v1/predict?x=1', token, true)).status, 200);
});
