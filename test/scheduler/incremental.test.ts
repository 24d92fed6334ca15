/**
 * The incremental scheduler makes the from-scratch cycle's decisions: on random histories
 * (arrivals, ends, node down/up, quota changes, priority changes, fair-share usage moving), every
 * policy on, each of its cycles is compared with scheduleCycle on a copy of the same cluster and
 * the same queue: starts, preemptions, reservations, windows, every pending reason, priorities and
 * every explanation. Modelled on cycle-equivalence.test.ts; seeded (src/model/prng.ts), so a
 * failure repeats.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Fleet, GpuType } from '../../src/model/fleet.js';
import { mulberry32 } from '../../src/model/prng.js';
import {
  type BudgetLimit,
  ClusterModel,
  type CycleInput,
  IncrementalScheduler,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { job, makeFleet, type PoolDef, PropertyWorld, quotas } from './fixtures.js';

const MIN = 60_000;
const PROJECTS = ['p1', 'p2', 'p3'] as const;

/** copyOf builds a fresh cluster with the same node states and allocations as `from`. */
function copyOf(fleet: Fleet, from: ClusterModel): ClusterModel {
  const c = new ClusterModel(fleet);
  for (const n of fleet.nodes) c.setNodeState(n.id, from.nodeState(n.id));
  for (const id of [...from.allocatedJobs()].sort()) {
    const placement = from.allocationOf(id);
    const project = from.projectOf(id);
    if (placement && project !== undefined) c.allocate(id, project, placement, from.orgOf(id), from.spreadOf(id));
  }
  return c;
}

/** sync makes the scheduler's queue the world's: submits arrivals, removes the rest, updates changes. */
function sync(s: IncrementalScheduler, want: readonly SchedJob[]): void {
  const ids = new Set(want.map((j) => j.id));
  for (const j of [...s.queue]) if (!ids.has(j.id)) s.remove(j.id);
  const have = new Map(s.queue.map((j) => [j.id, j]));
  for (const j of want) {
    const old = have.get(j.id);
    if (!old) s.submit(j);
    else if (old !== j) s.update(j);
  }
}

/**
 * HistoryKind: `classes`, many identical copies, rare constraints and spread groups and a budget
 * gate, so that cycles often stop visiting the queue (stop scanning); `groups`, the same without
 * budgets and with an age cap jobs cross, so that cycles visit classes, not jobs; `disorder`, some
 * jobs submitted out of seq order (a class not in the cycle's order: those cycles must sort).
 */
interface HistoryKind {
  classes?: boolean;
  groups?: boolean;
  disorder?: boolean;
  /** The scheduler's classGroups option (default true). */
  classGroups?: boolean;
}

/**
 * bothOnce: one cycle of a fresh IncrementalScheduler and one from-scratch scheduleCycle on the same
 * world (three projects with room, backfill with one gang reservation, explain on).
 */
function bothOnce(world: () => ClusterModel, queue: SchedJob[], at: number, running: CycleInput['running']) {
  const input: Omit<CycleInput, 'queue'> = {
    now: at,
    quotas: quotas({ p1: { B200: 64 }, p2: { B200: 64 }, p3: { B200: 64 } }),
    running,
    backfill: { enabled: true, reservations: 1, gangsOnly: true },
    explain: true,
  };
  const sched = new IncrementalScheduler();
  for (const j of queue) sched.submit(j);
  return { r: sched.cycle(world(), input), scratch: scheduleCycle(world(), { ...input, queue }) };
}

/** history runs one random history (see HistoryKind). */
function history(
  seed: number,
  usageTolerance: number,
  kind: HistoryKind = {},
): { cycles: number; starts: number; paths: Set<string>; unscanned: number; stopped: number } {
  const classes = kind.classes === true || kind.groups === true;
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const pools: PoolDef[] = [
    { prefix: 'x0', site: 'a', gpuType: 'B200', count: 1 + Math.floor(rnd() * 3), gpus: 8, unitSize: 2 },
    { prefix: 'x1', site: 'b', gpuType: 'B200', count: 1 + Math.floor(rnd() * 2), gpus: 8, unitSize: 1 },
    { prefix: 'x2', site: pick(['a', 'b']), gpuType: 'RTX', count: 1 + Math.floor(rnd() * 2), gpus: 4, unitSize: 2 },
  ];
  const fleet = makeFleet(pools);
  const cluster = new ClusterModel(fleet);
  const world = new PropertyWorld(cluster);
  const sched = new IncrementalScheduler({ explainHead: pick([0, 3, 200]), usageTolerance, classGroups: kind.classGroups });
  // An age cap the jobs cross within the history (cycles are 1 to 20 minutes apart), or none.
  const maxAgeSeconds = kind.groups ? pick([undefined, 600, 1800, 3600]) : undefined;
  // An age weight too small to tell jobs apart (rounding ties) or none at all: ties must come in seq order.
  const ageWeight = kind.groups ? pick([100, 100, 0, 1e-15]) : 100;
  const quotaOf = new Map<string, number>(PROJECTS.map((p) => [p, 8 + Math.floor(rnd() * 24)]));
  let usage = new Map<string, number>(PROJECTS.map((p, i) => [p, (i + 1) * 1000]));
  let seq = 0;
  let now = 0;
  let starts = 0;
  let unscanned = 0;
  let stopped = 0;
  const paths = new Set<string>();
  const cycles = classes ? 10 : 8;
  const odd = classes ? 0.02 : 0.15;
  const costs = new Map<string, number>();
  for (let c = 0; c < cycles; c++) {
    now += (1 + Math.floor(rnd() * 20)) * MIN;
    // Arrivals: a few shapes, often in identical copies (array jobs).
    for (let b = Math.floor(rnd() * (classes ? 7 : 4)); b > 0; b--) {
      const project = pick(PROJECTS);
      const proto = {
        project,
        org: project === 'p3' ? 'o2' : 'o1',
        gpuType: pick<GpuType | null>(['B200', 'B200', 'RTX', null]),
        gpusPerNode: pick([2, 4, 8, 8]),
        nodes: pick([1, 1, 2]),
        priority: pick([0, 0, 100, 500]),
        maxRuntimeSeconds: pick([1800, 3600, 7200]),
        requiredSites: rnd() < odd ? [pick(['a', 'b'])] : undefined,
        // Service replicas: the spread group follows them through the cluster replays.
        spread: rnd() < odd ? { group: `s${project}`, mode: pick(['required', 'preferred'] as const) } : undefined,
      };
      const cost = classes && rnd() < 0.3 ? 100 * (1 + Math.floor(rnd() * 30)) : 0;
      for (let copies = 1 + Math.floor(rnd() * (classes ? 12 : 5)); copies > 0; copies--) {
        seq++;
        // Copies of one class, some priced and some not: some are over budget, some fail on capacity.
        if (cost > 0 && rnd() < 0.5) costs.set(`j${seq}`, cost);
        const late = kind.disorder && rnd() < 0.1 ? Math.floor(rnd() * 30) * MIN : 0;
        world.submit(job(`j${seq}`, { ...proto, seq, submittedAt: now - late }));
      }
    }
    // Ends, node down/up, quota changes, priority changes, usage accruing.
    for (let e = Math.floor(rnd() * 3); e > 0; e--) world.finishPicked(Math.floor(rnd() * 1000), now);
    if (rnd() < 0.3) {
      const node = pick(fleet.nodes);
      cluster.setNodeState(node.id, cluster.nodeState(node.id) === 'up' ? pick(['down', 'draining'] as const) : 'up');
    }
    if (rnd() < 0.3) quotaOf.set(pick(PROJECTS), Math.floor(rnd() * 32));
    if (rnd() < 0.3) {
      const queued = world.queue();
      const j = queued.length > 0 ? pick(queued) : undefined;
      if (j) world.jobs.set(j.id, { ...j, priority: j.priority === 500 ? 0 : 500 });
    }
    usage = new Map([...usage].map(([p, u]) => [p, u * (1 + rnd() * 0.2)]));

    const queue = world.queue();
    sync(sched, queue);
    const table = (p: string) => ({ B200: quotaOf.get(p) ?? 0, RTX: quotaOf.get(p) ?? 0 });
    const input: Omit<CycleInput, 'queue'> = {
      now,
      quotas: quotas({ p1: table('p1'), p2: table('p2'), p3: table('p3') }),
      running: [...world.running.values()],
      fairShare: {
        orgShares: new Map([
          ['o1', 2],
          ['o2', 1],
        ]),
        projectShares: new Map(PROJECTS.map((p, i) => [p, i + 1])),
        usage,
        weights: { fairShare: 1000, age: ageWeight, priorityClass: 2000, size: 10 },
        ...(maxAgeSeconds ? { maxAgeSeconds } : {}),
      },
      borrowing: { enabled: true },
      preemption: { enabled: true, minRuntimeSeconds: 0 },
      backfill: { enabled: true, reservations: 2, gangsOnly: false },
      capacityWindows: [
        { id: 'w', org: 'o2', gpuType: 'B200', gpusPerNode: 4, nodes: 1, start: now + 30 * MIN, end: now + 90 * MIN },
      ],
      explain: true,
    };
    // Cycles without fair share: a class must then be in seq order (else the cycle sorts).
    if (kind.disorder && rnd() < 0.3) input.fairShare = undefined;
    if (kind.classes) {
      const limit = (scope: 'org' | 'project', id: string, left: number): BudgetLimit => ({
        scope,
        id,
        capCents: 100_000,
        remainingCents: left,
        month: '2026-12',
      });
      input.budgets = {
        orgs: new Map([['o2', limit('org', 'o2', Math.floor(rnd() * 4000))]]),
        projects: new Map([['p1', limit('project', 'p1', Math.floor(rnd() * 6000))]]),
        costs,
      };
    }
    const scratchCluster = copyOf(fleet, cluster);
    const r = sched.cycle(cluster, input);
    const seen = sched.lastInput;
    assert.ok(seen);
    // The scheduler may only differ from the caller's input in the (bucketed) usage.
    assert.deepEqual({ ...seen, fairShare: undefined }, { ...input, fairShare: undefined });
    if (usageTolerance === 0) assert.equal(seen.fairShare, input.fairShare);
    const scratch = scheduleCycle(scratchCluster, { ...seen, queue });
    const what = `seed ${seed} cycle ${c + 1}`;
    unscanned += r.stats.unscanned ?? 0;
    if ((r.stats.unscanned ?? 0) > 0) stopped++;
    assert.equal(r.cycle, c + 1);
    paths.add(r.ordering);
    assert.deepEqual(r.starts, scratch.starts, `${what}: starts`);
    assert.deepEqual(r.preemptions, scratch.preemptions, `${what}: preemptions`);
    assert.deepEqual(r.reservations, scratch.reservations, `${what}: reservations`);
    assert.deepEqual(r.windows, scratch.windows, `${what}: windows`);
    assert.equal(r.pending.size, scratch.pending.size, `${what}: pending count`);
    for (const j of queue) assert.deepEqual(r.pending.get(j.id), scratch.pending.get(j.id), `${what}: reason of ${j.id}`);
    assert.deepEqual([...(r.priorities ?? [])], [...(scratch.priorities ?? [])], `${what}: priorities`);
    // Explanations on request (any job, head or not) equal the from-scratch cycle's, tagged with the cycle.
    for (const j of [...queue].reverse()) {
      const e = sched.explain(j.id);
      assert.ok(e, `${what}: explanation of ${j.id}`);
      const { jobId, cycle, reason, ...content } = e;
      assert.deepEqual(content, scratch.explain?.get(j.id), `${what}: explanation of ${j.id}`);
      assert.equal(jobId, j.id);
      assert.equal(cycle, c + 1);
      assert.deepEqual(reason, scratch.pending.get(j.id));
    }
    assert.deepEqual([...(r.explain ?? [])], [...(scratch.explain ?? [])], `${what}: explain map`);
    // Started jobs left the scheduler's queue; the world's queue loses them when applied.
    for (const s of r.starts) assert.equal(sched.has(s.jobId), false);
    starts += r.starts.length;
    world.apply(r, now);
    cluster.verifyIndexes();
  }
  assert.equal(sched.explain('nope'), undefined);
  return { cycles, starts, paths, unscanned, stopped };
}

test('incremental cycles decide exactly as scheduleCycle from scratch (random histories, all policies on)', () => {
  let starts = 0;
  const paths = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const h = history(seed, 0, { classGroups: false });
    starts += h.starts;
    for (const p of h.paths) paths.add(p);
  }
  assert.ok(starts > 100, `histories start jobs: ${starts}`);
  // Usage moves every cycle here, so the order is re-sorted; the kept/merged paths are covered below.
  assert.ok(paths.has('sorted'), [...paths].join());
});

test('with bucketed usage the order is reused and decisions equal scheduleCycle on the snapshot', () => {
  const paths = new Set<string>();
  for (let seed = 101; seed <= 130; seed++) for (const p of history(seed, 10, { classGroups: false }).paths) paths.add(p);
  assert.ok(paths.has('merged') && paths.has('kept'), `orders reused: ${[...paths].join()}`);
});

test('visiting classes, not jobs: cycles over class groups decide and explain exactly as scheduleCycle', () => {
  let unscanned = 0;
  let starts = 0;
  const paths = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const h = history(seed, 0);
    starts += h.starts;
    for (const p of h.paths) paths.add(p);
  }
  for (let seed = 301; seed <= 340; seed++) {
    const h = history(seed, seed % 2 === 0 ? 0 : 10, { groups: true });
    unscanned += h.unscanned;
    starts += h.starts;
    for (const p of h.paths) paths.add(p);
  }
  // The histories must really skip members of failed classes (and still start jobs).
  assert.ok(paths.has('classes'), [...paths].join());
  assert.ok(unscanned > 1000, `jobs not visited: ${unscanned}`);
  assert.ok(starts > 200, `histories start jobs: ${starts}`);
  if (process.env.SHOW_SCAN) console.log({ unscanned, starts, paths });
});

test('visiting classes, not jobs: jobs submitted out of seq order (and past the age cap) keep the exact order; without fair share such a class sorts instead', () => {
  const paths = new Set<string>();
  for (let seed = 401; seed <= 420; seed++)
    for (const p of history(seed, 0, { groups: true, disorder: true }).paths) paths.add(p);
  assert.ok(paths.has('classes') && paths.has('sorted'), [...paths].join());
});

test('stop scanning: cycles that stop visiting the queue still decide and explain exactly as scheduleCycle', () => {
  let unscanned = 0;
  let stopped = 0;
  let starts = 0;
  for (let seed = 201; seed <= 240; seed++) {
    const h = history(seed, 0, { classes: true });
    unscanned += h.unscanned;
    stopped += h.stopped;
    starts += h.starts;
  }
  // The histories must really exercise stopping (and still start jobs), else this test proves nothing.
  assert.ok(stopped > 40 && unscanned > 500, `cycles stopped: ${stopped}, jobs not visited: ${unscanned}`);
  if (process.env.SHOW_SCAN) console.log({ stopped, unscanned, starts });
  assert.ok(starts > 100, `histories start jobs: ${starts}`);
});

test('stop scanning: a `reserved` failure made stale by a later start is checked again, not reused', () => {
  // Two B200 nodes; R holds node 1 for an hour. G (2 x 8) reserves both nodes for R's end, holding
  // node 2. A1 then fails as `reserved` (it fits without the reservation), A1b reuses that; the short job S may use
  // the reservation and takes node 2; A2, in A1's class, must now read "insufficient capacity",
  // which only a visit finds: the cycle may not stop on A1's stale failure.
  const fleet = makeFleet([{ site: 'a', gpuType: 'B200', count: 2, unitSize: 2 }]);
  const at = 1000 * MIN;
  const world = () => {
    const c = new ClusterModel(fleet);
    c.allocate('R', 'p3', { site: 'a', gpuType: 'B200', nodes: [{ node: fleet.nodes[0].id, gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
    return c;
  };
  const running = [
    {
      id: 'R',
      project: 'p3',
      org: 'o3',
      priority: 0,
      gpus: 8,
      startedAt: at - 10 * MIN,
      borrowed: false,
      preemptible: false,
      maxRuntimeSeconds: 70 * 60,
    },
  ];
  const queue = [
    job('G', { seq: 1, org: 'o1', project: 'p1', gpusPerNode: 8, nodes: 2, priority: 0 }),
    job('A1', { seq: 2, org: 'o2', project: 'p2', gpusPerNode: 4, priority: 0, maxRuntimeSeconds: 7200 }),
    job('A1b', { seq: 3, org: 'o2', project: 'p2', gpusPerNode: 4, priority: 0, maxRuntimeSeconds: 7200 }),
    job('S', { seq: 4, org: 'o3', project: 'p3', gpusPerNode: 8, priority: 0, maxRuntimeSeconds: 1800 }),
    job('A2', { seq: 5, org: 'o2', project: 'p2', gpusPerNode: 4, priority: 0, maxRuntimeSeconds: 7200 }),
  ];
  const { r, scratch } = bothOnce(world, queue, at, running);
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['S'],
  );
  assert.equal(scratch.pending.get('A1')?.code, 'reserved');
  assert.equal(scratch.pending.get('A1b')?.code, 'reserved');
  assert.equal(scratch.pending.get('A2')?.code, 'insufficient_capacity');
  for (const j of queue) assert.deepEqual(r.pending.get(j.id), scratch.pending.get(j.id), j.id);
  assert.deepEqual([...(r.explain ?? [])], [...(scratch.explain ?? [])]);
});

test('visiting classes: a class skipped on a failure is visited again once a reservation changes its backfill mask', () => {
  // Three B200 nodes: R1 holds node 1 (an hour left), R2 and R3 two GPUs each on nodes 2 and 3.
  // X1 (8 GPUs, 30 min) fails on capacity with 12 GPUs free, X1b reuses that and its class is skipped; S starts
  // (10 free); the gang G reserves nodes 1 and 2 for R1's end. X2, X1's class, ends before that
  // reservation: its backfill mask changes, so it must be visited (its reason quotes 10 free), not
  // given X1's skipped failure.
  const fleet = makeFleet([{ site: 'a', gpuType: 'B200', count: 3, unitSize: 3 }]);
  const at = 1000 * MIN;
  const [n1, n2, n3] = fleet.nodes.map((n) => n.id);
  const world = () => {
    const c = new ClusterModel(fleet);
    c.allocate('R1', 'p4', { site: 'a', gpuType: 'B200', nodes: [{ node: n1, gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
    c.allocate('R2', 'p4', { site: 'a', gpuType: 'B200', nodes: [{ node: n2, gpus: [0, 1] }] });
    c.allocate('R3', 'p4', { site: 'a', gpuType: 'B200', nodes: [{ node: n3, gpus: [0, 1] }] });
    return c;
  };
  const info = (id: string, gpus: number, startedAt: number, maxRuntimeSeconds: number) => ({
    id,
    project: 'p4',
    org: 'o4',
    priority: 0,
    gpus,
    startedAt,
    borrowed: false,
    preemptible: false,
    maxRuntimeSeconds,
  });
  const running = [info('R1', 8, at - 10 * MIN, 70 * 60), info('R2', 2, at - 10 * MIN, 60 * 60), info('R3', 2, at, 36_000)];
  const queue = [
    job('X1', { seq: 1, org: 'o2', project: 'p2', gpusPerNode: 8, priority: 0, maxRuntimeSeconds: 1800 }),
    job('X1b', { seq: 2, org: 'o2', project: 'p2', gpusPerNode: 8, priority: 0, maxRuntimeSeconds: 1800 }),
    job('S', { seq: 2.5, org: 'o3', project: 'p3', gpusPerNode: 2, priority: 0, maxRuntimeSeconds: 1800 }),
    job('G', { seq: 3, org: 'o1', project: 'p1', gpusPerNode: 8, nodes: 2, priority: 0 }),
    job('X2', { seq: 4, org: 'o2', project: 'p2', gpusPerNode: 8, priority: 0, maxRuntimeSeconds: 1800 }),
  ];
  const { r, scratch } = bothOnce(world, queue, at, running);
  assert.equal(r.ordering, 'classes');
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['S'],
  );
  assert.deepEqual(
    scratch.reservations?.map((x) => x.jobId),
    ['G'],
  );
  // The case only tests something if the two failures differ.
  assert.notDeepEqual(scratch.pending.get('X2'), scratch.pending.get('X1'));
  for (const j of queue) assert.deepEqual(r.pending.get(j.id), scratch.pending.get(j.id), j.id);
  assert.deepEqual([...(r.explain ?? [])], [...(scratch.explain ?? [])]);
});

test('queue maintenance: submit twice throws, update and remove report unknown ids', () => {
  const s = new IncrementalScheduler();
  s.submit(job('a'));
  assert.throws(() => s.submit(job('a')), /queued twice/);
  assert.equal(s.update(job('zz')), false);
  assert.equal(s.remove('zz'), false);
  s.submit(job('b'));
  s.submit(job('c'));
  assert.equal(s.remove('a'), true);
  assert.deepEqual(s.queue.map((j) => j.id).sort(), ['b', 'c']);
  assert.equal(s.has('a'), false);
  assert.equal(s.size, 2);
});
