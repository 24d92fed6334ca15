/**
 * LocalDriver carries out a start's GPU re-partitions through a stateful nvidia-smi stand-in (MIG
 * mode and instances kept in a file, refusals as the real tool's): whole → MIG turns MIG mode on and
 * cuts the instance the job needs, whose MIG UUID becomes CUDA_VISIBLE_DEVICES; MIG → whole destroys
 * the instances and turns MIG mode off; a refusal (the GPU busy) ends the start with a clear sentence.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DriverJob } from '../../src/drivers/driver.js';
import { LocalDriver } from '../../src/drivers/local-driver.js';
import type { GpuRepartition } from '../../src/model/gpu-sharing.js';
import { driverJob, fakeGpus, Recorder, readAllLogs, uniqueId, writeStatefulNvidiaSmi } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gigafab-local-mig-'));
const fakeBin = join(root, 'bin');
const smi = writeStatefulNvidiaSmi(fakeBin, fakeGpus(2, 'NVIDIA B200'));
const env = { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` };
const driver = new LocalDriver({ baseDir: join(root, 'jobs'), discoveryEnv: env, pollIntervalMs: 100 });
const rec = new Recorder(driver);
const CMD = ['sh', '-c', 'echo "cvd=$CUDA_VISIBLE_DEVICES"'];

after(async () => {
  await driver.close();
  rmSync(root, { recursive: true, force: true });
});

function withRepartition(job: DriverJob, ...reps: GpuRepartition[]): DriverJob {
  return { ...job, repartitions: reps };
}
const rep = (gpu: number, from: 'whole' | 'mig', to: 'whole' | 'mig'): GpuRepartition => ({
  node: 'box',
  gpu,
  from,
  to,
  reason: 'mig_repartition',
});

test('whole → MIG: MIG mode on, the instance cut, its MIG UUID is CUDA_VISIBLE_DEVICES; then back to whole', async () => {
  const mig = [{ node: 'box', gpus: [0], milli: 143, migProfile: '1g.23gb' }];
  const a = uniqueId('mig-a');
  await driver.start(withRepartition(driverJob(a, CMD, mig), rep(0, 'whole', 'mig')));
  const endedA = await rec.exited(a);
  assert.equal(endedA.exitCode, 0, endedA.message);
  let st = smi.read();
  assert.equal(st.gpus[0].mig, true);
  assert.equal(st.gpus[0].instances.length, 1);
  assert.equal(st.gpus[1].mig, false, 'the other GPU is untouched');
  const uuid = st.gpus[0].instances[0].uuid;
  assert.match(await readAllLogs(driver, a), new RegExp(`cvd=${uuid}\\b`));
  assert.ok(st.calls.some((c) => c.join(' ') === '-i 0 -mig 1'));
  assert.ok(st.calls.some((c) => c.join(' ') === 'mig -i 0 -cgi 1g.23gb -C'));

  // The instance stays: the next MIG job of the profile reuses it (no re-partition, nothing created).
  const b = uniqueId('mig-b');
  await driver.start(driverJob(b, CMD, mig));
  await rec.exited(b);
  assert.match(await readAllLogs(driver, b), new RegExp(`cvd=${uuid}\\b`));
  assert.equal(smi.read().gpus[0].instances.length, 1);

  const w = uniqueId('whole');
  await driver.start(withRepartition(driverJob(w, CMD, [{ node: 'box', gpus: [0] }]), rep(0, 'mig', 'whole')));
  const endedW = await rec.exited(w);
  assert.equal(endedW.exitCode, 0, endedW.message);
  st = smi.read();
  assert.equal(st.gpus[0].mig, false);
  assert.deepEqual(st.gpus[0].instances, []);
  assert.match(await readAllLogs(driver, w), /cvd=0\b/);
  const order = st.calls.map((c) => c.join(' '));
  assert.ok(order.indexOf('mig -i 0 -dci') < order.indexOf('mig -i 0 -dgi'), 'compute instances before GPU instances');
  assert.ok(order.indexOf('mig -i 0 -dgi') < order.lastIndexOf('-i 0 -mig 0'), 'instances before MIG mode off');
});

test('a refused re-partition (the GPU in use) ends the start with a clear sentence; the GPU stays whole', async () => {
  const st = smi.read();
  st.gpus[1].busy = true;
  smi.write(st);
  const id = uniqueId('mig-busy');
  await driver.start(
    withRepartition(driverJob(id, CMD, [{ node: 'box', gpus: [1], milli: 143, migProfile: '1g.23gb' }]), rep(1, 'whole', 'mig')),
  );
  const ended = await rec.exited(id);
  assert.equal(ended.exitCode, null, 'ended at start: the command never ran');
  assert.match(
    ended.message ?? '',
    /mig_repartition_failed: GPU 1 of box could not be re-partitioned from whole to mig: nvidia-smi -i 1 -mig 1 failed: Unable to enable MIG Mode for GPU 1: In use by another client/,
  );
  assert.equal(smi.read().gpus[1].mig, false);
});

test('idle instances of other profiles left on a MIG GPU are destroyed to cut the one a start needs; held ones never', async () => {
  // GPU 1 in MIG mode, its 7 compute slices taken by idle 1g instances of earlier jobs.
  const st = smi.read();
  st.gpus[1] = {
    ...st.gpus[1],
    mig: true,
    busy: false,
    instances: Array.from({ length: 7 }, (_, k) => ({ profile: '1g.23gb', gi: k + 1, uuid: `MIG-old-${k}` })),
  };
  smi.write(st);
  const big = [{ node: 'box', gpus: [1], milli: 429, migProfile: '3g.90gb' }];
  const id = uniqueId('mig-3g');
  await driver.start(driverJob(id, CMD, big));
  const ended = await rec.exited(id);
  assert.equal(ended.exitCode, 0, ended.message);
  const after = smi.read().gpus[1];
  assert.deepEqual(
    after.instances.map((m) => m.profile),
    ['3g.90gb'],
  );
  assert.match(await readAllLogs(driver, id), new RegExp(`cvd=${after.instances[0].uuid}\\b`));

  // An instance a running job holds is never destroyed: the start that lacks room ends, saying why.
  const hold = uniqueId('mig-hold');
  await driver.start(driverJob(hold, ['sleep', '5'], big));
  await rec.started(hold);
  const other = uniqueId('mig-7g');
  await driver.start(driverJob(other, CMD, [{ node: 'box', gpus: [1], milli: 1000, migProfile: '7g.180gb' }]));
  const refused = await rec.exited(other);
  assert.equal(refused.exitCode, null, 'ended at start');
  assert.match(refused.message ?? '', /no free MIG 7g\.180gb instance .*Insufficient Resources/);
  assert.deepEqual(
    smi.read().gpus[1].instances.map((m) => m.profile),
    ['3g.90gb'],
  );
  await driver.stop(hold, 1);
  await rec.exited(hold);
});
