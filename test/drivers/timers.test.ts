/**
 * VirtualClock (the clock the equivalence test runs the server's SimDriver on): timers fire in time
 * order, then arming order, only when the clock is moved; and the SimDriver on it ends jobs at the
 * exact simulated instant, however long (no setTimeout limit on a virtual clock).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Observation } from '../../src/drivers/driver.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { VirtualClock } from '../../src/drivers/timers.js';
import type { JobSpec } from '../../src/model/schemas.js';

test('VirtualClock fires due timers in (time, arming) order, reading each timer its own time; cleared ones never', () => {
  const clock = new VirtualClock(1000);
  const fired: string[] = [];
  clock.after(50, () => fired.push(`b@${clock.now()}`));
  clock.after(10, () => {
    fired.push(`a@${clock.now()}`);
    clock.after(0, () => fired.push(`a2@${clock.now()}`)); // armed by a callback, due at once
  });
  clock.after(50, () => fired.push(`c@${clock.now()}`));
  const gone = clock.after(20, () => fired.push('cleared'));
  gone.clear();
  clock.after(-5, () => fired.push(`late@${clock.now()}`));
  assert.equal(clock.nextDue(), 1000);
  clock.advanceTo(1049);
  assert.deepEqual(fired, ['late@1000', 'a@1010', 'a2@1010']);
  assert.equal(clock.now(), 1049);
  assert.equal(clock.nextDue(), 1050);
  clock.advanceTo(2000);
  assert.deepEqual(fired.slice(3), ['b@1050', 'c@1050']);
  assert.equal(clock.nextDue(), Number.POSITIVE_INFINITY);
  clock.advanceTo(10);
  assert.equal(clock.now(), 2000, 'never back');
});

const spec = (durationSeconds: number, maxRuntimeSeconds: number, checkpointEverySeconds?: number): JobSpec => ({
  name: 'j',
  project: 'p1',
  gpuType: 'B200',
  gpusPerNode: 1,
  nodes: 1,
  maxRuntimeSeconds,
  priorityClass: 'normal',
  labels: {},
  simulation: { durationSeconds, exitCode: 0, ...(checkpointEverySeconds ? { checkpointEverySeconds } : {}) },
});
const placement = { site: 'a', gpuType: 'B200', nodes: [{ node: 'n1', gpus: [0] }] };

test('SimDriver on a VirtualClock at --time-scale 0.01: a 29-day job ends at its exact simulated instant', async () => {
  const clock = new VirtualClock(0);
  const driver = new SimDriver(0.01, clock);
  const seen: Observation[] = [];
  driver.onObservation((o) => seen.push(o));
  const days = 29 * 86400;
  await driver.start({ id: '1', spec: spec(days, 30 * 86400), placement, startedAt: 0 });
  const end = (days * 1000) / 0.01; // far beyond setTimeout's 2^31-1 ms
  assert.equal(clock.nextDue(), end);
  clock.advanceTo(end - 1);
  assert.deepEqual(
    seen.map((o) => o.type),
    ['started'],
  );
  clock.advanceTo(end);
  const last = seen.at(-1);
  assert.ok(last?.type === 'exited' && last.outcome === 'completed' && last.at === end);
  await driver.close();
});

test('SimDriver on a VirtualClock: timed out at its limit, checkpoints on the simulated interval, stopped at once', async () => {
  const clock = new VirtualClock(0);
  const driver = new SimDriver(1, clock);
  const seen: Observation[] = [];
  const checkpoints: number[] = [];
  driver.onObservation((o) => seen.push(o));
  driver.onCheckpoint((o) => checkpoints.push(o.at));
  await driver.start({ id: 'late', spec: spec(500, 300, 100), placement, startedAt: 0 });
  await driver.start({ id: 'stopped', spec: spec(500, 600), placement, startedAt: 0 });
  clock.advanceTo(150_000);
  await driver.stop('stopped', 30);
  clock.advanceTo(1_000_000);
  assert.deepEqual(checkpoints, [100_000, 200_000]);
  const exits = seen.filter((o) => o.type === 'exited').map((o) => (o.type === 'exited' ? [o.jobId, o.outcome, o.at] : []));
  assert.deepEqual(exits, [
    ['stopped', 'cancelled', 150_000],
    ['late', 'timed-out', 300_000],
  ]);
  await driver.close();
});

test('SimDriver: a timer that fires a millisecond early (as setTimeout may) still reports each checkpoint step once', async () => {
  const virtual = new VirtualClock(0);
  // Each timer fires 1 ms before it is due, which is what Node's wall-clock timers sometimes do.
  const early = {
    now: () => virtual.now(),
    after: (delayMs: number, fn: () => void) => virtual.after(Math.max(0, delayMs - 1), fn),
  };
  const driver = new SimDriver(1, early);
  const steps: (number | undefined)[] = [];
  driver.onCheckpoint((o) => steps.push(o.step));
  await driver.start({ id: 'c', spec: spec(350, 600, 100), placement, startedAt: 0 });
  virtual.advanceTo(1_000_000);
  assert.deepEqual(steps, [1, 2, 3]);
  await driver.close();
});
