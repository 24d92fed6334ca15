/** Synthetic generator: seeded, streamed, in submission order, with the documented mix. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SIZES, meanGpuSeconds, syntheticJobs } from '../../src/sim/synthetic.js';

test('same seed -> same jobs; different seed -> different jobs', () => {
  const a = [...syntheticJobs({ jobs: 500, seed: 9 })];
  const b = [...syntheticJobs({ jobs: 500, seed: 9 })];
  const c = [...syntheticJobs({ jobs: 500, seed: 10 })];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('arrivals are ordered, the rate matches the target load, sizes follow the mix', () => {
  const n = 50000;
  let last = 0;
  let gpus = 0;
  let ones = 0;
  let end = 0;
  for (const j of syntheticJobs({ jobs: n, seed: 1, targetLoad: 0.8, fleetGpus: 10240 })) {
    assert.ok(j.submitTime >= last);
    last = j.submitTime;
    end = j.submitTime;
    gpus += j.gpusPerNode * j.nodes;
    if (j.gpusPerNode * j.nodes === 1) ones++;
    assert.ok(j.gpusPerNode <= 8 && j.nodes >= 1);
  }
  const meanGpus = DEFAULT_SIZES.reduce((a, [g, p]) => a + g * p, 0);
  assert.ok(Math.abs(gpus / n - meanGpus) / meanGpus < 0.05, `mean GPUs ${gpus / n} vs ${meanGpus}`);
  assert.ok(Math.abs(ones / n - 0.5) < 0.01);
  const rate = (0.8 * 10240) / meanGpuSeconds({ jobs: n, seed: 1 });
  assert.ok(Math.abs(n / end - rate) / rate < 0.03, `rate ${n / end} vs ${rate}`);
});

test('a daily cycle keeps the mean rate and makes days busier than nights', () => {
  const n = 60000;
  const opts = { jobs: n, seed: 5, targetLoad: 0.9, fleetGpus: 10240, diurnalAmplitude: 0.5 };
  const perHour = new Array<number>(24).fill(0);
  const days = 2; // whole days only: a partial day is not an average one
  for (const j of syntheticJobs(opts)) {
    if (j.submitTime >= days * 86400) break;
    perHour[Math.floor((j.submitTime % 86400) / 3600)] += 1;
  }
  const rate = (0.9 * 10240) / meanGpuSeconds(opts);
  const seen = perHour.reduce((a, b) => a + b, 0) / (days * 86400);
  assert.ok(Math.abs(seen - rate) / rate < 0.05, `mean rate ${seen} vs ${rate}`);
  // sin peaks at 6 h and is lowest at 18 h: the busiest hours see about (1.5 / 0.5) = 3x the quietest.
  const peak = perHour.slice(4, 9).reduce((a, b) => a + b, 0);
  const trough = perHour.slice(16, 21).reduce((a, b) => a + b, 0);
  assert.ok(peak / trough > 2.2 && peak / trough < 3.5, `peak/trough ${peak / trough}`);
  // Amplitude 0 is the constant-rate stream, unchanged.
  assert.deepEqual([...syntheticJobs({ jobs: 200, seed: 9, diurnalAmplitude: 0 })], [...syntheticJobs({ jobs: 200, seed: 9 })]);
  assert.throws(() => [...syntheticJobs({ jobs: 1, seed: 1, diurnalAmplitude: 1 })], /diurnal amplitude/);
});
