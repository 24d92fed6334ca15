/**
 * GPU shares in the Slurm and Kubernetes drivers: Slurm gets the MIG gres type named by the profile
 * or shards of one GPU; Kubernetes gets nvidia.com/mig-<profile> (checked against a recorded
 * exchange, as the other Kubernetes tests) or a time-sliced replica, with the share's variables.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gpuLimits, KubernetesDriver } from '../../src/drivers/kubernetes-driver.js';
import { sbatchArgs } from '../../src/drivers/slurm/slurm-22.05.js';
import { shareGres } from '../../src/drivers/slurm-driver.js';
import { driverJob, Recorder } from './fixtures.js';
import { loadRecording, ReplayServer } from './kubernetes-replay.js';
import { assertValidKubeObjects, PodSchema } from './kubernetes-schema.js';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

test('Slurm: a MIG share asks for its MIG gres type, a time-sliced share for shards, whole GPUs as before', () => {
  assert.equal(shareGres({ node: 'n', gpus: [0], milli: 143, migProfile: '1g.23gb' }, 100), 'gpu:1g.23gb:1');
  assert.equal(shareGres({ node: 'n', gpus: [0], milli: 250 }, 100), 'shard:25');
  assert.equal(shareGres({ node: 'n', gpus: [0], milli: 1 }, 8), 'shard:1', 'at least one shard');
  assert.equal(shareGres({ node: 'n', gpus: [0, 1] }, 100), undefined);
  const base = {
    jobName: 'gigafab-1',
    comment: 'gigafab:x',
    nodes: ['dgx01'],
    gpusPerNode: 1,
    timeLimitMinutes: 10,
    workDir: '/w',
    outputPath: '/w/out',
    scriptPath: '/w/job.sh',
    exitFile: '/w/exit',
    command: ['true'],
  };
  const args = sbatchArgs({ ...base, gres: 'shard:25' });
  assert.ok(args.includes('--gres=shard:25'));
  assert.ok(!args.includes('--gres=gpu:1'), 'the share replaces the whole-GPU gres');
  assert.ok(sbatchArgs(base).includes('--gres=gpu:1'));
});

test('Kubernetes: MIG → nvidia.com/mig-<profile>, time slice → nvidia.com/gpu.shared, whole → nvidia.com/gpu', () => {
  assert.deepEqual(gpuLimits({ node: 'n', gpus: [2], milli: 143, migProfile: '1g.23gb' }), { 'nvidia.com/mig-1g.23gb': '1' });
  assert.deepEqual(gpuLimits({ node: 'n', gpus: [2], milli: 250 }), { 'nvidia.com/gpu.shared': '1' });
  assert.deepEqual(gpuLimits({ node: 'n', gpus: [0, 1] }), { 'nvidia.com/gpu': '2' });
});

test('Kubernetes (recorded exchange): a MIG job sends a Pod asking for nvidia.com/mig-1g.23gb with its share variables', async () => {
  const server = new ReplayServer(loadRecording('mig-share'));
  await server.listen();
  closers.push(() => server.close());
  const token = join(mkdtempSync(join(tmpdir(), 'gigafab-k8s-share-')), 'token');
  writeFileSync(token, 'test-token\n', { mode: 0o600 });
  const driver = new KubernetesDriver({
    apiServer: server.url,
    tokenFile: token,
    nodeMap: { 'muc-a': 'dgx01' },
    instance: 'muc1',
    pollIntervalMs: 30,
    nodePollIntervalMs: 0,
  });
  closers.push(() => driver.close());
  const rec = new Recorder(driver);
  const job = driverJob('mig-1', ['torchrun'], [{ node: 'muc-a', gpus: [0], milli: 143, migProfile: '1g.23gb' }], {
    project: 'robotics',
    image: 'harbor.eu.example/ml/train:1.4',
    migProfile: '1g.23gb',
  });
  await driver.start(job);
  const e = await rec.exited('mig-1', 5000);
  assert.equal(e.exitCode, 0);
  const pod = server.seen.find((r) => r.method === 'POST' && r.path.endsWith('/pods'));
  const spec = PodSchema.parse(pod?.body).spec;
  assert.deepEqual(spec.containers[0].resources?.limits, { 'nvidia.com/mig-1g.23gb': '1' });
  const env = Object.fromEntries((spec.containers[0].env ?? []).map((v) => [v.name, v.value]));
  assert.equal(env.GIGAFAB_GPU_MILLI, '143');
  assert.equal(env.GIGAFAB_MIG_PROFILE, '1g.23gb');
  assert.ok(assertValidKubeObjects(server.seen) >= 1);
  server.assertDone();
});
