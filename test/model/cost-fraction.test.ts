/** Costs of fractional GPUs stay exact: milli-GPU × ms × cents, rounded to the cent once per sum. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { costNumerator, roundCents } from '../../src/model/cost.js';

test('a quarter of a GPU for an hour at 450 cents costs 112.5, rounded up to 113 cents; whole GPUs as before', () => {
  assert.equal(roundCents(costNumerator(0.25, 3_600_000, 450)), 113);
  assert.equal(roundCents(costNumerator(8, 3_600_000, 450)), 3600);
  assert.equal(roundCents(costNumerator(0.143, 3_600_000, 300)), 43);
  // Four quarters summed before rounding cost exactly one GPU.
  const quarter = costNumerator(0.25, 3_600_000, 450);
  assert.equal(roundCents(quarter + quarter + quarter + quarter), 450);
});
