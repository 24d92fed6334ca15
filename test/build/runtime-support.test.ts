/**
 * The supported Node.js lines (src/compose/runtime-support.ts): 22 and 24 start quietly; an end-of-life line
 * (20) and an untested one each get a warning in the start banner that says what to do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runtimeWarning } from '../../src/compose/runtime-support.js';

test('Node 22 and 24 are supported: no warning', () => {
  assert.equal(runtimeWarning('24.22.3'), null);
  assert.equal(runtimeWarning('v22.12.0'), null);
});

test('Node 20 is past its end of life: the warning names the fix', () => {
  const w = runtimeWarning('20.20.2');
  assert.ok(w);
  assert.match(w, /no security fixes/);
  assert.match(w, /Node\.js 24/);
  assert.match(w, /scripts\/ensure-node24\.sh/);
});

test('a newer, untested line is named as untested, not as end of life', () => {
  const w = runtimeWarning('26.0.0');
  assert.ok(w);
  assert.match(w, /not a release line gigafab is tested on \(22, 24\)/);
});
