/**
 * GPU power sampling through an nvidia-smi stand-in on PATH (the real one on a GPU machine answers
 * the same query): readings parsed, [N/A] kept as no reading, a missing or broken nvidia-smi said
 * plainly; a job's energy integrated from samples of the GPUs it holds (trapezoid rule).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { JobPowerMeter, parsePowerCsv, samplePower } from '../../src/drivers/gpu-power.js';

function standIn(body: string): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-power-'));
  const path = join(dir, 'nvidia-smi');
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return { PATH: `${dir}:/usr/bin:/bin` };
}

test('samplePower reads power.draw and utilisation per GPU through nvidia-smi', async () => {
  const env = standIn(`case "$*" in
  *power.draw*) printf '%s\\n' '1, GPU-b, 312.45, 87' '0, GPU-a, [N/A], [N/A]' ;;
  *) exit 2 ;;
esac`);
  const r = await samplePower({ env, now: () => 1000 });
  assert.deepEqual(r, {
    kind: 'samples',
    at: 1000,
    gpus: [
      { index: 0, uuid: 'GPU-a', watts: null, utilisation: null },
      { index: 1, uuid: 'GPU-b', watts: 312.45, utilisation: 87 },
    ],
  });
});

test('a missing, failing or garbled nvidia-smi is no reading, with the reason', async () => {
  const missing = await samplePower({ env: { PATH: mkdtempSync(join(tmpdir(), 'gigafab-nopower-')) } });
  assert.equal(missing.kind, 'unavailable');
  assert.match(missing.kind === 'unavailable' ? missing.reason : '', /not on PATH/);
  const broken = await samplePower({ env: standIn("echo 'NVIDIA-SMI has failed' >&2; exit 9") });
  assert.match(broken.kind === 'unavailable' ? broken.reason : '', /NVIDIA-SMI has failed/);
  const garbled = await samplePower({ env: standIn("echo 'hello'") });
  assert.match(garbled.kind === 'unavailable' ? garbled.reason : '', /not understood/);
  assert.throws(() => parsePowerCsv('x, y'), /unexpected line/);
});

test("a job's energy: its GPUs' power integrated over the samples; a GPU without a reading at the fallback", () => {
  const meter = new JobPowerMeter(() => 700);
  const jobs = new Map([
    ['j1', [0, 1]],
    ['j2', [2]],
  ]);
  const at = (t: number, w: (number | null)[]) => ({
    kind: 'samples' as const,
    at: t,
    gpus: w.map((watts, index) => ({ index, uuid: `GPU-${index}`, watts, utilisation: null })),
  });
  meter.record(at(0, [100, 100, null]), jobs);
  meter.record(at(3_600_000, [300, 300, null]), jobs);
  // j1: two GPUs from 100 W to 300 W over an hour: mean 200 W each → 0.4 kWh.
  assert.ok(Math.abs(meter.kwh('j1') - 0.4) < 1e-12);
  // j2: no reading, the fallback's 700 W for an hour.
  assert.ok(Math.abs(meter.kwh('j2') - 0.7) < 1e-12);
  meter.record({ kind: 'unavailable', reason: 'gone' }, jobs);
  meter.forget('j1');
  assert.equal(meter.kwh('j1'), 0);
});

test('begin and end count the whole run: the first reading back to its start, the last to its end; a share its part; a failed reading no figure', () => {
  const meter = new JobPowerMeter(() => 700);
  const jobs = new Map([
    ['whole', [0]],
    ['share', [1]],
    ['broken', [2]],
  ]);
  const share = new Map([['share', 0.25]]);
  const reading = (t: number, w: number[]) => ({
    kind: 'samples' as const,
    at: t,
    gpus: w.map((watts, index) => ({ index, uuid: `GPU-${index}`, watts, utilisation: null })),
  });
  for (const j of jobs.keys()) meter.begin(j, 0);
  meter.record(reading(600_000, [100, 400, 100]), jobs, share);
  meter.record({ kind: 'unavailable', reason: 'driver gone' }, new Map([['broken', [2]]]));
  meter.record(reading(1_800_000, [300, 400, 100]), jobs, share);
  // whole: 100 W for 10 min, 100→300 W over 20 min, 300 W held for the last 30 min: 16.67 + 66.67 + 150 Wh.
  const whole = meter.end('whole', 3_600_000);
  assert.ok(whole !== null && Math.abs(whole - (100 * 600 + 200 * 1200 + 300 * 1800)) < 1e-6);
  // share: a quarter of a 400 W GPU for the hour: 100 Wh.
  assert.ok(Math.abs((meter.end('share', 3_600_000) ?? 0) - 100 * 3600) < 1e-6);
  assert.equal(meter.end('broken', 3_600_000), null);
  // Never sampled: no figure.
  meter.begin('late', 3_000_000);
  assert.equal(meter.end('late', 3_600_000), null);
});
