/**
 * startPatroni: the reference high-availability deployment of the store's PostgreSQL, on loopback, for
 * one test file — etcd (the DCS) and `members` Patroni-managed PostgreSQL servers that replicate from
 * the leader, with `synchronous_mode: true`: the leader's COMMIT returns only once the synchronous
 * standby has the commit record on disk, so a job the API acknowledged survives the loss of the
 * primary (the standby Patroni promotes has it). Debian's packages (scripts/ensure-patroni.sh), free
 * ports, one temp dir; PostgreSQL refuses to run as root, so as root Patroni runs as `postgres`.
 *
 * The settings are those README "Database failover: PostgreSQL with Patroni and etcd" documents, with
 * short timings for tests: ttl 10 s, loop_wait 2 s, retry_timeout 4 s (Patroni wants loop_wait + 2 × retry_timeout ≤ ttl).
 * `url` is the libpq multi-host URL with `target_session_attrs=read-write`, as an operator gives it.
 * remove() stops everything and deletes the dir; a process exit without it kills what is left.
 * Every wait is bounded.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';

const run = promisify(execFile);
const SCOPE = 'gf';
const PG_BIN = '/usr/lib/postgresql/15/bin';
/** Passwords of a throwaway cluster on loopback. */
const SUPERUSER = { username: 'postgres', password: 'patroni-super' };
const REPLICATION = { username: 'repl', password: 'patroni-repl' };
const APP = { username: 'gigafab', password: 'gigafab-secret' };

export interface PatroniMember {
  name: string;
  pgPort: number;
  apiPort: number;
  dataDir: string;
}

export interface PatroniCluster {
  /** libpq multi-host URL of the `gigafab` database, read-write target. */
  url: string;
  members: PatroniMember[];
  /** leader: the member Patroni's REST API calls the leader (null while none is). */
  leader(): Promise<PatroniMember | null>;
  /** waitForSyncStandby: a leader and a streaming synchronous standby (bounded). */
  waitForSyncStandby(timeoutMs?: number): Promise<{ leader: PatroniMember; standby: PatroniMember }>;
  /** switchover: `patronictl switchover` from the leader to the other member; resolves when done. */
  switchover(): Promise<{ from: string; to: string }>;
  /** postmasterPid: the PID of the member's PostgreSQL postmaster (from postmaster.pid). */
  postmasterPid(m: PatroniMember): number | null;
  /** loseMember: the member's machine is gone — its Patroni and its postmaster killed (SIGKILL) at once. */
  loseMember(m: PatroniMember): void;
  /** patronictl list, for failure messages. */
  list(): Promise<string>;
  remove(): Promise<void>;
  logs(): string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  fn: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs: number,
  stepMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

interface MemberStatus {
  role?: string;
  state?: string;
}

async function memberStatus(m: PatroniMember): Promise<MemberStatus | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${m.apiPort}/patroni`, { signal: AbortSignal.timeout(1000) });
    return (await r.json()) as MemberStatus;
  } catch {
    return null;
  }
}

/** Patroni 3.0 says `master`; later versions say `primary`. */
function isLeader(s: MemberStatus | null): boolean {
  return s?.role === 'master' || s?.role === 'primary';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startPatroni(opts: { members?: number } = {}): Promise<PatroniCluster> {
  const count = opts.members ?? 2;
  const missing = ['/usr/bin/patroni', '/usr/bin/patronictl', '/usr/bin/etcd', join(PG_BIN, 'pg_ctl')].filter(
    (f) => !existsSync(f),
  );
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run scripts/ensure-patroni.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-patroni-'));
  const ids = process.getuid?.() === 0 ? await postgresIds() : null;
  if (ids) chownSync(dir, ids.uid, ids.gid);
  const procs: { name: string; proc: ChildProcess; out: string[] }[] = [];
  const members: PatroniMember[] = [];
  const spawnLogged = (name: string, cmd: string, args: string[], asPostgres: boolean) => {
    const proc = spawn(cmd, args, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOME: dir, PGPASSFILE: join(dir, `${name}.pgpass`) },
      ...(asPostgres && ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
    const out: string[] = [];
    const keep = (d: Buffer) => {
      out.push(d.toString());
      if (out.length > 400) out.splice(0, 100);
    };
    proc.on('error', (err) => keep(Buffer.from(`${name}: ${err.message}\n`)));
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    procs.push({ name, proc, out });
    return proc;
  };

  // A process exit without remove() (a crashed test) must leave nothing running.
  const killAll = () => {
    for (const m of members) {
      const pid = postmasterPid(m);
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    for (const p of procs) {
      try {
        if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killAll);

  const removeAll = async () => {
    process.off('exit', killAll);
    // A throwaway cluster needs no clean shutdown (a clean one takes seconds): Patroni killed first, so it
    // restarts nothing, then each postmaster (its backends notice and exit), then etcd; each wait bounded.
    const patronis = procs.filter((p) => p.name !== 'etcd');
    for (const p of patronis) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    await Promise.all(patronis.map((p) => exited(p.proc, 5000)));
    const postmasters = members.map(postmasterPid).filter((pid): pid is number => pid !== null && alive(pid));
    for (const pid of postmasters) process.kill(pid, 'SIGKILL');
    await until(async () => postmasters.every((pid) => !alive(pid)), 'the postmasters to exit', 5000).catch(() => undefined);
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    await Promise.all(procs.map((p) => exited(p.proc, 5000)));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const etcdClient = await freePort();
    const etcdPeer = await freePort();
    spawnLogged(
      'etcd',
      'etcd',
      [
        '--name',
        'gf',
        '--data-dir',
        join(dir, 'etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${etcdClient}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${etcdClient}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-cluster',
        `gf=http://127.0.0.1:${etcdPeer}`,
      ],
      true,
    );
    await until(
      async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`, { signal: AbortSignal.timeout(1000) })).ok,
      'etcd to answer',
      15_000,
    );

    for (let n = 1; n <= count; n++) {
      const m: PatroniMember = {
        name: `pg${n}`,
        pgPort: await freePort(),
        apiPort: await freePort(),
        dataDir: join(dir, `data${n}`),
      };
      members.push(m);
      // JSON is YAML: Patroni reads this file as it is.
      const config = {
        scope: SCOPE,
        name: m.name,
        log: { level: 'WARNING' },
        restapi: { listen: `127.0.0.1:${m.apiPort}`, connect_address: `127.0.0.1:${m.apiPort}` },
        etcd3: { hosts: `127.0.0.1:${etcdClient}` },
        bootstrap: {
          dcs: {
            ttl: 10,
            loop_wait: 2,
            retry_timeout: 4,
            maximum_lag_on_failover: 1048576,
            synchronous_mode: true,
            postgresql: {
              use_pg_rewind: true,
              parameters: { max_connections: 60, shared_buffers: '32MB', fsync: 'on', synchronous_commit: 'on' },
            },
          },
          initdb: [{ encoding: 'UTF8' }, { locale: 'C' }],
          pg_hba: [
            'local all all trust',
            `host replication ${REPLICATION.username} 127.0.0.1/32 md5`,
            'host all all 127.0.0.1/32 md5',
          ],
        },
        postgresql: {
          listen: `127.0.0.1:${m.pgPort}`,
          connect_address: `127.0.0.1:${m.pgPort}`,
          data_dir: m.dataDir,
          bin_dir: PG_BIN,
          pgpass: join(dir, `${m.name}.pgpass`),
          authentication: { superuser: SUPERUSER, replication: REPLICATION },
          parameters: { unix_socket_directories: dir },
        },
      };
      const file = join(dir, `${m.name}.yml`);
      writeFileSync(file, JSON.stringify(config, null, 1));
      if (ids) chownSync(file, ids.uid, ids.gid);
      spawnLogged(m.name, 'patroni', [file], true);
    }

    const cluster: PatroniCluster = {
      url: '',
      members,
      async leader() {
        for (const m of members) if (isLeader(await memberStatus(m))) return m;
        return null;
      },
      async waitForSyncStandby(timeoutMs = 45_000) {
        // The DCS's view (GET /cluster): Patroni switches over only to the member its /sync key names.
        return until(
          async () => {
            for (const m of members) {
              const r = await fetch(`http://127.0.0.1:${m.apiPort}/cluster`, { signal: AbortSignal.timeout(1000) });
              const body = (await r.json()) as { members?: { name: string; role: string; state: string }[] };
              const byRole = (role: string) => body.members?.find((x) => x.role === role && x.state === 'running');
              const leader = members.find((o) => o.name === byRole('leader')?.name);
              const standby = members.find((o) => o.name === byRole('sync_standby')?.name);
              if (leader && standby) return { leader, standby };
            }
            return null;
          },
          'a leader with a running synchronous standby',
          timeoutMs,
        );
      },
      async switchover() {
        const { leader, standby } = await cluster.waitForSyncStandby(20_000);
        await run(
          'patronictl',
          [
            '-c',
            join(dir, `${leader.name}.yml`),
            'switchover',
            SCOPE,
            '--leader',
            leader.name,
            '--candidate',
            standby.name,
            '--force',
          ],
          {
            timeout: 30_000,
          },
        );
        await until(async () => (await cluster.leader())?.name === standby.name, `${standby.name} to lead`, 20_000);
        return { from: leader.name, to: standby.name };
      },
      postmasterPid,
      loseMember(m) {
        const pid = postmasterPid(m);
        procs.find((p) => p.name === m.name)?.proc.kill('SIGKILL');
        if (pid) process.kill(pid, 'SIGKILL');
      },
      async list() {
        try {
          return (await run('patronictl', ['-c', join(dir, 'pg1.yml'), 'list'], { timeout: 10_000 })).stdout;
        } catch (err) {
          return String(err);
        }
      },
      remove: removeAll,
      logs: () => procs.map((p) => `--- ${p.name}\n${p.out.join('')}`).join('\n'),
    };

    const { leader } = await cluster.waitForSyncStandby(60_000);
    // The application's role and database, created on the leader (replicated to the standby).
    const admin = new pg.Client({
      host: '127.0.0.1',
      port: leader.pgPort,
      user: SUPERUSER.username,
      password: SUPERUSER.password,
      database: 'postgres',
      connectionTimeoutMillis: 5000,
    });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${APP.username} LOGIN PASSWORD '${APP.password}'`);
      await admin.query(`CREATE DATABASE gigafab OWNER ${APP.username}`);
    } finally {
      await admin.end();
    }
    const hosts = members.map((m) => `127.0.0.1:${m.pgPort}`).join(',');
    cluster.url = `postgresql://${APP.username}:${APP.password}@${hosts}/gigafab?target_session_attrs=read-write`;
    return cluster;
  } catch (err) {
    const logs = procs.map((p) => `--- ${p.name}\n${p.out.join('')}`).join('\n');
    await removeAll().catch(() => undefined);
    throw new Error(`the Patroni cluster did not start: ${(err as Error).message}\n${logs.slice(-6000)}`);
  }
}

function postmasterPid(m: PatroniMember): number | null {
  const file = join(m.dataDir, 'postmaster.pid');
  if (!existsSync(file)) return null;
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

async function exited(proc: ChildProcess, timeoutMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<boolean>((r) => proc.once('exit', () => r(true)));
  const late = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), timeoutMs);
  });
  const inTime = await Promise.race([done, late]);
  clearTimeout(timer);
  if (!inTime) {
    proc.kill('SIGKILL');
    await done;
  }
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}
