import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ApiError, ConnectionError, GigafabClient, problemFromBody } from '../../src/cli/client.js';
import { deadUrl, eventFixture, type FakeApi, jobFixture, json, problem, sseEvent, startFakeApi } from './fake-api.js';

const servers: FakeApi[] = [];
after(async () => {
  for (const s of servers) await s.close();
});
async function fake(routes: Parameters<typeof startFakeApi>[0]): Promise<FakeApi> {
  const s = await startFakeApi(routes);
  servers.push(s);
  return s;
}

test('problem+json becomes ApiError with status, code, detail and field errors', async () => {
  const api = await fake({
    'POST /v1/jobs': (_req, res) =>
      problem(res, 400, 'validation_failed', 'invalid job spec: gpusPerNode: too small', [
        { path: 'gpusPerNode', message: 'too small' },
      ]),
  });
  const client = new GigafabClient({ url: api.url, token: 't' });
  await assert.rejects(client.submitJob({ name: 'x', project: 'pp', gpusPerNode: 0 }), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'validation_failed');
    assert.equal(err.detail, 'invalid job spec: gpusPerNode: too small');
    assert.deepEqual(err.errors, [{ path: 'gpusPerNode', message: 'too small' }]);
    return true;
  });
});

test('non-JSON error bodies still become ApiError', () => {
  const e = problemFromBody(502, 'Bad Gateway', '<html>upstream down</html>');
  assert.equal(e.code, 'http_502');
  assert.equal(e.detail, '<html>upstream down</html>');
  const empty = problemFromBody(503, 'Service Unavailable', '');
  assert.equal(empty.detail, 'HTTP 503 Service Unavailable');
});

test('connection refused becomes ConnectionError naming the URL', async () => {
  const url = await deadUrl();
  const client = new GigafabClient({ url });
  await assert.rejects(client.whoami(), (err: unknown) => {
    assert.ok(err instanceof ConnectionError);
    assert.equal(err.url, url);
    assert.match(err.message, /cannot reach gigafab at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    return true;
  });
});

test('bearer token, JSON body, Idempotency-Key, and 200 = replayed', async () => {
  let calls = 0;
  const api = await fake({
    'POST /v1/jobs': (_req, res) => json(res, calls++ === 0 ? 201 : 200, jobFixture()),
  });
  const client = new GigafabClient({ url: `${api.url}/`, token: 'secret' });
  const first = await client.submitJob({ name: 'x', project: 'pp' }, 'key-1');
  const second = await client.submitJob({ name: 'x', project: 'pp' }, 'key-1');
  assert.equal(first.replayed, false);
  assert.equal(second.replayed, true);
  assert.equal(first.job.id, 'j-1');
  const req = api.requests[0];
  assert.equal(req.headers.authorization, 'Bearer secret');
  assert.equal(req.headers['idempotency-key'], 'key-1');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.deepEqual(req.body, { name: 'x', project: 'pp' });
});

test('query strings: label k=v is encoded as k%3Dv, undefined params are left out', async () => {
  const api = await fake({ 'GET /v1/jobs': (_req, res) => json(res, 200, { items: [], nextCursor: null }) });
  const client = new GigafabClient({ url: api.url });
  await client.listJobs({ label: 'team=vision', state: 'queued', project: undefined, limit: 5 });
  const raw = api.requests[0].rawUrl;
  assert.match(raw, /label=team%3Dvision/);
  assert.match(raw, /state=queued/);
  assert.match(raw, /limit=5/);
  assert.doesNotMatch(raw, /project=/);
  assert.equal(api.requests[0].headers.authorization, undefined);
});

test('paginate follows nextCursor to the end', async () => {
  const pages: Record<string, { items: { id: string }[]; nextCursor: string | null }> = {
    '': { items: [{ id: 'a' }, { id: 'b' }], nextCursor: 'c1' },
    c1: { items: [{ id: 'c' }], nextCursor: 'c2' },
    c2: { items: [{ id: 'd' }], nextCursor: null },
  };
  const api = await fake({
    'GET /v1/orgs': (req, res) => json(res, 200, pages[req.query.get('cursor') ?? '']),
  });
  const client = new GigafabClient({ url: api.url });
  const ids: string[] = [];
  for await (const o of client.paginate((cursor) => client.listOrgs({ cursor }))) ids.push(o.id);
  assert.deepEqual(ids, ['a', 'b', 'c', 'd']);
  assert.equal(api.requests.length, 3);
});

test('streamJobEvents: yields events then end', async () => {
  const api = await fake({
    'GET /v1/jobs/j-1/events/stream': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hello\n\n');
      sseEvent(res, eventFixture(1, 'queued', 'submitted'));
      sseEvent(res, eventFixture(2, 'running', 'scheduled'));
      res.end('event: end\ndata: {"state":"succeeded"}\n\n');
    },
  });
  const client = new GigafabClient({ url: api.url });
  const seen: string[] = [];
  for await (const item of client.streamJobEvents('j-1')) {
    seen.push(item.kind === 'end' ? `end:${item.state}` : `${item.event.id}:${item.event.type}`);
  }
  assert.deepEqual(seen, ['1:queued', '2:running', 'end:succeeded']);
  assert.equal(api.requests[0].headers.accept, 'text/event-stream');
});

test('streamJobEvents: reconnects with Last-Event-ID after a drop and skips duplicates', async () => {
  let attempt = 0;
  const api = await fake({
    'GET /v1/jobs/j-1/events/stream': (_req, res) => {
      attempt++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sseEvent(res, eventFixture(1, 'queued', 'submitted'));
      sseEvent(res, eventFixture(2, 'running', 'scheduled'));
      if (attempt === 1) {
        // Half an event, then the connection dies.
        res.write('event: job-event\nid: 3\ndata: {"id":');
        setTimeout(() => res.destroy(), 20);
        return;
      }
      sseEvent(res, eventFixture(3, 'succeeded', 'exited with code 0'));
      res.end('event: end\ndata: {"state":"succeeded"}\n\n');
    },
  });
  const client = new GigafabClient({ url: api.url });
  const seen: string[] = [];
  for await (const item of client.streamJobEvents('j-1', { reconnectDelayMs: 10 })) {
    seen.push(item.kind === 'end' ? `end:${item.state}` : String(item.event.id));
  }
  assert.deepEqual(seen, ['1', '2', '3', 'end:succeeded']);
  assert.equal(api.requests.length, 2);
  assert.equal(api.requests[0].headers['last-event-id'], undefined);
  assert.equal(api.requests[1].headers['last-event-id'], '2');
});

test('streamJobEvents: API errors are not retried', async () => {
  const api = await fake({
    'GET /v1/jobs/nope/events/stream': (_req, res) => problem(res, 404, 'job_not_found', 'job nope does not exist'),
  });
  const client = new GigafabClient({ url: api.url });
  await assert.rejects(
    (async () => {
      for await (const _ of client.streamJobEvents('nope')) {
        // nothing
      }
    })(),
    (err: unknown) => err instanceof ApiError && err.code === 'job_not_found',
  );
  assert.equal(api.requests.length, 1);
});

test('streamJobEvents: gives up with ConnectionError when the stream keeps ending without end', async () => {
  const api = await fake({
    'GET /v1/jobs/j-1/events/stream': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end();
    },
  });
  const client = new GigafabClient({ url: api.url });
  await assert.rejects(
    (async () => {
      for await (const _ of client.streamJobEvents('j-1', { maxReconnects: 2, reconnectDelayMs: 1 })) {
        // nothing
      }
    })(),
    ConnectionError,
  );
  assert.equal(api.requests.length, 3);
});

test('path segments are URL-encoded', async () => {
  const api = await fake({
    'PUT /v1/projects/p%201/quotas/RTX%2FPRO': (_req, res) => json(res, 200, { gpuType: 'x', gpus: 1, used: 0 }),
  });
  const client = new GigafabClient({ url: api.url });
  await client.setQuota('p 1', 'RTX/PRO', 1);
  assert.deepEqual(api.requests[0].body, { gpus: 1 });
});
