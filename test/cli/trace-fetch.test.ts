/**
 * gigafab trace list|fetch|path against a real local HTTP server that serves small fixture files through a
 * custom catalogue (the real catalogue points at GitHub, which tests cannot reach): verified downloads, resume
 * with an HTTP Range request after a broken-off transfer, a wrong checksum refused, an unreachable server
 * answered with exit 2 and a hint, an archive unpacked, and the simulator run on a fetched trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/program.js';
import { deadUrl } from './fake-api.js';

const fixture = readFileSync(fileURLToPath(new URL('../../../test/sim/fixtures/equivalence-philly.csv', import.meta.url)));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const files = new Map<string, Buffer>();
const requests: { path: string; range?: string }[] = [];
/** Paths whose next response is cut off after this many bytes (then the socket is destroyed). */
const cutOnce = new Map<string, number>();
let server: Server;
let base = '';

before(async () => {
  const work = mkdtempSync(join(tmpdir(), 'gigafab-trace-src-'));
  mkdirSync(join(work, 'raw', 'nested'), { recursive: true });
  writeFileSync(join(work, 'raw', 'nested', 'cluster01.csv'), fixture);
  writeFileSync(join(work, 'raw', 'nested', 'README.txt'), 'not a trace');
  const tar = spawnSync('tar', ['-czf', join(work, 'raw.tar.gz'), '-C', work, 'raw']);
  assert.equal(tar.status, 0);
  files.set('/philly.csv', fixture);
  files.set('/big.csv', Buffer.concat(Array.from({ length: 40 }, () => fixture)));
  files.set('/raw.tar.gz', readFileSync(join(work, 'raw.tar.gz')));
  server = createServer((req: IncomingMessage, res) => {
    const path = req.url ?? '';
    requests.push({ path, range: req.headers.range });
    const body = files.get(path);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m ? Number(m[1]) : 0;
    const slice = body.subarray(from);
    res.writeHead(m ? 206 : 200, {
      'content-length': slice.length,
      ...(m ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
    });
    const cut = cutOnce.get(path);
    if (cut !== undefined) {
      cutOnce.delete(path);
      res.write(slice.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function catalogue(dir: string, entries: unknown[]): string {
  const p = join(dir, 'catalog.json');
  writeFileSync(p, JSON.stringify(entries));
  return p;
}

function entry(name: string, fileList: { name: string; path: string; extract?: string; sha256?: string }[]) {
  return {
    name,
    title: `fixture ${name}`,
    licence: 'test fixture',
    cite: 'none',
    use: 'gigafab simulate --trace DIR/philly.csv',
    files: fileList.map((f) => {
      const body = files.get(f.path) ?? Buffer.alloc(1);
      return {
        name: f.name,
        url: `${base}${f.path}`,
        sha256: f.sha256 ?? sha(body),
        bytes: body.length,
        ...(f.extract ? { extract: f.extract } : {}),
      };
    }),
  };
}

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const io = {
    out: (s: string) => {
      out += s;
    },
    err: (s: string) => {
      err += s;
    },
  };
  const code = await run(args, { io, env: { HOME: mkdtempSync(join(tmpdir(), 'gigafab-trace-home-')), ...env } });
  return { code, out, err };
}

test('fetch downloads and verifies a trace; path and list find it; a second fetch downloads nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-trace-'));
  const cat = catalogue(dir, [entry('philly', [{ name: 'philly.csv', path: '/philly.csv' }])]);
  const args = ['--cache-dir', join(dir, 'cache'), '--catalog', cat];
  assert.equal((await cli(['trace', 'path', 'philly', ...args])).code, 1, 'not fetched yet');
  const fetched = await cli(['trace', 'fetch', 'philly', ...args]);
  assert.equal(fetched.code, 0, fetched.err);
  const traceDir = fetched.out.trim();
  assert.equal(traceDir, join(dir, 'cache', 'philly'));
  assert.deepEqual(readFileSync(join(traceDir, 'philly.csv')), fixture);
  assert.match(fetched.err, /licence: test fixture/);
  assert.match(fetched.err, /fetch 100%/, 'progress lines without a terminal');
  assert.equal((await cli(['trace', 'path', 'philly', ...args])).out.trim(), traceDir);
  const listed = JSON.parse((await cli(['-o', 'json', 'trace', 'list', ...args])).out);
  assert.equal(listed[0].fetched, true);
  const n = requests.length;
  assert.equal((await cli(['trace', 'fetch', 'philly', ...args])).code, 0);
  assert.equal(requests.length, n, 'a verified cached file is not downloaded again');

  // The fetched trace is what the simulator reads.
  const out = join(dir, 'report');
  const sim = await cli(['simulate', '--trace', join(traceDir, 'philly.csv'), '--out', out, '--no-progress']);
  assert.equal(sim.code, 0, sim.err);
  assert.ok(existsSync(join(out, 'results.json')));
});

test('a transfer that breaks off resumes with a Range request and ends verified', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-trace-'));
  const cat = catalogue(dir, [entry('big', [{ name: 'big.csv', path: '/big.csv' }])]);
  const args = ['--cache-dir', join(dir, 'cache'), '--catalog', cat];
  const cut = 10_000;
  cutOnce.set('/big.csv', cut);
  const first = await cli(['trace', 'fetch', 'big', ...args]);
  assert.equal(first.code, 1);
  assert.match(first.err, /run the command again to resume/);
  const part = join(dir, 'cache', 'big', 'big.csv.part');
  assert.equal(statSync(part).size, cut);
  const second = await cli(['trace', 'fetch', 'big', ...args]);
  assert.equal(second.code, 0, second.err);
  assert.equal(requests.at(-1)?.range, `bytes=${cut}-`);
  assert.deepEqual(readFileSync(join(dir, 'cache', 'big', 'big.csv')), files.get('/big.csv'));
  assert.equal(existsSync(part), false);
});

test('a file with the wrong checksum is refused and not kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-trace-'));
  const wrong = '0'.repeat(64);
  const cat = catalogue(dir, [entry('bad', [{ name: 'philly.csv', path: '/philly.csv', sha256: wrong }])]);
  const r = await cli(['trace', 'fetch', 'bad', '--cache-dir', join(dir, 'cache'), '--catalog', cat]);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`expected ${fixture.length.toLocaleString('en')} bytes with ${wrong}`));
  assert.equal(existsSync(join(dir, 'cache', 'bad', 'philly.csv')), false);
  assert.equal(existsSync(join(dir, 'cache', 'bad', 'philly.csv.part')), false);
});

test('an unreachable server: exit 2 and what to do offline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-trace-'));
  const dead = await deadUrl();
  const cat = catalogue(dir, [
    {
      ...entry('gone', [{ name: 'philly.csv', path: '/philly.csv' }]),
      files: [{ name: 'philly.csv', url: `${dead}/philly.csv`, sha256: sha(fixture), bytes: fixture.length }],
    },
  ]);
  const r = await cli(['trace', 'fetch', 'gone', '--cache-dir', join(dir, 'cache'), '--catalog', cat]);
  assert.equal(r.code, 2);
  assert.match(r.err, /error: cannot reach 127\.0\.0\.1:\d+/);
  assert.match(r.err, /Copy the files by hand into/);
});

test('an archive is verified and the files its pattern names are unpacked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-trace-'));
  const cat = catalogue(dir, [entry('itp', [{ name: 'raw.tar.gz', path: '/raw.tar.gz', extract: '^cluster[0-9]+\\.csv$' }])]);
  const r = await cli(['trace', 'fetch', 'itp', '--cache-dir', join(dir, 'cache'), '--catalog', cat]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(readFileSync(join(dir, 'cache', 'itp', 'cluster01.csv')), fixture);
  assert.equal(existsSync(join(dir, 'cache', 'itp', 'README.txt')), false);
});

test('an unknown trace name and a malformed catalogue are refused with clear errors', async () => {
  const unknown = await cli(['trace', 'fetch', 'nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /no trace named nope; known: alibaba-2023, philly, itp/);
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-trace-'));
  const cat = catalogue(dir, [{ name: 'x', files: [] }]);
  const bad = await cli(['trace', 'list', '--catalog', cat]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /catalogue/);
});

test('the built-in catalogue pins every file to a commit and a SHA-256', async () => {
  const r = await cli(['-o', 'json', 'trace', 'list']);
  assert.equal(r.code, 0, r.err);
  for (const e of JSON.parse(r.out)) {
    for (const f of e.files) {
      assert.match(f.url, /^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/[0-9a-f]{40}\//, f.url);
      assert.match(f.sha256, /^[0-9a-f]{64}$/);
    }
  }
});
