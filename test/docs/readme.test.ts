/**
 * The README is executed: every code block marked `<!-- docs-test -->` runs, in order, against a
 * fresh server, in a fresh directory and HOME (no saved login, no GIGAFAB_* variables). Shell
 * blocks run in one bash (so variables carry over, as in a reader's shell), then Python blocks run
 * as one notebook-style script with the SDK. Run from the checkout as the README says: `.gigafab`
 * is the server's data directory, `npx gigafab` is this checkout's bin/gigafab.js, and the
 * README's `http://127.0.0.1:8080` is the test server's URL.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BIN, REPO, startTestServer, type TestServer } from '../helpers/server.js';

export interface DocBlock {
  lang: string;
  code: string;
  line: number;
}

/** docsTestBlocks: the fenced blocks right after a `<!-- docs-test -->` line (blank lines between allowed). */
export function docsTestBlocks(markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '<!-- docs-test -->') continue;
    let j = i + 1;
    while (j < lines.length && lines[j]?.trim() === '') j++;
    const fence = /^```(\w+)\s*$/.exec(lines[j] ?? '');
    if (!fence) throw new Error(`README.md:${i + 1}: <!-- docs-test --> is not followed by a fenced code block`);
    const end = lines.indexOf('```', j + 1);
    if (end < 0) throw new Error(`README.md:${j + 1}: unclosed code block`);
    blocks.push({ lang: fence[1]!, code: lines.slice(j + 1, end).join('\n'), line: j + 1 });
    i = end;
  }
  return blocks;
}

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const README_URL = 'http://127.0.0.1:8080';

let server: TestServer;
let dir: string;
let env: NodeJS.ProcessEnv;
before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'gigafab-readme-'));
  symlinkSync(server.dataDir, join(dir, '.gigafab'));
  env = {
    PATH: process.env.PATH,
    HOME: dir,
    LANG: 'C.UTF-8',
    PYTHONPATH: join(REPO, 'clients/python'),
    PYTHONDONTWRITEBYTECODE: '1',
  };
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const forServer = (code: string) => code.replaceAll(README_URL, server.url);

test('the marked README blocks are found: the walk-through and the Python SDK example', () => {
  const blocks = docsTestBlocks(README);
  assert.ok(blocks.filter((b) => b.lang === 'sh').length >= 4, 'the CLI walk-through is marked');
  assert.ok(
    blocks.some((b) => b.lang === 'python'),
    'the Python SDK example is marked',
  );
  assert.deepEqual([...new Set(blocks.map((b) => b.lang))].sort(), ['python', 'sh']);
  assert.throws(() => docsTestBlocks('<!-- docs-test -->\ntext\n'), /not followed by a fenced code block/);
});

test('the README walk-through and Python example run verbatim against a fresh server', () => {
  const blocks = docsTestBlocks(README);
  const shell = [
    'set -euo pipefail',
    // `npx gigafab` from the checkout is its bin/gigafab.js (npx's own start-up is not under test).
    `npx() { if [ "$1" = gigafab ]; then shift; node ${JSON.stringify(BIN)} "$@"; else command npx "$@"; fi; }`,
    ...blocks.filter((b) => b.lang === 'sh').map((b) => `echo "### README.md:${b.line}"\n${forServer(b.code)}`),
  ].join('\n');
  writeFileSync(join(dir, 'walkthrough.sh'), shell);
  const sh = spawnSync('bash', ['walkthrough.sh'], { cwd: dir, env, encoding: 'utf8', timeout: 180_000 });
  const shOut = `${sh.stdout}\n${sh.stderr}`;
  assert.equal(sh.status, 0, `the walk-through failed (exit ${sh.status}):\n${shOut}`);
  // What the README's comments promise, seen in the output.
  assert.match(sh.stdout, /quota_exhausted/, shOut);
  assert.match(sh.stdout, /succeeded/, shOut);
  assert.match(sh.stdout, /eval/, shOut);
  assert.doesNotMatch(sh.stderr, /warning: .* overrides? this login/, 'login is not overridden by an exported variable');

  const python = blocks
    .filter((b) => b.lang === 'python')
    .map((b) => `# README.md:${b.line}\n${b.code}`)
    .join('\n\n');
  writeFileSync(join(dir, 'notebook.py'), python);
  const py = spawnSync('/usr/bin/python3', ['notebook.py'], { cwd: dir, env, encoding: 'utf8', timeout: 180_000 });
  const pyOut = `${py.stdout}\n${py.stderr}`;
  assert.equal(py.status, 0, `the Python example failed (exit ${py.status}):\n${pyOut}`);
  assert.match(py.stdout, /succeeded/, pyOut);
  assert.match(py.stdout, /unknown_gpu_type/, pyOut);
});
