/** The checkpoint-file line format real drivers read (GIGAFAB_CHECKPOINT_FILE). */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCheckpointLine, readCheckpointLines } from '../../src/drivers/checkpoint-file.js';

test('lines: step and label in any order, a bare step; anything else is no checkpoint', () => {
  assert.deepEqual(parseCheckpointLine('step=1200 label=epoch-3'), { step: 1200, label: 'epoch-3' });
  assert.deepEqual(parseCheckpointLine('  label=s3://b/k step=7 '), { step: 7, label: 's3://b/k' });
  assert.deepEqual(parseCheckpointLine('42'), { step: 42 });
  for (const bad of ['', 'step=', 'step=-1', 'step=1.5', 'epoch=3', 'hello world', `label=${'x'.repeat(201)}`, 'step=1 junk']) {
    assert.equal(parseCheckpointLine(bad), null, bad);
  }
});

test('reading: only complete lines, from the last offset; a truncated file starts over', () => {
  const f = join(mkdtempSync(join(tmpdir(), 'gigafab-ckpt-')), 'checkpoints');
  assert.deepEqual(readCheckpointLines(f, 0), { checkpoints: [], nextOffset: 0 }, 'no file yet');
  writeFileSync(f, 'step=1\nstep=2\nstep=3');
  const a = readCheckpointLines(f, 0);
  assert.deepEqual(a.checkpoints, [{ step: 1 }, { step: 2 }]);
  appendFileSync(f, '\nnoise\n');
  const b = readCheckpointLines(f, a.nextOffset);
  assert.deepEqual(b.checkpoints, [{ step: 3 }]);
  assert.deepEqual(readCheckpointLines(f, b.nextOffset).checkpoints, []);
  writeFileSync(f, 'step=9\n');
  assert.deepEqual(readCheckpointLines(f, b.nextOffset).checkpoints, [{ step: 9 }]);
});
