/**
 * The listeners beside the API (src/api/route-classes.ts LISTENER_ROUTE_CLASSES): every route the
 * workload proxy and the nginx data plane serve is classified, a listener with an unclassified route
 * is refused, and the data plane's internal listeners are attacked from this host as another local
 * process could: the control listener without its secret, a client's forged denial header (which once
 * let a request through auth_request without credentials: a "denial" rendered with status 200), a
 * rendered denial that claims success, and forged access-log lines (which would have fed a tenant's
 * statistics, autoscaling and rate limits).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { requestHeaders } from '../../src/api/proxy/headers.js';
import { CONTROL_ROUTES, LOG_ROUTES } from '../../src/api/proxy/nginx-plane.js';
import { ApiProblem } from '../../src/api/proxy/problem.js';
import { createProxyListener, PROXY_ROUTES } from '../../src/api/proxy/proxy-server.js';
import {
  LISTENER_ROUTE_CLASSES,
  LOCKBOX_CLASSES,
  requireListenerClassified,
  routeClass,
  TENANCY_CLASSES,
} from '../../src/api/route-classes.js';
import { addLabTenant, startLocalSiteServer } from '../helpers/local-site.js';
import { api, REPO, type TestServer, waitFor } from '../helpers/server.js';

describe('listener routes are classified', () => {
  const listeners = { proxy: PROXY_ROUTES, 'nginx-control': CONTROL_ROUTES, 'nginx-log': LOG_ROUTES };

  test('every route of every listener has a tenancy and a lockbox class, and every class is used', () => {
    const used = new Set<string>();
    for (const [name, routes] of Object.entries(listeners)) {
      assert.ok(routes.length > 0, name);
      assert.doesNotThrow(() => requireListenerClassified(name, routes));
      for (const r of routes) {
        const cls = routeClass(`${name} ${r}`, LISTENER_ROUTE_CLASSES);
        assert.ok(cls && cls.tenancy in TENANCY_CLASSES && cls.lockbox in LOCKBOX_CLASSES, `${name} ${r}`);
        used.add(`${name} ${r}`);
      }
    }
    // No stale entry: the registry names only what some listener serves.
    assert.deepEqual(Object.keys(LISTENER_ROUTE_CLASSES).sort(), [...used].sort());
  });

  test('a listener with a route nobody classified is refused, naming it', () => {
    assert.throws(
      () => requireListenerClassified('nginx-control', [...CONTROL_ROUTES, 'POST /export']),
      /listener routes without a tenancy and lockbox classification: nginx-control POST \/export;.*route-classes\.ts/,
    );
    assert.throws(() => requireListenerClassified('proxy', ['ANY /_gigafab/debug']), /proxy ANY \/_gigafab\/debug/);
    // Inherited names are no classification.
    assert.throws(() => requireListenerClassified('proxy', ['constructor']), /proxy constructor/);
  });
});

describe('gigafab’s proxy behind nginx: the client address', () => {
  test('X-Real-IP is taken only with nginx’s secret; neither reaches a workload', async () => {
    const seen: string[] = [];
    const gate = {
      admit: async (r: { ip: string }) => {
        seen.push(r.ip);
        throw new ApiProblem(404, 'workload_not_found', 'none');
      },
      redeem: async () => null,
    };
    const ask = (p: number, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: p, path: '/', headers: { host: 'w1.localhost', ...headers } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    const behind = createProxyListener(gate, { behindNginx: { secret: 's3cret-of-this-start' } });
    const plain = createProxyListener(gate, {});
    try {
      const [b, p] = [await behind.listen(0, '127.0.0.1'), await plain.listen(0, '127.0.0.1')];
      assert.equal(await ask(b, { 'x-real-ip': '6.6.6.6', 'x-gigafab-fallback': 's3cret-of-this-start' }), 404);
      assert.equal(await ask(b, { 'x-real-ip': '7.7.7.7' }), 404);
      assert.equal(await ask(b, { 'x-real-ip': '8.8.8.8', 'x-gigafab-fallback': 'guess' }), 404);
      assert.equal(await ask(p, { 'x-real-ip': '9.9.9.9', 'x-gigafab-fallback': 's3cret-of-this-start' }), 404);
      assert.deepEqual(seen, ['6.6.6.6', '127.0.0.1', '127.0.0.1', '127.0.0.1']);
    } finally {
      await behind.close();
      await plain.close();
    }
    const out = requestHeaders(
      { host: 'w1.localhost', 'x-real-ip': '6.6.6.6', 'x-gigafab-fallback': 'x', accept: '*/*' },
      { clientIp: '1.2.3.4', proto: 'http' },
    );
    assert.equal(out['x-real-ip'], undefined);
    assert.equal(out['x-gigafab-fallback'], undefined);
    assert.equal(out['x-forwarded-for'], '1.2.3.4');
    assert.equal(out.accept, '*/*');
  });
});

const MODEL_SERVER = join(REPO, 'test/fixtures/model-server.mjs');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const agent = new Agent({ keepAlive: false });

describe('the nginx data plane’s internal listeners, attacked from this host', () => {
  let server: TestServer;
  let user: ReturnType<typeof api>;
  let proxyPort = 0;
  let id = '';
  let conf = '';

  const confNow = () => readFileSync(join(server.dataDir, 'nginx', 'nginx.conf'), 'utf8');
  const port = (re: RegExp) => Number(re.exec(conf)?.[1] ?? 0);
  const planeCount = async (what: string) => {
    const m = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.operatorToken}` } });
    return Number(new RegExp(`gigafab_proxy_nginx\\{what="${what}"\\} (\\d+)`).exec(await m.text())?.[1] ?? Number.NaN);
  };
  const traffic = async () => (await user('GET', `/v1/services/${id}`)).body.traffic.requests as number;

  function call(
    p: number,
    path: string,
    headers: Record<string, string>,
    method = 'GET',
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: p, path, method, agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      req.on('error', reject);
      req.end();
    });
  }
  const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');

  before(async () => {
    assert.ok(NGINX, 'nginx is installed (bash scripts/ensure-nginx.sh)');
    server = await startLocalSiteServer('gigafab-listeners-', '', ['--proxy-port', '0', '--proxy-data-plane', 'nginx']);
    proxyPort = Number(/workload proxy: http:\/\/\*\.localhost:(\d+) \(nginx data plane\)/.exec(server.output())?.[1]);
    assert.ok(proxyPort > 0, server.output());
    const token = await addLabTenant(api(server.url, server.operatorToken), { name: 'V', role: 'member' });
    user = api(server.url, token);
    const template = { gpuType: 'L4', gpusPerNode: 1, command: [process.execPath, MODEL_SERVER] };
    const readiness = { path: '/healthz', periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 1 };
    const r = await user('POST', '/v1/services', { name: 'victim', project: 'lab-ml', template, replicas: 1, readiness });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    id = r.body.id;
    await waitFor(
      async () => {
        conf = confNow();
        return new RegExp(`upstream gf_${id} \\{[^}]*server `).test(conf);
      },
      'the service routed by nginx',
      60_000,
    );
    await waitFor(
      async () =>
        (await call(proxyPort, '/healthz', { host: `${id}.localhost`, authorization: `Bearer ${token}` })).headers[
          'x-gigafab-route'
        ] === 'nginx',
      'nginx forwards the service',
    );
  });

  after(async () => {
    agent.destroy();
    if (user && id) await user('DELETE', `/v1/services/${id}`).catch(() => {});
    await server?.stop();
  });

  test('a client’s forged denial header is no admission: without a token it is still 401, never the replica', async () => {
    for (const status of [200, 204, 302]) {
      const forged = b64({ status, code: 'ok', detail: 'let me in' });
      const a = await call(proxyPort, '/v1/predict?x=1', { host: `${id}.localhost`, 'x-gigafab-problem': forged });
      assert.equal(a.status, 401, `forged status ${status}: ${a.body}`);
      assert.equal(JSON.parse(a.body).code, 'unauthenticated', a.body);
    }
  });

  test('the control listener answers 404 to anyone without the secret, and asks no admission', async () => {
    const control = port(/upstream gf_control \{\s*server 127\.0\.0\.1:(\d+)/);
    assert.ok(control > 0, 'the control port in nginx.conf');
    const asked = await planeCount('asked');
    const attempts: Array<[string, string, Record<string, string>]> = [
      ['GET', '/admit', { 'x-gigafab-workload': id }],
      ['POST', '/admit', { 'x-gigafab-workload': id, 'x-gigafab-plane': 'guess' }],
      ['GET', '/denial', { 'x-gigafab-problem': b64({ status: 200, code: 'ok', detail: 'x' }) }],
      ['GET', '/', {}],
      ['DELETE', '/admit', { 'x-gigafab-plane': '' }],
    ];
    for (const [method, path, headers] of attempts) {
      const a = await call(control, path, headers, method);
      assert.equal(a.status, 404, `${method} ${path}`);
      assert.equal(a.body, '');
    }
    assert.equal(await planeCount('asked'), asked, 'no admission was asked');
  });

  test('even with the secret, a rendered denial never reads as a success, and other paths are 404', async () => {
    const control = port(/upstream gf_control \{\s*server 127\.0\.0\.1:(\d+)/);
    const secret = /x-gigafab-plane (\w+);/.exec(conf)?.[1] ?? '';
    assert.ok(secret.length >= 32, 'the secret in nginx.conf (readable only by gigafab’s user)');
    for (const status of [200, 204, 399, 600]) {
      const a = await call(control, '/denial', {
        'x-gigafab-plane': secret,
        'x-gigafab-problem': b64({ status, code: 'ok', detail: 'x' }),
      });
      assert.equal(a.status, 500, `status ${status} rendered as ${a.status}`);
    }
    const denied = await call(control, '/denial', {
      'x-gigafab-plane': secret,
      'x-gigafab-problem': b64({ status: 404, code: 'workload_not_found', detail: 'no' }),
    });
    assert.equal(denied.status, 404);
    assert.equal(JSON.parse(denied.body).code, 'workload_not_found');
    for (const path of ['/', '/admit/x', '/denial/../admit', '/metrics']) {
      assert.equal((await call(control, path, { 'x-gigafab-plane': secret })).status, 404, path);
    }
  });

  test('fuzzed: no header, path or method gets a request without credentials past nginx, and the control listener stays shut', async () => {
    const control = port(/upstream gf_control \{\s*server 127\.0\.0\.1:(\d+)/);
    const headerValue = fc.oneof(
      fc.string({ maxLength: 64 }).map((x) => x.replace(/[^\x21-\x7e]/g, 'a')),
      fc
        .record({
          status: fc.oneof(fc.integer({ min: -1, max: 1000 }), fc.constant(200)),
          code: fc.string(),
          detail: fc.string(),
        })
        .map(b64),
    );
    const path = fc.oneof(
      fc.constantFrom('/', '/admit', '/denial', '/_gigafab_admit', '/_gigafab/open', '/_gigafab/tunnel', '/v1/predict?x=1'),
      fc.webPath().map((x) => x || '/'),
    );
    const method = fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS');
    // The service's host in the spellings a name match might miss, and hosts that name nothing.
    const host = fc.constantFrom(
      `${id}.localhost`,
      `${id.toUpperCase()}.LOCALHOST`,
      `${id}.localhost:${proxyPort}`,
      `${id}.localhost.evil.example`,
      'nothing.localhost',
      'localhost',
    );
    await fc.assert(
      fc.asyncProperty(path, method, host, headerValue, headerValue, async (p, m, h, problem, other) => {
        const headers = {
          host: h,
          cookie: `gigafab_workload=${other}; other=1`,
          'x-gigafab-problem': problem,
          'x-gigafab-plane': other,
          'x-gigafab-workload': id,
          'x-real-ip': '10.0.0.1',
        };
        const viaNginx = await call(proxyPort, p, headers, m);
        assert.ok(
          viaNginx.status >= 400 && viaNginx.status < 500,
          `${m} ${p} through nginx: ${viaNginx.status} ${viaNginx.body}`,
        );
        assert.notEqual(viaNginx.headers['x-gigafab-route'], 'nginx', `${m} ${p} reached the replica`);
        const direct = await call(control, p, { ...headers, host: '127.0.0.1' }, m);
        assert.equal(direct.status, 404, `${m} ${p} on the control listener`);
      }),
      { numRuns: 80, seed: 14 },
    );
  });

  test('forged access-log lines are dropped: no traffic, no in-flight load, no rate-limit hits for the tenant', async () => {
    const logPort = port(/syslog:server=127\.0\.0\.1:(\d+)/);
    assert.ok(logPort > 0, 'the log port in nginx.conf');
    const replica = new RegExp(`upstream gf_${id} \\{[^}]*server (\\S+) `).exec(conf)?.[1] ?? '';
    assert.ok(replica, 'the replica’s address in nginx.conf');
    const secret = /log_format gf 'gf1\|(\w+)\|/.exec(conf)?.[1] ?? '';
    assert.ok(secret, 'the log secret in nginx.conf');
    const sock = createSocket('udp4');
    const send = (line: string) =>
      new Promise<void>((res, rej) =>
        sock.send(Buffer.from(`<190>Dec  7 12:00:00 gigafab: ${line}`), logPort, '127.0.0.1', (e) => (e ? rej(e) : res())),
      );
    try {
      const fields = `${id}|10.9.9.9|HIT|200|${replica}|200|5.000`;
      const [requests, logged] = [await traffic(), await planeCount('logged')];
      for (let i = 0; i < 50; i++) {
        await send(`gf1|${fields}`); // the format before the secret
        await send(`gf1|${'0'.repeat(secret.length)}|${fields}`); // a guessed secret
        await send(`gf1|${secret.slice(0, -1)}|${fields}`); // a prefix of the secret
      }
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await planeCount('logged'), logged, 'no forged line was counted');
      assert.equal(await traffic(), requests, 'the tenant’s traffic is unchanged');
      // The same line with the secret is counted: the check above could see a forged line land.
      await send(`gf1|${secret}|${fields}`);
      await waitFor(async () => (await planeCount('logged')) === logged + 1, 'the line with the secret counted');
    } finally {
      sock.close();
    }
  });
});
