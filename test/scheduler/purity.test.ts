/**
 * The scheduler and the job lifecycle are pure: they import only ../model and their own folder,
 * and never touch the clock, randomness, timers or the process. This test scans the sources to
 * back the rule up.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/scheduler/; the sources live in <root>/src/scheduler/.
const SRC = join(dirname(fileURLToPath(import.meta.url)), '../../../src/scheduler');

const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\b/, 'Date'],
  [/\bMath\.random\b/, 'Math.random'],
  [/\bperformance\b/, 'performance'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, 'timers'],
  [/\bprocess\./, 'process'],
  [/\bawait\b|\basync\b/, 'async code'],
  [/\brequire\(/, 'require'],
];

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

test('scheduler sources import only ../model and their own folder, and use no clock or I/O', () => {
  const files = readdirSync(SRC).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('schedule-cycle.ts') && files.includes('cluster-model.ts'));
  for (const file of files) {
    const code = stripComments(readFileSync(join(SRC, file), 'utf8'));
    for (const m of code.matchAll(/\b(?:import|export)\b[^'";]*?from\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      assert.ok(/^\.\/[\w-]+\.js$/.test(spec) || /^\.\.\/model\/[\w-]+\.js$/.test(spec), `${file} imports ${spec}`);
    }
    assert.equal(/\bimport\s*\(/.test(code), false, `${file} uses dynamic import`);
    for (const [re, what] of FORBIDDEN) assert.equal(re.test(code), false, `${file} uses ${what}`);
  }
});

test('scheduler/sharing sources are pure too (own folder, ../*.js of the scheduler, ../../model)', () => {
  const dir = join(SRC, 'sharing');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('policies.ts') && files.includes('cluster.ts'));
  for (const file of files) {
    const code = stripComments(readFileSync(join(dir, file), 'utf8'));
    for (const m of code.matchAll(/\b(?:import|export)\b[^'";]*?from\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      assert.ok(/^\.\.?\/[\w-]+\.js$/.test(spec) || /^\.\.\/\.\.\/model\/[\w-]+\.js$/.test(spec), `${file} imports ${spec}`);
    }
    assert.equal(/\bimport\s*\(/.test(code), false, `${file} uses dynamic import`);
    for (const [re, what] of FORBIDDEN) assert.equal(re.test(code), false, `${file} uses ${what}`);
  }
});

test('lifecycle sources are pure too (own folder and ../model only, no clock or I/O)', () => {
  const dir = join(SRC, '../lifecycle');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('lifecycle.ts') && files.includes('run-state.ts'));
  for (const file of files) {
    const code = stripComments(readFileSync(join(dir, file), 'utf8'));
    for (const m of code.matchAll(/\b(?:import|export)\b[^'";]*?from\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      assert.ok(/^\.\/[\w-]+\.js$/.test(spec) || /^\.\.\/model\/[\w-]+\.js$/.test(spec), `${file} imports ${spec}`);
    }
    assert.equal(/\bimport\s*\(/.test(code), false, `${file} uses dynamic import`);
    for (const [re, what] of FORBIDDEN) assert.equal(re.test(code), false, `${file} uses ${what}`);
  }
});
