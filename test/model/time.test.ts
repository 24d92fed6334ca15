/** isoInstant formats epoch milliseconds as Date#toISOString does (to the second), without the clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isoInstant } from '../../src/model/time.js';

const viaDate = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

test('isoInstant agrees with Date on known instants', () => {
  assert.equal(isoInstant(0), '1970-01-01T00:00:00Z');
  assert.equal(isoInstant(1796397761272), viaDate(1796397761272));
  assert.equal(isoInstant(Date.UTC(2028, 1, 29, 23, 59, 59, 999)), '2028-02-29T23:59:59Z');
  assert.equal(isoInstant(Date.UTC(1969, 11, 31, 23, 59, 59)), '1969-12-31T23:59:59Z');
});

test('isoInstant agrees with Date for any instant in years 1900-2400', () => {
  fc.assert(
    fc.property(fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2400, 0, 1) }), (ms) => isoInstant(ms) === viaDate(ms)),
    { numRuns: 2000 },
  );
});
