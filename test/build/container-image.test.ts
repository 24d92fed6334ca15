/**
 * The control plane's own image (Containerfile, scripts/build-image.sh), built and run with real podman.
 * No registry on the internet is reachable here, so the base image is a local stand-in for
 * node:24-bookworm-slim: this machine's Node binary, the shared libraries it and the native SQLite
 * module link against, and busybox for the build's one RUN step — imported with `podman import`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { podmanAvailable } from '../helpers/podman.js';
import { freePort } from '../helpers/ports.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const BASE = `localhost/gigafab-node-base:${process.version.slice(1)}-v2`;
const TAG = `localhost/gigafab:test-${process.pid}`;
const CONTAINER = `gigafab-image-test-${process.pid}`;
const VOLUME = `gigafab-image-test-${process.pid}`;

function podman(args: string[], opts: { allowFail?: boolean } = {}): { code: number; out: string; err: string } {
  const r = spawnSync('podman', args, { encoding: 'utf8', timeout: 120_000 });
  if (!opts.allowFail && r.status !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** libraries: the shared objects a binary links against, as absolute paths (from ldd). */
function libraries(file: string): string[] {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' });
  return [...out.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1] as string);
}

/** ensureNodeBase imports a minimal image holding this process's Node at /usr/local/bin/node. */
function ensureNodeBase(): void {
  if (podman(['image', 'exists', BASE], { allowFail: true }).code === 0) return;
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-node-base-'));
  try {
    const root = join(dir, 'rootfs');
    for (const d of ['usr/local/bin', 'bin', 'tmp', 'etc']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync(process.execPath, join(root, 'usr/local/bin/node'));
    const sqlite = join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
    for (const lib of new Set([...libraries(process.execPath), ...libraries(sqlite)])) {
      mkdirSync(join(root, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(root, lib));
    }
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    for (const applet of ['sh', 'mkdir', 'chown', 'id', 'cat', 'ls']) symlinkSync('busybox', join(root, 'bin', applet));
    execFileSync('chmod', ['1777', join(root, 'tmp')]);
    execFileSync('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.']);
    podman(['import', '--quiet', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', join(dir, 'rootfs.tar'), BASE]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitHealthy(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const logs = podman(['logs', CONTAINER], { allowFail: true });
  throw new Error(`the container never became healthy (${last}); logs:\n${logs.out}${logs.err}`);
}

function run(port: number): void {
  // The image's own CMD (server on 0.0.0.0:8080, data on the volume), published on loopback only.
  podman(['run', '-d', '--name', CONTAINER, '-p', `127.0.0.1:${port}:8080`, '-v', `${VOLUME}:/var/lib/gigafab`, TAG]);
}

before(() => {
  if (!podmanAvailable()) throw new Error('podman or /bin/busybox is missing: run scripts/ensure-podman.sh (as root)');
  ensureNodeBase();
});

after(() => {
  podman(['rm', '-f', CONTAINER], { allowFail: true });
  podman(['volume', 'rm', '-f', VOLUME], { allowFail: true });
  podman(['rmi', '-f', TAG], { allowFail: true });
});

test('scripts/build-image.sh builds the image offline; it runs the server unprivileged, and its data survives a restart', async () => {
  const built = spawnSync('bash', [join(ROOT, 'scripts/build-image.sh'), '--base', BASE, '--tag', TAG], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(built.status, 0, built.stderr);
  assert.equal(built.stdout.trim(), TAG);

  // Only the runtime is inside: no TypeScript sources, no tests, no development dependencies.
  const ls = (dir: string) => podman(['run', '--rm', '--entrypoint', 'ls', TAG, dir]).out.split(/\s+/).filter(Boolean);
  assert.deepEqual(ls('/opt/gigafab').sort(), ['bin', 'dist', 'fleets', 'node_modules', 'package-lock.json', 'package.json']);
  assert.deepEqual(ls('/opt/gigafab/dist').sort(), ['console', 'src']);
  const modules = ls('/opt/gigafab/node_modules');
  for (const m of ['better-sqlite3', 'hono', 'kysely', 'pg', 'swagger-ui-dist']) assert.ok(modules.includes(m), m);
  for (const m of ['typescript', 'vite', '@biomejs', 'playwright-core', 'fast-check']) assert.ok(!modules.includes(m), m);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  run(port);
  await waitHealthy(url);
  assert.equal(podman(['exec', CONTAINER, 'id', '-u']).out.trim(), '65532', 'the server does not run as root');

  const token = podman(['exec', CONTAINER, 'cat', '/var/lib/gigafab/operator-token']).out.trim();
  assert.match(token, /^gf_/);
  const auth = { authorization: `Bearer ${token}` };
  const orgs = await fetch(`${url}/v1/orgs`, { headers: auth });
  assert.equal(orgs.status, 200, await orgs.clone().text());
  const console = await fetch(`${url}/`);
  assert.equal(console.status, 200);
  assert.match(await console.text(), /<div id="app"|<script/);
  const created = await fetch(`${url}/v1/orgs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'image-test', name: 'Image Test GmbH', kind: 'start-up' }),
  });
  assert.equal(created.status, 201, await created.clone().text());

  // SIGTERM (podman stop) ends the server cleanly; a new container on the same volume has the data.
  podman(['stop', '-t', '20', CONTAINER]);
  const state = podman(['inspect', '--format', '{{.State.ExitCode}}', CONTAINER]).out.trim();
  assert.equal(state, '0', 'the server exits 0 on SIGTERM');
  podman(['rm', CONTAINER]);
  run(port);
  await waitHealthy(url);
  const again = await fetch(`${url}/v1/orgs`, { headers: auth });
  assert.equal(again.status, 200, 'the operator token from the first start still works');
  const body = (await again.json()) as { items?: Array<{ id: string }> };
  assert.ok(JSON.stringify(body).includes('image-test'), 'the organisation created before the restart is there');
});
