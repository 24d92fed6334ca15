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
