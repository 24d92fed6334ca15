/**
 * A node goes down, then the control plane dies before the job's stop is settled: on restart the
 * job still "running" on the down node is stopped and requeued (never left running on it).
 * Reservations, maintenance windows and checkpoints survive the restart too.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { api, startTestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

test('restart with a job still on a down node: the job is requeued and runs elsewhere', async () => {
  const server = await startTestServer({ timeScale: 30 });
  try {
    const op = api(server.url, server.operatorToken);
    await op('POST', '/v1/orgs', { id: 'acme', name: 'Acme', kind: 'enterprise' });
    await op('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' });
    await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 64 });
    const user = api(server.url, await tenantToken(op, 'acme', { name: 'A', role: 'member' }));
    const spec = { name: 'long', project: 'acme-ml', gpuType: 'B200', gpusPerNode: 8, simulation: { durationSeconds: 100_000 } };
    const id = (await user('POST', '/v1/jobs', spec)).body.id as string;
    const job = await waitFor(async () => {
      const j = (await user('GET', `/v1/jobs/${id}`)).body;
      return j.state === 'running' ? j : null;
    }, 'job running');
    const node = job.placement.nodes[0].node as string;
    const hour = 3600_000;
    const window = { start: new Date(Date.now() + hour).toISOString(), end: new Date(Date.now() + 2 * hour).toISOString() };
    const rsv = (await op('POST', '/v1/reservations', { org: 'acme', gpuType: 'B200', gpus: 8, ...window })).body.id;
    const mw = (await op('POST', '/v1/maintenance-windows', { nodes: [node], reason: 'later', ...window })).body.id;
    assert.equal((await user('POST', `/v1/jobs/${id}/checkpoints`, { step: 3 })).status, 201);

    // The node-state commit made it to disk, the job's stop did not (crash in between).
    await server.stop('SIGKILL');
    const db = new Database(join(server.dataDir, 'gigafab.db'));
    db.prepare('INSERT INTO node_states (node_id, state, reason, updated_at) VALUES (?, ?, ?, ?)').run(
      node,
      'down',
      'PSU failure',
      new Date().toISOString(),
    );
    db.close();
    await server.restart();
    const op2 = api(server.url, server.operatorToken);
    assert.equal((await op2('GET', `/v1/reservations/${rsv}`)).body.gpus, 8);
    assert.deepEqual(
      (await op2('GET', '/v1/maintenance-windows')).body.items.map((m: { id: string }) => m.id),
      [mw],
    );

    const user2 = api(server.url, await tenantToken(op2, 'acme', { name: 'B', role: 'member' }));
    const again = await waitFor(async () => {
      const ev = (await user2('GET', `/v1/jobs/${id}/events`)).body.items as { type: string; message: string }[];
      return ev.some((e) => e.type === 'queued' && e.message === `node ${node} went down: requeued (attempt 2)`) ? ev : null;
    }, 'requeued after restart');
    assert.ok(again.some((e) => e.type === 'node-failure' && /found down at restart/.test(e.message)));
    assert.ok(again.some((e) => e.type === 'checkpoint'));
    const rerun = await waitFor(async () => {
      const j = (await user2('GET', `/v1/jobs/${id}`)).body;
      return j.state === 'running' ? j : null;
    }, 'job running again');
    assert.notEqual(rerun.placement.nodes[0].node, node);
  } finally {
    await server.stop();
  }
});
