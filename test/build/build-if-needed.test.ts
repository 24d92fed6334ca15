/**
 * scripts/build-if-needed.mjs (`npm start`): builds the server and the console only when a source is newer than
 * the build. Run against a scratch tree whose node_modules/.bin/tsc and vite are stand-ins that log their calls
 * and write the outputs the real ones would, so the decision logic is tested without minutes of compiling.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../../scripts/build-if-needed.mjs', import.meta.url));

function scratch(): string {
  const root = mkdtempSync(join(tmpdir(), 'gigafab-build-'));
  for (const d of ['src', 'test', 'bench', 'console/src', 'node_modules/.bin']) mkdirSync(join(root, d), { recursive: true });
  const long = new Date(Date.now() - 600_000);
  for (const f of ['package.json', 'tsconfig.json', 'src/a.ts', 'console/src/app.tsx']) {
    writeFileSync(join(root, f), '{}');
    utimesSync(join(root, f), long, long);
  }
  // tsc -p tsconfig.json writes the build info; tsc -p console/... only checks; vite writes the bundle.
  const stub = (name: string, body: string) => {
    const p = join(root, 'node_modules/.bin', name);
    writeFileSync(p, `#!/bin/sh\necho "${name} $*" >> "$GIGAFAB_BUILD_ROOT/calls.log"\n${body}\n`);
    chmodSync(p, 0o755);
  };
  stub(
    'tsc',
    '[ -n "$FAIL_TSC" ] && exit 2\n[ "$2" = tsconfig.json ] && mkdir -p "$GIGAFAB_BUILD_ROOT/dist" && : > "$GIGAFAB_BUILD_ROOT/dist/.tsbuildinfo"\nexit 0',
  );
  stub('vite', 'mkdir -p "$GIGAFAB_BUILD_ROOT/dist/console" && : > "$GIGAFAB_BUILD_ROOT/dist/console/index.html"');
  return root;
}

function build(root: string, extra: Record<string, string> = {}): { code: number | null; calls: string[] } {
  writeFileSync(join(root, 'calls.log'), '');
  const r = spawnSync(process.execPath, [script], { env: { ...process.env, GIGAFAB_BUILD_ROOT: root, ...extra } });
  const calls = readFileSync(join(root, 'calls.log'), 'utf8').split('\n').filter(Boolean);
  return { code: r.status, calls };
}

/** touch edits a file after the last build: the build outputs move a minute into the past, the file to now. */
function touch(root: string, file: string): void {
  const earlier = new Date(Date.now() - 60_000);
  for (const out of ['dist/.tsbuildinfo', 'dist/console/index.html']) utimesSync(join(root, out), earlier, earlier);
  const now = new Date();
  utimesSync(join(root, file), now, now);
}

test('npm start builds what is missing, then nothing while up to date', () => {
  const root = scratch();
  const first = build(root);
  assert.equal(first.code, 0);
  assert.deepEqual(first.calls, [
    'tsc -p tsconfig.json',
    'tsc -p console/tsconfig.json',
    'vite build --config console/vite.config.ts --logLevel warn',
  ]);
  const again = build(root);
  assert.equal(again.code, 0);
  assert.deepEqual(again.calls, []);
});

test('a console edit rebuilds only the console; a server edit rebuilds both (the console imports src/)', () => {
  const root = scratch();
  build(root);
  touch(root, 'console/src/app.tsx');
  assert.deepEqual(build(root).calls, [
    'tsc -p console/tsconfig.json',
    'vite build --config console/vite.config.ts --logLevel warn',
  ]);
  assert.deepEqual(build(root).calls, []);
  touch(root, 'src/a.ts');
  assert.equal(build(root).calls.length, 3);
});

test('a failing compile fails the script (npm start does not serve a stale build)', () => {
  const root = scratch();
  const r = build(root, { FAIL_TSC: '1' });
  assert.notEqual(r.code, 0);
  assert.deepEqual(r.calls, ['tsc -p tsconfig.json']);
});
