/**
 * Engine: a hand-checked three-job trace, wall limits, interval cycles, rejection, ordering errors,
 * and the incremental-queue shortcut giving results identical to full cycles.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandFleet, loadFleetFile } from '../../src/fleet/load-fleet.js';
import { simulate, TraceOrderError } from '../../src/sim/engine.js';
import { syntheticJobs } from '../../src/sim/synthetic.js';
import type { SimJob } from '../../src/sim/types.js';
import { job, tinyFleet } from './fixtures.js';

async function starts(jobs: SimJob[], opts: Partial<Parameters<typeof simulate>[1]> = {}) {
  const seen = new Map<string, [number, number]>();
  const result = await simulate(jobs, { fleet: tinyFleet(2), onStart: (j, s, e) => seen.set(j.id, [s, e]), ...opts });
  return { seen, result };
}

test('three jobs on two 8-GPU nodes: exact starts, JCTs, delays (computed by hand)', async () => {
  // A: t=0, 1x8 GPUs, 100 s -> node 1, runs 0..100.
  // B: t=10, 2x8 GPUs, 50 s -> needs both nodes; node 1 busy until 100 -> runs 100..150.
  // C: t=20, 1x4 GPUs, 30 s -> no head-of-line blocking: node 2 is free, runs 20..50.
  const { seen, result } = await starts([job('A', 0, 8, 1, 100), job('B', 10, 8, 2, 50), job('C', 20, 4, 1, 30)]);
  assert.deepEqual(seen.get('A'), [0, 100]);
  assert.deepEqual(seen.get('B'), [100, 150]);
  assert.deepEqual(seen.get('C'), [20, 50]);
  const s = result.summary;
  assert.equal(s.makespan, 150);
  assert.equal(s.jobs.completed, 3);
  // Queue delays 0, 90, 0 -> mean 30, max 90. JCTs 100, 140, 30 -> mean 90.
  assert.equal(s.queueDelay.mean, 30);
  assert.equal(s.queueDelay.max, 90);
  assert.equal(s.jct.mean, 90);
  assert.equal(s.jct.max, 140);
  // Bounded slowdowns: A 1, B 140/50 = 2.8, C 1.
  assert.equal(s.boundedSlowdown.max, 2.8);
  // GPU-seconds 8*100 + 16*50 + 4*30 = 1720 of 16 GPUs x 150 s.
  assert.equal(s.allocationRatio.overall, Math.round((1720 / 2400) * 1e4) / 1e4);
  // Fragmentation: during 20..50, B waits for 8 GPUs/node and node 2 has 4 free -> 4 GPUs x 30 s;
  // during 10..20 and 50..100 node 2 has 8 free, usable by B's shape -> 0. Over 150 s of 16 GPUs:
  assert.equal(s.fragmentationRatio.overall, Math.round(((4 * 30) / (16 * 150)) * 1e4) / 1e4);
});

test('a job longer than its wall limit is stopped at the limit and counted as timed out', async () => {
  const { seen, result } = await starts([job('D', 0, 1, 1, 100, { wallLimit: 40 })]);
  assert.deepEqual(seen.get('D'), [0, 40]);
  assert.equal(result.summary.jobs.timedOut, 1);
});

test('interval cycles: a job arriving at 10 s starts at the next 60 s tick', async () => {
  const { seen, result } = await starts([job('A', 10, 1, 1, 5), job('B', 70, 1, 1, 5)], {
    cycle: { mode: 'interval', seconds: 60 },
  });
  assert.deepEqual(seen.get('A'), [60, 65]);
  assert.deepEqual(seen.get('B'), [120, 125]);
  assert.equal(result.summary.cycles, 2);
});

test('jobs that can never fit the fleet are rejected at arrival, not queued forever', async () => {
  const { result } = await starts([job('huge', 0, 8, 3, 10), job('ok', 1, 8, 2, 10)]);
  assert.equal(result.summary.jobs.rejectedUnsatisfiable, 1);
  assert.equal(result.summary.jobs.completed, 1);
  assert.equal(result.summary.jobs.neverStarted, 0);
});

test('an unsorted stream is an error', async () => {
  await assert.rejects(simulate([job('a', 10, 1, 1, 1), job('b', 5, 1, 1, 1)], { fleet: tinyFleet(1) }), TraceOrderError);
});

test('entitlement quotas cap a tenant; a job above its cap never starts', async () => {
  const jobs = [
    job('a', 0, 8, 1, 10, { project: 'p1' }),
    job('b', 0, 8, 1, 10, { project: 'p1' }),
    job('c', 0, 8, 2, 10, { project: 'p2' }),
  ];
  const { seen, result } = await starts(jobs, {
    policy: 'entitlement-quota',
    entitlements: new Map([
      ['o/p1', 1],
      ['o/p2', 1],
    ]),
  });
  // Each project may hold 8 GPUs: a runs 0..10, b 10..20; c (16 GPUs) never starts.
  assert.deepEqual(seen.get('a'), [0, 10]);
  assert.deepEqual(seen.get('b'), [10, 20]);
  assert.equal(seen.get('c'), undefined);
  assert.equal(result.summary.jobs.neverStarted, 1);
});

test('incremental queue shortcut gives exactly the results of full cycles (overloaded synthetic trace)', async () => {
  const fleet = tinyFleet(64);
  const opts = { jobs: 4000, seed: 3, targetLoad: 1.3, fleetGpus: fleet.totalGpus, tenants: 5 };
  const a = await simulate(syntheticJobs(opts), { fleet, incremental: true });
  const b = await simulate(syntheticJobs(opts), { fleet, incremental: false });
  assert.ok(a.summary.queueDelay.p95 > 0, 'the trace must queue for the check to mean anything');
  assert.deepEqual(a, b);
});

test('incremental shortcut, mixed priorities and pinned GPU types on a two-type fleet: identical results', async () => {
  const fleet = expandFleet(loadFleetFile().spec, 0.05);
  const opts = {
    jobs: 3000,
    seed: 5,
    targetLoad: 1.4,
    fleetGpus: fleet.totalGpus,
    tenants: 6,
    pinnedType: 'RTX-PRO-6000',
    pinnedFraction: 0.3,
  };
  const mixed = function* () {
    let i = 0;
    for (const j of syntheticJobs(opts)) yield { ...j, priority: i++ % 4 === 0 ? 500 : 100 };
  };
  const uniform = await simulate(syntheticJobs(opts), { fleet, incremental: true });
  assert.deepEqual(uniform, await simulate(syntheticJobs(opts), { fleet, incremental: false }));
  const quota = { fleet, policy: 'entitlement-quota', expectedTenants: 3 };
  assert.deepEqual(
    await simulate(mixed(), { ...quota, incremental: true }),
    await simulate(mixed(), { ...quota, incremental: false }),
  );
  const a = await simulate(mixed(), { fleet, incremental: true });
  const b = await simulate(mixed(), { fleet, incremental: false });
  assert.ok(a.summary.queueDelay.p95 > 0);
  assert.deepEqual(a, b);
});
