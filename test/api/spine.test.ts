/** End-to-end over HTTP against the real server process: tenancy, jobs, quotas, isolation, errors. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let alice: ReturnType<typeof api>; // member of org acme
let bob: ReturnType<typeof api>; // member of org globex
let viewer: ReturnType<typeof api>;

before(async () => {
  server = await startTestServer({ timeScale: 600 });
  op = api(server.url, server.operatorToken);
  for (const [org, project] of [
    ['acme', 'acme-ml'],
    ['globex', 'globex-sim'],
  ]) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org.toUpperCase(), kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: project })).status, 201);
  }
  const a = await tenantToken(op, 'acme', { name: 'Alice', role: 'member' });
  const b = await tenantToken(op, 'globex', { name: 'Bob', role: 'member' });
  const v = await tenantToken(op, 'acme', { name: 'Vera', role: 'viewer' });
  assert.match(a, /^gf_/);
  alice = api(server.url, a);
  bob = api(server.url, b);
  viewer = api(server.url, v);
  assert.equal((await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 16 })).status, 200);
  assert.equal((await op('PUT', '/v1/projects/globex-sim/quotas/B200', { gpus: 64 })).status, 200);
});

after(async () => {
  await server?.stop();
});

const gang = {
  name: 'pretrain',
  project: 'acme-ml',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 4,
  simulation: { durationSeconds: 600 },
};

describe('jobs', () => {
  test('a 4x8 B200 gang over quota waits with a reason naming the quota, then runs once the quota allows', async () => {
    const sub = await alice('POST', '/v1/jobs', gang);
    assert.equal(sub.status, 201);
    assert.equal(sub.body.state, 'queued');
    const id = sub.body.id;
    const waiting = await waitFor(async () => {
      const j = await alice('GET', `/v1/jobs/${id}`);
      return j.body.pendingReason?.code === 'quota_exhausted' ? j.body : null;
    }, 'quota reason');
    assert.match(waiting.pendingReason.message, /acme-ml/);
    assert.match(waiting.pendingReason.message, /B200/);
    assert.equal((await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 64 })).status, 200);
    const running = await waitFor(async () => {
      const j = await alice('GET', `/v1/jobs/${id}`);
      return j.body.state !== 'queued' ? j.body : null;
    }, 'start');
    assert.ok(['running', 'succeeded'].includes(running.state));
    assert.equal(running.placement.nodes.length, 4);
    assert.ok(running.placement.nodes.every((n: { gpus: number[] }) => n.gpus.length === 8));
    assert.equal(new Set(running.placement.nodes.map((n: { node: string }) => n.node)).size, 4);
    const done = await waitFor(async () => {
      const j = await alice('GET', `/v1/jobs/${id}`);
      return j.body.state === 'succeeded' ? j.body : null;
    }, 'success');
    assert.equal(done.exitCode, 0);
    assert.ok(done.startedAt && done.finishedAt && done.startedAt <= done.finishedAt);
    const events = await alice('GET', `/v1/jobs/${id}/events`);
    assert.deepEqual(
      events.body.items.map((e: { type: string }) => e.type),
      ['queued', 'running', 'started', 'succeeded'],
    );
  });

  test('a job over the remaining quota waits with the quota reason and starts when capacity frees up', async () => {
    await op('PUT', '/v1/projects/globex-sim/quotas/RTX-PRO-6000', { gpus: 16 });
    const spec = {
      name: 'hog',
      project: 'globex-sim',
      gpuType: 'RTX-PRO-6000',
      gpusPerNode: 8,
      nodes: 2,
      simulation: { durationSeconds: 86000 },
    };
    const hog = await bob('POST', '/v1/jobs', spec);
    await waitFor(async () => (await bob('GET', `/v1/jobs/${hog.body.id}`)).body.state === 'running', 'hog running');
    const next = await bob('POST', '/v1/jobs', { ...spec, name: 'next', nodes: 1, simulation: { durationSeconds: 60 } });
    const waiting = await waitFor(async () => {
      const j = (await bob('GET', `/v1/jobs/${next.body.id}`)).body;
      return j.pendingReason?.code === 'quota_exhausted' ? j : null;
    }, 'quota reason');
    assert.match(waiting.pendingReason.message, /globex-sim/);
    assert.match(waiting.pendingReason.message, /16\/16/);
    await bob('POST', `/v1/jobs/${hog.body.id}/cancel`);
    await waitFor(async () => (await bob('GET', `/v1/jobs/${next.body.id}`)).body.state === 'succeeded', 'next to run');
  });

  test('a failing job ends failed with its exit code; a job over its wall-clock limit ends timed-out', async () => {
    const f = await alice('POST', '/v1/jobs', {
      ...gang,
      name: 'f',
      nodes: 1,
      gpusPerNode: 1,
      simulation: { durationSeconds: 60, exitCode: 3 },
    });
    const t = await alice('POST', '/v1/jobs', {
      ...gang,
      name: 't',
      nodes: 1,
      gpusPerNode: 1,
      maxRuntimeSeconds: 60,
      simulation: { durationSeconds: 6000 },
    });
    const fj = await waitFor(
      async () => ((await alice('GET', `/v1/jobs/${f.body.id}`)).body.state === 'failed' ? 1 : 0),
      'failed',
    );
    assert.ok(fj);
    assert.equal((await alice('GET', `/v1/jobs/${f.body.id}`)).body.exitCode, 3);
    await waitFor(async () => (await alice('GET', `/v1/jobs/${t.body.id}`)).body.state === 'timed-out', 'timed-out');
  });

  test('cancel: queued at once, running via stop; a finished job cannot be cancelled', async () => {
    const q = await alice('POST', '/v1/jobs', { ...gang, name: 'q', nodes: 100 });
    assert.equal(q.status, 201);
    const c1 = await alice('POST', `/v1/jobs/${q.body.id}/cancel`);
    assert.equal(c1.status, 202);
    assert.equal(c1.body.state, 'cancelled');
    const r = await alice('POST', '/v1/jobs', { ...gang, name: 'r', nodes: 1, simulation: { durationSeconds: 86000 } });
    await waitFor(async () => (await alice('GET', `/v1/jobs/${r.body.id}`)).body.state === 'running', 'running');
    assert.equal((await alice('POST', `/v1/jobs/${r.body.id}/cancel`)).status, 202);
    await waitFor(async () => (await alice('GET', `/v1/jobs/${r.body.id}`)).body.state === 'cancelled', 'cancelled');
    const again = await alice('POST', `/v1/jobs/${r.body.id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'job_finished');
    assert.equal((await viewer('POST', '/v1/jobs', gang)).status, 403);
  });

  test('idempotency key: a retry returns the same job; another spec with that key conflicts', async () => {
    const headers = { 'idempotency-key': 'retry-1' };
    const spec = { ...gang, name: 'idem', nodes: 1, gpusPerNode: 1 };
    const [a, b] = await Promise.all([alice('POST', '/v1/jobs', spec, headers), alice('POST', '/v1/jobs', spec, headers)]);
    assert.deepEqual([a.status, b.status].sort(), [200, 201]);
    assert.equal(a.body.id, b.body.id);
    const c = await alice('POST', '/v1/jobs', { ...spec, nodes: 2 }, headers);
    assert.equal(c.status, 409);
    assert.equal(c.body.code, 'idempotency_key_reused');
  });

  test('list filters by state, project and label, and pages with a cursor', async () => {
    for (let i = 0; i < 3; i++) {
      await alice('POST', '/v1/jobs', {
        ...gang,
        name: `lab${i}`,
        nodes: 1,
        gpusPerNode: 1,
        labels: { team: i === 0 ? 'vision' : 'nlp' },
      });
    }
    const vision = await alice('GET', '/v1/jobs?label=team%3Dvision');
    assert.equal(vision.body.items.length, 1);
    const p1 = await alice('GET', '/v1/jobs?limit=2&project=acme-ml');
    assert.equal(p1.body.items.length, 2);
    assert.ok(p1.body.nextCursor);
    const p2 = await alice('GET', `/v1/jobs?limit=2&project=acme-ml&cursor=${p1.body.nextCursor}`);
    assert.ok(Number(p2.body.items[0].id) < Number(p1.body.items[1].id));
    const cancelled = await alice('GET', '/v1/jobs?state=cancelled');
    assert.ok(cancelled.body.items.every((j: { state: string }) => j.state === 'cancelled'));
  });

  test('events stream live over SSE and end when the job ends', async () => {
    const j = await alice('POST', '/v1/jobs', {
      ...gang,
      name: 'sse',
      nodes: 1,
      gpusPerNode: 2,
      simulation: { durationSeconds: 300 },
    });
    const res = await fetch(`${server.url}/v1/jobs/${j.body.id}/events/stream`, {
      headers: { authorization: (await tokenHeader(alice)) ?? '' },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const text = await res.text(); // the server closes the stream after `end`
    assert.match(text, /event: job-event/);
    assert.match(text, /event: end\ndata: \{"state":"succeeded"\}/);
  });
});

describe('tenant isolation', () => {
  test("another tenant's jobs, projects and org are invisible (404) and unlisted", async () => {
    const j = await alice('POST', '/v1/jobs', { ...gang, name: 'secret', nodes: 1, gpusPerNode: 1 });
    assert.equal((await bob('GET', `/v1/jobs/${j.body.id}`)).status, 404);
    assert.equal((await bob('POST', `/v1/jobs/${j.body.id}/cancel`)).status, 404);
    assert.equal((await bob('GET', `/v1/jobs/${j.body.id}/events`)).status, 404);
    assert.equal((await bob('GET', '/v1/projects/acme-ml')).status, 404);
    assert.equal((await bob('GET', '/v1/orgs/acme')).status, 404);
    const list = await bob('GET', '/v1/jobs?limit=1000');
    assert.ok(list.body.items.every((x: { org: string }) => x.org === 'globex'));
    const sub = await bob('POST', '/v1/jobs', { ...gang, project: 'acme-ml' });
    assert.equal(sub.status, 404);
    assert.equal(sub.body.code, 'project_not_found');
    assert.equal((await alice('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 9999 })).status, 403);
    assert.equal((await alice('POST', '/v1/orgs', { id: 'evil', name: 'x', kind: 'start-up' })).status, 403);
  });
});

describe('bad input gets a specific 4xx and changes nothing', () => {
  const cases: [string, unknown, number, string, Record<string, string>?][] = [
    ['malformed JSON', '{"name":', 400, 'malformed_json'],
    ['unknown field', { ...gang, gpus: 8 }, 400, 'validation_failed'],
    ['negative GPU count', { ...gang, gpusPerNode: -1 }, 400, 'validation_failed'],
    ['absurd GPU count', { ...gang, gpusPerNode: 1000 }, 400, 'validation_failed'],
    ['zero nodes', { ...gang, nodes: 0 }, 400, 'validation_failed'],
    ['GPU type the fleet lacks', { ...gang, gpuType: 'H100' }, 422, 'unknown_gpu_type'],
    ['larger than any site', { ...gang, nodes: 2000 }, 422, 'job_unplaceable'],
    ['more GPUs per node than any node has', { ...gang, gpusPerNode: 16 }, 422, 'job_unplaceable'],
    ['unknown project', { ...gang, project: 'nope-nope' }, 404, 'project_not_found'],
    ['oversized body', { ...gang, env: { BIG: 'x'.repeat(2_000_000) } }, 413, 'payload_too_large'],
    ['not JSON', 'name=x', 415, 'unsupported_media_type', { 'content-type': 'text/plain' }],
  ];
  for (const [name, body, status, code, headers] of cases) {
    test(name, async () => {
      const before = (await alice('GET', '/v1/jobs?limit=1000')).body.items.length;
      const r = await alice('POST', '/v1/jobs', body, headers);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.code, code);
      assert.equal(r.headers.get('content-type'), 'application/problem+json');
      assert.ok(r.body.detail.length > 10);
      assert.equal((await alice('GET', '/v1/jobs?limit=1000')).body.items.length, before);
    });
  }
  test('field errors name the field', async () => {
    const r = await alice('POST', '/v1/jobs', { ...gang, gpusPerNode: 0 });
    assert.equal(r.body.errors[0].path, 'gpusPerNode');
    // Plain sentences per field (model/validation-messages), the detail spelling them out once.
    const { project: _p, ...noProject } = gang;
    const plain = await alice('POST', '/v1/jobs', { ...noProject, name: '' });
    assert.equal(plain.status, 400);
    assert.deepEqual(plain.body.errors, [
      { path: 'name', message: 'name must not be empty' },
      { path: 'project', message: 'project is required' },
    ]);
    assert.equal(plain.body.detail, 'invalid request body: name must not be empty; project is required');
    // An unknown GPU type is unknown_gpu_type (as the README says), naming the types the fleet has.
    const h100 = await alice('POST', '/v1/jobs', { ...gang, gpuType: 'H100' });
    assert.equal(h100.body.code, 'unknown_gpu_type');
    assert.match(h100.body.detail, /H100 .*B200/);
    // A job the fleet can never hold names the field at fault too, never an empty path.
    const fits: [unknown, string][] = [
      [{ ...gang, gpuType: 'H100' }, 'gpuType'],
      [{ ...gang, gpusPerNode: 16 }, 'gpusPerNode'],
      [{ ...gang, nodes: 2000 }, 'nodes'],
    ];
    for (const [body, path] of fits) {
      const u = await alice('POST', '/v1/jobs', body);
      assert.equal(u.status, 422);
      assert.deepEqual(
        u.body.errors.map((e: { path: string }) => e.path),
        [path],
        JSON.stringify(u.body),
      );
      assert.match(u.body.detail, /^the job can never run: /);
    }
  });
  test('wrong or missing token: 401', async () => {
    const r = await api(server.url, 'gf_wrong')('GET', '/v1/jobs');
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'unauthenticated');
    assert.equal((await api(server.url)('GET', '/v1/jobs')).status, 401);
  });
  test('unknown GPU type in a quota: 422', async () => {
    const r = await op('PUT', '/v1/projects/acme-ml/quotas/H100', { gpus: 8 });
    assert.equal(r.status, 422);
    assert.equal(r.body.code, 'unknown_gpu_type');
  });
});

describe('operations', () => {
  test('OpenAPI 3.1 document, docs page, health and metrics', async () => {
    const doc = await api(server.url)('GET', '/v1/openapi.json');
    assert.equal(doc.body.openapi, '3.1.0');
    assert.ok(doc.body.paths['/v1/jobs'].post);
    assert.ok(doc.body.components.schemas.JobSpec);
    const docs = await fetch(`${server.url}/v1/docs`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger-ui/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /gigafab_queue_length \d+/);
    assert.match(metrics, /gigafab_gpus_total\{site="muc1",gpu_type="B200"\} 8192/);
    assert.match(metrics, /gigafab_scheduler_cycle_seconds_count \d+/);
    // Jobs have started on this server by now (the tests above): their cycles were timed with their commits.
    assert.match(metrics, /gigafab_scheduler_cycle_total_seconds_count [1-9]\d*/);
  });
  test('drain: a drained node gets no new work; the action is audited', async () => {
    const nodes = await op('GET', '/v1/nodes?site=vie1&limit=2000');
    assert.equal(nodes.status, 200);
    for (const n of nodes.body.items)
      assert.equal((await op('POST', `/v1/nodes/${n.id}/drain`, { reason: 'maintenance' })).status, 200);
    await op('PUT', '/v1/projects/acme-ml/quotas/RTX-PRO-6000', { gpus: 8 });
    const j = await alice('POST', '/v1/jobs', { ...gang, name: 'rtx', gpuType: 'RTX-PRO-6000', nodes: 1, gpusPerNode: 8 });
    const placed = await waitFor(async () => (await alice('GET', `/v1/jobs/${j.body.id}`)).body.placement, 'placement');
    assert.equal(placed.site, 'fra1');
    const audit = await op('GET', '/v1/audit?limit=1000');
    assert.ok(
      audit.body.items.some((a: { action: string; actor: string }) => a.action === 'node.drain' && a.actor === 'operator'),
    );
    assert.equal((await alice('POST', `/v1/nodes/${nodes.body.items[0].id}/undrain`)).status, 403);
  });
});

async function tokenHeader(_: ReturnType<typeof api>): Promise<string | null> {
  // The api() helper hides the token; re-read it from a fresh user instead.
  return `Bearer ${await tenantToken(op, 'acme', { name: 'Streamer', role: 'member' })}`;
}
