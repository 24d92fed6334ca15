/**
 * Backfill's plan structures against their definitions: sortedEndings (parallel arrays, a keyed
 * numeric sort) lists the running jobs exactly as the old objects sorted by (end, id) did, on random
 * running sets with ties on end, evicting jobs, repeated ids, jobs without limits or allocations and
 * non-integer ends; ClusterModel.setAside / restore leave the cluster as takeAway / putBack do, but
 * for the allocation order, which they keep (takeAway / putBack move an id to the end).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GpuType } from '../../src/model/fleet.js';
import { mulberry32 } from '../../src/model/prng.js';
import { sortedEndings } from '../../src/scheduler/endings.js';
import { ClusterModel, placeJob, type RunningJobInfo } from '../../src/scheduler/index.js';
import { RunningViews } from '../../src/scheduler/running-views.js';
import { makeFleet } from './fixtures.js';

const NOW = 1_000_000_000;

function fleet() {
  return makeFleet([
    { site: 'a', gpuType: 'B200', count: 10 },
    { site: 'b', gpuType: 'B200', count: 6 },
    { site: 'a', gpuType: 'RTX', count: 6, gpus: 4 },
  ]);
}

/** fill: random allocations (ids shuffled so id order is not allocation order) and their running records. */
function fill(cluster: ClusterModel, rand: () => number, fractional: boolean, style = 0): RunningJobInfo[] {
  const running: RunningJobInfo[] = [];
  let k = 0;
  for (const n of cluster.fleet.nodes) {
    let next = 0;
    while (next < n.gpus && rand() < 0.85) {
      const take = 1 + Math.floor(rand() * (n.gpus - next));
      // Ids of several forms: one shared prefix (and ids prefixes of others), characters past one byte.
      const seq = k++;
      const id =
        style === 1
          ? `job-${seq}`
          : style === 2
            ? `${rand() < 0.3 ? '\u4e2d' : 'j'}${Math.floor(rand() * 30)}-${seq}`
            : `j${Math.floor(rand() * 1000)}-${seq}`;
      const spread = rand() < 0.2 ? 'svc' : undefined;
      const gpus = Array.from({ length: take }, (_, g) => next + g);
      cluster.allocate(id, `p${k % 3}`, { site: n.site, gpuType: n.gpuType, nodes: [{ node: n.id, gpus }] }, 'o1', spread);
      next += take;
      const r = rand();
      // Few distinct limits: many ties on end, broken by id.
      const limit =
        r < 0.1
          ? undefined
          : r < 0.13
            ? Number.POSITIVE_INFINITY
            : fractional && r < 0.3
              ? 0.0015 * (1 + Math.floor(rand() * 5))
              : 60 * Math.floor(rand() * 4);
      running.push({
        id,
        project: `p${k % 3}`,
        org: rand() < 0.5 ? 'o1' : 'o2',
        priority: 1,
        gpus: take,
        startedAt: NOW - 60_000 * Math.floor(rand() * 3),
        borrowed: false,
        preemptible: rand() < 0.5,
        evicting: rand() < 0.15,
        maxRuntimeSeconds: limit,
      });
    }
  }
  // Jobs without an allocation, and repeated ids (the last copy counts) with other limits.
  running.push({ ...running[0], id: 'ghost', maxRuntimeSeconds: 60 });
  for (let d = 0; d < 4; d++) {
    const r = running[Math.floor(rand() * running.length)];
    running.push({ ...r, maxRuntimeSeconds: rand() < 0.3 ? undefined : 60 * Math.floor(rand() * 4), evicting: false });
  }
  // Shuffle the running list.
  for (let i = running.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [running[i], running[j]] = [running[j], running[i]];
  }
  return running;
}

/** The definition: an object per job (by id, last copy), sorted by end then id. */
function reference(cluster: ClusterModel, running: readonly RunningJobInfo[], gpuType: GpuType, now: number) {
  const byId = new Map<string, number>();
  for (let i = 0; i < running.length; i++) byId.set(running[i].id, i);
  const out: { at: number; id: string; end: number }[] = [];
  for (const at of byId.values()) {
    const r = running[at];
    if (r.maxRuntimeSeconds === undefined && !r.evicting) continue;
    const held = cluster.allocationView(r.id);
    if (!held || held.placement.gpuType !== gpuType) continue;
    const end = r.evicting ? now : r.startedAt + (r.maxRuntimeSeconds ?? 0) * 1000;
    out.push({ at, id: r.id, end: Math.max(now, end) });
  }
  return out.sort((a, b) => a.end - b.end || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

test('sortedEndings lists running jobs as the objects sorted by (end, id) did', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rand = mulberry32(seed);
    const cluster = new ClusterModel(fleet());
    const running = fill(cluster, rand, seed % 3 === 0, seed % 4);
    // A fractional now takes the comparator path, as non-integer ends do.
    const now = seed % 5 === 0 ? NOW + 0.5 : NOW;
    for (const gpuType of ['B200', 'RTX'] as GpuType[]) {
      const got = sortedEndings(running, new RunningViews(cluster, running), gpuType, now, cluster.fleet.nodes.length);
      const want = reference(cluster, running, gpuType, now);
      assert.deepEqual(
        [...got.ref],
        want.map((e) => e.at),
        `seed ${seed} ${gpuType}: order`,
      );
      assert.deepEqual(
        [...got.end],
        want.map((e) => e.end),
        `seed ${seed} ${gpuType}: ends`,
      );
    }
  }
});

test('setAside then restore leaves the cluster as takeAway then putBack does, allocation order kept', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const a = new ClusterModel(fleet());
    const b = new ClusterModel(fleet());
    const running = fill(a, mulberry32(400 + seed), false);
    fill(b, mulberry32(400 + seed), false);
    const order = a.allocatedJobs();
    const rand = mulberry32(500 + seed);
    const gone = running.filter(() => rand() < 0.5).map((r) => r.id);
    const asideA = gone.map((id) => a.setAside(id));
    const takenB = gone.map((id) => b.takeAway(id));
    // A repeated id is set aside once, as takeAway takes it once.
    assert.deepEqual(
      asideA.map((t) => t !== undefined),
      takenB.map((t) => t !== undefined),
      `seed ${seed}: set aside`,
    );
    for (const gpuType of ['B200', 'RTX'] as GpuType[]) {
      for (const nodes of [1, 2, 4]) {
        const req = { gpuType, gpusPerNode: gpuType === 'B200' ? 8 : 4, nodes };
        assert.deepEqual(placeJob(a, req), placeJob(b, req), `seed ${seed}: plan while set aside`);
      }
      assert.equal(a.freeGpus({ gpuType }), b.freeGpus({ gpuType }));
      for (const p of ['p0', 'p1', 'p2']) assert.equal(a.usage(p, gpuType), b.usage(p, gpuType));
      assert.deepEqual(a.projectUsage(gpuType), b.projectUsage(gpuType), `seed ${seed}: usage order while set aside`);
    }
    assert.deepEqual(a.spreadNodes('o1', 'svc'), b.spreadNodes('o1', 'svc'), `seed ${seed}: spread while set aside`);
    for (const t of asideA) if (t) a.restore(t);
    for (const t of takenB) if (t) b.putBack(t);
    a.verifyIndexes();
    assert.deepEqual(a.allocatedJobs(), order, `seed ${seed}: allocation order kept`);
    assert.deepEqual([...a.allocatedJobs()].sort(), [...b.allocatedJobs()].sort());
    for (const id of a.allocatedJobs()) assert.deepEqual(a.allocationView(id), b.allocationView(id), `${id}`);
    for (const n of a.fleet.nodes) assert.deepEqual(a.nodeView(n.id), b.nodeView(n.id), `seed ${seed}: node ${n.id}`);
    for (const gpuType of ['B200', 'RTX'] as GpuType[]) {
      assert.deepEqual(a.projectUsage(gpuType), b.projectUsage(gpuType), `seed ${seed}: usage order`);
      for (const g of a.groupsOfType(gpuType))
        for (let f = 0; f <= 8; f++) assert.equal(a.nodesWithFree(g.id, f), b.nodesWithFree(g.id, f));
    }
    assert.deepEqual(a.spreadNodes('o1', 'svc'), b.spreadNodes('o1', 'svc'));
  }
  // A GPU taken in between is refused, not silently double-booked.
  const c = new ClusterModel(fleet());
  const n = c.fleet.nodes[0];
  c.allocate('x', 'p1', { site: n.site, gpuType: n.gpuType, nodes: [{ node: n.id, gpus: [0] }] });
  const t = c.setAside('x');
  assert.ok(t);
  assert.equal(c.setAside('x'), undefined, 'set aside once');
  c.allocate('y', 'p1', { site: n.site, gpuType: n.gpuType, nodes: [{ node: n.id, gpus: [0] }] });
  assert.throws(() => c.restore(t), /was taken before it was restored/);
});
