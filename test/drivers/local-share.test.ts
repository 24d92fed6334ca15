/**
 * LocalDriver with GPU shares (fake nvidia-smi on PATH): a MIG allocation runs on a free MIG
 * instance of its profile (from `nvidia-smi -L`), never one another running job holds, and ends at
 * start with a clear sentence when there is none; a time-sliced share sees its GPU with the MPS
 * thread percentage and pinned memory limit.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseNvidiaSmiList } from '../../src/drivers/gpu-discovery.js';
import { LocalDriver } from '../../src/drivers/local-driver.js';
import { driverJob, fakeGpus, Recorder, readAllLogs, uniqueId, writeFakeNvidiaSmi } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gigafab-local-share-'));
const fakeBin = join(root, 'bin');
const gpus = fakeGpus(2);
const MIGS = [
  { gpu: 1, profile: '1g.23gb', uuid: 'MIG-aaaaaaaa-1111-2222-3333-444444444444' },
  { gpu: 1, profile: '1g.23gb', uuid: 'MIG-bbbbbbbb-1111-2222-3333-444444444444' },
  { gpu: 1, profile: '3g.90gb', uuid: 'MIG-cccccccc-1111-2222-3333-444444444444' },
];
writeFakeNvidiaSmi(fakeBin, 'gpus', gpus, MIGS);
const env = { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` };
const driver = new LocalDriver({ baseDir: join(root, 'jobs'), discoveryEnv: env, pollIntervalMs: 100 });
const rec = new Recorder(driver);

after(async () => {
  await driver.close();
  rmSync(root, { recursive: true, force: true });
});

test('nvidia-smi -L: MIG instances with their parent GPU, profile and UUID', () => {
  const text = [
    'GPU 0: NVIDIA B200 (UUID: GPU-0)',
    'GPU 1: NVIDIA B200 (UUID: GPU-1)',
    '  MIG 1g.23gb     Device  0: (UUID: MIG-aaa)',
    '  MIG 3g.90gb     Device  1: (UUID: MIG-ccc)',
  ].join('\n');
  assert.deepEqual(parseNvidiaSmiList(text), [
    { gpu: 1, profile: '1g.23gb', device: 0, uuid: 'MIG-aaa' },
    { gpu: 1, profile: '3g.90gb', device: 1, uuid: 'MIG-ccc' },
  ]);
});

test('MIG jobs get distinct MIG instances of their profile; a third finds none and ends at start', async () => {
  const mig = [{ node: 'box', gpus: [1], milli: 143, migProfile: '1g.23gb' }];
  const cmd = ['sh', '-c', 'echo "cvd=$CUDA_VISIBLE_DEVICES profile=$GIGAFAB_MIG_PROFILE"; sleep 2'];
  const a = uniqueId('mig-a');
  const b = uniqueId('mig-b');
  const c = uniqueId('mig-c');
  await driver.start(driverJob(a, cmd, mig));
  await driver.start(driverJob(b, cmd, mig));
  await driver.start(driverJob(c, cmd, mig));
  const ended = await rec.exited(c);
  assert.match(ended.message ?? '', /mig_instance_missing: GPU 1 has no free MIG 1g\.23gb instance/);
  await rec.exited(a);
  await rec.exited(b);
  const outA = await readAllLogs(driver, a);
  const outB = await readAllLogs(driver, b);
  const uuids = [outA, outB].map((o) => /cvd=(\S+)/.exec(o)?.[1]).sort();
  assert.deepEqual(uuids, [MIGS[0].uuid, MIGS[1].uuid]);
  assert.match(outA, /profile=1g\.23gb/);
});

test('a time-sliced share sees its GPU with the MPS thread percentage and memory limit', async () => {
  const id = uniqueId('slice');
  const cmd = [
    'sh',
    '-c',
    'echo "cvd=$CUDA_VISIBLE_DEVICES pct=$CUDA_MPS_ACTIVE_THREAD_PERCENTAGE mem=$CUDA_MPS_PINNED_DEVICE_MEM_LIMIT milli=$GIGAFAB_GPU_MILLI"',
  ];
  await driver.start(driverJob(id, cmd, [{ node: 'box', gpus: [1], milli: 250, memoryMiB: 8192 }]));
  await rec.exited(id);
  assert.match(await readAllLogs(driver, id), /cvd=1 pct=25 mem=0=8192M milli=250/);
});
