/**
 * Dependency rules between the top-level folders of src/: no import cycle between folders, and each
 * folder imports only the folders its rule lists (the scheduler and the lifecycle only the model,
 * the store no feature module, the API sits above the services, the composition root above the
 * API). A new folder fails this test until it gets a rule. Sources are scanned, not the build, so
 * type-only imports count too.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/architecture/; the sources live in <root>/src/.
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/** Folder → the folders it may import. */
const ALLOWED: Record<string, readonly string[]> = {
  model: [],
  scheduler: ['model'],
  lifecycle: ['model'],
  store: ['model'],
  drivers: ['model'],
  fleet: ['model', 'drivers'],
  sim: ['model', 'scheduler', 'lifecycle', 'fleet'],
  server: ['model', 'scheduler', 'lifecycle', 'store', 'drivers', 'fleet'],
  sovereignty: ['model', 'scheduler', 'store', 'fleet', 'server'],
  api: ['model', 'scheduler', 'fleet', 'store', 'server', 'sovereignty'],
  compose: ['model', 'scheduler', 'lifecycle', 'fleet', 'store', 'drivers', 'server', 'sovereignty', 'api'],
  // Client generators read the API's document (they never serve).
  codegen: ['model', 'api'],
  cli: ['model', 'scheduler', 'lifecycle', 'fleet', 'store', 'drivers', 'server', 'sovereignty', 'api', 'sim', 'compose'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const stripComments = (src: string) => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
const folderOf = (file: string) => relative(SRC, file).split(sep)[0] ?? '';

/** Every relative import (static, dynamic, re-export) between two top-level folders. */
function folderEdges(): Map<string, Map<string, string[]>> {
  const edges = new Map<string, Map<string, string[]>>();
  for (const file of sourceFiles(SRC)) {
    const code = stripComments(readFileSync(file, 'utf8'));
    const specs = [
      ...code.matchAll(/\b(?:import|export)\b[^'";]*?from\s+['"](\.[^'"]+)['"]/g),
      ...code.matchAll(/\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)/g),
    ].map((m) => m[1] as string);
    for (const spec of specs) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      const [from, to] = [folderOf(file), folderOf(target)];
      if (from === to || !target.startsWith(SRC + sep)) continue;
      const byTarget = edges.get(from) ?? new Map<string, string[]>();
      byTarget.set(to, [...(byTarget.get(to) ?? []), `${relative(SRC, file)} → ${spec}`]);
      edges.set(from, byTarget);
    }
  }
  return edges;
}

/** A cycle in the folder graph as a path (first folder repeated at the end), or null. */
function findCycle(edges: Map<string, Map<string, string[]>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 'done') return null;
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'open');
    path.push(n);
    for (const m of edges.get(n)?.keys() ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    path.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of [...edges.keys()].sort()) {
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

test('every top-level folder of src/ has a dependency rule', () => {
  const folders = readdirSync(SRC).filter((f) => statSync(join(SRC, f)).isDirectory());
  for (const f of ['model', 'scheduler', 'server', 'api']) assert.ok(folders.includes(f), `src/${f} exists`);
  for (const f of folders) assert.ok(f in ALLOWED, `src/${f} has no rule in test/architecture/dependencies.test.ts`);
  for (const [f, deps] of Object.entries(ALLOWED)) {
    if (existsSync(join(SRC, f))) assert.ok(!deps.includes(f));
  }
});

test('no import cycle between the top-level folders of src/', () => {
  const edges = folderEdges();
  assert.ok(edges.get('api')?.has('model'), 'the scan sees imports (api imports the model)');
  const cycle = findCycle(edges);
  const detail = cycle
    ?.slice(1)
    .map((to, i) => `${cycle[i]} → ${to}: ${edges.get(cycle[i] as string)?.get(to)?.[0]}`)
    .join('\n  ');
  assert.equal(cycle, null, `import cycle ${cycle?.join(' → ')}:\n  ${detail}`);
});

test('each folder imports only what its rule allows', () => {
  const bad: string[] = [];
  for (const [from, byTarget] of folderEdges()) {
    for (const [to, where] of byTarget) {
      if (!(ALLOWED[from] ?? []).includes(to)) bad.push(`${from} may not import ${to}: ${where.join(', ')}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the cycle finder finds a cycle and the rule check flags a forbidden direction', () => {
  const g = new Map([
    ['a', new Map([['b', ['x']]])],
    ['b', new Map([['c', ['y']]])],
    ['c', new Map([['a', ['z']]])],
  ]);
  assert.deepEqual(findCycle(g), ['a', 'b', 'c', 'a']);
  g.get('c')?.delete('a');
  assert.equal(findCycle(g), null);
  assert.equal(ALLOWED.store?.includes('sovereignty'), false);
  assert.equal(ALLOWED.scheduler?.join(), 'model');
});

test('HTTP problems (ApiProblem) are made only in src/api', () => {
  const offenders = sourceFiles(SRC)
    .filter((f) => folderOf(f) !== 'api' && /\bApiProblem\b/.test(stripComments(readFileSync(f, 'utf8'))))
    .map((f) => relative(SRC, f));
  assert.deepEqual(offenders, []);
});
