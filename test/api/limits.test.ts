/**
 * Resource limits against the real server: body and job-spec sizes, queued jobs per organisation,
 * byte-bounded list pages, reservation and maintenance windows, rate limits with Retry-After,
 * concurrent stream caps, slow-header and slow-body timeouts, and the small HTTP hygiene rules
 * (docs CSP, X-Request-Id on errors, canonical job ids, bad cursors, 413 without connection resets).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ApiResponse, api, startTestServer } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

type Call = ReturnType<typeof api>;

/** A server with a limits file; an org `acme` with project `acme-ml` (no quota: its jobs stay queued), an admin and a member. */
async function world(limits: string) {
  const file = join(tmpdir(), `gigafab-limits-${process.pid}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, limits);
  const server = await startTestServer({ timeScale: 600, extraArgs: limits ? ['--limits', file] : [] });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'Acme', kind: 'start-up' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' })).status, 201);
  const adminToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' });
  const adminCall = api(server.url, adminToken);
  const member = await adminCall('POST', '/v1/orgs/acme/users', { name: 'Max', role: 'member' });
  assert.equal(member.status, 201);
  return {
    server,
    op,
    admin: adminCall,
    adminToken,
    member: api(server.url, member.body.token),
    memberToken: member.body.token as string,
  };
}

const job = (extra: Record<string, unknown> = {}) => ({
  name: 'train',
  project: 'acme-ml',
  gpuType: 'B200',
  simulation: { durationSeconds: 600 },
  ...extra,
});

async function jobCount(call: Call): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const r: ApiResponse = await call('GET', `/v1/jobs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200);
    n += r.body.items.length;
    cursor = r.body.nextCursor;
  } while (cursor);
  return n;
}

function assertProblem(
  r: { status: number; headers: Headers; body: { code?: string; detail?: string } },
  status: number,
  code: string,
) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
  assert.equal(r.body.code, code);
  assert.ok((r.body.detail ?? '').length > 10, 'a human sentence says why');
}

describe('sizes, queue and pages', () => {
  let w: Awaited<ReturnType<typeof world>>;
  before(async () => {
    w = await world('queue: { maxQueuedJobsPerOrg: 4 }\nlists: { maxPageBytes: 40000 }\n');
  });
  after(() => w?.server.stop());

  test('a job spec over the documented sizes is refused and stores nothing', async () => {
    // ~0.9 MB of env, under the 1 MiB body limit: accepted before the limits existed.
    const bigEnv = Object.fromEntries(Array.from({ length: 28 }, (_, i) => [`V${i}`, 'x'.repeat(32_000)]));
    const r = await w.member('POST', '/v1/jobs', job({ env: bigEnv }));
    assertProblem(r, 422, 'job_spec_too_large');
    assert.match(r.body.detail, /65536 bytes/);
    const manyEnv = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`V${i}`, 'x']));
    const r2 = await w.member('POST', '/v1/jobs', job({ env: manyEnv }));
    assertProblem(r2, 400, 'validation_failed');
    assert.match(r2.body.detail, /env/);
    const manyLabels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    assertProblem(await w.member('POST', '/v1/jobs', job({ labels: manyLabels })), 400, 'validation_failed');
    assert.equal(await jobCount(w.member), 0);
  });

  test('an organisation may hold only so many queued jobs; the next is refused with a reason, others are not affected', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await w.member('POST', '/v1/jobs', job({ name: `q${i}` }))).status, 201);
    const r = await w.member('POST', '/v1/jobs', job({ name: 'q4' }));
    assertProblem(r, 429, 'org_queue_full');
    assert.match(r.body.detail, /4 queued jobs/);
    assert.equal(await jobCount(w.member), 4);
    // Cancelling one frees a place.
    const first = (await w.member('GET', '/v1/jobs?limit=1')).body.items[0];
    assert.equal((await w.member('POST', `/v1/jobs/${first.id}/cancel`)).status, 202);
    assert.equal((await w.member('POST', '/v1/jobs', job({ name: 'q5' }))).status, 201);
  });

  test('a list page is bounded in bytes and the cursor walks every job exactly once', async () => {
    const env = { BLOB: 'y'.repeat(12_000) };
    // The queue holds at most 4: empty it, and cancel as we go so the org can submit more.
    for (const j of (await w.member('GET', '/v1/jobs?state=queued')).body.items) {
      assert.equal((await w.member('POST', `/v1/jobs/${j.id}/cancel`)).status, 202);
    }
    const submitted: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await w.member('POST', '/v1/jobs', job({ name: `big${i}`, env }));
      assert.equal(r.status, 201, JSON.stringify(r.body));
      submitted.push(r.body.id);
      assert.equal((await w.member('POST', `/v1/jobs/${r.body.id}/cancel`)).status, 202);
    }
    const res = await fetch(`${w.server.url}/v1/jobs?limit=1000`, { headers: { authorization: `Bearer ${w.memberToken}` } });
    const text = await res.text();
    const page = JSON.parse(text);
    assert.ok(page.items.length >= 1 && page.items.length < 8, `page of ${page.items.length}`);
    assert.ok(text.length < 40_000 + 2_000, `page of ${text.length} bytes`);
    assert.ok(page.nextCursor);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: ApiResponse = await w.member('GET', `/v1/jobs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...r.body.items.map((j: { id: string }) => j.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length);
    for (const id of submitted) assert.ok(seen.includes(id));
  });

  test('reservation and maintenance windows are bounded', async () => {
    const start = new Date(Date.now() + 3600_000).toISOString();
    const century = new Date(Date.now() + 100 * 365 * 86400_000).toISOString();
    const r = await w.op('POST', '/v1/reservations', { org: 'acme', gpuType: 'B200', gpus: 8, start, end: century });
    assertProblem(r, 422, 'invalid_window');
    assert.match(r.body.detail, /366 days/);
    const m = await w.op('POST', '/v1/maintenance-windows', { site: 'muc1', start, end: century, reason: 'forever' });
    assertProblem(m, 422, 'invalid_window');
    const farStart = new Date(Date.now() + 50 * 365 * 86400_000).toISOString();
    const farEnd = new Date(Date.now() + 50 * 365 * 86400_000 + 3600_000).toISOString();
    const f = await w.op('POST', '/v1/reservations', { org: 'acme', gpuType: 'B200', gpus: 8, start: farStart, end: farEnd });
    assertProblem(f, 422, 'invalid_window');
    assert.equal((await w.op('GET', '/v1/reservations')).body.items.length, 0);
    assert.equal((await w.op('GET', '/v1/maintenance-windows')).body.items.length, 0);
  });
});

describe('rate limits and stream caps', () => {
  let w: Awaited<ReturnType<typeof world>>;
  before(async () => {
    w = await world(
      [
        'rateLimits:',
        '  perToken: { requests: 40, perSeconds: 60 }',
        '  failedAuthPerIp: { requests: 20, perSeconds: 60 }',
        'streams: { perToken: 2, perOrg: 3 }',
      ].join('\n'),
    );
  });
  after(() => w?.server.stop());

  test('one token over its rate gets 429 with Retry-After; another token is not affected', async () => {
    let limited: Awaited<ReturnType<Call>> | null = null;
    for (let i = 0; i < 60 && !limited; i++) {
      const r = await w.member('GET', '/v1/whoami');
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 200);
    }
    assert.ok(limited, 'the member was never limited');
    assertProblem(limited, 429, 'rate_limited');
    const after = Number(limited.headers.get('retry-after'));
    assert.ok(after >= 1 && after <= 60, `Retry-After ${after}`);
    assert.equal((await w.admin('GET', '/v1/whoami')).status, 200);
  });

  test('live streams are capped per token and per organisation', async () => {
    const sub = await w.admin('POST', '/v1/jobs', job({ name: 'streamed' }));
    assert.equal(sub.status, 201);
    const path = `/v1/jobs/${sub.body.id}/events/stream`;
    const open = (token: string) => {
      const ctl = new AbortController();
      const res = fetch(`${w.server.url}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
      return { res, close: () => ctl.abort() };
    };
    const a1 = open(w.adminToken);
    const a2 = open(w.adminToken);
    assert.equal((await a1.res).status, 200);
    assert.equal((await a2.res).status, 200);
    const a3 = await w.admin('GET', path);
    assertProblem(a3, 429, 'too_many_streams');
    assert.match(a3.body.detail, /2 live streams/);
    // At its stream cap the token still makes ordinary requests.
    assert.equal((await w.admin('GET', '/v1/whoami')).status, 200);
    a1.close();
    await new Promise((r) => setTimeout(r, 200));
    const a4 = open(w.adminToken);
    assert.equal((await a4.res).status, 200);
    a2.close();
    a4.close();
  });

  test('a flood of wrong tokens from one address is answered 429 with Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`${w.server.url}/v1/whoami`, { headers: { authorization: `Bearer gf_wrong${i}` } });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
      await r.arrayBuffer();
    }
    assert.ok(statuses.slice(0, 20).every((s) => s === 401));
    assert.ok(
      statuses.slice(21).every((s) => s === 429),
      statuses.join(','),
    );
    assert.ok(Number(retryAfter) >= 1);
  });
});

describe('stream cap per organisation', () => {
  let w: Awaited<ReturnType<typeof world>>;
  before(async () => {
    w = await world('streams: { perToken: 5, perOrg: 2 }\nrateLimits: { perIp: { requests: 30, perSeconds: 60 } }\n');
  });
  after(() => w?.server.stop());

  test('streams of all tokens of an organisation count together', async () => {
    const sub = await w.admin('POST', '/v1/jobs', job({ name: 'streamed' }));
    const url = `${w.server.url}/v1/jobs/${sub.body.id}/events/stream`;
    const ctl = new AbortController();
    const s1 = await fetch(url, { headers: { authorization: `Bearer ${w.adminToken}` }, signal: ctl.signal });
    const s2 = await fetch(url, { headers: { authorization: `Bearer ${w.memberToken}` }, signal: ctl.signal });
    assert.equal(s1.status, 200);
    assert.equal(s2.status, 200);
    const s3 = await w.member('GET', `/v1/jobs/${sub.body.id}/events/stream`);
    assertProblem(s3, 429, 'too_many_streams');
    assert.match(s3.body.detail, /organisation/);
    ctl.abort();
  });

  test('requests from one address are limited whatever tokens they carry', async () => {
    let n = 0;
    let limited: Awaited<ReturnType<Call>> | null = null;
    for (; n < 40 && !limited; n++) {
      const r = await (n % 2 ? w.admin : w.member)('GET', '/v1/whoami');
      if (r.status === 429) limited = r;
    }
    assert.ok(limited, 'never limited');
    assertProblem(limited, 429, 'rate_limited');
    assert.match(limited.body.detail, /your address/);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal((await w.admin('GET', '/v1/whoami')).status, 429);
    assert.equal((await w.member('GET', '/v1/whoami')).status, 429);
  });
});

describe('slow clients', () => {
  let w: Awaited<ReturnType<typeof world>>;
  before(async () => {
    w = await world('http: { headersTimeoutSeconds: 1, requestTimeoutSeconds: 2 }\n');
  });
  after(() => w?.server.stop());

  const closedWithin = (send: (s: ReturnType<typeof connect>) => void, ms: number) =>
    new Promise<{ closed: boolean; data: string; after: number }>((resolve) => {
      const u = new URL(w.server.url);
      const s = connect(Number(u.port), u.hostname);
      const t0 = Date.now();
      let data = '';
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ closed: false, data, after: Date.now() - t0 });
      }, ms);
      s.on('data', (d) => {
        data += d;
      });
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ closed: true, data, after: Date.now() - t0 });
      });
      s.on('error', () => {});
      s.on('connect', () => send(s));
    });

  test('a client that never finishes its headers is disconnected', async () => {
    const r = await closedWithin((s) => s.write('GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Slow: '), 8000);
    assert.ok(r.closed, 'the connection stayed open');
  });

  test('a client that never finishes its body is disconnected', async () => {
    const r = await closedWithin((s) => {
      s.write(
        `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${w.memberToken}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":`,
      );
      const drip = setInterval(() => (s.destroyed ? clearInterval(drip) : s.write(' ')), 300);
    }, 10_000);
    assert.ok(r.closed, 'the connection stayed open');
    assert.equal(await jobCount(w.member), 0);
  });
});

describe('HTTP hygiene', () => {
  let w: Awaited<ReturnType<typeof world>>;
  before(async () => {
    w = await world('');
  });
  after(() => w?.server.stop());

  test('the API docs page forbids framing and foreign scripts', async () => {
    const r = await fetch(`${w.server.url}/v1/docs`);
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
  });

  test('error responses carry the request id', async () => {
    for (const r of [
      await w.member('GET', '/v1/jobs/999999'),
      await api(w.server.url)('GET', '/v1/whoami'),
      await w.member('POST', '/v1/jobs', '{bad json'),
      await w.member('GET', '/v1/no-such-route'),
    ]) {
      assert.ok(r.status >= 400);
      assert.match(r.headers.get('x-request-id') ?? '', /\S{8,}/, `status ${r.status}`);
    }
  });

  test('job ids are canonical decimals: other spellings of an existing id are 404', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await w.member('POST', '/v1/jobs', job({ name: `j${i}` }))).body.id);
    assert.equal((await w.member('GET', `/v1/jobs/${ids[0]}`)).status, 200);
    const n = Number(ids[0]);
    for (const alias of [`0x${n.toString(16)}`, `0${n}`, `${n}.0`, `${n}e0`, `+${n}`, `%20${n}`, `0b${n.toString(2)}`]) {
      for (const suffix of ['', '/events', '/explain', '/residency', '/cancel']) {
        const method = suffix === '/cancel' ? 'POST' : 'GET';
        const r = await w.member(method, `/v1/jobs/${alias}${suffix}`);
        assertProblem(r, 404, 'job_not_found');
      }
    }
    assert.equal((await w.member('GET', `/v1/jobs/${ids[0]}`)).body.state, 'queued');
  });

  test('a cursor this server did not issue is 422', async () => {
    for (const cursor of ['%00%01', 'MA', '!!!', 'LTE', 'MHgxMA', 'MS41']) {
      assertProblem(await w.member('GET', `/v1/jobs?cursor=${cursor}`), 422, 'invalid_cursor');
    }
  });

  test('every oversize request is answered 413, none by a connection reset', async () => {
    const u = new URL(w.server.url);
    const viaNode = (body: Buffer) =>
      new Promise<number | string>((resolve) => {
        const req = request(
          {
            host: u.hostname,
            port: u.port,
            method: 'POST',
            path: '/v1/jobs',
            headers: {
              authorization: `Bearer ${w.memberToken}`,
              'content-type': 'application/json',
              'content-length': body.length,
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        req.end(body);
      });
    const before = await jobCount(w.member);
    const results: string[] = [];
    // Bodies well past the limit are where a server that answers before reading resets the connection.
    for (const mib of [1.01, 4, 8, 12]) {
      const body = Buffer.alloc(Math.round(mib * 1024 * 1024), 0x20);
      for (let round = 0; round < 4; round++) {
        const got = await Promise.all(Array.from({ length: 8 }, () => viaNode(body)));
        results.push(...got.map((s) => `${mib} MiB, round ${round}: ${s}`));
      }
    }
    const bad = results.filter((s) => !s.endsWith(': 413'));
    assert.deepEqual(bad, [], `${bad.length} of ${results.length} not 413`);
    // Chunked bodies (no Content-Length) are bounded too.
    const chunked = await new Promise<number | string>((resolve) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          method: 'POST',
          path: '/v1/jobs',
          headers: {
            authorization: `Bearer ${w.memberToken}`,
            'content-type': 'application/json',
            'transfer-encoding': 'chunked',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      const piece = Buffer.alloc(300_000, 0x20);
      for (let i = 0; i < 5; i++) req.write(piece);
      req.end();
    });
    assert.equal(chunked, 413);
    assert.equal(await jobCount(w.member), before);
  });
});
