/**
 * Property-based tests with every policy on (fair share, borrowing, preemption, backfill) over random small
 * fleets, quotas, limits, queues, finishing jobs and draining victims. Invariants:
 * - no GPU allocated twice; gangs all-or-nothing and well-formed; one outcome per queued job;
 * - quota: usage never exceeds nominal + borrowing limit; a borrowed start means the project is
 *   over its nominal quota;
 * - preemption only hits borrowers (reclaim, for a preemptor within quota, of another project) or
 *   lower classes; never a protected (young, non-preemptible) or draining job; distinct victims;
 *   victim GPUs per preemptor within the cap; the preemptor is pending with `preempting`;
 * - determinism: reversed queue and running lists give identical results;
 * - placement constraints hold: required sites, one scalable unit when required;
 * - backfill never delays a reserved job: every reserved GPU is free at the end of the cycle or held
 *   by a job expected to end by the reservation's start; reservations never overlap; no phantom
 *   allocation outlives the cycle;
 * - no oscillation: once the victims have drained and the preemptors started, no victim may
 *   evict the job that evicted it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Fleet } from '../../src/model/fleet.js';
import {
  type BackfillInput,
  type BorrowingInput,
  type CapacityWindow,
  ClusterModel,
  type CycleInput,
  type CycleResult,
  type FairShareInput,
  type PreemptionInput,
  type QuotaTable,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { makeFleet, type PoolDef, PropertyWorld, quotas } from './fixtures.js';

const TYPES = ['B200', 'RTX'] as const;
const PROJECTS = ['p1', 'p2', 'p3'] as const;
const MIN = 60_000;

const poolArb = fc.record({
  site: fc.constantFrom('a', 'b'),
  gpuType: fc.constantFrom(...TYPES),
  count: fc.integer({ min: 1, max: 5 }),
  gpus: fc.constantFrom(2, 4, 8),
  unitSize: fc.integer({ min: 1, max: 4 }),
});

const jobArb = fc.record({
  project: fc.constantFrom(...PROJECTS),
  gpuType: fc.constantFrom<(string | null)[]>('B200', 'RTX', null),
  gpusPerNode: fc.integer({ min: 1, max: 8 }),
  nodes: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 })),
  priority: fc.constantFrom(0, 50, 100, 500),
  maxRuntimeSeconds: fc.constantFrom(600, 3600, 7200),
  requiredSites: fc.option(fc.constantFrom(['a'], ['b'], ['a', 'b']), { nil: undefined, freq: 4 }),
  requireSingleUnit: fc.option(fc.boolean(), { nil: undefined, freq: 3 }),
});

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('cycle' as const), jobs: fc.array(jobArb, { maxLength: 8 }) }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
);

const perTypeArb = (max: number) => fc.record({ B200: fc.integer({ min: 0, max }), RTX: fc.integer({ min: 0, max }) });
const tableArb = (max: number) => fc.record(Object.fromEntries(PROJECTS.map((p) => [p, perTypeArb(max)])));

const policyArb = fc.record({
  quota: tableArb(48),
  borrowingLimit: fc.option(tableArb(32), { nil: undefined }),
  lendingLimit: fc.option(tableArb(32), { nil: undefined }),
  usage: fc.record(Object.fromEntries(PROJECTS.map((p) => [p, fc.integer({ min: 0, max: 1000 })]))),
  weights: fc.record({
    fairShare: fc.integer({ min: 0, max: 1000 }),
    age: fc.integer({ min: 0, max: 100 }),
    priorityClass: fc.integer({ min: 0, max: 2000 }),
    size: fc.integer({ min: 0, max: 100 }),
  }),
  cap: fc.constantFrom(1, 2, 4),
  minRuntimeSeconds: fc.constantFrom(0, 600),
  reservations: fc.integer({ min: 1, max: 3 }),
  gangsOnly: fc.boolean(),
  window: fc.option(
    fc.record({
      org: fc.constantFrom('o1', 'o2'),
      gpuType: fc.constantFrom(...TYPES),
      gpusPerNode: fc.constantFrom(2, 4, 8),
      nodes: fc.integer({ min: 1, max: 2 }),
      startMin: fc.integer({ min: 0, max: 60 }),
      lengthMin: fc.integer({ min: 10, max: 60 }),
    }),
    { nil: undefined },
  ),
});

interface Policies {
  quotas: QuotaTable;
  fairShare: FairShareInput;
  borrowing: BorrowingInput;
  preemption: PreemptionInput;
  backfill: BackfillInput;
  explain: boolean;
  capacityWindows: CapacityWindow[];
}

function policies(p: PolicyValue): Policies {
  return {
    quotas: quotas(p.quota),
    fairShare: {
      orgShares: new Map([
        ['o1', 2],
        ['o2', 1],
      ]),
      projectShares: new Map([
        ['p1', 1],
        ['p2', 3],
        ['p3', 1],
      ]),
      projectOrgs: new Map([
        ['p1', 'o1'],
        ['p2', 'o1'],
        ['p3', 'o2'],
      ]),
      usage: new Map(Object.entries(p.usage)),
      weights: p.weights,
    },
    borrowing: {
      enabled: true,
      borrowingLimit: p.borrowingLimit ? quotas(p.borrowingLimit) : undefined,
      lendingLimit: p.lendingLimit ? quotas(p.lendingLimit) : undefined,
    },
    preemption: { enabled: true, maxEvictedGpusPerRequestedGpu: p.cap, minRuntimeSeconds: p.minRuntimeSeconds },
    backfill: { enabled: true, reservations: p.reservations, gangsOnly: p.gangsOnly },
    explain: true,
    capacityWindows: p.window
      ? [
          {
            id: 'w',
            org: p.window.org,
            gpuType: p.window.gpuType,
            gpusPerNode: p.window.gpusPerNode,
            nodes: p.window.nodes,
            start: p.window.startMin * MIN,
            end: (p.window.startMin + p.window.lengthMin) * MIN,
          },
        ]
      : [],
  };
}

type PolicyValue = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;

/** replay builds a fresh cluster with the same allocations as `from`. */
function replay(fleet: Fleet, from: ClusterModel): ClusterModel {
  const c = new ClusterModel(fleet);
  for (const id of [...from.allocatedJobs()].sort()) {
    const placement = from.allocationOf(id);
    const project = from.projectOf(id);
    if (placement && project !== undefined) c.allocate(id, project, placement);
  }
  return c;
}

/** Coverage counters: the property must exercise the policies it checks. */
const seen = { preemptions: 0, reclaims: 0, borrowedStarts: 0, backChecks: 0, reservations: 0, backfilled: 0, windows: 0 };

function gpusOf(j: SchedJob): number {
  return j.gpusPerNode * j.nodes;
}

test('policy invariants: fair share + borrowing + preemption over random worlds', () => {
  fc.assert(
    fc.property(
      fc.array(poolArb, { minLength: 1, maxLength: 3 }),
      policyArb,
      fc.array(opArb, { maxLength: 16 }),
      (pools, policyValue, ops) => {
        const fleet = makeFleet(pools.map((p, i): PoolDef => ({ ...p, prefix: `x${i}` })));
        const pol = policies(policyValue);
        const cluster = new ClusterModel(fleet);
        const world = new PropertyWorld(cluster);
        const { running, jobs } = world;
        let queue: SchedJob[] = [];
        let seq = 0;
        let now = 0;
        for (const op of ops) {
          now += 7 * MIN;
          if (op.kind === 'release') {
            world.finishPicked(op.pick, now);
            continue;
          }
          for (const j of op.jobs) {
            seq++;
            const sj: SchedJob = {
              ...j,
              id: `j${seq}`,
              seq,
              org: j.project === 'p3' ? 'o2' : 'o1',
              submittedAt: now - seq * 1000,
              maxRuntimeSeconds: 3600,
            };
            world.submit(sj);
          }
          queue = world.queue();
          const input: CycleInput = { queue, now, running: [...running.values()], ...pol };
          const mirror = replay(fleet, cluster);
          const r = scheduleCycle(cluster, input);
          const r2 = scheduleCycle(mirror, {
            ...input,
            queue: [...queue].reverse(),
            running: [...running.values()].reverse(),
          });
          assert.deepEqual(r, r2, 'same input, same decisions');
          checkCycle(cluster, input, r, pol, running);
          checkNoOscillation(fleet, cluster, input, r, jobs, running);

          world.apply(r, now);
        }
      },
    ),
    { numRuns: 200, seed: 20261123 },
  );
  assert.ok(
    seen.preemptions > 10 &&
      seen.reclaims > 0 &&
      seen.borrowedStarts > 20 &&
      seen.backChecks > 5 &&
      seen.reservations > 20 &&
      seen.backfilled > 0 &&
      seen.windows > 20,
    JSON.stringify(seen),
  );
});

function checkCycle(
  cluster: ClusterModel,
  input: CycleInput,
  r: CycleResult,
  pol: Policies,
  running: Map<string, RunningJobInfo>,
): void {
  cluster.verifyIndexes();
  const started = new Set(r.starts.map((s) => s.jobId));
  assert.equal(started.size, r.starts.length);
  for (const j of input.queue) assert.equal(started.has(j.id) !== r.pending.has(j.id), true);

  // No GPU allocated twice; no phantom reservation outlives the cycle.
  const taken = new Map<string, string>();
  for (const id of cluster.allocatedJobs()) {
    assert.equal(id.startsWith('\u0000'), false, 'phantom left behind');
    for (const a of cluster.allocationOf(id)?.nodes ?? []) {
      for (const g of a.gpus) {
        const key = `${a.node}/${g}`;
        assert.equal(taken.has(key), false, `GPU ${key} allocated twice`);
        taken.set(key, id);
      }
    }
  }
  // Gangs all-or-nothing and well-formed.
  for (const j of input.queue) {
    const p = cluster.allocationOf(j.id);
    if (!started.has(j.id)) {
      assert.equal(p, undefined);
      continue;
    }
    assert.ok(p);
    assert.equal(p.nodes.length, j.nodes);
    assert.equal(new Set(p.nodes.map((a) => a.node)).size, j.nodes);
    for (const a of p.nodes) assert.equal(a.gpus.length, j.gpusPerNode);
    if (j.requiredSites) assert.ok(j.requiredSites.includes(p.site), `${j.id} outside its sites`);
    if (j.requireSingleUnit) {
      const units = new Set(p.nodes.map((a) => cluster.fleet.nodes[cluster.fleet.nodeIndex.get(a.node) ?? -1].unit));
      assert.equal(units.size, 1, `${j.id} spans units`);
    }
  }
  // Quota with borrowing.
  for (const project of PROJECTS) {
    for (const t of TYPES) {
      const nominal = pol.quotas.get(project)?.get(t) ?? 0;
      const limit = pol.borrowing.borrowingLimit?.get(project)?.get(t);
      if (limit !== undefined) assert.ok(cluster.usage(project, t) <= nominal + limit, `${project}/${t} over limit`);
    }
  }
  const byId = new Map(input.queue.map((j) => [j.id, j]));
  for (const s of r.starts) {
    const j = byId.get(s.jobId);
    assert.ok(j);
    if (s.borrowed) {
      // A preemptor waiting for its victims holds its quota: count it (whatever its type, an upper bound).
      let held = 0;
      for (const q of input.queue) {
        if (q.project === j.project && r.pending.get(q.id)?.code === 'preempting') held += gpusOf(q);
      }
      const nominal = pol.quotas.get(j.project)?.get(s.placement.gpuType) ?? 0;
      assert.ok(cluster.usage(j.project, s.placement.gpuType) + held > nominal, `${j.id} borrowed within quota`);
    }
  }
  // Backfill never delays a reserved job.
  const startedEnd = new Map<string, number>();
  for (const s of r.starts) {
    const j = input.queue.find((x) => x.id === s.jobId);
    assert.ok(j);
    startedEnd.set(j.id, input.now + j.maxRuntimeSeconds * 1000);
  }
  const reservedGpus = new Set<string>();
  const windowOrg = new Map(pol.capacityWindows.map((w) => [w.id, w.org]));
  const orgOf = (id: string) => running.get(id)?.org ?? input.queue.find((q) => q.id === id)?.org;
  for (const res of [...(r.reservations ?? []), ...(r.windows ?? [])]) {
    seen.reservations++;
    assert.equal(started.has(res.jobId), false);
    const org = windowOrg.get(res.jobId);
    assert.ok(res.start >= input.now);
    for (const a of res.placement.nodes) {
      for (const g of a.gpus) {
        const key = `${a.node}/${g}`;
        assert.equal(reservedGpus.has(key), false, 'reservations overlap');
        reservedGpus.add(key);
        const holder = taken.get(key);
        if (holder === undefined) continue;
        if (org !== undefined && orgOf(holder) === org) continue; // the org's own jobs use its window
        const v = running.get(holder);
        const end =
          startedEnd.get(holder) ?? (v?.maxRuntimeSeconds !== undefined ? v.startedAt + v.maxRuntimeSeconds * 1000 : undefined);
        assert.ok(end !== undefined && end <= Math.max(res.start, input.now), `${holder} delays reservation of ${res.jobId}`);
        if (startedEnd.has(holder)) seen.backfilled++;
      }
    }
  }
  seen.windows += r.windows?.length ?? 0;
  for (const [id, e] of r.explain ?? []) {
    assert.ok(e.position >= 1 && e.position <= input.queue.length, id);
    if (started.has(id)) assert.equal(e.expectedStart, input.now);
  }

  // Preemption only hits borrowers or lower classes, within the blast radius.
  const victims = new Set<string>();
  const evictedFor = new Map<string, number>();
  const minRuntimeMs = (pol.preemption.minRuntimeSeconds ?? 600) * 1000;
  for (const s of r.starts) if (s.borrowed) seen.borrowedStarts++;
  for (const p of r.preemptions ?? []) {
    seen.preemptions++;
    if (p.reason === 'reclaim') seen.reclaims++;
    assert.equal(victims.has(p.victimId), false, 'victim chosen twice');
    victims.add(p.victimId);
    const v = running.get(p.victimId);
    const a = byId.get(p.forJobId);
    assert.ok(v && a);
    assert.equal(v.evicting, undefined);
    assert.ok(v.preemptible, 'non-preemptible victim');
    assert.ok(input.now - v.startedAt >= minRuntimeMs, 'victim too young');
    if (p.reason === 'priority') assert.ok(v.priority < a.priority, 'priority preemption of an equal or higher class');
    else {
      assert.ok(v.borrowed && v.project !== a.project, 'reclaim from a non-borrower');
    }
    assert.equal(r.pending.get(a.id)?.code, 'preempting');
    assert.ok(String(r.pending.get(a.id)?.details?.victims).split(',').includes(v.id));
    evictedFor.set(
      a.id,
      (evictedFor.get(a.id) ?? 0) + (cluster.allocationOf(v.id)?.nodes ?? []).reduce((n, x) => n + x.gpus.length, 0),
    );
  }
  const cap = pol.preemption.maxEvictedGpusPerRequestedGpu ?? 2;
  for (const [id, gpus] of evictedFor) {
    const j = byId.get(id);
    assert.ok(j);
    assert.ok(gpus <= cap * gpusOf(j), `${id} evicts ${gpus} GPUs`);
  }
}

/**
 * checkNoOscillation: in a copy of the world, let the victims drain and start the preemptors, then
 * queue the victims again (nothing else changes, no min-runtime protection, no cap): no victim may
 * evict the job that evicted it.
 */
function checkNoOscillation(
  fleet: Fleet,
  cluster: ClusterModel,
  input: CycleInput,
  r: CycleResult,
  jobs: Map<string, SchedJob>,
  running: Map<string, RunningJobInfo>,
): void {
  const decisions = r.preemptions ?? [];
  if (decisions.length === 0) return;
  const world = replay(fleet, cluster);
  const run = new Map(running);
  // This cycle's starts run too, with the borrowed flag the control plane persists.
  for (const s of r.starts) {
    const j = jobs.get(s.jobId) as SchedJob;
    run.set(j.id, {
      id: j.id,
      project: j.project,
      org: j.org,
      priority: j.priority,
      gpus: gpusOf(j),
      startedAt: input.now,
      borrowed: s.borrowed === true,
      preemptible: true,
      maxRuntimeSeconds: j.maxRuntimeSeconds,
    });
  }
  for (const d of decisions) {
    world.release(d.victimId);
    run.delete(d.victimId);
  }
  const preemptors = [...new Set(decisions.map((d) => d.forJobId))].map((id) => jobs.get(id) as SchedJob);
  const r1 = scheduleCycle(world, { ...input, queue: preemptors, running: [...run.values()] });
  for (const s of r1.starts) {
    const j = jobs.get(s.jobId) as SchedJob;
    run.set(j.id, {
      id: j.id,
      project: j.project,
      org: j.org,
      priority: j.priority,
      gpus: gpusOf(j),
      startedAt: input.now - 1000 * MIN,
      borrowed: s.borrowed === true,
      preemptible: true,
    });
  }
  const startedA = new Set(r1.starts.map((s) => s.jobId));
  const victims = [...new Set(decisions.map((d) => d.victimId))].map((id) => jobs.get(id) as SchedJob);
  const r2 = scheduleCycle(world, {
    ...input,
    queue: victims,
    running: [...run.values()],
    preemption: { enabled: true, minRuntimeSeconds: 0, maxEvictedGpusPerRequestedGpu: 1000 },
  });
  if (startedA.size > 0) seen.backChecks++;
  for (const back of r2.preemptions ?? []) {
    const oscillates = decisions.some(
      (d) => startedA.has(d.forJobId) && d.forJobId === back.victimId && d.victimId === back.forJobId,
    );
    assert.equal(oscillates, false, `${back.forJobId} evicts ${back.victimId}, which evicted it`);
  }
}
