/**
 * What the workload proxy remembers between requests, and its bounds: an operator's lockbox pass is
 * reused for LOCKBOX_CACHE_MS at most (a withdrawn approval stops letting the operator in within
 * that bound), the remembered opens and passes never exceed their maximum (an entry pushed out is
 * checked and audited again, never skipped), and the headers the workload receives (repeated ones
 * as sent, Connection-listed ones removed, Host once). A real proxy listener and a real backend;
 * the clock is the proxy's injectable one.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { LOCKBOX_CACHE_MS } from '../../../src/api/proxy/access.js';
import { OpenTickets } from '../../../src/api/proxy/open-tickets.js';
import { createWorkloadProxy, type WorkloadProxy } from '../../../src/api/proxy/proxy-server.js';
import { RateLimits } from '../../../src/api/rate-limit.js';
import { DomainError } from '../../../src/model/errors.js';
import type { Principal } from '../../../src/model/principal.js';
import type { ProxyTargetSource, Resolution } from '../../../src/model/workloads.js';
import { DEFAULT_LIMITS } from '../../../src/server/limits.js';

const PRINCIPALS: Record<string, Principal> = {
  'tok-acme': { userId: 'u_acme', role: 'member', org: 'acme' },
  'tok-other': { userId: 'u_other', role: 'admin', org: 'other' },
  'tok-op': { userId: 'u_op', role: 'operator', org: null },
};

let backend: Server;
let backendPort = 0;
let seenRaw: string[] = [];
let proxy: WorkloadProxy;
let proxyPort = 0;
let clock = 1_000_000;
let approved = true;
let lockboxChecks = 0;
const audits: string[] = [];

const source: ProxyTargetSource = {
  async resolve(id: string): Promise<Resolution> {
    if (!/^w\d+$/.test(id)) return { ok: false, code: 'not_found' };
    const upstreams = [{ jobId: `j-${id}`, host: '127.0.0.1', port: backendPort }];
    return {
      ok: true,
      target: { workloadId: id, org: 'acme', project: 'p', kind: 'session', visibility: 'private', jobIds: ['j'], upstreams },
    };
  },
  requestStarted() {},
  requestEnded() {},
};

function call(id: string, headers: Record<string, string> | string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const host = `${id}.localhost:${proxyPort}`;
    const req = request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path: '/',
        headers: Array.isArray(headers) ? ['Host', host, ...headers] : { host, ...headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

before(async () => {
  backend = createServer((req: IncomingMessage, res) => {
    seenRaw = req.rawHeaders;
    res.end('ok');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const a = backend.address();
  backendPort = typeof a === 'object' && a ? a.port : 0;
  proxy = createWorkloadProxy({
    sources: [source],
    authenticate: async (t) => PRINCIPALS[t] ?? null,
    lockboxCheck: async (_ctx, org, object) => {
      lockboxChecks++;
      if (!approved) throw new DomainError('forbidden', 'lockbox_approval_required', `no approval for ${object} of ${org}`);
    },
    audit: async (ctx, t, via) => {
      audits.push(`${ctx.principal.userId} ${t.workloadId} ${via}`);
    },
    tickets: new OpenTickets(),
    rates: new RateLimits({ ...DEFAULT_LIMITS.rateLimits, enabled: false }),
    now: () => clock,
    memoryMax: 3,
  });
  proxyPort = await proxy.listen(0, '127.0.0.1');
});

after(async () => {
  await proxy.close();
  backend.closeAllConnections();
  backend.close();
});

describe('workload proxy: what admission remembers', () => {
  test('a withdrawn lockbox approval stops letting the operator in within LOCKBOX_CACHE_MS', async () => {
    approved = true;
    assert.equal((await call('w1', bearer('tok-op'))).status, 200);
    const checks = lockboxChecks;
    approved = false;
    // Inside the bound the pass is reused (no new check, no new use record)…
    clock += LOCKBOX_CACHE_MS - 1;
    assert.equal((await call('w1', bearer('tok-op'))).status, 200);
    assert.equal(lockboxChecks, checks, 'the pass was reused');
    // …and once it is over, the operator is refused.
    clock += 1;
    const r = await call('w1', bearer('tok-op'));
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).code, 'lockbox_approval_required');
    assert.equal((await call('w1', bearer('tok-op'))).status, 403, 'and stays refused');
    assert.equal(LOCKBOX_CACHE_MS, 10_000, 'the bound README states');
  });

  test('remembered opens and passes stay within their bound; one pushed out is audited again', async () => {
    approved = true;
    audits.length = 0;
    for (const id of ['w11', 'w12', 'w13', 'w14', 'w15']) {
      assert.equal((await call(id, bearer('tok-acme'))).status, 200);
      assert.equal((await call(id, bearer('tok-op'))).status, 200);
    }
    const m = proxy.access.remembered();
    assert.ok(m.audited <= 3 && m.lockbox <= 3, `bounded: ${JSON.stringify(m)}`);
    assert.deepEqual(audits, [
      'u_acme w11 token',
      'u_acme w12 token',
      'u_acme w13 token',
      'u_acme w14 token',
      'u_acme w15 token',
    ]);
    // w15 is still remembered (no second audit); w11 was pushed out: audited again, not skipped.
    await call('w15', bearer('tok-acme'));
    assert.equal(audits.length, 5);
    await call('w11', bearer('tok-acme'));
    assert.deepEqual(audits.at(-1), 'u_acme w11 token');
    // Tenancy is decided per request whatever is remembered: another org still gets 404.
    assert.equal((await call('w11', bearer('tok-other'))).status, 404);
  });

  test('headers: repeated ones as sent, Connection-listed and credentials removed, Host once', async () => {
    const r = await call('w2', [
      'Authorization',
      'Bearer tok-acme',
      'Accept',
      'text/plain',
      'Accept',
      'application/json',
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      'secret',
      'Cookie',
      'gigafab_workload=abc; theirs=1',
      'X-Forwarded-For',
      '6.6.6.6',
    ]);
    assert.equal(r.status, 200);
    const pairs: [string, string][] = [];
    for (let i = 0; i < seenRaw.length; i += 2) pairs.push([seenRaw[i]!.toLowerCase(), seenRaw[i + 1]!]);
    const all = (k: string) => pairs.filter(([n]) => n === k).map(([, v]) => v);
    assert.deepEqual(all('accept'), ['text/plain', 'application/json']);
    assert.deepEqual(all('x-hop'), []);
    assert.deepEqual(all('authorization'), []);
    assert.deepEqual(all('cookie'), ['theirs=1']);
    assert.deepEqual(all('host'), [`w2.localhost:${proxyPort}`]);
    assert.deepEqual(all('x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(all('x-forwarded-proto'), ['http']);
  });
});
