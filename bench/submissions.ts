/**
 * Job submissions per second over HTTP into the embedded store (real server process, durable
 * SQLite with group commit), with N concurrent clients driven by autocannon.
 */
import { writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { api, startTestServer } from '../test/helpers/server.js';
import { tenantToken } from '../test/helpers/tenants.js';

export interface SubmissionResult {
  connections: number;
  durationSeconds: number;
  requests: number;
  acknowledged: number;
  errors: number;
  submissionsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

export async function benchSubmissions(
  connectionCounts = [1, 16, 64],
  durationSeconds = 10,
  /** Extra `gigafab server` arguments (e.g. `--database postgres://…`, see store-pg.ts). */
  serverArgs: string[] = [],
): Promise<SubmissionResult[]> {
  const results: SubmissionResult[] = [];
  for (const connections of connectionCounts) {
    // A fresh server and database per run, so runs do not inherit each other's queue.
    // One token submitting thousands of jobs a second is the load being measured, not an abuser:
    // rate limits and the per-org queue cap are lifted for this run.
    const limits = join(tmpdir(), `gigafab-bench-limits-${process.pid}.yaml`);
    writeFileSync(limits, 'rateLimits: { enabled: false }\nqueue: { maxQueuedJobsPerOrg: 10000000 }\n');
    const server = await startTestServer({ timeScale: 1, extraArgs: ['--limits', limits, ...serverArgs] });
    try {
      const op = api(server.url, server.operatorToken);
      await op('POST', '/v1/orgs', { id: 'bench', name: 'Bench', kind: 'research' });
      await op('POST', '/v1/orgs/bench/projects', { id: 'bench-load' });
      await op('PUT', '/v1/projects/bench-load/quotas/B200', { gpus: 4096 });
      const userToken = await tenantToken(op, 'bench', { name: 'Load', role: 'member' });
      const body = JSON.stringify({
        name: 'bench',
        project: 'bench-load',
        gpuType: 'B200',
        gpusPerNode: 1,
        nodes: 1,
        simulation: { durationSeconds: 3600 },
      });
      const r = await autocannon({
        url: `${server.url}/v1/jobs`,
        method: 'POST',
        connections,
        duration: durationSeconds,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${userToken}` },
        body,
      });
      const acknowledged = r.statusCodeStats?.['201']?.count ?? 0;
      // Cross-check against the store: every 201 is a durable row.
      const stored = (await api(server.url, userToken)('GET', '/v1/jobs?limit=1')).body.items[0]?.id ?? '0';
      if (Number(stored) < acknowledged) throw new Error(`store has ${stored} jobs but ${acknowledged} were acknowledged`);
      results.push({
        connections,
        durationSeconds,
        requests: r.requests.total,
        acknowledged,
        errors: r.errors + r.non2xx,
        submissionsPerSecond: Math.round(acknowledged / durationSeconds),
        latencyP50Ms: r.latency.p50,
        latencyP99Ms: r.latency.p99,
      });
    } finally {
      await server.stop();
    }
  }
  return results;
}

export const machine = () => ({ cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version });
