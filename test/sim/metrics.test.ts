/** Metrics: Jain's index, bounded slowdown, the quantile sketch and the down-sampled time series. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BSLD_TAU, boundedSlowdown, jainIndex, LogHistogram, TimeSeries } from '../../src/sim/metrics.js';

test("Jain's index", () => {
  assert.equal(jainIndex([1, 1, 1, 1]), 1);
  assert.equal(jainIndex([1, 0, 0]), 1 / 3);
  assert.equal(jainIndex([1, 2]), 9 / 10);
  assert.equal(jainIndex([]), 1);
  assert.equal(jainIndex([0, 0]), 1);
});

test('bounded slowdown with a 10 s threshold', () => {
  assert.equal(BSLD_TAU, 10);
  assert.equal(boundedSlowdown(0, 5), 1); // short job, no wait: floor 1
  assert.equal(boundedSlowdown(20, 5), 2.5); // (20 + 5) / max(5, 10)
  assert.equal(boundedSlowdown(90, 50), 2.8); // (90 + 50) / 50
  assert.equal(boundedSlowdown(0, 1000), 1);
});

test('LogHistogram quantiles are within 1 % of the exact ones; count/mean/max exact', () => {
  const h = new LogHistogram();
  const xs: number[] = [];
  for (let i = 1; i <= 10000; i++) {
    const x = (i * 7919) % 10007;
    xs.push(x);
    h.add(x);
  }
  xs.sort((a, b) => a - b);
  for (const q of [0.5, 0.95, 0.99]) {
    const exact = xs[Math.ceil(q * xs.length) - 1];
    assert.ok(Math.abs(h.quantile(q) - exact) / exact <= 0.0101, `q${q}: ${h.quantile(q)} vs ${exact}`);
  }
  assert.equal(h.count, 10000);
  assert.equal(h.max, xs[xs.length - 1]);
  assert.equal(h.mean, xs.reduce((a, b) => a + b, 0) / xs.length);
  const zeros = new LogHistogram();
  zeros.add(0);
  zeros.add(0);
  zeros.add(5);
  assert.equal(zeros.quantile(0.5), 0);
  assert.ok(Math.abs(zeros.quantile(1) - 5) < 0.05);
  assert.ok(h.cdf(50).length <= 50);
});

test('TimeSeries keeps time-weighted averages exact through bucket merges', () => {
  const ts = new TimeSeries(1, 0, 8);
  ts.add(0, 10, [4]);
  ts.add(10, 100, [2]);
  ts.add(100, 1000, [1]); // forces merges (1000 s over 8 buckets)
  assert.ok(ts.points().t.length <= 8);
  const avg = ts.average(0, 0, 1000);
  assert.ok(Math.abs(avg - (4 * 10 + 2 * 90 + 1 * 900) / 1000) < 1e-9);
});
