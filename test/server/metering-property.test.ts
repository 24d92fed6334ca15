/**
 * Property (fast-check): for random histories — submissions of every class, time passing, jobs
 * ending, preemption, node failures and returns, cancels — the usage records bill every run
 * exactly once: each job has one segment per attempt, none is left open once every job has ended,
 * and each job's GPU-seconds equal its runs as its event history records them (each `running`
 * event to the next requeue or end, × its GPUs), and the report's total is their sum.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from '@hono/zod-openapi';
import fc from 'fast-check';
import type { Observation } from '../../src/drivers/driver.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { VirtualClock } from '../../src/drivers/timers.js';
import { parseJson } from '../../src/model/json.js';
import { PolicySchema } from '../../src/model/policy.js';
import { PlacementSchema } from '../../src/model/schemas.js';
import { eventually, type Harness, harness } from './harness.js';

const T0 = Date.parse('2026-01-05T09:00:00Z');
const NODES = ['s1-dgx-0001', 's1-dgx-0002', 's1-dgx-0003', 's1-dgx-0004'];
const RUN_ENDS = new Set(['queued', 'succeeded', 'failed', 'cancelled', 'timed-out']);
const RunningData = z.object({ placement: PlacementSchema });

/** The simulated driver, noting which jobs it reported as exited (the test waits until each is settled). */
class WatchedSim extends SimDriver {
  readonly exiting = new Set<string>();
  override onObservation(listener: (o: Observation) => void): void {
    super.onObservation((o) => {
      if (o.type === 'exited') this.exiting.add(o.jobId);
      listener(o);
    });
  }
}

type Action =
  | { kind: 'submit'; gpus: number; nodes: number; cls: 'preemptible' | 'normal' | 'high'; seconds: number }
  | { kind: 'advance'; seconds: number }
  | { kind: 'cycle' }
  | { kind: 'down' | 'up'; node: number }
  | { kind: 'cancel'; pick: number };

const submit: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant('submit' as const),
  gpus: fc.constantFrom(1, 2, 4, 8),
  nodes: fc.constantFrom(1, 1, 1, 2),
  cls: fc.constantFrom('preemptible' as const, 'normal' as const, 'high' as const),
  seconds: fc.integer({ min: 60, max: 7200 }),
});
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: submit, weight: 3 },
  { arbitrary: fc.constant({ kind: 'cycle' as const }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('advance' as const), seconds: fc.integer({ min: 1, max: 3600 }) }), weight: 2 },
  {
    arbitrary: fc.record({ kind: fc.constantFrom('down' as const, 'up' as const), node: fc.integer({ min: 0, max: 3 }) }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }), weight: 1 },
);
/** Whole-node jobs of the lower classes: a few of them fill the fleet, so that later ones preempt. */
const filler: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant('submit' as const),
  gpus: fc.constant(8),
  nodes: fc.constantFrom(1, 2),
  cls: fc.constantFrom('preemptible' as const, 'normal' as const),
  seconds: fc.integer({ min: 600, max: 7200 }),
});
/** A history: a few jobs started at once, then anything. */
const history: fc.Arbitrary<Action[]> = fc
  .tuple(fc.array(filler, { minLength: 1, maxLength: 4 }), fc.array(action, { minLength: 1, maxLength: 24 }))
  .map(([first, rest]) => [...first, { kind: 'cycle' }, ...rest]);

/** settle waits until every job the driver reported as exited is no longer running in the store. */
async function settle(h: Harness, d: WatchedSim) {
  await eventually(async () => {
    for (const id of [...d.exiting]) if ((await h.stateOf(id)) !== 'running') d.exiting.delete(id);
    return d.exiting.size === 0;
  }, 'the exits to be recorded');
}

/** Each job's GPU-seconds from its events: every run from its `running` event to the next requeue or end. */
async function fromEvents(h: Harness): Promise<Map<number, number>> {
  const events = await h.store.db.selectFrom('job_events').select(['job_id', 'at', 'type', 'data']).orderBy('id').execute();
  const open = new Map<number, { at: number; gpus: number }>();
  const out = new Map<number, number>();
  for (const e of events) {
    if (e.type === 'running') {
      const p = parseJson(e.data ?? 'null', RunningData, 'running event').placement;
      open.set(e.job_id, { at: Date.parse(e.at), gpus: p.nodes.reduce((a, n) => a + n.gpus.length, 0) });
    } else if (RUN_ENDS.has(e.type) && open.has(e.job_id)) {
      const run = open.get(e.job_id)!;
      open.delete(e.job_id);
      out.set(e.job_id, (out.get(e.job_id) ?? 0) + (run.gpus * (Date.parse(e.at) - run.at)) / 1000);
    }
  }
  assert.equal(open.size, 0, 'every run in the events ended');
  return out;
}

test('usage records bill every run of random histories exactly once', async () => {
  const policy = PolicySchema.parse({ preemption: { enabled: true, minRuntimeSeconds: 0 } });
  await fc.assert(
    fc.asyncProperty(history, async (actions) => {
      const v = new VirtualClock(T0);
      let driver: WatchedSim | null = null;
      const h = await harness({ policy, driver: () => (driver = new WatchedSim(1, v)) });
      const d = driver!;
      const jobs: string[] = [];
      try {
        for (const a of actions) {
          if (a.kind === 'submit') {
            const spec = h.spec({
              gpusPerNode: a.gpus,
              nodes: a.nodes,
              priorityClass: a.cls,
              simulation: { durationSeconds: a.seconds, exitCode: 0 },
            });
            jobs.push((await h.cp.jobs.submit(h.tenant, spec, undefined)).job.id);
          } else if (a.kind === 'advance') {
            h.clock.t += a.seconds * 1000;
            v.advanceTo(h.clock.t);
          } else if (a.kind === 'cycle') {
            await h.cp.runCycle();
          } else if (a.kind === 'down' || a.kind === 'up') {
            await h.cp.setNodeState(h.operator, NODES[a.node]!, a.kind, 'test', 'req');
          } else if (a.kind === 'cancel' && jobs.length > 0) {
            const id = jobs[a.pick % jobs.length]!;
            if (!['succeeded', 'failed', 'cancelled', 'timed-out'].includes(await h.stateOf(id)))
              await h.cp.jobs.cancel(h.tenant, id);
          }
          await settle(h, d);
        }
        // Everything still live ends now.
        for (const id of jobs) {
          const s = await h.stateOf(id);
          if (s === 'queued' || s === 'running') await h.cp.jobs.cancel(h.tenant, id);
          await settle(h, d);
        }
        const segs = await h.store.db.selectFrom('usage_records').selectAll().execute();
        assert.deepEqual(
          segs.filter((s) => s.ended_at === null),
          [],
          'no segment left open',
        );
        const rows = await h.store.db.selectFrom('jobs').select(['id', 'attempt']).execute();
        for (const j of rows) {
          const attempts = segs
            .filter((s) => s.job_id === j.id)
            .map((s) => s.attempt)
            .sort((x, y) => x - y);
          assert.deepEqual(
            attempts,
            Array.from({ length: j.attempt }, (_, i) => i + 1),
            `job ${j.id}: one segment per attempt`,
          );
        }
        const expected = await fromEvents(h);
        let sum = 0;
        for (const j of rows) {
          const billed = segs.filter((s) => s.job_id === j.id).reduce((a, s) => a + (s.gpu_seconds ?? 0), 0);
          sum += billed;
          assert.ok(
            Math.abs(billed - (expected.get(j.id) ?? 0)) < 1e-6,
            `job ${j.id}: billed ${billed}, ran ${expected.get(j.id)}`,
          );
        }
        const r = await h.cp.usage.report(h.operator, { from: '2026-01-01', to: '2026-03-01', groupBy: 'class' });
        assert.ok(Math.abs(r.total.gpuSeconds - sum) < 0.01, `report total ${r.total.gpuSeconds} = ${sum}`);
      } finally {
        await h.close();
      }
    }),
    { numRuns: Number(process.env.GIGAFAB_METERING_RUNS ?? 25) },
  );
});
