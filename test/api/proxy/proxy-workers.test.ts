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
import { Agent, request } from 'node:http';
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

/** call: one request through the proxy to the service's host; the status and body. */
function call(path: string, bearer: string | null, fresh = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path,
        agent: fresh ? false : agent,
        headers: { host: `${serviceId}.localhost:${proxyPort}`, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
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
