/**
 * startPostgres runs a throwaway PostgreSQL cluster for one test file: initdb into a temp dir, pg_ctl on
 * 127.0.0.1 and an ephemeral port, trust authentication for the loopback only. PostgreSQL refuses to
 * run as root, so as root the cluster runs as the `postgres` user (scripts/ensure-postgres.sh installs
 * the binaries). stop()/start() take the server away and bring it back (the unavailability tests);
 * remove() stops it and deletes everything. Nothing global is started or changed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

export interface PostgresCluster {
  /** URL of the `postgres` maintenance database. */
  url: string;
  port: number;
  /** The directory holding the server's Unix socket (`postgres://gigafab@/db?host=<socketDir>`). */
  socketDir: string;
  /** createDatabase makes a fresh, empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** stop shuts the server down (fast: open connections are cut, as when a primary dies). */
  stop(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
  log(): string;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin/pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) throw new Error('PostgreSQL is not installed: run scripts/ensure-postgres.sh');
  return join(root, versions[0], 'bin');
}

async function postgresUid(): Promise<{ uid: number; gid: number }> {
  const { stdout } = await run('id', ['-u', 'postgres']);
  const { stdout: g } = await run('id', ['-g', 'postgres']);
  return { uid: Number(stdout.trim()), gid: Number(g.trim()) };
}

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = binDir();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-pg-'));
  if (asRoot) {
    const { uid, gid } = await postgresUid();
    chownSync(dir, uid, gid);
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  await pg('initdb', ['-D', data, '-U', 'gigafab', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const port = await freePort();
  // Unix socket in the cluster's own dir; TCP on loopback only.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=60`;
  const start = async () => {
    await pg('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']);
  };
  const stop = async () => {
    await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
  };
  await start();
  let running = true;
  // A test process that dies without remove() must not leave a server behind.
  const onExit = () => {
    if (!running) return;
    const args = ['-D', data, '-m', 'immediate', 'stop'];
    try {
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args], { stdio: 'ignore' });
      else execFileSync(join(bin, 'pg_ctl'), args, { stdio: 'ignore' });
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const base = `postgres://gigafab@127.0.0.1:${port}`;
  return {
    url: `${base}/postgres`,
    port,
    socketDir: dir,
    async createDatabase(name) {
      await pg('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'gigafab', name]);
      return `${base}/${name}`;
    },
    async stop() {
      if (!running) return;
      await stop();
      running = false;
    },
    async start() {
      if (running) return;
      await start();
      running = true;
    },
    async remove() {
      process.off('exit', onExit);
      if (running) await stop().catch(() => undefined);
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
}
