/**
 * Services through the workload proxy, end to end with real processes: the server with the `local`
 * driver and its proxy, replicas running the model server (test/fixtures/model-server.mjs), clients
 * on loopback. Bounded load scales a service from 1 to 3 replicas and back; a rolling update under
 * load loses no request; a replica that crashes under load costs no idempotent request (retried on
 * another replica); a service scaled to zero holds the first request while a replica starts;
 * streaming (SSE) passes through; a public service takes its own API key until it is revoked.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { addLabTenant, startLocalSiteServer } from '../helpers/local-site.js';
import { api, REPO, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const MODEL_SERVER = join(REPO, 'test/fixtures/model-server.mjs');

let server: TestServer;
let user: ReturnType<typeof api>;
let token: string;
let proxyPort = 0;
// Idle kept-alive sockets are dropped after 2 s, before the proxy's 5 s keep-alive timeout closes
// them: a later test reusing a socket the server is closing at that instant gets 'socket hang up'
// (the client-side keep-alive race, not a lost request).
const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 2_000 });

before(async () => {
  server = await startLocalSiteServer('gigafab-services-proxy-', '', ['--proxy-port', '0']);
  const m = /workload proxy: http:\/\/\*\.localhost:(\d+)/.exec(server.output());
  assert.ok(m, `the proxy's address in the banner:\n${server.output()}`);
  proxyPort = Number(m[1]);
  token = await addLabTenant(api(server.url, server.operatorToken), { name: 'R', role: 'member' });
  user = api(server.url, token);
});

after(async () => {
  agent.destroy();
  await server?.stop();
});

interface Answer {
  status: number;
  body: string;
}

/** call: one request through the proxy to `<id>.localhost`. */
function call(id: string, path: string, opts: { method?: string; key?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path,
        method: opts.method ?? 'GET',
        agent,
        headers: {
          host: `${id}.localhost:${proxyPort}`,
          authorization: `Bearer ${opts.key ?? token}`,
          ...(opts.body ? { 'content-type': 'application/json' } : {}),
        },
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
    req.end(opts.body);
  });
}

/** load: `clients` loops of GET /v1/predict (each held `ms`) until stop(); every answer is kept. */
function load(id: string, clients: number, ms: number) {
  const answers: Answer[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; running; i++) {
      answers.push(await call(id, `/v1/predict?x=${c}-${i}&ms=${ms}`).catch((e: Error) => ({ status: 0, body: e.message })));
    }
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

const failed = (answers: Answer[]) => answers.filter((a) => a.status !== 200);
const template = (model: string, extraEnv: Record<string, string> = {}) => ({
  gpuType: 'L4',
  gpusPerNode: 1,
  command: [process.execPath, MODEL_SERVER],
  env: { MODEL_VERSION: model, READY_DELAY_MS: '300', ...extraEnv },
});
const probes = {
  readiness: { path: '/healthz', periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 1 },
  liveness: { path: '/healthz', periodSeconds: 0.5, timeoutSeconds: 1, failureThreshold: 3 },
};

interface Replica {
  jobId: string;
  revision: number;
  phase: string;
  endpoint: string | null;
}
const serviceOf = async (id: string) => (await user('GET', `/v1/services/${id}`)).body;
const readyOf = async (id: string): Promise<Replica[]> =>
  ((await serviceOf(id)).replicas as Replica[]).filter((r) => r.phase === 'ready');

async function create(body: Record<string, unknown>): Promise<string> {
  const r = await user('POST', '/v1/services', { project: 'lab-ml', ...probes, ...body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

test('bounded load scales a service from 1 to 3 replicas and back; no request fails', async () => {
  const id = await create({
    name: 'autoscaled',
    template: template('v1'),
    minReplicas: 1,
    maxReplicas: 3,
    targetInFlightPerReplica: 2,
    scaleDownDelaySeconds: 3,
  });
  await waitFor(async () => (await readyOf(id)).length === 1, 'one ready replica');
  const first = await call(id, '/v1/predict?x=7');
  assert.equal(first.status, 200, first.body);
  assert.equal(JSON.parse(first.body).model, 'v1');

  // Six clients, each request held 200 ms: about six in flight, two per replica wanted → three.
  const l = load(id, 6, 200);
  await waitFor(async () => (await readyOf(id)).length === 3, 'three ready replicas under load', 60_000);
  const s = await serviceOf(id);
  assert.ok(s.traffic.requests > 0 && s.traffic.latencyP50Ms >= 150, JSON.stringify(s.traffic));
  const answers = await l.stop();
  assert.deepEqual(failed(answers), [], 'no request failed while scaling up');
  assert.ok(answers.length > 30, `${answers.length} requests`);

  await waitFor(
    async () => {
      const svc = await serviceOf(id);
      return svc.desiredReplicas === 1 && svc.replicas.length === 1 ? svc : null;
    },
    'back to one replica after the scale-down delay',
    60_000,
  );
  assert.equal((await user('DELETE', `/v1/services/${id}`)).status, 204);
});

test('a rolling update under load loses no request and ends on the new model', async () => {
  const id = await create({ name: 'rolling', template: template('v1'), replicas: 2 });
  await waitFor(async () => (await readyOf(id)).length === 2, 'two ready replicas');
  const l = load(id, 4, 20);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await user('PATCH', `/v1/services/${id}`, { template: template('v2') })).status, 200);
  await waitFor(
    async () => {
      const rs = (await serviceOf(id)).replicas as Replica[];
      return rs.length === 2 && rs.every((r) => r.revision === 2 && r.phase === 'ready');
    },
    'two ready replicas of revision 2',
    60_000,
  );
  // Old replicas drain before they stop: wait until none is left, still under load.
  await new Promise((r) => setTimeout(r, 1500));
  const answers = await l.stop();
  assert.deepEqual(failed(answers), [], 'no request failed during the rollout');
  const models = new Set(answers.map((a) => JSON.parse(a.body).model));
  assert.deepEqual([...models].sort(), ['v1', 'v2'], 'both models answered during the rollout');
  assert.equal(JSON.parse((await call(id, '/v1/predict?x=1')).body).model, 'v2');
  assert.equal((await user('DELETE', `/v1/services/${id}`)).status, 204);
});

test('a replica that crashes under load costs no idempotent request: the proxy retries on another one', async () => {
  const id = await create({ name: 'crashy', template: template('v1'), replicas: 2 });
  const [victim] = await waitFor(async () => {
    const rs = await readyOf(id);
    return rs.length === 2 ? rs : null;
  }, 'two ready replicas');
  assert.ok(victim?.endpoint);
  const l = load(id, 4, 50);
  await new Promise((r) => setTimeout(r, 500));
  await fetch(`http://${victim.endpoint}/admin/crash`, { method: 'POST' }).catch(() => null);
  await waitFor(
    async () => (await user('GET', `/v1/jobs/${victim.jobId}`)).body.state === 'failed',
    'the crashed replica failed',
  );
  await waitFor(async () => (await readyOf(id)).length === 2, 'a replacement is ready');
  const answers = await l.stop();
  assert.deepEqual(failed(answers), [], 'every GET was answered');
  assert.equal((await user('DELETE', `/v1/services/${id}`)).status, 204);
});

test('scale to zero: an idle service has no replica; the first request waits for a cold start and is answered', async () => {
  const id = await create({
    name: 'sleepy',
    template: template('v1'),
    minReplicas: 0,
    maxReplicas: 1,
    scaleDownDelaySeconds: 1,
    scaleToZeroAfterSeconds: 2,
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await serviceOf(id)).replicas.length, 0, 'no traffic, no replica');
  const t0 = Date.now();
  const cold = await call(id, '/v1/predict?x=cold');
  assert.equal(cold.status, 200, cold.body);
  assert.ok(Date.now() - t0 >= 300, 'it waited for the replica to get ready');
  // Streaming passes through the proxy as the replica writes it.
  const stream = await call(id, '/v1/stream?n=4');
  assert.equal(stream.status, 200);
  assert.equal(stream.body.match(/^data: \{/gm)?.length, 4);
  assert.match(stream.body, /data: \[DONE\]/);
  await waitFor(async () => (await serviceOf(id)).replicas.length === 0, 'scaled back to zero when idle', 30_000);
  assert.equal((await user('DELETE', `/v1/services/${id}`)).status, 204);
});

test('a public service takes its own API key until it is revoked; a wrong key is refused', async () => {
  const admin = api(server.url, await tenantToken(api(server.url, server.operatorToken), 'lab', { name: 'A', role: 'admin' }));
  const id = await create({ name: 'public', template: template('v1'), replicas: 1, visibility: 'public' });
  await waitFor(async () => (await readyOf(id)).length === 1, 'one ready replica');
  const issued = (await admin('POST', `/v1/services/${id}/api-keys`, { name: 'partner' })).body;
  const ok = await call(id, '/v1/predict?x=1', { key: issued.key });
  assert.equal(ok.status, 200, ok.body);
  const post = await call(id, '/v1/predict', { key: issued.key, method: 'POST', body: '{"x": 1}' });
  assert.equal(JSON.parse(post.body).output, JSON.parse(ok.body).output, 'POST and GET agree');
  assert.notEqual((await call(id, '/v1/predict?x=1', { key: 'gfs_wrong' })).status, 200);
  assert.equal((await admin('POST', `/v1/services/${id}/api-keys/${issued.id}/revoke`)).status, 200);
  assert.notEqual((await call(id, '/v1/predict?x=1', { key: issued.key })).status, 200);
  assert.equal((await user('DELETE', `/v1/services/${id}`)).status, 204);
});
