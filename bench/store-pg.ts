/**
 * Acknowledged submissions/s over HTTP on the embedded SQLite store versus PostgreSQL (one server
 * process, a throwaway local cluster with fsync on), runs interleaved so both see the same machine
 * load; medians of `runs`, with the 1-minute load average before each run.
 *
 * With GIGAFAB_BENCH_STORE_BEFORE naming another built checkout (e.g. `git worktree add /tmp/before
 * <commit>` and `npx tsc -p tsconfig.json` there), a fourth mode, `postgres-before`, runs that
 * checkout's server over loopback TCP in the same rounds: a before/after ratio measured side by side.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { startPostgres } from '../test/helpers/postgres.js';
import { benchSubmissions } from './submissions.js';

/** PostgreSQL over loopback TCP, and over its Unix socket (a database on the API server's own machine). */
const ALL_STORES = ['sqlite', 'postgres', 'postgres-socket', 'postgres-before'] as const;
type StoreKind = (typeof ALL_STORES)[number];
type Bench = typeof benchSubmissions;

export interface StoreRun {
  store: StoreKind;
  submissionsPerSecond: number;
  latencyP99Ms: number;
  errors: number;
  load1m: number;
}

export async function benchStorePg(runs = 3, connections = 16, durationSeconds = 10) {
  const beforeDir = process.env.GIGAFAB_BENCH_STORE_BEFORE;
  const before: Bench | null = beforeDir
    ? ((await import(join(resolve(beforeDir), 'dist/bench/submissions.js'))) as { benchSubmissions: Bench }).benchSubmissions
    : null;
  const STORES = ALL_STORES.filter((s) => s !== 'postgres-before' || before);
  const cluster = await startPostgres();
  const rows: StoreRun[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      for (const store of STORES) {
        const url = store === 'sqlite' ? null : await cluster.createDatabase(`bench${i}_${store.replace('-', '_')}`);
        const database = url && store === 'postgres-socket' ? socketUrl(url, cluster.socketDir) : url;
        const args = database ? ['--database', database] : [];
        const load1m = loadavg()[0] ?? 0;
        const [r] = await (store === 'postgres-before' && before ? before : benchSubmissions)(
          [connections],
          durationSeconds,
          args,
        );
        if (!r) throw new Error('no result');
        rows.push({
          store,
          submissionsPerSecond: r.submissionsPerSecond,
          latencyP99Ms: r.latencyP99Ms,
          errors: r.errors,
          load1m,
        });
      }
    }
  } finally {
    await cluster.remove();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const summary = STORES.map((store) => {
    const mine = rows.filter((r) => r.store === store);
    return {
      store,
      connections,
      medianPerSecond: median(mine.map((r) => r.submissionsPerSecond)),
      runs: mine.map((r) => r.submissionsPerSecond),
      p99Ms: median(mine.map((r) => r.latencyP99Ms)),
      load1m: mine.map((r) => Math.round(r.load1m * 10) / 10),
    };
  });
  return { rows, summary };
}

/** socketUrl: the same database reached through the server's Unix socket instead of TCP. */
function socketUrl(tcpUrl: string, socketDir: string): string {
  const u = new URL(tcpUrl);
  return `postgres://${u.username}@${u.pathname}?host=${encodeURIComponent(socketDir)}&port=${u.port}`;
}
