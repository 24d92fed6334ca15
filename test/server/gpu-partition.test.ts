/**
 * GPU partition modes through the control plane (issue 18): a GPU's MIG mode is node state in the
 * store (migration 037). A MIG start re-partitions an idle GPU as a node event; the GPU stays in MIG
 * mode after its job ends and after a restart; a later whole-GPU job that needs it re-partitions it
 * back to whole, again as a node event naming the job.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DriverJob } from '../../src/drivers/driver.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { realTimers } from '../../src/drivers/timers.js';
import { ControlPlane } from '../../src/server/control-plane.js';
import { SchedulingState } from '../../src/server/cycle/scheduling-state.js';
import { EventBus } from '../../src/server/event-bus.js';
import { driverSwitches, listNodeEvents, repartitionMessage } from '../../src/server/node-events.js';
import type { ResidencyGate } from '../../src/server/ports.js';
import { writeSharingFleet } from '../helpers/fleets.js';
import { DIALECTS, storeOpener } from '../helpers/store-dialects.js';
import { eventually, harness } from './harness.js';

for (const dialect of DIALECTS) {
  test(`${dialect}: a GPU's MIG mode survives its job and a restart; a whole-GPU job re-partitions it back`, async () => {
    const h = await harness({ fleet: writeSharingFleet, openStore: storeOpener(dialect) });
    const driver = new SimDriver(1, { now: () => h.clock.t, after: realTimers.after });
    let second: ControlPlane | null = null;
    try {
      const m = (await h.cp.jobs.submit(h.tenant, h.spec({ migProfile: '1g.23gb' }), undefined)).job;
      await h.cp.runCycle();
      const { node, gpus } = h.cp.cluster.allocationOf(m.id)!.nodes[0];
      const gpu = gpus[0];
      assert.deepEqual(h.cp.cluster.migModeGpus(node), [gpu]);
      await h.cp.jobs.cancel(h.tenant, m.id);
      await eventually(async () => (await h.stateOf(m.id)) === 'cancelled', 'the MIG job to end');
      assert.deepEqual(h.cp.cluster.migModeGpus(node), [gpu], 'still in MIG mode once idle');
      await h.cp.stop();

      second = new ControlPlane({
        state: new SchedulingState(h.cp.fleet, driver, null, () => h.clock.t),
        store: h.store,
        driver,
        bus: new EventBus(),
        metrics: null,
        policy: h.cp.policy,
      });
      await second.recover();
      assert.deepEqual(second.cluster.migModeGpus(node), [gpu], 'the mode is loaded from the store at start');

      // A whole-GPU job on both nodes of the sharing site must take the MIG-mode GPU.
      const spec = h.spec({ gpusPerNode: 8, nodes: 2, constraints: { requiredSites: ['s1'] } });
      const w = (await second.jobs.submit(h.tenant, spec, undefined)).job;
      await second.runCycle();
      assert.equal(await h.stateOf(w.id), 'running');
      assert.deepEqual(second.cluster.migModeGpus(node), []);
      assert.deepEqual(await h.eventTypes(w.id), ['queued', 'gpu_repartitioned', 'running']);

      const events = await listNodeEvents(h.store.db, node, 0, 100);
      assert.deepEqual(
        events.map((e) => [e.type, e.reason, e.data]),
        [
          ['gpu_repartitioned', 'mig_repartition', { gpu, from: 'whole', to: 'mig', job: m.id, carriedOut: true }],
          ['gpu_repartitioned', 'mig_repartition', { gpu, from: 'mig', to: 'whole', job: w.id, carriedOut: true }],
        ],
      );
      const rows = await h.store.db.selectFrom('gpu_partitions').selectAll().execute();
      assert.deepEqual(
        rows.map((r) => [r.node_id, r.gpu, r.mode, r.job_id]),
        [[node, gpu, 'whole', w.id]],
      );
    } finally {
      await second?.stop();
      await driver.close();
      await h.close();
    }
  });
}

test('the committed re-partition is handed to the driver with the start', async () => {
  const seen: DriverJob[] = [];
  const h = await harness({
    fleet: writeSharingFleet,
    driver: (clock) => {
      const sim = new SimDriver(1, clock);
      const start = sim.start.bind(sim);
      sim.start = (job) => {
        seen.push(job);
        return start(job);
      };
      return sim;
    },
  });
  try {
    const m = (await h.cp.jobs.submit(h.tenant, h.spec({ migProfile: '1g.23gb' }), undefined)).job;
    const t = (await h.cp.jobs.submit(h.tenant, h.spec({ gpuFraction: 250 }), undefined)).job;
    await h.cp.runCycle();
    await eventually(() => seen.length === 2, 'both starts handed to the driver');
    const { node, gpus } = h.cp.cluster.allocationOf(m.id)!.nodes[0];
    assert.deepEqual(seen.find((j) => j.id === m.id)?.repartitions, [
      { node, gpu: gpus[0], from: 'whole', to: 'mig', reason: 'mig_repartition' },
    ]);
    assert.equal(seen.find((j) => j.id === t.id)?.repartitions, undefined, 'a whole-mode GPU needs none');
  } finally {
    await h.close();
  }
});

test('a MIG start the residency gate refuses in its transaction leaves the GPU whole: no re-partition recorded', async () => {
  let refuse = true;
  const gate: ResidencyGate = {
    admit: () => {},
    constrain: (job) => job,
    recordStart: async () => !refuse,
    due: () => false,
    refresh: async () => {},
    orgPlacement: () => null,
  };
  const h = await harness({ fleet: writeSharingFleet, residency: gate });
  try {
    const m = (await h.cp.jobs.submit(h.tenant, h.spec({ migProfile: '1g.23gb' }), undefined)).job;
    await h.cp.runCycle();
    assert.equal(await h.stateOf(m.id), 'queued');
    for (const n of h.cp.fleet.nodes) assert.deepEqual(h.cp.cluster.migModeGpus(n.id), [], `${n.id} stays whole`);
    assert.equal((await h.store.db.selectFrom('node_events').selectAll().execute()).length, 0);
    refuse = false;
    await h.cp.runCycle();
    assert.equal(await h.stateOf(m.id), 'running');
    assert.deepEqual(
      await h.eventTypes(m.id),
      ['queued', 'gpu_repartitioned', 'running'],
      'the next cycle re-partitions it then',
    );
  } finally {
    await h.close();
  }
});

test('a re-partition on a site whose driver does not switch MIG mode says so (Slurm, Kubernetes)', () => {
  const r = { node: 'n1', gpu: 0, from: 'whole' as const, to: 'mig' as const, reason: 'mig_repartition' as const };
  assert.deepEqual(['local', 'sim', 'slurm', 'kubernetes'].map(driverSwitches), [true, true, false, false]);
  assert.equal(repartitionMessage(r, '7', 'local'), 'GPU 0 of n1 was idle and is re-partitioned into MIG mode for job 7');
  assert.match(
    repartitionMessage(r, '7', 'slurm'),
    /recorded for placement only: this site's slurm driver does not switch MIG mode, the node's MIG layout \(Slurm's gres\.conf\) must provide it$/,
  );
  assert.match(repartitionMessage(r, '7', 'kubernetes'), /mig-manager \(nvidia\.com\/mig\.config\)/);
});
