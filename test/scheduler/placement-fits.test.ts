/**
 * placement.fits (placeJob's .ok without ranking, optionally counting some held GPUs as free) and
 * Backfill.fitsWithoutReservations (which counts the phantoms' GPUs instead of releasing them)
 * against their definitions, on random fleet states: fits must equal placeJob(...).ok, fits with
 * `extra` must equal releasing those allocations and placing, and fitsWithoutReservations must
 * equal releasing every held phantom and placing, after any sequence of holds, suspends, starts
 * and resumes (which is what its cache of held GPUs must follow).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GpuType } from '../../src/model/fleet.js';
import { mulberry32 } from '../../src/model/prng.js';
import {
  Backfill,
  ClusterModel,
  constraintsFor,
  type PlacementRequest,
  placeJob,
  type RunningJobInfo,
  type SchedJob,
} from '../../src/scheduler/index.js';
import { FreeOverlay, fits } from '../../src/scheduler/placement.js';
import { job, makeFleet } from './fixtures.js';

const NOW = 1_000_000_000;

/** A fleet with two sites, a uniform 8-GPU type in both, a 4-GPU type in one, units of 4 nodes. */
function fleet() {
  return makeFleet([
    { site: 'a', gpuType: 'B200', count: 12 },
    { site: 'b', gpuType: 'B200', count: 8 },
    { site: 'a', gpuType: 'RTX', count: 8, gpus: 4 },
  ]);
}

/** fill allocates random partial and whole nodes (ids r0, r1, ...) and sets a few nodes down or draining. */
function fill(cluster: ClusterModel, rand: () => number, running: RunningJobInfo[]): void {
  const nodes = cluster.fleet.nodes;
  for (const n of nodes) {
    const r = rand();
    if (r < 0.2) cluster.setNodeState(n.id, rand() < 0.5 ? 'down' : 'draining');
  }
  let k = 0;
  for (const n of nodes) {
    let free = n.gpus;
    let next = 0;
    while (free > 0 && rand() < 0.85) {
      const take = 1 + Math.floor(rand() * free);
      const id = `r${k++}`;
      const gpus = Array.from({ length: take }, (_, g) => next + g);
      cluster.allocate(id, 'p2', { site: n.site, gpuType: n.gpuType, nodes: [{ node: n.id, gpus }] });
      running.push({
        id,
        project: 'p2',
        org: 'o2',
        priority: 100,
        gpus: take,
        startedAt: NOW - 60_000,
        borrowed: false,
        preemptible: true,
        maxRuntimeSeconds: 60 * (5 + Math.floor(rand() * 120)),
      });
      next += take;
      free -= take;
    }
  }
}

/** request: a random shape, sometimes constrained to a site or to one scalable unit. */
function request(cluster: ClusterModel, rand: () => number): PlacementRequest {
  const gpuType: GpuType = rand() < 0.75 ? 'B200' : 'RTX';
  const max = gpuType === 'B200' ? 8 : 4;
  const gpusPerNode = 1 + Math.floor(rand() * max);
  const nodes = 1 + Math.floor(rand() * (rand() < 0.5 ? 2 : 8));
  const r = rand();
  const over: Partial<SchedJob> =
    r < 0.2 ? { requiredSites: [rand() < 0.5 ? 'a' : 'b'] } : r < 0.35 ? { requireSingleUnit: true } : {};
  const j = job('q', { gpuType, gpusPerNode, nodes, ...over });
  return { gpuType, gpusPerNode, nodes, constraints: constraintsFor(cluster, j) };
}

test('fits equals placeJob(...).ok, and fits with extra GPUs equals releasing them and placing', () => {
  let changed = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const rand = mulberry32(seed);
    const cluster = new ClusterModel(fleet());
    const running: RunningJobInfo[] = [];
    fill(cluster, rand, running);
    for (let t = 0; t < 40; t++) {
      // Sometimes hide a few nodes, as a spread member's attempt does (maskNodes).
      const hidden = rand() < 0.3 ? cluster.fleet.nodes.filter(() => rand() < 0.2).map((n) => n.index) : [];
      cluster.maskNodes(hidden);
      const req = request(cluster, rand);
      assert.equal(fits(cluster, req), placeJob(cluster, req).ok, `seed ${seed} try ${t}: ${JSON.stringify(req)}`);
      if (req.constraints?.singleUnit) {
        cluster.unmaskNodes(hidden);
        continue;
      }
      // Imagine a random subset of the running jobs released.
      const gone = running.filter(() => rand() < 0.3);
      const extra = new Map<number, number>();
      for (const r of gone) cluster.addWholeGpus(r.id, extra);
      const virtual = fits(cluster, req, extra);
      const plain = fits(cluster, req);
      const saved = gone.map((r) => ({ id: r.id, placement: cluster.allocationOf(r.id) }));
      for (const r of gone) cluster.release(r.id);
      const real = placeJob(cluster, req).ok;
      if (real !== plain) changed++;
      for (const s of saved) if (s.placement) cluster.allocate(s.id, 'p2', s.placement, 'o2');
      assert.equal(virtual, real, `seed ${seed} try ${t}: extra GPUs of ${gone.length} jobs, ${JSON.stringify(req)}`);
      cluster.unmaskNodes(hidden);
    }
    cluster.verifyIndexes();
  }
  // Meaningful only if the released GPUs change the answer often.
  assert.ok(changed > 100, `releasing changed the answer ${changed} times`);
});

test('FreeOverlay follows adds and removes exactly like fits with the same extra GPUs', () => {
  let changed = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const rand = mulberry32(500 + seed);
    const cluster = new ClusterModel(fleet());
    const running: RunningJobInfo[] = [];
    fill(cluster, rand, running);
    for (let t = 0; t < 10; t++) {
      const req = request(cluster, rand);
      if (req.constraints?.singleUnit) continue;
      const overlay = new FreeOverlay(cluster, req);
      const inSet: string[] = [];
      for (let step = 0; step < 30; step++) {
        if (inSet.length > 0 && rand() < 0.35) {
          const id = inSet.splice(Math.floor(rand() * inSet.length), 1)[0];
          overlay.remove(id);
        } else {
          const r = running[Math.floor(rand() * running.length)];
          if (!inSet.includes(r.id)) {
            inSet.push(r.id);
            overlay.add(r.id);
          }
        }
        const extra = new Map<number, number>();
        for (const id of inSet) cluster.addWholeGpus(id, extra);
        const want = fits(cluster, req, extra);
        assert.equal(overlay.fits(), want, `seed ${seed} try ${t} step ${step}`);
        if (want !== fits(cluster, req)) changed++;
      }
    }
  }
  assert.ok(changed > 50, `the imagined releases changed the answer ${changed} times`);
});

/** reference: release every phantom the cluster holds, place, hold them again exactly. */
function reference(cluster: ClusterModel, req: PlacementRequest): boolean {
  const phantoms = cluster
    .allocatedJobs()
    .filter((id) => id.startsWith('\u0000reservation:') || id.startsWith('\u0000window:'))
    .map((id) => ({ id, placement: cluster.allocationOf(id), project: cluster.projectOf(id) ?? '' }));
  for (const p of phantoms) cluster.release(p.id);
  const ok = placeJob(cluster, req).ok;
  for (const p of phantoms) if (p.placement) cluster.allocate(p.id, p.project, p.placement);
  return ok;
}

test('fitsWithoutReservations equals releasing every held phantom, through holds, suspends, starts and resumes', () => {
  let checked = 0;
  let differs = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const rand = mulberry32(1000 + seed);
    const cluster = new ClusterModel(fleet());
    const running: RunningJobInfo[] = [];
    fill(cluster, rand, running);
    const bf = new Backfill(cluster, { enabled: true, reservations: 4, gangsOnly: false }, running, NOW);
    bf.holdWindows([
      { id: 'w', org: 'o3', gpuType: 'B200', gpusPerNode: 8, nodes: 2, start: NOW + 3600_000, end: NOW + 7200_000 },
    ]);
    let n = 0;
    for (let step = 0; step < 30; step++) {
      const r = rand();
      if (r < 0.25) {
        // A blocked gang takes a reservation (a new phantom).
        const g = job(`g${n++}`, { gpuType: 'B200', gpusPerNode: 8, nodes: 1 + Math.floor(rand() * 3) });
        if (bf.wants(g)) bf.reserve(g, ['B200']);
      } else if (r < 0.6) {
        // A job that may use some reservations: suspend them, start it where it fits, resume.
        const s = job(`s${n++}`, {
          gpuType: rand() < 0.8 ? 'B200' : 'RTX',
          gpusPerNode: 1 + Math.floor(rand() * 4),
          maxRuntimeSeconds: 60 * (1 + Math.floor(rand() * 60)),
        });
        const mask = bf.mask(s);
        bf.suspend(mask);
        const out = placeJob(cluster, { gpuType: s.gpuType ?? 'B200', gpusPerNode: s.gpusPerNode, nodes: 1 });
        if (out.ok) {
          cluster.allocate(s.id, s.project, out.placement, s.org);
          bf.noteStart(s, out.placement);
        }
        bf.resume();
      }
      const req = request(cluster, rand);
      const got = bf.fitsWithoutReservations(req);
      const want = reference(cluster, req);
      assert.equal(got, want, `seed ${seed} step ${step}: ${JSON.stringify({ ...req, constraints: undefined })}`);
      checked++;
      if (want !== placeJob(cluster, req).ok) differs++;
    }
    bf.releaseAll();
    cluster.verifyIndexes();
  }
  // The check means something only if the phantoms change the answer in some of the cases.
  assert.ok(differs > 20, `phantoms changed the answer in ${differs} of ${checked} checks`);
});

/** HoldAlways: a cluster whose heldAsFree always says no, so Backfill.resume re-holds every phantom by name (the reference). */
class HoldAlways extends ClusterModel {
  override heldAsFree(): boolean {
    return false;
  }
}

test('resume putting a phantom back equals re-holding it, through holds, suspends, starts and releases', () => {
  let resumes = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const a = new ClusterModel(fleet());
    const b = new HoldAlways(fleet());
    const running: RunningJobInfo[] = [];
    fill(a, mulberry32(3000 + seed), running);
    fill(b, mulberry32(3000 + seed), []);
    const rand = mulberry32(4000 + seed);
    const config = { enabled: true, reservations: 4, gangsOnly: false };
    const bfa = new Backfill(a, config, running, NOW);
    const bfb = new Backfill(b, config, running, NOW);
    const win = {
      id: 'w',
      org: 'o3',
      gpuType: 'B200' as GpuType,
      gpusPerNode: 8,
      nodes: 2,
      start: NOW + 3600_000,
      end: NOW + 7200_000,
    };
    bfa.holdWindows([win]);
    bfb.holdWindows([win]);
    let n = 0;
    for (let step = 0; step < 30; step++) {
      const r = rand();
      if (r < 0.2) {
        const g = job(`g${n++}`, { gpuType: 'B200', gpusPerNode: 8, nodes: 1 + Math.floor(rand() * 3) });
        if (bfa.wants(g)) {
          bfa.reserve(g, ['B200']);
          bfb.reserve(g, ['B200']);
        }
      } else if (r < 0.3 && running.length > 0) {
        // Not something a cycle does (running jobs end between cycles), but resume must still be
        // exact when a reserved GPU comes free while its phantom is held: the re-hold then takes more.
        const gone = running[Math.floor(rand() * running.length)];
        if (a.hasAllocation(gone.id)) {
          a.release(gone.id);
          b.release(gone.id);
        }
      } else {
        const s = job(`s${n++}`, {
          gpuType: rand() < 0.8 ? 'B200' : 'RTX',
          gpusPerNode: 1 + Math.floor(rand() * 8),
          maxRuntimeSeconds: 60 * (1 + Math.floor(rand() * 60)),
        });
        const mask = bfa.mask(s);
        assert.equal(mask, bfb.mask(s));
        bfa.suspend(mask);
        bfb.suspend(mask);
        const req = { gpuType: s.gpuType ?? 'B200', gpusPerNode: Math.min(s.gpusPerNode, s.gpuType === 'RTX' ? 4 : 8), nodes: 1 };
        const out = placeJob(a, req);
        assert.deepEqual(out, placeJob(b, req), `seed ${seed} step ${step}: placement`);
        if (out.ok && rand() < 0.7) {
          a.allocate(s.id, s.project, out.placement, s.org);
          b.allocate(s.id, s.project, out.placement, s.org);
          bfa.noteStart(s, out.placement);
          bfb.noteStart(s, out.placement);
        }
        bfa.resume();
        bfb.resume();
        if (mask !== 0) resumes++;
      }
      // A restored phantom keeps its place in the allocation order, a re-held one goes last: the
      // same order of the other ids, the same phantoms (and the same order once they are released).
      const jobs = (c: ClusterModel) => c.allocatedJobs().filter((id) => !id.startsWith('\u0000'));
      const phantoms = (c: ClusterModel) =>
        c
          .allocatedJobs()
          .filter((id) => id.startsWith('\u0000'))
          .sort();
      assert.deepEqual(jobs(a), jobs(b), `seed ${seed} step ${step}: allocation order`);
      assert.deepEqual(phantoms(a), phantoms(b), `seed ${seed} step ${step}: phantoms`);
      for (const id of a.allocatedJobs())
        assert.deepEqual(a.allocationOf(id), b.allocationOf(id), `seed ${seed} step ${step}: ${id}`);
      for (const nd of a.fleet.nodes)
        assert.deepEqual(a.nodeView(nd.id), b.nodeView(nd.id), `seed ${seed} step ${step}: node ${nd.id}`);
      const req = request(a, rand);
      assert.equal(bfa.fitsWithoutReservations(req), bfb.fitsWithoutReservations(req), `seed ${seed} step ${step}: fits`);
    }
    // verifyIndexes splits its usage keys on NUL, with which the phantoms' project begins: checked after releaseAll.
    bfa.releaseAll();
    bfb.releaseAll();
    a.verifyIndexes();
    assert.deepEqual(a.allocatedJobs(), b.allocatedJobs(), `seed ${seed}: after releaseAll`);
  }
  assert.ok(resumes > 100, `${resumes} resumes`);
});

test('takeAway then putBack leaves the cluster as release then allocate does (indexes, order, views)', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const a = new ClusterModel(fleet());
    const b = new ClusterModel(fleet());
    const running: RunningJobInfo[] = [];
    fill(a, mulberry32(700 + seed), running);
    fill(b, mulberry32(700 + seed), []);
    const rand = mulberry32(900 + seed);
    const gone = running.filter(() => rand() < 0.4);
    const taken = gone.map((r) => a.takeAway(r.id));
    const saved = gone.map((r) => ({ id: r.id, v: b.allocationView(r.id) }));
    for (const r of gone) b.release(r.id);
    assert.deepEqual(a.allocatedJobs(), b.allocatedJobs(), `seed ${seed}: released`);
    for (const t of taken) if (t) a.putBack(t);
    for (const s of saved) if (s.v) b.allocate(s.id, s.v.project, s.v.placement, s.v.org, s.v.spread);
    a.verifyIndexes();
    assert.deepEqual(a.allocatedJobs(), b.allocatedJobs(), `seed ${seed}: allocation order`);
    for (const n of a.fleet.nodes) assert.deepEqual(a.nodeView(n.id), b.nodeView(n.id), `seed ${seed}: node ${n.id}`);
    for (const g of a.groupsOfType('B200'))
      for (let f = 0; f <= 8; f++) assert.equal(a.nodesWithFree(g.id, f), b.nodesWithFree(g.id, f));
  }
  // A GPU taken in between is refused, not silently double-booked.
  const c = new ClusterModel(fleet());
  const n = c.fleet.nodes[0];
  c.allocate('x', 'p1', { site: n.site, gpuType: n.gpuType, nodes: [{ node: n.id, gpus: [0] }] });
  const t = c.takeAway('x');
  c.allocate('y', 'p1', { site: n.site, gpuType: n.gpuType, nodes: [{ node: n.id, gpus: [0] }] });
  assert.ok(t);
  assert.throws(() => c.putBack(t), /was taken before it was put back/);
});
