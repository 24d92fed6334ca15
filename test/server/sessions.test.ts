/**
 * Sessions in the control plane, on the simulated driver and a clock the test moves: the started
 * observation's endpoint is stored (job_endpoints) and resolves through SessionTargets; the idle
 * timeout warns once, is reset by traffic, then stops the session with the reason; the endpoint is
 * gone when the job ends. Batch jobs are not sessions to the proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { warnAfterMs } from '../../src/server/workloads/sessions.js';
import { eventually, type Harness, harness } from './harness.js';

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

const endpointRows = async (id: string) =>
  h.store.db.selectFrom('job_endpoints').selectAll().where('job_id', '=', Number(id)).execute();

describe('sessions in the control plane', () => {
  let id = '';

  test('a started session has an endpoint, stored and resolvable; a batch job is not found', async () => {
    const { job } = await h.cp.jobs.submit(
      h.tenant,
      h.spec({ kind: 'session', session: { preset: 'http', idleTimeoutMinutes: 10 }, command: ['serve'], gpusPerNode: 1 }),
      undefined,
    );
    const { job: batch } = await h.cp.jobs.submit(h.tenant, h.spec({ command: ['train'], gpusPerNode: 1 }), undefined);
    id = job.id;
    assert.deepEqual(await h.cp.sessions.targets.resolve(id), {
      ok: false,
      code: 'not_ready',
      org: 'acme',
      project: 'vision',
      retryAfterS: 2,
      message: 'the session is queued',
    });
    await h.cp.runCycle();
    await eventually(async () => (await endpointRows(id)).length === 1, 'the endpoint row');
    const row = (await endpointRows(id))[0]!;
    assert.equal(row.host, `job-${id}.sim.invalid`);
    assert.equal(row.attempt, 1);
    const res = await h.cp.sessions.targets.resolve(id);
    assert.ok(res.ok);
    assert.deepEqual(res.target.upstreams, [{ jobId: id, host: `job-${id}.sim.invalid`, port: 80 }]);
    assert.equal(res.target.org, 'acme');
    assert.deepEqual(await h.cp.sessions.targets.resolve(batch.id), { ok: false, code: 'not_found' });
    assert.equal((await endpointRows(batch.id)).length, 0);
    const list = h.cp.sessions.list(h.tenant);
    assert.deepEqual(
      list.map((s) => [s.jobId, s.state, s.ready]),
      [[id, 'running', true]],
    );
    assert.equal(h.cp.sessions.list({ principal: { userId: 'x', role: 'admin', org: 'other' }, requestId: 'r' }).length, 0);
  });

  test('idle: one warning, reset by traffic; then the stop with its reason; the endpoint goes with the job', async () => {
    assert.equal(warnAfterMs(10 * 60_000), 5 * 60_000);
    assert.equal(warnAfterMs(60_000), 30_000);
    const types = async () => (await h.eventTypes(id)).filter((t) => t.startsWith('idle'));
    const res = await h.cp.sessions.targets.resolve(id);
    assert.ok(res.ok);
    await h.cp.sessions.checkIdle(); // starts counting traffic now
    h.clock.t += 4 * 60_000;
    await h.cp.sessions.checkIdle();
    assert.deepEqual(await types(), []);
    h.clock.t += 2 * 60_000;
    await h.cp.sessions.checkIdle();
    await h.cp.sessions.checkIdle();
    assert.deepEqual(await types(), ['idle-warning'], 'warned once');
    h.cp.sessions.targets.trafficSeen(res.target);
    h.clock.t += 6 * 60_000;
    await h.cp.sessions.checkIdle();
    assert.deepEqual(await types(), ['idle-warning', 'idle-warning'], 'traffic reset the idle time: warned again later');
    h.clock.t += 4 * 60_000 + 1;
    await h.cp.sessions.checkIdle();
    assert.deepEqual(await types(), ['idle-warning', 'idle-warning', 'idle-stop']);
    await eventually(async () => (await h.stateOf(id)) === 'cancelled', 'the session to end');
    assert.equal((await endpointRows(id)).length, 0);
    assert.deepEqual(await h.cp.sessions.targets.resolve(id), { ok: false, code: 'not_found' });
    const audit = await h.store.db.selectFrom('audit').select(['action', 'actor']).where('object_id', '=', id).execute();
    assert.ok(audit.some((a) => a.action === 'session.idle-stop' && a.actor === 'system:sessions'));
  });
});
