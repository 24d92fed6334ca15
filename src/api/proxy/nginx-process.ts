/**
 * The nginx process of the data plane (nginx-plane.ts writes its config): started in a process
 * group of its own and supervised. When its master exits and gigafab did not ask it to, the group
 * is ended (workers outlive their master: they would hold the port and serve the old routes
 * unsupervised), the exit is logged and counted, and nginx is started again with the current config
 * after RESTART_MIN_MS, doubling to RESTART_MAX_MS while it keeps dying within STABLE_MS of its
 * start. While it is down, connections to the proxy's port are refused.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { listenAddr } from './nginx-config.js';

/** The wait before nginx is started again after it died: doubling from MIN to MAX while it keeps dying. */
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;
/** An nginx that ran this long before it died is restarted after RESTART_MIN_MS again. */
const STABLE_MS = 10_000;

export interface NginxProcessOptions {
  /** The nginx binary (`nginx` falls back to Debian's /usr/sbin/nginx when PATH lacks it). */
  nginx: string;
  prefix: string;
  confPath: string;
  /** Where nginx listens (an address to connect to) and on which port. */
  probe: string;
  port: number;
  /** Counts config writes: a restart that raced a write is told to reread the config. */
  version: () => number;
  log?: (line: string) => void;
}

export interface NginxProcess {
  /** SIGHUP: reread the config. While nginx is down or starting it reads the file anyway. */
  reload(): void;
  /** Starts after nginx died. */
  restarts(): number;
  stop(): Promise<void>;
}

const onPath = (name: string) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, name)));

function waitListening(host: string, port: number, p: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined)
        return reject(new Error(`nginx exited (${p.signalCode ?? p.exitCode ?? 'not started'}) before it listened`));
      const c = connect(port, host);
      c.once('connect', () => {
        c.destroy();
        resolve();
      });
      c.once('error', () => {
        c.destroy();
        if (Date.now() > deadline) reject(new Error(`nginx did not listen on ${listenAddr(host, port)} in time`));
        else setTimeout(tryOnce, 25);
      });
    };
    tryOnce();
  });
}

/** killGroup: nginx's whole process group (master, workers, cache processes); none left is fine. */
function killGroup(p: ChildProcess): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/** startNginxProcess: resolves once nginx listens; a failed first start rejects (no restart). */
export async function startNginxProcess(o: NginxProcessOptions): Promise<NginxProcess> {
  // Not on PATH (often so for a user without /usr/sbin in it): Debian's place.
  const bin = o.nginx === 'nginx' && existsSync('/usr/sbin/nginx') && !onPath('nginx') ? '/usr/sbin/nginx' : o.nginx;
  let closing = false;
  // Supervised once it first listened: a failed start is the caller's error, not a restart.
  let supervised = false;
  let spawnError: Error | null = null;
  let restartTimer: NodeJS.Timeout | undefined;
  let backoffMs = RESTART_MIN_MS;
  let startedAt = 0;
  let restarts = 0;
  // The current nginx listens (has its signal handlers: a SIGHUP before them would end it).
  let listening = false;

  const restart = () => {
    restartTimer = undefined;
    if (closing) return;
    restarts++;
    const seen = o.version();
    const next = run();
    proc = next;
    waitListening(o.probe, o.port, next, 10_000).then(
      () => {
        if (proc !== next || closing) return;
        listening = true;
        // Routes that changed while it started: it may have read the config before.
        if (o.version() !== seen) next.kill('SIGHUP');
        o.log?.(`nginx restarted (pid ${next.pid}) with the current config`);
      },
      (err: Error) => o.log?.(`nginx restart: ${err.message}`),
    );
  };

  const run = (): ChildProcess => {
    // detached: its own process group, so that workers left by a master that died can be ended.
    const p = spawn(bin, ['-e', join(o.prefix, 'error.log'), '-c', o.confPath, '-p', o.prefix], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    startedAt = Date.now();
    listening = false;
    p.stderr?.setEncoding('utf8').on('data', (d: string) => o.log?.(`nginx: ${d.trim()}`));
    p.once('error', (err) => {
      spawnError = err;
      o.log?.(`nginx could not be run (${bin}): ${err.message}`);
    });
    p.once('exit', (code, signal) => {
      if (closing || !supervised || p !== proc) return;
      killGroup(p);
      if (Date.now() - startedAt >= STABLE_MS) backoffMs = RESTART_MIN_MS;
      const wait = backoffMs;
      backoffMs = Math.min(RESTART_MAX_MS, backoffMs * 2);
      o.log?.(`nginx exited (${signal ?? code}); workload hosts are unreachable until it is restarted, in ${wait} ms`);
      restartTimer = setTimeout(restart, wait);
    });
    return p;
  };

  let proc = run();
  try {
    await waitListening(o.probe, o.port, proc, 10_000);
    supervised = true;
    listening = true;
  } catch (err) {
    closing = true;
    killGroup(proc);
    throw spawnError ?? err;
  }

  return {
    reload() {
      if (listening && !closing) proc.kill('SIGHUP');
    },
    restarts: () => restarts,
    async stop() {
      closing = true;
      if (restartTimer) clearTimeout(restartTimer);
      const p = proc;
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
        p.kill('SIGTERM');
        const t = setTimeout(() => killGroup(p), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
