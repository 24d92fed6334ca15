/**
 * Sessions and service replicas on the Kubernetes driver, against RECORDED Kubernetes API exchanges
 * (test/drivers/recordings/kubernetes/session-*.json, service-replicas.json, requeue-attempt.json),
 * served by the replay server (kubernetes-replay.ts): no API server can run here. Polls are driven by
 * pollNow() (the driver's own timer is set far off), so every exchange comes in a known order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DriverJob } from '../../src/drivers/driver.js';
import {
  attemptOf,
  baseName,
  KubernetesDriver,
  type KubernetesDriverOptions,
  podName,
} from '../../src/drivers/kubernetes-driver.js';
import { driverJob, eventually, Recorder } from './fixtures.js';
import { loadRecording, ReplayServer } from './kubernetes-replay.js';
import { assertValidKubeObjects, PodSchema, ServiceSchema } from './kubernetes-schema.js';

const servers: ReplayServer[] = [];
const drivers: KubernetesDriver[] = [];

after(async () => {
  for (const d of drivers) await d.close();
  for (const s of servers) await s.close();
});

async function replay(name: string): Promise<ReplayServer> {
  const s = new ReplayServer(loadRecording(name));
  await s.listen();
  servers.push(s);
  return s;
}

let tokenPath = '';
function newDriver(server: ReplayServer, over: Partial<KubernetesDriverOptions> = {}) {
  if (!tokenPath) {
    tokenPath = join(mkdtempSync(join(tmpdir(), 'gigafab-k8s-wl-')), 'token');
    writeFileSync(tokenPath, 'test-token\n', { mode: 0o600 });
  }
  const driver = new KubernetesDriver({
    apiServer: server.url,
    tokenFile: tokenPath,
    nodeMap: { 'muc-a': 'dgx01', 'muc-b': 'dgx02' },
    instance: 'muc1',
    pollIntervalMs: 3_600_000, // polls by pollNow() only
    nodePollIntervalMs: 0,
    ...over,
  });
  drivers.push(driver);
  return { driver, rec: new Recorder(driver) };
}

const posted = (server: ReplayServer, kind: 'pods' | 'services') =>
  server.seen.filter((r) => r.method === 'POST' && r.path.endsWith(`/${kind}`));

function envOf(body: unknown): Record<string, string> {
  const env = PodSchema.parse(body).spec.containers[0].env ?? [];
  return Object.fromEntries(env.flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])));
}

/** The Service selects the pod: every selector label is on the pod, and it includes the attempt. */
function assertSelects(svcBody: unknown, podBody: unknown, port: number): void {
  const svc = ServiceSchema.parse(svcBody);
  const pod = PodSchema.parse(podBody);
  assert.equal(svc.spec.type, 'ClusterIP');
  assert.notEqual(svc.spec.clusterIP, 'None', 'a ClusterIP Service, not headless');
  assert.ok(svc.spec.selector?.['gigafab.dev/attempt'], 'the selector names the attempt');
  for (const [k, v] of Object.entries(svc.spec.selector ?? {})) assert.equal(pod.metadata.labels?.[k], v, `selects by ${k}`);
  assert.deepEqual(svc.spec.ports, [{ name: 'workload', protocol: 'TCP', port, targetPort: port }]);
  assert.deepEqual(pod.spec.containers[0].ports, [{ name: 'workload', containerPort: port, protocol: 'TCP' }]);
  assert.equal(pod.spec.hostname, undefined, 'no gang DNS wiring for a 1-node run');
}

describe('kubernetes driver: sessions and services (recorded API)', () => {
  test('a Jupyter session: Service then Pod with its port and a TCP readiness probe; started with the Service DNS endpoint only once Ready; stop deletes pod and Service', async () => {
    const server = await replay('session-ready');
    const { driver, rec } = newDriver(server);
    const job = driverJob('nb-1', [], [{ node: 'muc-a', gpus: [0] }], {
      project: 'vision',
      image: 'quay.io/jupyter/base-notebook:2026-11-20',
      kind: 'session',
      session: { preset: 'jupyter' },
      env: { PORT: '1234' },
    });
    await driver.start(job);
    const [svcReq] = posted(server, 'services');
    const [podReq] = posted(server, 'pods');
    assert.ok(server.seen.indexOf(svcReq) < server.seen.indexOf(podReq), 'the Service comes before the pod');
    assertSelects(svcReq.body, podReq.body, 8888);
    const pod = PodSchema.parse(podReq.body);
    const c = pod.spec.containers[0];
    assert.deepEqual(c.readinessProbe, { tcpSocket: { port: 8888 }, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 1 });
    assert.equal(c.livenessProbe, undefined, 'no liveness without a declared one');
    assert.equal(c.command?.[0], '/bin/sh');
    assert.match(c.command?.[2] ?? '', /jupyter-notebook --ip=0\.0\.0\.0 --port="\$GIGAFAB_PORT" --notebook-dir=\/scratch/);
    const env = envOf(podReq.body);
    assert.equal(env.GIGAFAB_PORT, '8888');
    assert.equal(env.GIGAFAB_BIND, '0.0.0.0', 'a pod is reached from outside: it listens on every address');
    assert.equal(env.PORT, '8888', "gigafab's PORT wins over the job's own");

    await driver.pollNow(); // Pending
    await driver.pollNow(); // Running, not Ready
    assert.equal(rec.of('nb-1').length, 0, 'Running but not Ready: not started');
    await driver.pollNow(); // Ready
    const started = await rec.started('nb-1', 1000);
    assert.deepEqual(started.endpoint, { host: 'gf-nb-1.gigafab-vision.svc.cluster.local', port: 8888 });
    assert.match(started.message, /Ready, serving at gf-nb-1\.gigafab-vision\.svc\.cluster\.local:8888/);
    await driver.pollNow(); // still Ready: reported once
    assert.equal(rec.of('nb-1').length, 1);

    await driver.stop('nb-1', 5);
    const e = await rec.exited('nb-1', 3000);
    assert.equal(e.outcome, 'cancelled');
    await eventually(() => server.writes().length === 4, 3000, 'the Service deleted');
    assert.deepEqual(server.writes(), [
      'POST /api/v1/namespaces/gigafab-vision/services',
      'POST /api/v1/namespaces/gigafab-vision/pods',
      'DELETE /api/v1/namespaces/gigafab-vision/pods/gf-nb-1-0',
      'DELETE /api/v1/namespaces/gigafab-vision/services/gf-nb-1',
    ]);
    server.assertDone();
    assert.equal(assertValidKubeObjects(server.seen), 3, 'Service, Pod and DeleteOptions are valid objects');
  });

  test("a 2-replica service: one ClusterIP Service per replica, the service's readiness and liveness probes, each replica's own endpoint", async () => {
    const server = await replay('service-replicas');
    const probes = {
      readiness: { path: '/health', periodSeconds: 1.5, timeoutSeconds: 0.5, failureThreshold: 2 },
      liveness: { path: '/health', periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
    };
    const asked: string[] = [];
    const { driver, rec } = newDriver(server, {
      probesOf: (id) => {
        asked.push(id);
        return id === 'chat' ? probes : undefined;
      },
      orgOf: () => undefined,
    });
    const replica = (n: number, node: string): DriverJob =>
      driverJob(`chat-r${n}`, ['vllm', 'serve', '/models/llama'], [{ node, gpus: [0] }], {
        project: 'chat',
        image: 'harbor.eu.example/llm/vllm-openai:0.6.4',
        kind: 'service',
        service: { id: 'chat', port: 8000 },
      });
    await driver.start(replica(1, 'muc-a'));
    await driver.start(replica(2, 'muc-b'));
    assert.deepEqual(asked, ['chat', 'chat']);
    const svcs = posted(server, 'services');
    const pods = posted(server, 'pods');
    assert.equal(svcs.length, 2, 'one Service per replica');
    for (const i of [0, 1]) {
      assertSelects(svcs[i].body, pods[i].body, 8000);
      assert.equal(ServiceSchema.parse(svcs[i].body).metadata.name, `gf-chat-r${i + 1}`);
      // Each Service selects only its own replica's pod.
      const other = PodSchema.parse(pods[1 - i].body);
      const sel = ServiceSchema.parse(svcs[i].body).spec.selector ?? {};
      assert.ok(
        Object.entries(sel).some(([k, v]) => other.metadata.labels?.[k] !== v),
        'not the other replica',
      );
      const c = PodSchema.parse(pods[i].body).spec.containers[0];
      assert.deepEqual(c.readinessProbe, {
        httpGet: { path: '/health', port: 8000, scheme: 'HTTP' },
        periodSeconds: 2, // Kubernetes counts whole seconds: 1.5 → 2, 0.5 → 1
        timeoutSeconds: 1,
        failureThreshold: 2,
      });
      assert.deepEqual(c.livenessProbe, {
        httpGet: { path: '/health', port: 8000, scheme: 'HTTP' },
        periodSeconds: 5,
        timeoutSeconds: 2,
        failureThreshold: 3,
      });
      assert.deepEqual(c.command, ['vllm', 'serve', '/models/llama']);
    }
    await driver.pollNow();
    const s1 = await rec.started('chat-r1', 1000);
    const s2 = await rec.started('chat-r2', 1000);
    assert.deepEqual(s1.endpoint, { host: 'gf-chat-r1.gigafab-chat.svc.cluster.local', port: 8000 });
    assert.deepEqual(s2.endpoint, { host: 'gf-chat-r2.gigafab-chat.svc.cluster.local', port: 8000 });
    server.assertDone();
    assert.equal(assertValidKubeObjects(server.seen), 4);
  });

  test('readiness failing: the pod runs but is never Ready, so no started and no endpoint; stop removes pod and Service', async () => {
    const server = await replay('session-not-ready');
    const { driver, rec } = newDriver(server);
    await driver.start(
      driverJob('demo-3', ['python', 'app.py'], [{ node: 'muc-b', gpus: [0] }], {
        project: 'vision',
        image: 'harbor.eu.example/demo/gradio-app:1.4',
        kind: 'session',
        session: { preset: 'http', port: 7860 },
      }),
    );
    assertSelects(posted(server, 'services')[0].body, posted(server, 'pods')[0].body, 7860);
    for (let i = 0; i < 4; i++) await driver.pollNow();
    assert.deepEqual(rec.of('demo-3'), [], 'never Ready: nothing reported');
    await driver.stop('demo-3', 0);
    assert.equal((await rec.exited('demo-3', 3000)).outcome, 'cancelled');
    await eventually(
      () => server.writes().includes('DELETE /api/v1/namespaces/gigafab-vision/services/gf-demo-3'),
      3000,
      'Service deleted',
    );
    assert.equal(
      rec.of('demo-3').some((o) => o.type === 'started'),
      false,
    );
    server.assertDone();
    assertValidKubeObjects(server.seen);
  });

  test('a requeued job (attempt 2) gets its own pod name and attempt label; the earlier Failed pod listed beside it is not its own', async () => {
    const server = await replay('requeue-attempt');
    const { driver, rec } = newDriver(server);
    const job = {
      ...driverJob('ft-9', ['python', 'finetune.py'], [{ node: 'muc-a', gpus: [0] }], {
        project: 'robotics',
        image: 'nvcr.io/nvidia/pytorch:25.01-py3',
      }),
      attempt: 2,
    };
    await driver.start(job);
    const pod = PodSchema.parse(posted(server, 'pods')[0].body);
    assert.equal(pod.metadata.name, 'gf-ft-9-a2-0');
    assert.equal(pod.metadata.labels?.['gigafab.dev/attempt'], '2');
    assert.equal(pod.metadata.annotations?.['gigafab.dev/attempt'], '2');
    await driver.pollNow(); // attempt 1 Failed (137) + attempt 2 Running
    await rec.started('ft-9', 1000);
    assert.equal(rec.of('ft-9').length, 1, "attempt 1's Failed pod does not end attempt 2");
    await driver.pollNow(); // attempt 2 Succeeded
    const e = await rec.exited('ft-9', 1000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 0);
    server.assertDone();
    assertValidKubeObjects(server.seen);
  });

  test("reattach: the current attempt of a session is followed again and reported with its endpoint once Ready; an earlier attempt's live pod and its Service are removed", async () => {
    const server = await replay('session-reattach');
    const { driver, rec } = newDriver(server);
    const job = {
      ...driverJob('nb-7', [], [{ node: 'muc-a', gpus: [0] }], {
        project: 'vision',
        image: 'quay.io/jupyter/base-notebook:2026-11-20',
        kind: 'session',
        session: { preset: 'jupyter' },
      }),
      attempt: 2,
    };
    await driver.reattach([job]);
    assert.deepEqual(driver.lastReconcile, {
      lost: [],
      orphans: [{ jobId: 'nb-7', namespace: 'gigafab-vision', pods: ['gf-nb-7-0'], action: 'deleted' }],
    });
    await driver.pollNow();
    await driver.pollNow();
    const started = await rec.started('nb-7', 2000);
    assert.deepEqual(started.endpoint, { host: 'gf-nb-7-a2.gigafab-vision.svc.cluster.local', port: 8888 });
    assert.deepEqual(server.writes(), [
      'DELETE /api/v1/namespaces/gigafab-vision/pods/gf-nb-7-0',
      'DELETE /api/v1/namespaces/gigafab-vision/services/gf-nb-7',
    ]);
    server.assertDone();
  });

  test("forget: every attempt's pods, Services and Secrets are removed", async () => {
    const server = await replay('session-forget-attempts');
    const { driver } = newDriver(server);
    await driver.forget('nb-8');
    const ns = '/api/v1/namespaces/gigafab-vision';
    assert.deepEqual(server.writes(), [
      `DELETE ${ns}/pods/gf-nb-8-0`,
      `DELETE ${ns}/pods/gf-nb-8-a2-0`,
      ...['gf-nb-8', 'gf-nb-8-a2'].flatMap((b) => [
        `DELETE ${ns}/services/${b}`,
        `DELETE ${ns}/secrets/${b}-env`,
        `DELETE ${ns}/secrets/${b}-pull`,
      ]),
    ]);
    assert.equal(driver.lastForgetError, '');
    server.assertDone();
  });

  test('names: attempt 1 keeps the names pods were given before attempts were recorded; later attempts stay valid names', () => {
    assert.equal(podName('ft-9', 0), 'gf-ft-9-0');
    assert.equal(podName('ft-9', 0, 1), 'gf-ft-9-0');
    assert.equal(podName('ft-9', 1, 3), 'gf-ft-9-a3-1');
    assert.equal(baseName('ft-9', 2), 'gf-ft-9-a2');
    const long = `${'x'.repeat(60)}.Weird_ID`;
    for (const a of [1, 2, 999]) {
      const n = podName(long, 7, a);
      assert.ok(n.length <= 63 && /^[a-z][-a-z0-9]*[a-z0-9]$/.test(n), n);
    }
    assert.equal(attemptOf({ metadata: { name: 'p' } }), 1, 'no annotation: attempt 1');
    assert.equal(attemptOf({ metadata: { name: 'p', annotations: { 'gigafab.dev/attempt': '4' } } }), 4);
  });

  test('the schema check refuses a probe with two handlers and a probe on a port the container does not name', () => {
    const pod = (container: Record<string, unknown>) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'main', image: 'i', ...container }] },
    });
    assert.ok(PodSchema.safeParse(pod({ readinessProbe: { tcpSocket: { port: 80 } } })).success);
    assert.ok(!PodSchema.safeParse(pod({ readinessProbe: { tcpSocket: { port: 80 }, httpGet: { port: 80 } } })).success);
    assert.ok(!PodSchema.safeParse(pod({ readinessProbe: { tcpSocket: { port: 'web' } } })).success);
    assert.ok(!PodSchema.safeParse(pod({ readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 0 } })).success);
    assert.ok(!PodSchema.safeParse(pod({ ports: [{ containerPort: 70000 }] })).success);
  });
});
