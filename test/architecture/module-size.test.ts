/**
 * Module size: no file under src/server is over 400 lines, so each part keeps one job (issue #12).
 * PENDING lists the files another change is splitting; each entry must still exist and still be
 * too long (an entry that is done, or gone, fails here so the list shrinks to nothing).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/architecture/; the sources live in <root>/src/.
const SERVER = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/server');
const MAX_LINES = 400;

/** Being split elsewhere (tenancy/, lockbox, audit log, scheduling ops): allowed over the limit for now. */
const PENDING: readonly string[] = [];

const lineCount = (path: string) => readFileSync(path, 'utf8').split('\n').length - 1;

test(`every file under src/server has at most ${MAX_LINES} lines`, () => {
  const files = readdirSync(SERVER, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 10, `found the server sources (${files.length} files)`);
  const over = files
    .filter((f) => !PENDING.includes(f))
    .map((f) => [f, lineCount(join(SERVER, f))] as const)
    .filter(([, n]) => n > MAX_LINES)
    .map(([f, n]) => `${f}: ${n} lines`);
  assert.deepEqual(over, [], `split these into parts with one job each:\n${over.join('\n')}`);
});

test('the PENDING list only names files that still need splitting', () => {
  for (const f of PENDING) {
    const path = join(SERVER, f);
    if (!existsSync(path)) assert.fail(`${f} is gone: remove it from PENDING`);
    assert.ok(lineCount(path) > MAX_LINES, `${f} is ${lineCount(path)} lines now: remove it from PENDING`);
  }
});
