/**
 * A private OCI registry on localhost for the tests: Debian's `docker-registry` (the CNCF distribution
 * registry) with htpasswd auth, on a free port, storing into a temporary directory. pushImage copies a
 * locally built image into it (podman push, plain HTTP on loopback).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface TestRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  user: string;
  password: string;
  /** pushImage copies a local image to `<host>/<name>` with the registry's credentials; returns the reference. */
  pushImage(local: string, name: string): string;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const user = 'tenant';
  const password = `pw-${process.pid}-${Date.now().toString(36)}`;
  writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', user, password]));
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: ${join(dir, 'data')} } }
http: { addr: "${host}" }
auth: { htpasswd: { realm: gigafab-test, path: ${join(dir, 'htpasswd')} } }
`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await fetch(`http://${host}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 401) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`docker-registry did not come up on ${host}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    user,
    password,
    pushImage(local, name) {
      const ref = `${host}/${name}`;
      execFileSync('podman', ['push', '--quiet', '--tls-verify=false', '--creds', `${user}:${password}`, local, ref], {
        stdio: 'ignore',
      });
      return ref;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
