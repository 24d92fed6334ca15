/**
 * startTestServer spawns the real `gigafab server` process on an ephemeral port with a fresh
 * data directory, and waits until /healthz answers. restart() kills and starts it again on the
 * same data directory; stop('SIGKILL') simulates a crash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { databaseFor } from './store-dialects.js';

export const REPO = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../..');
export const BIN = join(REPO, 'bin/gigafab.js');

export interface TestServer {
  url: string;
  operatorToken: string;
  dataDir: string;
  /** The server process's id (signals other than a stop: SIGSTOP, SIGCONT). */
  readonly pid: number;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
}

export async function startTestServer(
  opts: {
    timeScale?: number;
    fleetPath?: string;
    extraArgs?: string[];
    dataDir?: string;
    env?: NodeJS.ProcessEnv;
    /** Another build's bin/gigafab.js (the benches compare builds); default: this checkout's. */
    bin?: string;
  } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'gigafab-test-'));
  let proc: ChildProcess;
  let out = '';
  let url = '';
  // GIGAFAB_TEST_STORE=postgres runs any server test on PostgreSQL: one database per data directory.
  const database = process.env.GIGAFAB_TEST_STORE === 'postgres' ? ['--database', await databaseFor(dataDir)] : [];
  const launch = async () => {
    // GIGAFAB_TEST_NODE_ARGS: flags for the server's node (e.g. --cpu-prof when profiling a benchmark).
    const nodeArgs = (process.env.GIGAFAB_TEST_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const args = [
      ...nodeArgs,
      opts.bin ?? BIN,
      'server',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--time-scale',
      String(opts.timeScale ?? 600),
      ...database,
    ];
    if (opts.fleetPath) args.push('--fleet', opts.fleetPath);
    args.push(...(opts.extraArgs ?? []));
    // GIGAFAB_TEST_PROXY_WORKERS=N runs any proxy test through N proxy worker processes.
    const proxyWorkers = process.env.GIGAFAB_TEST_PROXY_WORKERS;
    if (proxyWorkers && args.includes('--proxy-port') && !args.includes('--proxy-workers')) {
      args.push('--proxy-workers', proxyWorkers);
    }
    proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    const from = out.length;
    proc.stdout!.on('data', (d) => {
      out += d;
    });
    proc.stderr!.on('data', (d) => {
      out += d;
    });
    url = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`server did not start:\n${out}`)), 30_000);
      const check = () => {
        const m = /listening on (http:\/\/\S+)/.exec(out.slice(from));
        if (m) {
          clearTimeout(t);
          res(m[1]!);
        }
      };
      proc.stdout!.on('data', check);
      proc.once('exit', (code) => {
        clearTimeout(t);
        rej(new Error(`server exited with ${code}:\n${out}`));
      });
    });
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${url}/healthz`).catch(() => null);
      if (r?.ok) return;
      await new Promise((r2) => setTimeout(r2, 50));
    }
    throw new Error('server never became healthy');
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  };
  await launch();
  const server: TestServer = {
    get url() {
      return url;
    },
    operatorToken: readFileSync(join(dataDir, 'operator-token'), 'utf8').trim(),
    dataDir,
    get pid() {
      return proc.pid ?? 0;
    },
    output: () => out,
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
  return server;
}

/** What api() answers: status, headers and the parsed body. */
// biome-ignore lint/suspicious/noExplicitAny: test convenience for reading response fields
export type ApiResponse = { status: number; headers: Headers; body: any };

/** api is a tiny typed fetch wrapper for tests. */
export function api(url: string, token?: string) {
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse> => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: r.status, headers: r.headers, body: json };
  };
  return Object.assign(call, { url, token });
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
