/**
 * The workload proxy with real backends on loopback: admission (401/404/403/503/429, the one-time
 * open link and its host cookie), credentials never reaching the workload, streaming without
 * buffering, WebSockets, least in-flight balancing and the retry of idempotent requests on a dead
 * upstream. The targets come from a small in-test source (services do not exist yet); sessions'
 * real source is covered end to end in test/api/sessions.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { OpenTickets } from '../../../src/api/proxy/open-tickets.js';
import { createWorkloadProxy, type WorkloadProxy } from '../../../src/api/proxy/proxy-server.js';
import { RateLimits } from '../../../src/api/rate-limit.js';
import { DomainError } from '../../../src/model/errors.js';
import type { Principal } from '../../../src/model/principal.js';
import type { ProxyTarget, ProxyTargetSource, Resolution, Upstream } from '../../../src/model/workloads.js';
import { DEFAULT_LIMITS } from '../../../src/server/limits.js';
import { attachEchoServer, wsRoundTrip } from '../../helpers/websocket.js';

const PRINCIPALS: Record<string, Principal> = {
  'tok-acme': { userId: 'u_acme', role: 'member', org: 'acme' },
  'tok-acme-viewer': { userId: 'u_view', role: 'viewer', org: 'acme' },
  'tok-other': { userId: 'u_other', role: 'admin', org: 'other' },
  'tok-op': { userId: 'u_op', role: 'operator', org: null },
  'tok-op-approved': { userId: 'u_op2', role: 'operator', org: null },
};

/** A source with fixed targets; counts what the proxy reports. */
class FixedSource implements ProxyTargetSource {
  readonly targets = new Map<string, Resolution>();
  started = 0;
  ended = 0;
  async resolve(id: string): Promise<Resolution> {
    return this.targets.get(id) ?? { ok: false, code: 'not_found' };
  }
  requestStarted(): void {
    this.started++;
  }
  requestEnded(): void {
    this.ended++;
  }
}

const target = (id: string, upstreams: Upstream[], kind: 'session' | 'service' = 'session'): Resolution => ({
  ok: true,
  target: {
    workloadId: id,
    org: 'acme',
    project: 'p',
    kind,
    visibility: 'private',
    jobIds: upstreams.map((u) => u.jobId),
    upstreams,
  } satisfies ProxyTarget,
});

const backends: Server[] = [];
async function backend(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<number> {
  const s = createServer(handler);
  backends.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  return typeof a === 'object' && a ? a.port : 0;
}

/** A loopback port nothing listens on (a dead replica). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof a === 'object' && a ? a.port : 0;
}

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

let proxy: WorkloadProxy;
let proxyPort = 0;
const source = new FixedSource();
const tickets = new OpenTickets();
const audits: string[] = [];

function call(
  id: string,
  path = '/',
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path,
        method: o.method ?? 'GET',
        headers: { host: `${id}.localhost:${proxyPort}`, ...o.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

let seenHeaders: IncomingMessage['headers'] = {};
const upgrades: IncomingMessage[] = [];

before(async () => {
  const hello = await backend((req, res) => {
    seenHeaders = req.headers;
    res.end(`hello ${req.method} ${req.url}`);
  });
  backends.at(-1)!.on('upgrade', () => {});
  attachEchoServer(backends.at(-1)!, upgrades);
  source.targets.set('100', target('100', [{ jobId: '100', host: '127.0.0.1', port: hello }]));
  source.targets.set('101', {
    ok: false,
    code: 'not_ready',
    org: 'acme',
    project: 'p',
    retryAfterS: 7,
    message: 'the session is queued',
  });
  source.targets.set('other', {
    ok: true,
    target: {
      ...(target('other', [{ jobId: '9', host: '127.0.0.1', port: hello }]) as { ok: true; target: ProxyTarget }).target,
      org: 'other',
    },
  });
  const limits = { ...DEFAULT_LIMITS.rateLimits, proxyPerOrg: { requests: 1000, perSeconds: 60 } };
  proxy = createWorkloadProxy({
    sources: [source],
    authenticate: async (t) => PRINCIPALS[t] ?? null,
    lockboxCheck: async (ctx, org, object) => {
      if (ctx.principal.userId !== 'u_op2')
        throw new DomainError('forbidden', 'lockbox_approval_required', `no approval for ${object} of ${org}`);
    },
    audit: async (ctx, t, via) => {
      audits.push(`${ctx.principal.userId} ${t.workloadId} ${via}`);
    },
    tickets,
    rates: new RateLimits(limits),
  });
  proxyPort = await proxy.listen(0, '127.0.0.1');
});

after(async () => {
  await proxy.close();
  for (const b of backends) {
    b.closeAllConnections();
    b.close();
  }
});

describe('workload proxy: admission', () => {
  test('an org member reaches the workload; the token and our cookie stay behind; X-Forwarded-* are the proxy’s', async () => {
    const r = await call('100', '/api/x?y=1', {
      headers: { ...bearer('tok-acme'), cookie: 'gigafab_workload=abc; theirs=1', 'x-forwarded-for': '6.6.6.6' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello GET /api/x?y=1');
    assert.equal(seenHeaders.authorization, undefined);
    assert.equal(seenHeaders.cookie, 'theirs=1');
    assert.equal(seenHeaders['x-forwarded-for'], '127.0.0.1');
    assert.equal(seenHeaders['x-forwarded-host'], `100.localhost:${proxyPort}`);
    assert.ok(audits.includes('u_acme 100 token'), 'the open is audited');
  });

  test('no credentials: 401; a wrong token: 401', async () => {
    const r = await call('100');
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).code, 'unauthenticated');
    assert.equal((await call('100', '/', { headers: bearer('nope') })).status, 401);
  });

  test('unknown workload, unknown host, and another org’s workload: the same 404', async () => {
    for (const r of [
      await call('999', '/', { headers: bearer('tok-acme') }),
      await call('other', '/', { headers: bearer('tok-acme') }),
    ]) {
      assert.equal(r.status, 404);
      assert.equal(JSON.parse(r.body).code, 'workload_not_found');
      assert.match(r.headers['content-type'] ?? '', /application\/problem\+json/);
    }
    assert.equal((await call('100', '/', { headers: bearer('tok-other') })).status, 404, 'another org’s token');
    assert.equal((await call('not_a.label', '/', { headers: bearer('tok-acme') })).status, 404);
  });

  test('not ready: 503 with Retry-After for the owner, 404 for another org', async () => {
    const r = await call('101', '/', { headers: bearer('tok-acme') });
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '7');
    assert.equal(JSON.parse(r.body).code, 'not_ready');
    assert.equal((await call('101', '/', { headers: bearer('tok-other') })).status, 404);
  });

  test('an operator: 403 without an approved lockbox access, through with one; a viewer cannot use a session', async () => {
    const r = await call('100', '/', { headers: bearer('tok-op') });
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).code, 'lockbox_approval_required');
    assert.equal((await call('100', '/', { headers: bearer('tok-op-approved') })).status, 200);
    assert.equal((await call('100', '/', { headers: bearer('tok-acme-viewer') })).status, 403);
  });

  test('the one-time open link sets a cookie for this host only; the link works once', async () => {
    const { ticket } = tickets.issue(PRINCIPALS['tok-acme']!, '100');
    const open = await call('100', `/_gigafab/open?ticket=${ticket}&next=/tree`);
    assert.equal(open.status, 303);
    assert.equal(open.headers.location, '/tree');
    const setCookie = String(open.headers['set-cookie']);
    assert.match(setCookie, /^gigafab_workload=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Lax/);
    assert.doesNotMatch(setCookie, /Domain=/i);
    const cookie = setCookie.split(';')[0]!;
    assert.equal((await call('100', '/', { headers: { cookie } })).status, 200);
    assert.equal((await call('other', '/', { headers: { cookie } })).status, 401, 'not valid on another workload’s host');
    const again = await call('100', `/_gigafab/open?ticket=${ticket}`);
    assert.equal(again.status, 401);
    assert.equal(JSON.parse(again.body).code, 'open_link_invalid');
  });
});

describe('workload proxy: forwarding', () => {
  test('a streamed response arrives chunk by chunk, before the workload has finished', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const port = await backend(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      await gate;
      res.end('data: last\n\n');
    });
    source.targets.set('sse', target('sse', [{ jobId: '7', host: '127.0.0.1', port }], 'service'));
    const first = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: proxyPort, path: '/', headers: { host: `sse.localhost`, ...bearer('tok-acme') } },
        (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream');
          res.setEncoding('utf8');
          let all = '';
          res.once('data', (d: string) => {
            all += d;
            resolve(all);
            release();
          });
          res.on('data', () => {});
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(first, 'data: first\n\n', 'the first event came while the workload still held the response open');
  });

  test('a WebSocket passes through (upgrade, frames both ways) and is authenticated like any request', async () => {
    const ok = await wsRoundTrip(proxyPort, '100.localhost', bearer('tok-acme'), 'hi');
    assert.equal(ok.status, 101);
    assert.equal(ok.reply, 'echo:hi');
    assert.equal(upgrades.at(-1)?.headers.authorization, undefined);
    const denied = await wsRoundTrip(proxyPort, '100.localhost', bearer('tok-other'), 'hi');
    assert.equal(denied.status, 404);
  });

  test('least in-flight: concurrent slow requests spread over two replicas', async () => {
    const hits: string[] = [];
    const slow = (name: string) =>
      backend((_req, res) => {
        hits.push(name);
        setTimeout(() => res.end(name), 150);
      });
    const [a, b] = [await slow('a'), await slow('b')];
    const [started0, ended0] = [source.started, source.ended];
    source.targets.set(
      'lb',
      target(
        'lb',
        [
          { jobId: '1', host: '127.0.0.1', port: a },
          { jobId: '2', host: '127.0.0.1', port: b },
        ],
        'service',
      ),
    );
    const replies = await Promise.all(Array.from({ length: 8 }, () => call('lb', '/', { headers: bearer('tok-acme') })));
    assert.ok(replies.every((r) => r.status === 200));
    assert.equal(hits.filter((h) => h === 'a').length, 4);
    assert.equal(hits.filter((h) => h === 'b').length, 4);
    await new Promise((r) => setTimeout(r, 50)); // the proxy learns of each response's close a moment after the client
    assert.equal(source.started - started0, 8);
    assert.equal(source.ended - ended0, 8, 'every request started also ended');
  });

  test('a dead replica: idempotent requests are retried on the live one; a POST with a body is not (502)', async () => {
    const dead = await deadPort();
    const live = await backend((req, res) => res.end(`live ${req.method}`));
    source.targets.set(
      'dr',
      target(
        'dr',
        [
          { jobId: '1', host: '127.0.0.1', port: dead },
          { jobId: '2', host: '127.0.0.1', port: live },
        ],
        'service',
      ),
    );
    for (let i = 0; i < 4; i++) {
      const r = await call('dr', '/', { headers: bearer('tok-acme') });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'live GET');
    }
    source.targets.set('dead', target('dead', [{ jobId: '1', host: '127.0.0.1', port: dead }], 'service'));
    const post = await call('dead', '/', {
      method: 'POST',
      headers: { ...bearer('tok-acme'), 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(post.status, 503, 'nothing listens: not ready (a starting session), with Retry-After');
    assert.ok(post.headers['retry-after']);
  });

  test('over the organisation’s rate limit: 429 with Retry-After', async () => {
    const limits = { ...DEFAULT_LIMITS.rateLimits, proxyPerOrg: { requests: 3, perSeconds: 60 } };
    const p2 = createWorkloadProxy({
      sources: [source],
      authenticate: async (t) => PRINCIPALS[t] ?? null,
      lockboxCheck: async () => {},
      audit: async () => {},
      tickets,
      rates: new RateLimits(limits),
    });
    const port = await p2.listen(0, '127.0.0.1');
    const saved = proxyPort;
    proxyPort = port;
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await call('100', '/', { headers: bearer('tok-acme') })).status);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      const r = await call('100', '/', { headers: bearer('tok-acme') });
      assert.equal(JSON.parse(r.body).code, 'rate_limited');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    } finally {
      proxyPort = saved;
      await p2.close();
    }
  });
});
