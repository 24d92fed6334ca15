/**
 * kill -9 the server mid-work and start it again on the same data directory:
 * every acknowledged job, organisation and quota is still there; running jobs are
 * reconciled (finish normally, never started twice).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, startTestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

test('nothing acknowledged is lost across kill -9, and running jobs are not double-started', async () => {
  // Time scale 30: a 120 s simulated job runs 4 s of real time, long enough to crash mid-run.
  const server = await startTestServer({ timeScale: 30 });
  try {
    const op = api(server.url, server.operatorToken);
    await op('POST', '/v1/orgs', { id: 'durable', name: 'Durable AG', kind: 'enterprise' });
    await op('POST', '/v1/orgs/durable/projects', { id: 'durable-ml' });
    await op('PUT', '/v1/projects/durable-ml/quotas/B200', { gpus: 64 });
    const danaToken = await tenantToken(op, 'durable', { name: 'Dana', role: 'member' });
    const dana = api(server.url, danaToken);

    // Fire a burst of concurrent submissions; every one that got a 201 must survive.
    const spec = (i: number) => ({
      name: `burst-${i}`,
      project: 'durable-ml',
      gpuType: 'B200',
      gpusPerNode: 8,
      nodes: 1,
      simulation: { durationSeconds: 120 },
    });
    const acked = (await Promise.all(Array.from({ length: 40 }, (_, i) => dana('POST', '/v1/jobs', spec(i)))))
      .filter((r) => r.status === 201)
      .map((r) => r.body.id as string);
    assert.equal(acked.length, 40);
    const runningBefore = await waitFor(async () => {
      const r = await dana('GET', '/v1/jobs?state=running&limit=1000');
      return r.body.items.length === 8 ? r.body.items : null; // quota 64 = 8 whole nodes
    }, '8 running jobs');
    const placements = new Map<string, string>(
      runningBefore.map((j: { id: string; placement: unknown }) => [j.id, JSON.stringify(j.placement)]),
    );

    await server.stop('SIGKILL');
    await server.restart();
    const op2 = api(server.url, server.operatorToken);
    const dana2 = api(server.url, danaToken);

    assert.equal((await op2('GET', '/v1/orgs/durable')).status, 200);
    const project = await op2('GET', '/v1/projects/durable-ml');
    assert.deepEqual(
      project.body.quotas.map((q: { gpuType: string; gpus: number }) => [q.gpuType, q.gpus]),
      [['B200', 64]],
    );
    const all = await dana2('GET', '/v1/jobs?limit=1000');
    const ids = new Set(all.body.items.map((j: { id: string }) => j.id));
    for (const id of acked) assert.ok(ids.has(id), `job ${id} lost`);

    // The jobs that were running keep their placement and finish; each was started exactly once.
    for (const [id, placement] of placements) {
      const j = await waitFor(async () => {
        const r = await dana2('GET', `/v1/jobs/${id}`);
        return r.body.state === 'succeeded' ? r.body : null;
      }, `job ${id} to succeed after restart`);
      assert.equal(JSON.stringify(j.placement), placement);
      const events = (await dana2('GET', `/v1/jobs/${id}/events`)).body.items.map((e: { type: string }) => e.type);
      assert.equal(events.filter((t: string) => t === 'running').length, 1, `job ${id} started twice: ${events}`);
    }
    // The rest of the queue proceeds after the restart.
    await waitFor(
      async () => {
        const r = await dana2('GET', '/v1/jobs?state=succeeded&limit=1000');
        return r.body.items.length >= 16;
      },
      'queued jobs to run after restart',
      30_000,
    );
  } finally {
    await server.stop();
  }
});
