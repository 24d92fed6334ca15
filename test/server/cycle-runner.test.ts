/**
 * The cycle runner without a server process: cancel during the hand-over, preemption with
 * hold-back, requeue on node failure, a start the residency gate refuses in its transaction.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicySchema } from '../../src/model/policy.js';
import { queuedForScheduler } from '../../src/server/cycle/snapshot.js';
import { insertEvent } from '../../src/server/job-events.js';
import type { ResidencyGate } from '../../src/server/ports.js';
import { EventTail } from '../../src/server/replica/event-tail.js';
import { DIALECTS, storeOpener } from '../helpers/store-dialects.js';
import { eventually, harness } from './harness.js';

// Once per store dialect: the service's transactions must behave the same on SQLite and PostgreSQL.
for (const dialect of DIALECTS) {
  const openStore = storeOpener(dialect);
  test(`${dialect}: a cancel that arrives while the start is handed to the driver stops the job right after the hand-over`, async () => {
    let release: () => void = () => {};
    const secretsDelivered = new Promise<void>((r) => {
      release = r;
    });
    const secretsFor = async () => {
      await secretsDelivered;
      return undefined;
    };
    const h = await harness({ openStore, hooks: { secretsFor } });
    try {
      const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined);
      await h.cp.runCycle();
      assert.equal(await h.stateOf(job.id), 'running', 'the start is committed');
      assert.ok(h.cp.state.handingOver.has(job.id), 'still being handed over (secrets pending)');
      const cancelled = await h.cp.jobs.cancel(h.tenant, job.id);
      assert.equal(cancelled.state, 'running', 'a running job stops with its grace period');
      assert.equal(h.cp.state.stopAfterStart.get(job.id), h.cp.policy.stopGraceSeconds, 'the stop waits for the hand-over');
      release();
      await eventually(async () => (await h.stateOf(job.id)) === 'cancelled', 'the job to end cancelled');
      assert.deepEqual(await h.eventTypes(job.id), ['queued', 'running', 'cancel-requested', 'started', 'cancelled']);
      assert.equal(h.cp.runningCount(), 0);
      assert.equal(h.cp.cluster.allocationOf(job.id), undefined, 'its GPUs are free again');
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: a cancel that lands between the start's commit and the hand-over still stops the job`, async () => {
    const h = await harness({ openStore });
    try {
      const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined);
      // The cancel runs whole right after the start's transaction commits, before the runner goes on
      // to hand the job over: as when both share one group commit and the cancel's caller resumes first.
      const decide = h.store.decide.bind(h.store);
      let cancel: Promise<unknown> | null = null;
      h.store.decide = async (body) => {
        const out = await decide(body);
        if (!cancel && (await h.stateOf(job.id)) === 'running') {
          cancel = h.cp.jobs.cancel(h.tenant, job.id);
          await cancel;
        }
        return out;
      };
      await h.cp.runCycle();
      assert.ok(cancel, 'the cancel ran between the commit and the hand-over');
      await eventually(async () => (await h.stateOf(job.id)) === 'cancelled', 'the job to end cancelled');
      assert.deepEqual(await h.eventTypes(job.id), ['queued', 'running', 'cancel-requested', 'started', 'cancelled']);
      assert.equal(h.cp.runningCount(), 0);
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: a cancel asked on another replica, seen by the leader between the start's commit and the hand-over, stops the job`, async () => {
    const h = await harness({ openStore });
    try {
      const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined);
      const tail = new EventTail(h.cp.cycleContext, () => true);
      const decide = h.store.decide.bind(h.store);
      let seen = false;
      h.store.decide = async (body) => {
        const out = await decide(body);
        if (!seen && (await h.stateOf(job.id)) === 'running') {
          seen = true;
          // What a follower's cancel commits (cancel.ts), then the leader's next look at the events.
          await h.store.write((trx) =>
            insertEvent(trx, job.id, new Date(h.clock.t).toISOString(), 'cancel-requested', 'cancel requested elsewhere', null),
          );
          await tail.poll();
        }
        return out;
      };
      await h.cp.runCycle();
      assert.ok(seen, 'the leader saw the cancel between the commit and the hand-over');
      await eventually(async () => (await h.stateOf(job.id)) === 'cancelled', 'the job to end cancelled');
      assert.equal(h.cp.runningCount(), 0);
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: a preempted job is requeued and held back until the job it made room for has started`, async () => {
    const policy = PolicySchema.parse({ preemption: { enabled: true, minRuntimeSeconds: 0 } });
    const h = await harness({ openStore, policy });
    try {
      // A normal job and a preemptible gang fill the fleet; a preemption may evict 2 GPUs per GPU asked for.
      const filler = (await h.cp.jobs.submit(h.tenant, h.spec({ name: 'filler', gpusPerNode: 8, nodes: 2 }), undefined)).job;
      const gang = h.spec({ name: 'victim', gpusPerNode: 8, nodes: 2, priorityClass: 'preemptible' });
      const victim = (await h.cp.jobs.submit(h.tenant, gang, undefined)).job;
      await h.cp.runCycle();
      assert.equal(await h.stateOf(filler.id), 'running');
      assert.equal(await h.stateOf(victim.id), 'running', 'the fleet is full');
      h.clock.t += 60_000;
      const urgent = (
        await h.cp.jobs.submit(h.tenant, h.spec({ name: 'urgent', gpusPerNode: 8, priorityClass: 'high' }), undefined)
      ).job;
      await h.cp.runCycle();
      await eventually(async () => (await h.stateOf(victim.id)) === 'queued', 'the victim to be requeued');
      assert.deepEqual(h.cp.state.holds.get(victim.id), { kind: 'preempted', forJobId: urgent.id });
      // What the cycle queues for the scheduler (the sync asks this of every changed and held id).
      const input = () =>
        [...h.cp.state.queue.keys()].filter(
          (id) => queuedForScheduler({ state: h.cp.state, holdReason: () => null }, id) !== undefined,
        );
      assert.deepEqual(input(), [urgent.id], 'held back: the victim cannot retake the GPUs it freed');
      await h.cp.runCycle();
      assert.equal(await h.stateOf(urgent.id), 'running');
      assert.equal(await h.stateOf(victim.id), 'queued');
      assert.equal(h.cp.state.pending.get(victim.id)?.code, 'preempting');
      assert.deepEqual(input(), [victim.id], 'once the urgent job has started the victim is considered again');
      assert.equal(h.cp.state.holds.has(victim.id), false);
      assert.deepEqual(await h.eventTypes(victim.id), ['queued', 'running', 'started', 'preempting', 'queued']);
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: a node that goes down stops its jobs; a job asking for requeue is queued again and restarts elsewhere`, async () => {
    const h = await harness({ openStore });
    try {
      const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined);
      await h.cp.runCycle();
      await eventually(async () => (await h.eventTypes(job.id)).includes('started'), 'the start');
      const node = h.cp.cluster.allocationOf(job.id)!.nodes[0]!.node;
      await h.cp.setNodeState(h.operator, node, 'down', 'PSU failure', 'req-node');
      await eventually(async () => (await h.stateOf(job.id)) === 'queued', 'the requeue');
      assert.equal(h.cp.queueLength(), 1);
      await h.cp.runCycle();
      assert.equal(await h.stateOf(job.id), 'running');
      const placement = h.cp.cluster.allocationOf(job.id)!;
      assert.notEqual(placement.nodes[0]!.node, node, 'not on the node that is down');
      const row = await h.store.db
        .selectFrom('jobs')
        .select('attempt')
        .where('id', '=', Number(job.id))
        .executeTakeFirstOrThrow();
      assert.equal(row.attempt, 2);
      const source = await h.store.db
        .selectFrom('node_states')
        .select('source')
        .where('node_id', '=', node)
        .executeTakeFirstOrThrow();
      assert.equal(source.source, 'operator', 'the node state records who set it');
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: a start the residency gate refuses in its transaction is handed back: queued, GPUs free, started next cycle`, async () => {
    let refuse = true;
    const gate: ResidencyGate = {
      admit: () => {},
      constrain: (job) => job,
      recordStart: async () => !refuse,
      due: () => false,
      refresh: async () => {},
      orgPlacement: () => null,
    };
    const h = await harness({ openStore, residency: gate });
    try {
      const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined);
      await h.cp.runCycle();
      assert.equal(await h.stateOf(job.id), 'queued');
      assert.equal(h.cp.cluster.allocationOf(job.id), undefined, 'the GPUs the cycle chose are released');
      assert.equal(h.cp.queueLength(), 1, 'still in the queue');
      assert.equal(h.cp.runningCount(), 0);
      const row = await h.store.db
        .selectFrom('jobs')
        .select(['attempt', 'placement'])
        .where('id', '=', Number(job.id))
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { attempt: 0, placement: null }, 'the refused start left no trace on the job');
      refuse = false;
      await h.cp.runCycle();
      assert.equal(await h.stateOf(job.id), 'running');
      assert.deepEqual(await h.eventTypes(job.id), ['queued', 'running']);
    } finally {
      await h.close();
    }
  });
}

test('an idle loop schedules a new submission at once instead of waiting out its interval', async () => {
  // An hour between idle cycles: the job can only start this soon if the submission wakes the loop.
  const h = await harness({ cycleIntervalMs: 3_600_000 });
  try {
    h.cp.startLoop();
    const first = (await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined)).job;
    await eventually(async () => (await h.stateOf(first.id)) === 'running', 'the first job to start');
    // Let the loop settle into its idle wait (a cycle that finds nothing changed).
    await new Promise((r) => setTimeout(r, 300));
    const second = (await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined)).job;
    await eventually(async () => (await h.stateOf(second.id)) === 'running', 'the second job to start without an idle wait');
  } finally {
    await h.close();
  }
});
