/**
 * The store under load, in one run (issue 16): acknowledged submissions/s, their HTTP p99, and the
 * scheduler's cycle p99 on the embedded SQLite store (one server: SQLite allows one process) versus
 * PostgreSQL with 1 and with 3 API replicas. 16 clients in all (split over the replicas), modes
 * interleaved round by round so all see the same machine; fresh databases per round; short jobs
 * (1 s of real time) so that every cycle commits starts while ends keep coming.
 *
 * The cycle figures come from the leader's /metrics at the end of each round: the decision alone
 * (`gigafab_scheduler_cycle_seconds`) and a cycle that placed something with its store commit and
 * hand-over (`gigafab_scheduler_cycle_total_seconds`), as p99 interpolated within the histogram's
 * buckets the way Prometheus' histogram_quantile() does.
 */
import { writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { startPostgres } from '../test/helpers/postgres.js';
import { leaderOf, startReplicas } from '../test/helpers/replicas.js';
import { api, startTestServer, type TestServer, waitFor } from '../test/helpers/server.js';
import { tenantToken } from '../test/helpers/tenants.js';

interface Mode {
  store: 'sqlite' | 'postgres';
  replicas: number;
  /** Served by the build in GIGAFAB_BENCH_STORE_BEFORE (a before/after comparison in the same run). */
  before?: boolean;
}
const BEFORE = process.env.GIGAFAB_BENCH_STORE_BEFORE;
const MODES: Mode[] = [
  { store: 'sqlite', replicas: 1 },
  { store: 'postgres', replicas: 1 },
  ...(BEFORE ? [{ store: 'postgres', replicas: 1, before: true } as const] : []),
  { store: 'postgres', replicas: 3 },
];
const label = (m: Mode) => `${m.store}${m.before ? ' (before)' : ''} × ${m.replicas}`;

export interface StoreReplicaRow {
  mode: string;
  round: number;
  submissionsPerSecond: number;
  httpP99Ms: number;
  errors: number;
  cycles: number;
  cycleP99Ms: number | null;
  cyclesWithCommit: number;
  cycleTotalP99Ms: number | null;
  load1m: number;
}

/** Histogram buckets of one metric from Prometheus text: [upper bound in s, cumulative count]. */
export function buckets(text: string, metric: string): [number, number][] {
  const out: [number, number][] = [];
  const re = new RegExp(`^${metric}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm');
  for (const m of text.matchAll(re)) out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  return out.sort((a, b) => a[0] - b[0]);
}

/** quantile: as histogram_quantile(q, …) — linear within the bucket the rank falls in; null when empty. */
export function quantile(q: number, bs: [number, number][]): number | null {
  const total = bs.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of bs) {
    if (count >= rank) {
      if (le === Infinity) return lower; // beyond the last finite bound: say that bound, as Prometheus does
      return lower + ((le - lower) * (rank - below)) / Math.max(1, count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

async function servers(mode: Mode, url: string | null, limits: string): Promise<TestServer[]> {
  const args = ['--limits', limits];
  if (!url) return [await startTestServer({ timeScale: 60, extraArgs: args })];
  return startReplicas(url, mode.replicas, 60, args, mode.before && BEFORE ? join(resolve(BEFORE), 'bin/gigafab.js') : undefined);
}

export async function benchStoreReplicas(rounds = 3, connections = 16, durationSeconds = 10) {
  const cluster = await startPostgres();
  const limits = join(tmpdir(), `gigafab-bench-limits-${process.pid}.yaml`);
  writeFileSync(limits, 'rateLimits: { enabled: false }\nqueue: { maxQueuedJobsPerOrg: 10000000 }\n');
  const rows: StoreReplicaRow[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of MODES) {
        const url =
          mode.store === 'sqlite' ? null : await cluster.createDatabase(`sr${round}x${mode.replicas}${mode.before ? 'b' : ''}`);
        const fleet = await servers(mode, url, limits);
        try {
          const op = api(fleet[0]!.url, fleet[0]!.operatorToken);
          await op('POST', '/v1/orgs', { id: 'bench', name: 'Bench', kind: 'research' });
          await op('POST', '/v1/orgs/bench/projects', { id: 'bench-load' });
          await op('PUT', '/v1/projects/bench-load/quotas/B200', { gpus: 4096 });
          const token = await tenantToken(op, 'bench', { name: 'Load', role: 'member' });
          const leader = (await waitFor(async () => (mode.store === 'sqlite' ? fleet[0] : await leaderOf(fleet)), 'a leader'))!;
          const body = JSON.stringify({
            name: 'bench',
            project: 'bench-load',
            gpuType: 'B200',
            gpusPerNode: 1,
            nodes: 1,
            simulation: { durationSeconds: 60 }, // 1 s at time scale 60: starts and ends keep coming
          });
          const load1m = loadavg()[0] ?? 0;
          const results = await Promise.all(
            fleet.map((s, k) =>
              autocannon({
                url: `${s.url}/v1/jobs`,
                method: 'POST',
                connections: Math.floor(connections / fleet.length) + (k < connections % fleet.length ? 1 : 0),
                duration: durationSeconds,
                headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
                body,
              }),
            ),
          );
          const metrics = await (await fetch(`${leader.url}/metrics`)).text();
          const decide = buckets(metrics, 'gigafab_scheduler_cycle_seconds');
          const total = buckets(metrics, 'gigafab_scheduler_cycle_total_seconds');
          const ms = (s: number | null) => (s === null ? null : Math.round(s * 10_000) / 10);
          rows.push({
            mode: label(mode),
            round,
            submissionsPerSecond: Math.round(
              results.reduce((a, r) => a + (r.statusCodeStats?.['201']?.count ?? 0), 0) / durationSeconds,
            ),
            httpP99Ms: Math.max(...results.map((r) => r.latency.p99)),
            errors: results.reduce((a, r) => a + r.errors + r.non2xx, 0),
            cycles: decide.at(-1)?.[1] ?? 0,
            cycleP99Ms: ms(quantile(0.99, decide)),
            cyclesWithCommit: total.at(-1)?.[1] ?? 0,
            cycleTotalP99Ms: ms(quantile(0.99, total)),
            load1m: Math.round(load1m * 10) / 10,
          });
        } finally {
          for (const s of fleet) await s.stop();
        }
      }
    }
  } finally {
    await cluster.remove();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const sqlite = median(rows.filter((r) => r.mode === label(MODES[0])).map((r) => r.submissionsPerSecond));
  const summary = MODES.map((mode) => {
    const mine = rows.filter((r) => r.mode === label(mode));
    const rate = median(mine.map((r) => r.submissionsPerSecond));
    return {
      mode: label(mode),
      'acked/s': rate,
      runs: mine.map((r) => r.submissionsPerSecond).join(' · '),
      'of SQLite': sqlite ? `${Math.round((100 * rate) / sqlite)} %` : '—',
      'http p99 ms': median(mine.map((r) => r.httpP99Ms)),
      'cycle p99 ms (decide)': median(mine.map((r) => r.cycleP99Ms ?? 0)),
      'cycle p99 ms (with commit)': median(mine.map((r) => r.cycleTotalP99Ms ?? 0)),
      load1m: mine.map((r) => r.load1m).join(' · '),
    };
  });
  return { rows, summary };
}
