/**
 * Several API replicas on one PostgreSQL database (issue 16):
 *   failover  leader death (kill -9) → the first job start the new leader commits, over `trials`
 *             trials, each on a fresh database with 3 replicas and a steady stream of placements;
 *   submissions  acknowledged submissions/s with 1 versus 3 replicas, 16 clients in all (split
 *             over the replicas), runs interleaved, medians of `runs`, load average before each run.
 */
import { writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { startPostgres } from '../test/helpers/postgres.js';
import { leaderOf, startReplicas } from '../test/helpers/replicas.js';
import { api, type TestServer, waitFor } from '../test/helpers/server.js';
import { tenantToken } from '../test/helpers/tenants.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function tenant(s: TestServer, gpus: number): Promise<string> {
  const op = api(s.url, s.operatorToken);
  await op('POST', '/v1/orgs', { id: 'bench', name: 'Bench', kind: 'research' });
  await op('POST', '/v1/orgs/bench/projects', { id: 'bench-load' });
  await op('PUT', '/v1/projects/bench-load/quotas/B200', { gpus });
  return tenantToken(op, 'bench', { name: 'Load', role: 'member' });
}

export async function benchFailover(trials = 10) {
  const cluster = await startPostgres();
  const ms: number[] = [];
  try {
    for (let t = 0; t < trials; t++) {
      const url = await cluster.createDatabase(`failover${t}`);
      const replicas = await startReplicas(url, 3);
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      try {
        const token = await tenant(replicas[0]!, 64); // 8 jobs at once: placements keep coming
        const job = (i: number) => ({
          name: `f${i}`,
          project: 'bench-load',
          gpuType: 'B200',
          gpusPerNode: 8,
          nodes: 1,
          simulation: { durationSeconds: 600 }, // 1 s at time scale 600
        });
        // A steady trickle of submissions to the followers, so there is always something to place.
        let submitting = true;
        const trickle = (async () => {
          for (let i = 0; submitting; i++) {
            await api(replicas[1 + (i % 2)]!.url, token)('POST', '/v1/jobs', job(i)).catch(() => null);
            await new Promise((r) => setTimeout(r, 50));
          }
        })();
        const leader = (await waitFor(() => leaderOf(replicas), 'a leader'))!;
        await new Promise((r) => setTimeout(r, 2000)); // mid-stream
        await leader.stop('SIGKILL');
        const killed = performance.now();
        const last = (await db.query('SELECT max(id)::int AS id FROM audit')).rows[0].id;
        try {
          for (;;) {
            const r = await db.query("SELECT 1 FROM audit WHERE id > $1 AND action = 'job.start'", [last]);
            if (r.rows.length > 0) break;
            if (performance.now() - killed > 30_000) {
              const logs = replicas.map((r) =>
                r
                  .output()
                  .split('\n')
                  .filter((l) => !l.includes('"level":"info"'))
                  .slice(-15)
                  .join('\n'),
              );
              throw new Error(`no placement 30 s after the leader died:\n${logs.join('\n---\n')}`);
            }
            await new Promise((res) => setTimeout(res, 20));
          }
        } finally {
          submitting = false;
          await trickle;
        }
        ms.push(Math.round(performance.now() - killed));
      } finally {
        await db.end();
        for (const r of replicas) await r.stop('SIGKILL');
      }
    }
  } finally {
    await cluster.remove();
  }
  return { trials: ms, medianMs: median(ms), maxMs: Math.max(...ms) };
}

export async function benchReplicaSubmissions(runs = 3, connections = 16, durationSeconds = 10) {
  const cluster = await startPostgres();
  const limits = join(tmpdir(), `gigafab-bench-limits-${process.pid}.yaml`);
  writeFileSync(limits, 'rateLimits: { enabled: false }\nqueue: { maxQueuedJobsPerOrg: 10000000 }\n');
  const rows: { replicas: number; submissionsPerSecond: number; errors: number; load1m: number }[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      for (const count of [1, 3]) {
        const url = await cluster.createDatabase(`subs${i}x${count}`);
        const replicas = await startReplicas(url, count, 1, ['--limits', limits]);
        try {
          const token = await tenant(replicas[0]!, 4096);
          const body = JSON.stringify({
            name: 'bench',
            project: 'bench-load',
            gpuType: 'B200',
            gpusPerNode: 1,
            nodes: 1,
            simulation: { durationSeconds: 3600 },
          });
          const load1m = loadavg()[0] ?? 0;
          const results = await Promise.all(
            replicas.map((r, k) =>
              autocannon({
                url: `${r.url}/v1/jobs`,
                method: 'POST',
                // 16 clients in all: 16, or 6 + 5 + 5.
                connections: Math.floor(connections / count) + (k < connections % count ? 1 : 0),
                duration: durationSeconds,
                headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
                body,
              }),
            ),
          );
          const acknowledged = results.reduce((a, r) => a + (r.statusCodeStats?.['201']?.count ?? 0), 0);
          rows.push({
            replicas: count,
            submissionsPerSecond: Math.round(acknowledged / durationSeconds),
            errors: results.reduce((a, r) => a + r.errors + r.non2xx, 0),
            load1m: Math.round(load1m * 10) / 10,
          });
        } finally {
          for (const r of replicas) await r.stop();
        }
      }
    }
  } finally {
    await cluster.remove();
  }
  const summary = [1, 3].map((count) => {
    const mine = rows.filter((r) => r.replicas === count);
    return {
      replicas: count,
      connections,
      medianPerSecond: median(mine.map((r) => r.submissionsPerSecond)),
      runs: mine.map((r) => r.submissionsPerSecond),
      load1m: mine.map((r) => r.load1m),
    };
  });
  return { rows, summary };
}
