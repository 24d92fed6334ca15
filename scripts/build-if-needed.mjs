#!/usr/bin/env node
// `npm start` builds only what is out of date: the server (tsc) when a source is newer than its build info,
// the console (tsc check + vite) when a console source, or a server module it imports, is newer than its
// bundle. `npm install` already built both, so a first `npm start` right after it starts at once.
// Usage: node scripts/build-if-needed.mjs [--force]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

// GIGAFAB_BUILD_ROOT lets the test run this against a scratch tree with stand-in compilers.
const root = process.env.GIGAFAB_BUILD_ROOT || join(import.meta.dirname, '..');
const at = (...p) => join(root, ...p);

/** newest: the latest mtime (ms) of the files under these paths; node_modules and dist are never inputs. */
function newest(paths) {
  let max = 0;
  const walk = (p) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) {
      for (const e of readdirSync(p)) if (e !== 'node_modules' && e !== 'dist' && !e.startsWith('.')) walk(join(p, e));
    } else max = Math.max(max, s.mtimeMs);
  };
  for (const p of paths) walk(p);
  return max;
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : -1);

function run(label, cmds, stamp) {
  console.error(`build-if-needed: building the ${label}`);
  for (const [cmd, ...args] of cmds) {
    const r = spawnSync(at('node_modules', '.bin', cmd), args, { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
  // tsc leaves its build info untouched when no output changed; the stamp must still move past the inputs.
  const now = new Date();
  utimesSync(stamp, now, now);
}

const force = process.argv.includes('--force');
// Not package-lock.json: `npm install` may rewrite it after its own build (prepare), which would rebuild for nothing.
const common = [at('package.json')];

const serverStamp = at('dist', '.tsbuildinfo');
if (force || mtime(serverStamp) < newest([at('src'), at('test'), at('bench'), at('tsconfig.json'), ...common])) {
  run('server', [['tsc', '-p', 'tsconfig.json']], serverStamp);
}

// The console imports types and helpers from src/, so a change there rebuilds it too.
const consoleStamp = at('dist', 'console', 'index.html');
if (force || mtime(consoleStamp) < newest([at('console'), at('src'), ...common])) {
  run(
    'console',
    [
      ['tsc', '-p', 'console/tsconfig.json'],
      ['vite', 'build', '--config', 'console/vite.config.ts', '--logLevel', 'warn'],
    ],
    consoleStamp,
  );
}
