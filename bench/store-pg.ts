/**
 * Acknowledged submissions/s over HTTP on the embedded SQLite store versus PostgreSQL (one server
 * process, a throwaway local cluster with fsync on), runs interleaved so both see the same machine
 * load; medians of `runs`, with the 1-minute load average before each run.
 */
import { loadavg } from 'node:os';
import { startPostgres } from '../test/helpers/postgres.js';
import { benchSubmissions } from './submissions.js';

/** PostgreSQL over loopback TCP, and over its Unix socket (a database on the API server's own machine). */
const STORES = ['sqlite', 'postgres', 'postgres-socket'] as const;
type StoreKind = (typeof STORES)[number];

export interface StoreRun {
  store: StoreKind;
  submissionsPerSecond: number;
  latencyP99Ms: number;
  errors: number;
  load1m: number;
}

export async function benchStorePg(runs = 3, connections = 16, durationSeconds = 10) {
  const cluster = await startPostgres();
  const rows: StoreRun[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      for (const store of STORES) {
        const url = store === 'sqlite' ? null : await cluster.createDatabase(`bench${i}_${store.replace('-', '_')}`);
        const database = url && store === 'postgres-socket' ? socketUrl(url, cluster.socketDir) : url;
        const args = database ? ['--database', database] : [];
        const load1m = loadavg()[0] ?? 0;
        const [r] = await benchSubmissions([connections], durationSeconds, args);
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
