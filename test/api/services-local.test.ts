/**
 * Services on the `local` driver, with a real model server (test/fixtures/model-server.mjs) as the
 * replica: replicas get ready through the control plane's readiness probes and answer on their
 * reported endpoints; a rolling update never has fewer ready replicas than wanted and ends with the
 * new model on every replica; a replica whose liveness probe fails is replaced, and so is one whose
 * process died.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { addLabTenant, startLocalSiteServer } from '../helpers/local-site.js';
import { api, REPO, type TestServer, waitFor } from '../helpers/server.js';

const MODEL_SERVER = join(REPO, 'test/fixtures/model-server.mjs');

let server: TestServer;
let user: ReturnType<typeof api>;

before(async () => {
  server = await startLocalSiteServer('gigafab-services-local-');
  user = api(server.url, await addLabTenant(api(server.url, server.operatorToken), { name: 'R', role: 'member' }));
});

after(async () => {
  await server?.stop();
});

interface Replica {
  jobId: string;
  revision: number;
  phase: string;
  endpoint: string | null;
}

const template = (model: string) => ({
  gpuType: 'L4',
  gpusPerNode: 1,
  command: [process.execPath, MODEL_SERVER],
  env: { MODEL_VERSION: model, READY_DELAY_MS: '300' },
});
const readiness = { path: '/healthz', periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 1 };
const liveness = { path: '/healthz', periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 2 };

const replicasOf = async (id: string): Promise<Replica[]> => (await user('GET', `/v1/services/${id}`)).body.replicas;
const ready = (rs: Replica[]) => rs.filter((r) => r.phase === 'ready');

async function predict(endpoint: string, x: string): Promise<{ model: string; output: string }> {
  const res = await fetch(`http://${endpoint}/v1/predict?x=${x}`);
  assert.equal(res.status, 200);
  return (await res.json()) as { model: string; output: string };
}

test('replicas get ready through the probes and answer; a rolling update keeps the wanted replicas ready throughout', async () => {
  const created = await user('POST', '/v1/services', {
    name: 'echo',
    project: 'lab-ml',
    template: template('v1'),
    readiness,
    liveness,
    replicas: 2,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id: string = created.body.id;
  const first = await waitFor(async () => {
    const rs = await replicasOf(id);
    return ready(rs).length === 2 ? rs : null;
  }, 'two ready replicas');
  const answers = await Promise.all(first.map((r) => predict(r.endpoint ?? '', '42')));
  assert.deepEqual(
    answers.map((a) => a.model),
    ['v1', 'v1'],
  );
  assert.equal(answers[0]?.output, answers[1]?.output, 'deterministic output');

  assert.equal((await user('PATCH', `/v1/services/${id}`, { template: template('v2') })).status, 200);
  let minReady = Number.POSITIVE_INFINITY;
  const rolled = await waitFor(
    async () => {
      const rs = await replicasOf(id);
      minReady = Math.min(minReady, ready(rs).length);
      return rs.length === 2 && ready(rs).length === 2 && rs.every((r) => r.revision === 2) ? rs : null;
    },
    'two ready replicas of revision 2',
    60_000,
  );
  assert.ok(minReady >= 2, `never fewer than 2 ready during the rollout (saw ${minReady})`);
  for (const r of rolled) assert.equal((await predict(r.endpoint ?? '', '42')).model, 'v2');
  for (const r of first) {
    await waitFor(async () => (await user('GET', `/v1/jobs/${r.jobId}`)).body.state === 'cancelled', `old ${r.jobId} stopped`);
  }
  assert.equal((await user('DELETE', `/v1/services/${id}`)).status, 204);
  for (const r of rolled) {
    await waitFor(async () => (await user('GET', `/v1/jobs/${r.jobId}`)).body.state === 'cancelled', `${r.jobId} stopped`);
  }
});

test('a replica that fails its liveness probe is replaced, and so is one whose process died', async () => {
  const created = await user('POST', '/v1/services', {
    name: 'fragile',
    project: 'lab-ml',
    template: template('v1'),
    readiness,
    liveness,
    replicas: 1,
  });
  const id: string = created.body.id;
  const [sick] = await waitFor(async () => {
    const rs = ready(await replicasOf(id));
    return rs.length === 1 ? rs : null;
  }, 'one ready replica');
  assert.ok(sick?.endpoint);
  assert.equal((await fetch(`http://${sick.endpoint}/admin/sick`, { method: 'POST' })).status, 200);
  const [healed] = await waitFor(async () => {
    const rs = ready(await replicasOf(id));
    return rs.length === 1 && rs[0]?.jobId !== sick.jobId ? rs : null;
  }, 'a new ready replica after the liveness failure');
  assert.ok(healed?.endpoint);
  await waitFor(async () => (await user('GET', `/v1/jobs/${sick.jobId}`)).body.state === 'cancelled', 'the sick one stopped');

  // The process dies (its job fails): the controller sees one replica fewer and starts another.
  assert.equal((await predict(healed.endpoint, '1')).model, 'v1');
  await fetch(`http://${healed.endpoint}/admin/crash`, { method: 'POST' }).catch(() => null);
  await waitFor(
    async () => (await user('GET', `/v1/jobs/${healed.jobId}`)).body.state === 'failed',
    'the crashed replica failed',
  );
  await waitFor(async () => {
    const rs = ready(await replicasOf(id));
    return rs.length === 1 && rs[0]?.jobId !== healed.jobId ? rs : null;
  }, 'a replacement for the stopped replica');
  assert.equal((await user('DELETE', `/v1/services/${id}`)).status, 204);
});
