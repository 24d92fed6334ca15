/**
 * KubernetesDriver against RECORDED Kubernetes API exchanges (test/drivers/recordings/kubernetes/),
 * served by a replay server on 127.0.0.1 (kubernetes-replay.ts): no API server can run here, so this
 * checks the requests the driver sends and how it reads realistic v1 answers, not a live cluster.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createSiteDriver, DriverConfigSchema } from '../../src/drivers/config.js';
import type { DriverJob } from '../../src/drivers/driver.js';
import { jobLabel, KubernetesDriver, type KubernetesDriverOptions, podName } from '../../src/drivers/kubernetes-driver.js';
import { masterPort } from '../../src/drivers/rendezvous.js';
import { runDriverConformance } from './driver.case.js';
import { driverJob, eventually, Recorder, readAllLogs } from './fixtures.js';
import { type Json, loadRecording, ReplayServer, type SeenRequest } from './kubernetes-replay.js';
import { assertValidKubeObjects, PodSchema, ServiceSchema } from './kubernetes-schema.js';

const servers: ReplayServer[] = [];
const drivers: KubernetesDriver[] = [];

async function replay(name: string): Promise<ReplayServer> {
  const s = new ReplayServer(loadRecording(name));
  await s.listen();
  servers.push(s);
  return s;
}

function newDriver(
  server: ReplayServer,
  over: Partial<KubernetesDriverOptions> = {},
): { driver: KubernetesDriver; rec: Recorder } {
  const driver = new KubernetesDriver({
    apiServer: server.url,
    tokenFile: tokenFile(),
    nodeMap: { 'muc-a': 'dgx01', 'muc-b': 'dgx02', 'muc-c': 'dgx03', 'muc-d': 'dgx04' },
    instance: 'muc1',
    pollIntervalMs: 30,
    nodePollIntervalMs: 0,
    ...over,
  });
  drivers.push(driver);
  return { driver, rec: new Recorder(driver) };
}

let tokenPath = '';
function tokenFile(): string {
  if (!tokenPath) {
    tokenPath = join(mkdtempSync(join(tmpdir(), 'gigafab-k8s-')), 'token');
    writeFileSync(tokenPath, 'test-token\n', { mode: 0o600 });
  }
  return tokenPath;
}

/** envOf: a sent Pod's container env as name → value (secret references left out). */
function envOf(body: unknown): Record<string, string> {
  const env = PodSchema.parse(body).spec.containers[0].env ?? [];
  return Object.fromEntries(env.flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])));
}

/**
 * assertGangWiring: the gang's ranks can find each other, read off what was sent: the Service (sent
 * before any pod) selects every pod, each pod's hostname + subdomain make its DNS name, rank 0's name
 * is every rank's MASTER_ADDR, and the port, world size and ranks agree.
 */
function assertGangWiring(server: ReplayServer, namespace: string, clusterDomain: string, nodes: string[]): void {
  const posts = server.seen.filter((r) => r.method === 'POST');
  const svcAt = posts.findIndex((r) => r.path === `/api/v1/namespaces/${namespace}/services`);
  const podsAt = posts.findIndex((r) => r.path === `/api/v1/namespaces/${namespace}/pods`);
  assert.ok(svcAt >= 0 && svcAt < podsAt, 'the Service is created before the pods');
  const svc = ServiceSchema.parse(posts[svcAt].body);
  assert.equal(svc.spec.clusterIP, 'None', 'headless');
  assert.equal(svc.spec.publishNotReadyAddresses, true);
  const pods = posts.filter((r) => r.path.endsWith('/pods')).map((r) => PodSchema.parse(r.body));
  assert.equal(pods.length, nodes.length, 'one pod per rank');
  const jobId = pods[0].metadata.annotations?.['gigafab.dev/job-id'] ?? '';
  const rank0 = `${pods[0].spec.hostname}.${svc.metadata.name}.${namespace}.svc.${clusterDomain}`;
  for (const [i, pod] of pods.entries()) {
    for (const [k, v] of Object.entries(svc.spec.selector ?? {}))
      assert.equal(pod.metadata.labels?.[k], v, `the Service selects rank ${i}`);
    assert.equal(pod.spec.hostname, podName(jobId, i));
    assert.equal(pod.spec.subdomain, svc.metadata.name);
    assert.equal(pod.metadata.annotations?.['gigafab.dev/node'], nodes[i], 'each rank on the node gigafab placed it on');
    const env = envOf(pod);
    assert.equal(env.MASTER_ADDR, rank0);
    assert.equal(env.MASTER_PORT, String(masterPort(jobId)));
    assert.equal(svc.spec.ports?.[0].port, masterPort(jobId));
    assert.equal(env.WORLD_SIZE, String(nodes.length));
    assert.equal(env.GIGAFAB_NODE_COUNT, String(nodes.length));
    for (const k of ['NODE_RANK', 'RANK', 'GIGAFAB_NODE_INDEX']) assert.equal(env[k], String(i), `${k} of rank ${i}`);
    assert.equal(env.LOCAL_RANK, '0');
    assert.equal(env.GIGAFAB_NODES, nodes.join(','));
  }
}

after(async () => {
  for (const d of drivers) await d.close();
  for (const s of servers) await s.close();
});

let confServer: ReplayServer | null = null;
runDriverConformance({
  name: 'kubernetes (recorded API)',
  makeDriver: async () => {
    confServer = await replay('conformance');
    return newDriver(confServer, {
      nodeMap: { 'muc-a': 'gpu-node-01' },
      instance: 'conf',
      defaultImage: 'docker.io/library/busybox:1.36',
      timeoutGraceSeconds: 1,
    }).driver;
  },
  placement: () => [{ node: 'muc-a', gpus: [0] }],
  waitMs: 5000,
});

describe('kubernetes driver against recorded API exchanges', () => {
  test('the conformance run sent exactly the recorded requests', async () => {
    assert.ok(confServer, 'conformance suite ran first');
    confServer.assertDone();
    for (const t of ['ok', 'bad', 'stop', 'limit']) assert.equal(confServer.templateCopies(t), 1, `one ${t} job`);
    assert.ok(confServer.seen.length > 10); // each with the bearer token from tokenFile (else `unexpected`)
    assert.ok(assertValidKubeObjects(confServer.seen) >= 4, 'the pods and deletions sent are valid Kubernetes objects');
    assert.ok(!confServer.writes().some((w) => w.includes('/services')), '1-node jobs get no Service');
  });

  test('a 2-node gang: Secret, headless Service, one bound Pod per rank; a failing member ends the job with its exit code', async () => {
    const server = await replay('gang-failure');
    const { driver, rec } = newDriver(server, { orgOf: (p) => (p === 'robotics' ? 'acme' : undefined) });
    const job = driverJob(
      'train-7',
      ['torchrun', 'train.py'],
      [
        { node: 'muc-a', gpus: [0, 1, 2, 3] },
        { node: 'muc-b', gpus: [4, 5, 6, 7] },
      ],
      { project: 'robotics', image: 'nvcr.io/nvidia/pytorch:25.01-py3', env: { FOO: 'bar' }, maxRuntimeSeconds: 7200 },
      { HF_TOKEN: 'hf_s3cr3t_value' },
    );
    await driver.start(job);
    const s = await rec.started('train-7', 5000);
    assert.match(s.message, /2 pod\(s\) in gigafab-robotics on dgx01, dgx02/);
    const e = await rec.exited('train-7', 5000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 3);
    assert.match(e.message, /gf-train-7-1 on muc-b exited 3/);
    await eventually(() => server.writes().length === 7, 2000, 'the service and the secret deleted');
    assert.deepEqual(server.writes(), [
      'POST /api/v1/namespaces/gigafab-robotics/secrets',
      'POST /api/v1/namespaces/gigafab-robotics/services',
      'POST /api/v1/namespaces/gigafab-robotics/pods',
      'POST /api/v1/namespaces/gigafab-robotics/pods',
      'DELETE /api/v1/namespaces/gigafab-robotics/pods/gf-train-7-0',
      'DELETE /api/v1/namespaces/gigafab-robotics/services/gf-train-7',
      'DELETE /api/v1/namespaces/gigafab-robotics/secrets/gf-train-7-env',
    ]);
    assert.ok(assertValidKubeObjects(server.seen) >= 5);
    assertGangWiring(server, 'gigafab-robotics', 'cluster.local', ['muc-a', 'muc-b']);
    const posts = server.seen.filter((r) => r.method === 'POST' && r.path.endsWith('/pods'));
    for (const [i, p] of posts.entries()) {
      const text = JSON.stringify(p.body);
      assert.ok(!text.includes('hf_s3cr3t_value'), 'the secret value is not in the Pod spec');
      assert.match(text, new RegExp(`"nodeName":"dgx0${i + 1}"`));
      assert.match(text, /"nvidia.com\/gpu":"4"/);
    }
    assert.ok(!JSON.stringify(rec.all).includes('hf_s3cr3t_value'), 'nor in an observation');
    const log = await readAllLogs(driver, 'train-7');
    assert.equal(log, '[muc-a] rank 0 up\n[muc-a] step 1 loss 2.31\n[muc-b] rank 1 up\n[muc-b] CUDA error: out of memory\n');
    server.assertDone();
  });

  test('a gang starts whole or not at all: a refused pod removes the ones created and the Service; a namespace race (409) is fine', async () => {
    const server = await replay('start-failure');
    const { driver, rec } = newDriver(server);
    const job = driverJob(
      'ft-1',
      ['true'],
      [
        { node: 'muc-a', gpus: [0, 1] },
        { node: 'muc-b', gpus: [0, 1] },
      ],
      { project: 'vision', image: 'busybox' },
    );
    await assert.rejects(driver.start(job), /HTTP 403 .*exceeded quota/);
    assert.deepEqual(server.writes(), [
      'POST /api/v1/namespaces',
      'POST /api/v1/namespaces/gigafab-vision/services',
      'POST /api/v1/namespaces/gigafab-vision/pods',
      'POST /api/v1/namespaces/gigafab-vision/pods',
      'DELETE /api/v1/namespaces/gigafab-vision/pods/gf-ft-1-0',
      'DELETE /api/v1/namespaces/gigafab-vision/services/gf-ft-1',
    ]);
    assertValidKubeObjects(server.seen);
    await driver.stop('ft-1', 5); // not followed: nothing sent
    assert.equal(rec.all.length, 0);
    server.assertDone();
  });

  test('reattach: known pods followed again, orphan pods deleted, finished orphans left, known jobs without pods lost', async () => {
    const server = await replay('reattach');
    const { driver, rec } = newDriver(server);
    const keep = driverJob('keep-1', ['sleep', '60'], [{ node: 'muc-a', gpus: [0] }], { project: 'robotics', image: 'busybox' });
    const gone = driverJob('gone-2', ['sleep', '60'], [{ node: 'muc-b', gpus: [0] }], { project: 'robotics', image: 'busybox' });
    await driver.reattach([keep, gone]);
    assert.deepEqual(driver.lastReconcile, {
      lost: ['gone-2'],
      orphans: [{ jobId: 'orphan-9', namespace: 'gigafab-robotics', pods: ['gf-orphan-9-0'], action: 'deleted' }],
    });
    const lost = await rec.exited('gone-2', 1000);
    assert.equal(lost.outcome, 'lost');
    const e = await rec.exited('keep-1', 5000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 0);
    assert.deepEqual(
      rec.of('keep-1').map((o) => o.type),
      ['exited'],
      'already started before the restart: no second started',
    );
    assert.deepEqual(server.writes(), ['DELETE /api/v1/namespaces/gigafab-robotics/pods/gf-orphan-9-0']);
    server.assertDone();
  });

  test('node states: NotReady → down, cordoned → draining, absent → down, then back up', async () => {
    const server = await replay('nodes');
    const { driver, rec } = newDriver(server);
    await driver.pollNodesNow();
    const states = Object.fromEntries(rec.nodes.map((n) => [n.node, n.state]));
    assert.deepEqual(states, { 'muc-a': 'up', 'muc-b': 'down', 'muc-c': 'draining', 'muc-d': 'down' });
    assert.match(rec.nodes.find((n) => n.node === 'muc-b')?.reason ?? '', /Kubelet stopped posting node status/);
    rec.nodes.length = 0;
    await driver.pollNodesNow();
    assert.deepEqual(
      rec.nodes.map((n) => `${n.node}=${n.state}`),
      ['muc-b=up', 'muc-c=up'],
      'only changes are reported',
    );
    server.assertDone();
  });

  test('refusals: no image, unmapped node, reserved env — nothing is sent', async () => {
    const server = await replay('nodes');
    const { driver } = newDriver(server);
    await assert.rejects(driver.start(driverJob('j1', ['true'], [{ node: 'muc-a', gpus: [0] }])), /no spec.image/);
    await assert.rejects(
      driver.start(driverJob('j2', ['true'], [{ node: 'elsewhere', gpus: [0] }], { image: 'busybox' })),
      /no Kubernetes node name/,
    );
    await assert.rejects(
      driver.start(driverJob('j3', ['true'], [{ node: 'muc-a', gpus: [0] }], { image: 'busybox', env: { GIGAFAB_JOB_ID: 'x' } })),
      /reserved/,
    );
    assert.equal(server.seen.length, 0);
  });

  test('names: pod names and label values stay valid for any job id', () => {
    assert.equal(podName('train-7', 1), 'gf-train-7-1');
    const odd = podName('Big_Job.v2', 0);
    assert.match(odd, /^gf-big-job-v2-[0-9a-f]{10}-0$/);
    assert.ok(podName('x'.repeat(128), 3).length <= 63);
    assert.equal(jobLabel('train-7'), 'train-7');
    assert.match(jobLabel('y'.repeat(100)), /^h-[0-9a-f]{40}$/);
  });

  test('config: kind kubernetes parses with defaults and builds the driver with mapped nodes', async () => {
    const cfg = DriverConfigSchema.parse({
      kind: 'kubernetes',
      apiServer: 'https://10.0.0.1:6443',
      nodeNames: { pattern: '^muc-(\\w)$', replace: 'dgx-$1' },
    });
    assert.equal(cfg.kind, 'kubernetes');
    if (cfg.kind !== 'kubernetes') return;
    assert.equal(cfg.namespacePrefix, 'gigafab-');
    assert.equal(cfg.pollIntervalMs, 1000);
    assert.equal(cfg.orphans, 'delete');
    assert.throws(() => DriverConfigSchema.parse({ kind: 'kubernetes', apiServer: 'not a url' }));
    const staged = DriverConfigSchema.parse({ kind: 'kubernetes', apiServer: 'https://k', datasetRoot: '/srv/datasets' });
    assert.equal(staged.kind === 'kubernetes' ? staged.datasetRoot : '', '/srv/datasets');
    assert.throws(
      () => DriverConfigSchema.parse({ kind: 'kubernetes', apiServer: 'https://k', datasetRoot: 'srv/datasets' }),
      'datasetRoot must be absolute',
    );
    const d = createSiteDriver(
      {
        site: 'muc1',
        nodes: ['muc-a'],
        driver: { kind: 'kubernetes', apiServer: 'http://127.0.0.1:1', tokenFile: tokenFile(), nodePollIntervalMs: 0 },
      },
      { timeScale: 1 },
    );
    assert.equal(d.name, 'kubernetes');
    await d.close();
  });
});

describe('kubernetes driver: private images (recorded API)', () => {
  test('registry credentials become an image pull secret, removed with the job; shm volume, limits, args', async () => {
    const server = await replay('image-pull-secret');
    const { driver, rec } = newDriver(server);
    const job = driverJob(
      'img-1',
      ['torchrun'],
      [{ node: 'muc-a', gpus: [0, 1] }],
      {
        project: 'robotics',
        image: 'harbor.eu.example/ml/train:1.4',
        args: ['train.py'],
        workingDir: '/workspace',
        resources: { memory: '64Gi', shmSize: '16g', cpus: 16 },
        registryCredentials: 'harbor',
      },
      { GIGAFAB_REGISTRY_AUTH: 'robot:pull-pass-1' },
    );
    job.datasets = [{ id: 'ds_scans', mode: 'ro' }];
    await driver.start(job);
    const e = await rec.exited('img-1', 5000);
    assert.equal(e.exitCode, 0);
    await eventually(() => server.writes().length === 3, 2000, 'the pull secret deleted');
    assert.deepEqual(server.writes(), [
      'POST /api/v1/namespaces/gigafab-robotics/secrets',
      'POST /api/v1/namespaces/gigafab-robotics/pods',
      'DELETE /api/v1/namespaces/gigafab-robotics/secrets/gf-img-1-pull',
    ]);
    const pod = server.seen.find((r) => r.method === 'POST' && r.path.endsWith('/pods'));
    assert.ok(!JSON.stringify(pod?.body).includes('pull-pass-1'), 'the credentials are not in the Pod spec (nor its env)');
    assert.ok(assertValidKubeObjects(server.seen) >= 2);
    const env = envOf(pod?.body);
    assert.equal(env.MASTER_ADDR, '127.0.0.1', 'a 1-node job is its own master: no Service, no DNS name');
    assert.equal(env.WORLD_SIZE, '1');
    // The job declares a dataset, but this site stages none (no datasetRoot): only /dev/shm and scratch.
    const spec = PodSchema.parse(pod?.body).spec;
    assert.deepEqual(spec.volumes, [
      { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '17179869184' } },
      { name: 'scratch', emptyDir: {} },
    ]);
    assert.equal(env.GIGAFAB_SCRATCH, '/scratch');
    assert.ok(!Object.keys(env).some((k) => k.startsWith('GIGAFAB_DATASET_DIR_')), 'no dataset directory variable');
    server.assertDone();
  });

  test('datasets: a hostPath volume per declared dataset (type Directory), read-only for reads, writable for writes; scratch as emptyDir', async () => {
    const server = await replay('datasets');
    const { driver, rec } = newDriver(server, { datasetRoot: '/srv/datasets' });
    const job: DriverJob = {
      ...driverJob('ds-1', ['python', 'derive.py'], [{ node: 'muc-a', gpus: [0] }], {
        project: 'robotics',
        image: 'harbor.eu.example/ml/train:1.4',
      }),
      datasets: [
        { id: 'ds_scans', mode: 'ro' },
        { id: 'ds-results', mode: 'rw' },
      ],
    };
    await driver.start(job);
    const e = await rec.exited('ds-1', 5000);
    assert.equal(e.exitCode, 0);
    const pod = server.seen.find((r) => r.method === 'POST' && r.path.endsWith('/pods'));
    assert.ok(assertValidKubeObjects(server.seen) >= 1);
    const spec = PodSchema.parse(pod?.body).spec;
    assert.deepEqual(spec.volumes, [
      { name: 'scratch', emptyDir: {} },
      { name: 'dataset-0', hostPath: { path: '/srv/datasets/ds_scans', type: 'Directory' } },
      { name: 'dataset-1', hostPath: { path: '/srv/datasets/ds-results', type: 'Directory' } },
    ]);
    assert.deepEqual(spec.containers[0].volumeMounts, [
      { name: 'scratch', mountPath: '/scratch' },
      { name: 'dataset-0', mountPath: '/datasets/ds_scans', readOnly: true },
      { name: 'dataset-1', mountPath: '/datasets/ds-results', readOnly: false },
    ]);
    const env = envOf(pod?.body);
    assert.equal(env.GIGAFAB_SCRATCH, '/scratch');
    assert.equal(env.GIGAFAB_DATASET_DIR_DS_SCANS, '/datasets/ds_scans');
    assert.equal(env.GIGAFAB_DATASET_DIR_DS_RESULTS, '/datasets/ds-results');
    server.assertDone();
  });

  test('datasets: an id that cannot name a directory refuses the job before any API call', async () => {
    const server = await replay('datasets');
    const { driver } = newDriver(server, { datasetRoot: '/srv/datasets' });
    const job: DriverJob = {
      ...driverJob('ds-bad', ['true'], [{ node: 'muc-a', gpus: [0] }], { project: 'robotics', image: 'busybox:1.36' }),
      datasets: [{ id: '../etc', mode: 'ro' }],
    };
    await assert.rejects(driver.start(job), /cannot name a directory/);
    assert.equal(server.seen.length, 0);
  });
});

describe('kubernetes driver: ssh sessions', () => {
  test('an ssh session is refused before any API call (sshd runs on local and Slurm nodes only)', async () => {
    const server = await replay('session-ready');
    const { driver } = newDriver(server, { defaultImage: 'busybox:1.36' });
    const job = driverJob('ssh-1', [], [{ node: 'muc-a', gpus: [0] }], {
      project: 'robotics',
      kind: 'session',
      session: { preset: 'ssh' },
    });
    await assert.rejects(
      driver.start({ ...job, spec: { ...job.spec, command: undefined } }),
      /ssh sessions run on local and slurm/,
    );
    assert.equal(server.seen.length, 0);
  });
});

describe('kubernetes driver: gangs (recorded API)', () => {
  test('cancel: the pods are deleted with the grace, then the headless Service; a MASTER_PORT set by the job is not sent', async () => {
    const server = await replay('gang-cancel');
    const { driver, rec } = newDriver(server, { clusterDomain: 'k8s.muc1.example' });
    const job = driverJob(
      'ddp-4',
      ['torchrun'],
      [
        { node: 'muc-c', gpus: [0, 1, 2, 3, 4, 5, 6, 7] },
        { node: 'muc-d', gpus: [0, 1, 2, 3, 4, 5, 6, 7] },
      ],
      {
        project: 'robotics',
        image: 'harbor.eu.example/ml/pytorch:25.01',
        args: ['--nnodes=2', 'train.py'],
        env: { NCCL_DEBUG: 'INFO', MASTER_PORT: '1234' },
      },
    );
    await driver.start(job);
    await rec.started('ddp-4', 5000);
    const before = server.writes().length;
    await driver.forget('ddp-4'); // still running: left alone
    assert.equal(server.writes().length, before, 'forget sends nothing for a running job');
    await driver.stop('ddp-4', 10);
    const e = await rec.exited('ddp-4', 5000);
    assert.equal(e.outcome, 'cancelled');
    await eventually(() => server.writes().length === 6, 2000, 'the service deleted');
    assert.deepEqual(server.writes(), [
      'POST /api/v1/namespaces/gigafab-robotics/services',
      'POST /api/v1/namespaces/gigafab-robotics/pods',
      'POST /api/v1/namespaces/gigafab-robotics/pods',
      'DELETE /api/v1/namespaces/gigafab-robotics/pods/gf-ddp-4-0',
      'DELETE /api/v1/namespaces/gigafab-robotics/pods/gf-ddp-4-1',
      'DELETE /api/v1/namespaces/gigafab-robotics/services/gf-ddp-4',
    ]);
    assert.ok(assertValidKubeObjects(server.seen) >= 5);
    assertGangWiring(server, 'gigafab-robotics', 'k8s.muc1.example', ['muc-c', 'muc-d']);
    server.assertDone();
  });

  test('forget after a restart: the ended pods are found by label and deleted; Service and Secrets are already gone', async () => {
    const server = await replay('gang-forget');
    const { driver } = newDriver(server);
    await driver.forget('done-3');
    assert.deepEqual(server.writes(), [
      'DELETE /api/v1/namespaces/gigafab-robotics/pods/gf-done-3-0',
      'DELETE /api/v1/namespaces/gigafab-robotics/pods/gf-done-3-1',
      'DELETE /api/v1/namespaces/gigafab-robotics/services/gf-done-3',
      'DELETE /api/v1/namespaces/gigafab-robotics/secrets/gf-done-3-env',
      'DELETE /api/v1/namespaces/gigafab-robotics/secrets/gf-done-3-pull',
    ]);
    assertValidKubeObjects(server.seen);
    assert.equal(await driver.logs('done-3', 0), null, 'nothing of the job is kept');
    assert.equal(driver.lastForgetError, '');
    server.assertDone();
  });

  test('reattach: a known gang is followed again and its Service removed at its end; an orphan gang loses pods and Service', async () => {
    const server = await replay('gang-reattach');
    const { driver, rec } = newDriver(server);
    const gang = driverJob(
      'ddp-9',
      ['torchrun'],
      [
        { node: 'muc-a', gpus: [0] },
        { node: 'muc-b', gpus: [0] },
      ],
      { project: 'robotics', image: 'busybox' },
    );
    await driver.reattach([gang]);
    assert.deepEqual(driver.lastReconcile, {
      lost: [],
      orphans: [{ jobId: 'orph-2', namespace: 'gigafab-robotics', pods: ['gf-orph-2-0', 'gf-orph-2-1'], action: 'deleted' }],
    });
    const e = await rec.exited('ddp-9', 5000);
    assert.equal(e.outcome, 'completed');
    await eventually(() => server.writes().length === 4, 2000, 'the gang Service deleted');
    assert.deepEqual(server.writes(), [
      'DELETE /api/v1/namespaces/gigafab-robotics/pods/gf-orph-2-0',
      'DELETE /api/v1/namespaces/gigafab-robotics/pods/gf-orph-2-1',
      'DELETE /api/v1/namespaces/gigafab-robotics/services/gf-orph-2',
      'DELETE /api/v1/namespaces/gigafab-robotics/services/gf-ddp-9',
    ]);
    assertValidKubeObjects(server.seen);
    server.assertDone();
  });

  test('forget is best effort: an API server that refuses does not fail it (an erasure goes on)', async () => {
    const server = await replay('nodes'); // holds no pod list: the request gets HTTP 500
    const { driver } = newDriver(server);
    await driver.forget('gone-5');
    assert.match(driver.lastForgetError, /^gone-5: GET \/api\/v1\/pods: HTTP 500/);
    assert.deepEqual(server.writes(), [], 'nothing deleted without knowing what');
  });

  test('the schema check catches what the API server would refuse', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'gf-x-0', namespace: 'gigafab-robotics' },
      spec: {
        hostname: 'gf-x-0',
        subdomain: 'gf-x',
        containers: [{ name: 'main', image: 'busybox', env: [{ name: 'A', value: '1' }] }],
      },
    };
    const post = (body: Json): SeenRequest => ({
      method: 'POST',
      path: '/api/v1/namespaces/gigafab-robotics/pods',
      query: {},
      body,
      servedBy: null,
    });
    assert.equal(assertValidKubeObjects([post(pod)]), 1);
    const bad: [string, Json][] = [
      [
        'duplicate env',
        {
          ...pod,
          spec: {
            ...pod.spec,
            containers: [
              {
                name: 'main',
                image: 'busybox',
                env: [
                  { name: 'A', value: '1' },
                  { name: 'A', value: '2' },
                ],
              },
            ],
          },
        },
      ],
      ['hostname not a DNS label', { ...pod, spec: { ...pod.spec, hostname: 'Rank_0' } }],
      ['unknown field', { ...pod, spec: { ...pod.spec, subDomain: 'gf-x' } }],
      [
        'numeric env value',
        { ...pod, spec: { ...pod.spec, containers: [{ name: 'main', image: 'busybox', env: [{ name: 'A', value: 1 }] }] } },
      ],
    ];
    for (const [what, body] of bad) assert.throws(() => assertValidKubeObjects([post(body)]), /not a valid Pod/, what);
    const svc = (name: string, port: number): SeenRequest => ({
      method: 'POST',
      path: '/api/v1/namespaces/gigafab-robotics/services',
      query: {},
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { clusterIP: 'None', ports: [{ port }] } },
      servedBy: null,
    });
    assert.equal(assertValidKubeObjects([svc('gf-x', 21000)]), 1);
    assert.throws(() => assertValidKubeObjects([svc('0-starts-with-digit', 21000)]), /not a valid Service/);
    assert.throws(() => assertValidKubeObjects([svc('gf-x', 70000)]), /not a valid Service/);
  });
});
