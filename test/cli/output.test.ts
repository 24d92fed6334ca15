import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  age,
  compressRanges,
  DurationError,
  formatDuration,
  parseDuration,
  renderKeyValues,
  renderTable,
} from '../../src/cli/output.js';

test('parseDuration: bare numbers are seconds', () => {
  assert.equal(parseDuration('3600'), 3600);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration(' 42 '), 42);
});

test('parseDuration: units and combinations', () => {
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('90m'), 5400);
  assert.equal(parseDuration('2h'), 7200);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('1.5h'), 5400);
  assert.equal(parseDuration('2d'), 172800);
  assert.equal(parseDuration('1w'), 604800);
  assert.equal(parseDuration('1d2h3m4s'), 86400 + 7200 + 180 + 4);
  assert.equal(parseDuration('10M'), 600);
});

test('parseDuration: rejects garbage', () => {
  for (const bad of ['', 'h', '2x', '-5', '1h 30m', 'abc', '1.5', '5m-', 'm5']) {
    assert.throws(() => parseDuration(bad), DurationError, bad);
  }
});

test('formatDuration: compact, at most two units', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(45), '45s');
  assert.equal(formatDuration(60), '1m');
  assert.equal(formatDuration(200), '3m20s');
  assert.equal(formatDuration(3600), '1h');
  assert.equal(formatDuration(7500), '2h5m');
  assert.equal(formatDuration(86400 + 4 * 3600 + 59), '1d4h');
  assert.equal(formatDuration(86400 + 5), '1d');
  assert.equal(formatDuration(-3), '0s');
  assert.equal(formatDuration(59.9), '59s');
});

test('formatDuration(parseDuration(x)) round-trips canonical forms', () => {
  for (const s of ['45s', '3m20s', '2h5m', '1d4h', '1h', '2d']) assert.equal(formatDuration(parseDuration(s)), s);
});

test('age: relative to now; missing or bad timestamps give -', () => {
  const now = Date.parse('2025-01-01T12:00:00Z');
  assert.equal(age('2025-01-01T11:55:00Z', now), '5m');
  assert.equal(age(null, now), '-');
  assert.equal(age('not a date', now), '-');
});

test('compressRanges', () => {
  assert.equal(compressRanges([0, 1, 2, 3, 4, 5, 6, 7]), '0-7');
  assert.equal(compressRanges([6, 0, 1, 2, 3]), '0-3,6');
  assert.equal(compressRanges([1, 3, 5]), '1,3,5');
  assert.equal(compressRanges([]), '');
});

test('renderTable: aligned columns, upper-case headers, no trailing spaces', () => {
  const out = renderTable(
    ['id', 'name', 'gpus'],
    [
      ['j-1', 'short', 8],
      ['j-22222', 'a much longer name', 128],
    ],
    { alignRight: [2] },
  );
  assert.equal(
    out,
    [
      'ID        NAME                 GPUS',
      'j-1       short                   8',
      'j-22222   a much longer name    128',
      '',
    ].join('\n'),
  );
  for (const line of out.split('\n')) assert.equal(line, line.trimEnd());
});

test('renderTable: null cells print -, empty strings stay empty, newlines are flattened', () => {
  const out = renderTable(
    ['A', 'B', 'C'],
    [
      [null, '', 'x\ny'],
      [undefined, 'b', 'z'],
    ],
  );
  const lines = out.trimEnd().split('\n');
  assert.equal(lines[1], '-       x y');
  assert.equal(lines[2], '-   b   z');
});

test('renderTable: long cells are truncated with an ellipsis', () => {
  const out = renderTable(['X'], [['a'.repeat(100)]], { maxCellWidth: 10 });
  assert.equal(out.split('\n')[1], `${'a'.repeat(9)}…`);
});

test('renderTable: multi-byte characters count as one column', () => {
  const out = renderTable(
    ['GPUS', 'N'],
    [
      ['4×8 B200', 1],
      ['1×1 RTX', 2],
    ],
  );
  const lines = out.split('\n');
  assert.equal(lines[1].indexOf('1'), lines[0].indexOf('N'));
  assert.equal(lines[2].indexOf('2'), lines[0].indexOf('N'));
});

test('renderKeyValues: aligned values, null rows skipped', () => {
  assert.equal(
    renderKeyValues([
      ['ID', 'j-1'],
      ['State', 'queued'],
      ['Exit code', null],
      ['Waiting', 'quota'],
    ]),
    'ID:       j-1\nState:    queued\nWaiting:  quota\n',
  );
});
