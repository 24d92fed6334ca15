/**
 * The local driver's energy measurement with a stand-in nvidia-smi on PATH (no GPU machine: the real
 * nvidia-smi answers the same query). A real job runs on GPUs 0 and 1 while the stand-in reports
 * 300 W on GPU 0, an idle GPU 1 at 61.5 W and a busy GPU 2 that is not the job's at 500 W; the joules
 * reported with the exit are 361.5 W over the run, from its start to its end (the first reading held
 * back to the start, the last up to the end; the trapezoid itself is checked in gpu-power.test.ts).
 * A failing nvidia-smi leaves the run without a figure and the job unharmed; without the option
 * nothing is sampled.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createSiteDriver } from '../../src/drivers/config.js';
import { LocalDriver, type LocalDriverOptions } from '../../src/drivers/local-driver.js';
import { driverJob, fakeGpus, Recorder, uniqueId } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gigafab-local-power-'));
const drivers: LocalDriver[] = [];
after(async () => {
  for (const d of drivers) await d.close();
  rmSync(root, { recursive: true, force: true });
});

/** A stand-in answering discovery for 3 GPUs and, per `power`, the power query (logging each answer). */
function standIn(name: string, power: 'steady' | 'broken'): { env: NodeJS.ProcessEnv; log: string } {
  const dir = join(root, name);
  mkdirSync(dir);
  const log = join(dir, 'power.log');
  const gpus = fakeGpus(3).map((g) => `${g.index}, ${g.uuid}, ${g.name}, ${g.memoryMiB}, 00000000:1${g.index}:00.0, 570.133.20`);
  const steady = `echo sampled >> "${log}"; printf '%s\\n' '0, GPU-a, 300.00, 90' '1, GPU-b, 61.50, 0' '2, GPU-c, 500.00, 100'`;
  writeFileSync(
    join(dir, 'nvidia-smi'),
    `#!/bin/sh
case "$*" in
  *power.draw*) ${power === 'steady' ? steady : "echo 'NVIDIA-SMI has failed' >&2; exit 9"} ;;
  *--query-gpu=*) printf '%s\\n' ${gpus.map((r) => `'${r}'`).join(' ')} ;;
  *) exit 0 ;;
esac
`,
  );
  chmodSync(join(dir, 'nvidia-smi'), 0o755);
  return { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, log };
}

function newDriver(env: NodeJS.ProcessEnv, over: Partial<LocalDriverOptions> = {}) {
  const driver = new LocalDriver({ baseDir: join(root, 'jobs'), discoveryEnv: env, pollIntervalMs: 100, ...over });
  drivers.push(driver);
  return { driver, rec: new Recorder(driver) };
}

test("a run's GPUs are sampled and integrated into the joules of its exit (the idle GPU it holds counts, another's not)", async () => {
  const { env, log } = standIn('steady', 'steady');
  const { driver, rec } = newDriver(env, { powerSampleSeconds: 0.2 });
  const id = uniqueId('power');
  await driver.start(driverJob(id, ['sleep', '1.5'], [{ node: 'box', gpus: [0, 1] }]));
  const started = await rec.started(id);
  const exited = await rec.exited(id);
  assert.equal(exited.outcome, 'completed');
  const samples = readFileSync(log, 'utf8').trim().split('\n').length;
  assert.ok(samples >= 4, `sampled every 0.2 s over 1.5 s, got ${samples} readings`);
  assert.ok(exited.energyJoules !== undefined, 'the exit carries the measured joules');
  // GPUs 0 and 1 (300 + 61.5 W) from the start to the end; GPU 2 is not the job's.
  const joules = (361.5 * (exited.at - started.at)) / 1000;
  assert.ok(Math.abs(exited.energyJoules - joules) < 1e-6, `reported ${exited.energyJoules} J, by hand ${joules} J`);
});

test('a failing nvidia-smi leaves the run without a figure and the job unharmed; no option, no sampling', async () => {
  const broken = standIn('broken', 'broken');
  const { driver, rec } = newDriver(broken.env, { powerSampleSeconds: 0.1 });
  const id = uniqueId('power-broken');
  await driver.start(driverJob(id, ['sh', '-c', 'sleep 0.4; exit 3'], [{ node: 'box', gpus: [0] }]));
  const exited = await rec.exited(id);
  assert.equal(exited.exitCode, 3);
  assert.equal(exited.energyJoules, undefined);

  const off = standIn('off', 'steady');
  const plain = newDriver(off.env);
  const id2 = uniqueId('power-off');
  await plain.driver.start(driverJob(id2, ['sleep', '0.3'], [{ node: 'box', gpus: [0] }]));
  const e2 = await plain.rec.exited(id2);
  assert.equal(e2.energyJoules, undefined);
  assert.throws(() => readFileSync(off.log), /ENOENT/, 'nvidia-smi was never asked for power');
});

test('the fleet file turns it on: driver { kind: local, measureEnergy: true, powerSampleSeconds }', async () => {
  const { env } = standIn('config', 'steady');
  const path = process.env.PATH;
  // The configured driver looks nvidia-smi up on the control plane's own PATH.
  process.env.PATH = env.PATH;
  try {
    const driver = createSiteDriver(
      {
        site: 'lab1',
        nodes: ['box'],
        driver: { kind: 'local', baseDir: join(root, 'jobs'), measureEnergy: true, powerSampleSeconds: 0.2 },
      },
      { timeScale: 1 },
    ) as LocalDriver;
    drivers.push(driver);
    const rec = new Recorder(driver);
    const id = uniqueId('power-config');
    await driver.start(driverJob(id, ['sleep', '0.5'], [{ node: 'box', gpus: [1] }]));
    const started = await rec.started(id);
    const exited = await rec.exited(id);
    // GPU 1 alone: its idle 61.5 W over the run.
    const joules = (61.5 * (exited.at - started.at)) / 1000;
    assert.ok(exited.energyJoules !== undefined && Math.abs(exited.energyJoules - joules) < 1e-6, String(exited.energyJoules));
  } finally {
    process.env.PATH = path;
  }
});
