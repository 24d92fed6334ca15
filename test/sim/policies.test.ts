/**
 * Simulator policies with dynamic inputs: fair share (usage charged per cycle, decayed) and
 * preemption (victims stop after the grace period, are requeued and run again from scratch).
 * Outcomes computed by hand.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PolicySchema } from '../../src/model/policy.js';
import { simulate } from '../../src/sim/engine.js';
import { getPolicy, type Policy, policyNames } from '../../src/sim/policies.js';
import { parseVariants } from '../../src/sim/run.js';
import { syntheticJobs } from '../../src/sim/synthetic.js';
import type { SimJob } from '../../src/sim/types.js';
import { job, tinyFleet } from './fixtures.js';

const twoTenants = new Map([
  ['o/p1', 1],
  ['o/p2', 1],
]);

async function run(jobs: SimJob[], policy: string, nodes: number) {
  const seen = new Map<string, [number, number][]>();
  const result = await simulate(jobs, {
    fleet: tinyFleet(nodes),
    policy,
    entitlements: twoTenants,
    onStart: (j, s, e) => seen.set(j.id, [...(seen.get(j.id) ?? []), [s, e]]),
  });
  return { seen, result };
}

test('the fair-share policies are registered', () => {
  assert.ok(policyNames().includes('fair-share'));
  assert.ok(policyNames().includes('fair-share-preemption'));
});

test('fair share: a tenant that has used nothing overtakes the queued work of a heavy user', async () => {
  // One 8-GPU node. p1 queues three 100 s jobs at t=0, p2 one at t=1.
  const jobs = [
    job('a1', 0, 8, 1, 100, { project: 'p1' }),
    job('a2', 0, 8, 1, 100, { project: 'p1' }),
    job('a3', 0, 8, 1, 100, { project: 'p1' }),
    job('b1', 1, 8, 1, 100, { project: 'p2' }),
  ];
  // FIFO (default policy): b1 runs last.
  const fifo = await run(jobs, 'default', 1);
  assert.deepEqual(fifo.seen.get('b1'), [[300, 400]]);
  // Fair share: at t=100 p1 has 800 GPU-seconds of usage, p2 none: b1 goes next, then a2, a3.
  const fair = await run(jobs, 'fair-share', 1);
  assert.deepEqual(fair.seen.get('a1'), [[0, 100]]);
  assert.deepEqual(fair.seen.get('b1'), [[100, 200]]);
  assert.deepEqual(fair.seen.get('a2'), [[200, 300]]);
  assert.deepEqual(fair.seen.get('a3'), [[300, 400]]);
  assert.equal(fair.result.summary.preemptions.count, 0);
});

test('preemption: a tenant within its entitlement reclaims borrowed GPUs; the victim reruns from scratch', async () => {
  // Two 8-GPU nodes, each project entitled to 8 GPUs. p1 starts A (own quota) and B (borrowed from p2)
  // at t=0, both 10,000 s. p2 submits C (8 GPUs, 100 s) at t=1000: B has run > 600 s (minimum
  // runtime), is told to stop and, a simulated job checkpointing instantly, stops at once (as on the
  // server's SimDriver), so C starts at 1000 and ends at 1100. B, requeued, borrows again when C
  // ends and runs 1100..11100. Lost: 8 GPUs x 1000 s.
  const jobs = [
    job('A', 0, 8, 1, 10_000, { project: 'p1' }),
    job('B', 0, 8, 1, 10_000, { project: 'p1' }),
    job('C', 1000, 8, 1, 100, { project: 'p2' }),
  ];
  const { seen, result } = await run(jobs, 'fair-share-preemption', 2);
  assert.deepEqual(seen.get('A'), [[0, 10_000]]);
  assert.deepEqual(seen.get('C'), [[1000, 1100]]);
  assert.deepEqual(seen.get('B'), [
    [0, 10_000],
    [1100, 11_100],
  ]);
  const s = result.summary;
  assert.equal(s.preemptions.count, 1);
  assert.equal(s.preemptions.lostGpuHours, Math.round(((8 * 1000) / 3600) * 100) / 100);
  assert.equal(s.jobs.started, 3, 'a restart is not a second start');
  assert.equal(s.jobs.completed, 3);
  // Queue delays counted once per job: A 0, B 0, C 0.
  assert.equal(s.queueDelay.max, 0);
  assert.equal(s.jct.max, 11_100);
  // Without preemption C waits for A or B to end at 10,000.
  const fair = await run(jobs, 'fair-share', 2);
  assert.deepEqual(fair.seen.get('C'), [[10_000, 10_100]]);
  assert.equal(fair.result.summary.preemptions.count, 0);
});

test('fair-share policies are deterministic on an overloaded synthetic trace', async () => {
  const fleet = tinyFleet(32);
  const opts = { jobs: 1500, seed: 11, targetLoad: 1.3, fleetGpus: fleet.totalGpus, tenants: 4 };
  for (const policy of ['fair-share', 'fair-share-preemption']) {
    const a = await simulate(syntheticJobs(opts), { fleet, policy, expectedTenants: 4 });
    const b = await simulate(syntheticJobs(opts), { fleet, policy, expectedTenants: 4 });
    assert.deepEqual(a, b);
    assert.equal(a.summary.jobs.completed + a.summary.jobs.neverStarted + a.summary.jobs.rejectedUnsatisfiable, 1500);
  }
});

test('the named policies are presets of the server policy schema (no weights copied by hand)', () => {
  const server = PolicySchema.parse({});
  const fair = getPolicy('fair-share').scheduling;
  assert.deepEqual(fair.fairShare, server.fairShare);
  assert.deepEqual(fair.backfill, server.backfill);
  assert.equal(fair.borrowing.enabled, true);
  const preempt = getPolicy('fair-share-preemption').scheduling;
  assert.deepEqual({ ...preempt.preemption, enabled: false }, server.preemption);
  assert.equal(preempt.stopGraceSeconds, server.stopGraceSeconds);
  assert.equal(getPolicy('default').scheduling.fairShare.enabled, false);
});

test('--policy FILE runs a server policy file; a FIFO file schedules as the FIFO preset', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-simpol-'));
  const fifoFile = join(dir, 'fifo.yaml');
  writeFileSync(fifoFile, 'fairShare: { enabled: false }\nbackfill: { enabled: false }\n');
  const serverFile = join(dir, 'server-default.yaml');
  writeFileSync(serverFile, '{}\n');
  const jobs = [
    job('a1', 0, 8, 1, 100, { project: 'p1' }),
    job('a2', 0, 8, 1, 100, { project: 'p1' }),
    job('a3', 0, 8, 1, 100, { project: 'p1' }),
    job('b1', 1, 8, 1, 100, { project: 'p2' }),
  ];
  const starts = async (policy: Policy) => {
    const seen: string[] = [];
    await simulate(jobs, { fleet: tinyFleet(1), policy, onStart: (j, s) => seen.push(`${j.id}@${s}`) });
    return seen;
  };
  const [fifo] = parseVariants(fifoFile, 1);
  assert.equal(fifo?.policy.quotaMode, 'unlimited');
  assert.deepEqual(await starts(fifo!.policy), await starts(getPolicy('default')));
  // The server's default file has fair share on: p2's job overtakes p1's queued ones.
  const [server] = parseVariants(serverFile, 1);
  assert.deepEqual(await starts(server!.policy), ['a1@0', 'b1@100', 'a2@200', 'a3@300']);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'fairShare: { halfLifeDays: -1 }\n');
  assert.throws(() => parseVariants(bad, 1), /invalid policy file bad.yaml: fairShare.halfLifeDays/);
});
