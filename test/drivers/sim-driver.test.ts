/**
 * The simulated driver at small time scales: a job whose real-time duration exceeds setTimeout's
 * 2^31-1 ms limit must not end at once (it used to, with only a TimeoutOverflowWarning).
 */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type { Observation } from '../../src/drivers/driver.js';
import { LongTimer, MAX_TIMEOUT_MS } from '../../src/drivers/long-timer.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { VirtualClock } from '../../src/drivers/timers.js';
import type { JobSpec } from '../../src/model/schemas.js';

const spec = (durationSeconds: number): JobSpec => ({
  name: 'long',
  project: 'p1',
  gpuType: 'B200',
  gpusPerNode: 1,
  nodes: 1,
  maxRuntimeSeconds: 30 * 86400,
  priorityClass: 'normal',
  labels: {},
  simulation: { durationSeconds, exitCode: 0 },
});

test('a 30-day simulated job at --time-scale 0.01 is still running after the start (no timer overflow)', async () => {
  const driver = new SimDriver(0.01);
  const seen: Observation[] = [];
  driver.onObservation((o) => seen.push(o));
  const placement = { site: 'a', gpuType: 'B200', nodes: [{ node: 'n1', gpus: [0] }] };
  await driver.start({ id: '1', spec: spec(30 * 86400 - 1), placement, startedAt: Date.now() });
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(
    seen.map((o) => o.type),
    ['started'],
  );
  await driver.stop('1', 0);
  assert.equal(seen.at(-1)?.type, 'exited');
  await driver.close();
});

test('LongTimer waits out delays beyond 2^31-1 ms in steps and fires once, at the end', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  try {
    let fired = 0;
    new LongTimer(() => fired++, 3 * MAX_TIMEOUT_MS + 5);
    mock.timers.tick(MAX_TIMEOUT_MS);
    mock.timers.tick(MAX_TIMEOUT_MS);
    mock.timers.tick(MAX_TIMEOUT_MS);
    assert.equal(fired, 0);
    mock.timers.tick(5);
    assert.equal(fired, 1);
    const cleared = new LongTimer(() => fired++, 2 * MAX_TIMEOUT_MS);
    mock.timers.tick(MAX_TIMEOUT_MS);
    cleared.clear();
    mock.timers.tick(2 * MAX_TIMEOUT_MS);
    assert.equal(fired, 1);
  } finally {
    mock.timers.reset();
  }
});

test('with a GPU utilisation the exit carries the power model at it: idle + (busy − idle) × utilisation, over the run', async () => {
  const v = new VirtualClock(0);
  const driver = new SimDriver(1, v);
  const seen: Observation[] = [];
  driver.onObservation((o) => seen.push(o));
  const at = (u: number | undefined) => ({
    ...spec(3600),
    simulation: { durationSeconds: 3600, exitCode: 0, gpuUtilisation: u },
  });
  const two = { site: 'a', gpuType: 'B200', nodes: [{ node: 'n1', gpus: [0, 1] }] };
  const quarter = { site: 'a', gpuType: 'H100', nodes: [{ node: 'n2', gpus: [0], milli: 250 }] };
  await driver.start({ id: 'u60', spec: at(0.6), placement: two, startedAt: 0 });
  await driver.start({ id: 'share', spec: at(0), placement: quarter, startedAt: 0 });
  await driver.start({ id: 'none', spec: at(undefined), placement: two, startedAt: 0 });
  await driver.start({ id: 'stopped', spec: at(1), placement: two, startedAt: 0 });
  v.advanceTo(1_800_000);
  await driver.stop('stopped', 0);
  v.advanceTo(3_600_000);
  const joules = (id: string) => seen.find((o) => o.type === 'exited' && o.jobId === id && 'energyJoules' in o);
  const e = (id: string) => {
    const o = joules(id);
    return o?.type === 'exited' ? o.energyJoules : undefined;
  };
  // B200: 140 W idle, 1000 W busy: at 0.6, 656 W; two GPUs for an hour.
  assert.equal(e('u60'), 2 * 656 * 3600);
  // A quarter of an idle H100 (70 W) for an hour.
  assert.equal(e('share'), 0.25 * 70 * 3600);
  assert.equal(e('none'), undefined);
  // Stopped after half an hour at full utilisation.
  assert.equal(e('stopped'), 2 * 1000 * 1800);
  await driver.close();
});
