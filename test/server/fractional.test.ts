/**
 * Fractional GPUs through the control plane: submission checks (MIG profile of the type, sites that
 * allow sharing, one GPU only), starts with the slice in the placement and the event, a MIG start
 * re-partitioning an idle GPU as its own event and audit entry, usage metered in GPU-equivalents,
 * and the allocation rebuilt with its organisation at recovery.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { realTimers } from '../../src/drivers/timers.js';
import { JobSpecSchema } from '../../src/model/schemas.js';
import { ControlPlane } from '../../src/server/control-plane.js';
import { SchedulingState } from '../../src/server/cycle/scheduling-state.js';
import { EventBus } from '../../src/server/event-bus.js';
import { writeSharingFleet } from '../helpers/fleets.js';
import { DIALECTS, storeOpener } from '../helpers/store-dialects.js';
import { harness } from './harness.js';

test('a fraction with more than one GPU is refused by the spec schema, naming the field', () => {
  const r = JobSpecSchema.safeParse({ name: 'j', project: 'vision', gpusPerNode: 2, gpuFraction: 250 });
  assert.equal(r.success, false);
  const issue = r.error?.issues[0];
  assert.deepEqual(issue?.path, ['gpusPerNode']);
  assert.match(issue?.message ?? '', /gpuFraction is part of ONE GPU/);
  assert.equal(JobSpecSchema.safeParse({ name: 'j', project: 'vision', gpuFraction: 250, migProfile: '1g.23gb' }).success, false);
  assert.equal(JobSpecSchema.safeParse({ name: 'j', project: 'vision', gpuMemoryMiB: 4096 }).success, false);
});

test('submission: an unknown MIG profile names the type profiles; a site without sharing is named', async () => {
  const h = await harness({ fleet: writeSharingFleet });
  try {
    await assert.rejects(
      h.cp.jobs.submit(h.tenant, h.spec({ migProfile: '1g.24gb' }), undefined),
      (e: Error & { code?: string }) => e.code === 'mig_profile_unknown' && /B200 offers 1g\.23gb, 3g\.90gb/.test(e.message),
    );
    await assert.rejects(
      h.cp.jobs.submit(h.tenant, h.spec({ gpuFraction: 250, constraints: { requiredSites: ['s2'] } }), undefined),
      (e: Error & { code?: string }) => e.code === 'sharing_not_allowed' && /site s2 does not allow GPU sharing/.test(e.message),
    );
  } finally {
    await h.close();
  }
});

for (const dialect of DIALECTS) {
  test(`${dialect}: shares start with their slice, a MIG start re-partitions an idle GPU as its own event, usage is in GPU-equivalents`, async () => {
    const h = await harness({ fleet: writeSharingFleet, openStore: storeOpener(dialect) });
    try {
      const a = (await h.cp.jobs.submit(h.tenant, h.spec({ gpuFraction: 250, gpuMemoryMiB: 8192 }), undefined)).job;
      const b = (await h.cp.jobs.submit(h.tenant, h.spec({ gpuFraction: 500 }), undefined)).job;
      const m = (await h.cp.jobs.submit(h.tenant, h.spec({ migProfile: '1g.23gb' }), undefined)).job;
      await h.cp.runCycle();
      for (const j of [a, b, m]) assert.equal(await h.stateOf(j.id), 'running');
      const pa = h.cp.cluster.allocationOf(a.id);
      const pb = h.cp.cluster.allocationOf(b.id);
      assert.equal(pa?.site, 's1', 'only the sharing site');
      assert.deepEqual(pa?.nodes[0], { node: pb?.nodes[0].node, gpus: pb?.nodes[0].gpus, milli: 250, memoryMiB: 8192 });
      assert.equal(h.cp.cluster.usage('vision', 'B200'), 0.25 + 0.5 + 0.143);
      assert.deepEqual(await h.eventTypes(m.id), ['queued', 'gpu_repartitioned', 'running']);
      assert.deepEqual(await h.eventTypes(a.id), ['queued', 'running']);
      const audit = await h.store.db
        .selectFrom('audit')
        .select(['action', 'object_id'])
        .where('action', '=', 'node.repartition')
        .execute();
      assert.equal(audit.length, 1);
      const usage = await h.store.db.selectFrom('usage_records').select(['job_id', 'gpus']).orderBy('job_id').execute();
      assert.deepEqual(
        usage.map((u) => u.gpus),
        [0.25, 0.5, 0.143],
      );
    } finally {
      await h.close();
    }
  });
}

test('a restarted control plane rebuilds shares with their organisation: a new share of the org joins the GPU', async () => {
  const h = await harness({ fleet: writeSharingFleet });
  const driver = new SimDriver(1, { now: () => h.clock.t, after: realTimers.after });
  let second: ControlPlane | null = null;
  try {
    const a = (await h.cp.jobs.submit(h.tenant, h.spec({ gpuFraction: 250 }), undefined)).job;
    await h.cp.runCycle();
    const before = h.cp.cluster.allocationOf(a.id);
    await h.cp.stop();
    second = new ControlPlane({
      state: new SchedulingState(h.cp.fleet, driver, null, () => h.clock.t),
      store: h.store,
      driver,
      bus: new EventBus(),
      metrics: null,
      policy: h.cp.policy,
    });
    assert.equal((await second.recover()).running, 1);
    assert.equal(second.cluster.orgOf(a.id), 'acme');
    assert.equal(second.cluster.usage('vision', 'B200'), 0.25);
    const b = (await second.jobs.submit(h.tenant, h.spec({ gpuFraction: 500 }), undefined)).job;
    await second.runCycle();
    assert.deepEqual(second.cluster.allocationOf(b.id)?.nodes[0].gpus, before?.nodes[0].gpus);
    assert.equal(second.cluster.allocationOf(b.id)?.nodes[0].node, before?.nodes[0].node);
  } finally {
    await second?.stop();
    await driver.close();
    await h.close();
  }
});
