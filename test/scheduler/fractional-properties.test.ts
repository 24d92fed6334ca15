/**
 * Property tests (fast-check) for fractional GPUs: random queues of time-sliced shares, MIG
 * instances and whole-GPU jobs of three organisations, with ends and node state changes between
 * cycles. Checked from the placements alone (not the model's own counters): no GPU over 1000
 * milli, never two organisations on one GPU, a GPU shared or whole but never both, MIG instances
 * within the layout's slices and instance counts, and quotas in GPU-equivalents never exceeded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { NodeState } from '../../src/model/fleet.js';
import type { Placement } from '../../src/model/job.js';
import { ClusterModel, type RunningJobInfo, type SchedJob, type SchedShare, scheduleCycle } from '../../src/scheduler/index.js';
import { quotas } from './fixtures.js';
import { B200_MIG, shareFleet } from './fractional-fixtures.js';

const ORGS = ['o1', 'o2', 'o3'] as const;
const PROFILES = B200_MIG.profiles.map((p) => p.name);
const QUOTA = 3; // GPU-equivalents per project: small enough to bind

const shareArb: fc.Arbitrary<SchedShare | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: 1, max: 999 }).map((milli) => ({ milli })),
  fc.constantFrom(...PROFILES).map((migProfile) => ({ migProfile })),
);

const jobArb = fc.record({
  org: fc.constantFrom(...ORGS),
  share: shareArb,
  gpus: fc.integer({ min: 1, max: 2 }),
  priority: fc.constantFrom(0, 100, 500),
});

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('cycle' as const), jobs: fc.array(jobArb, { maxLength: 10 }) }),
  fc.record({ kind: fc.constant('end' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('state' as const), pick: fc.nat(), state: fc.constantFrom<NodeState>('up', 'draining', 'down') }),
);

interface Held {
  org: string;
  project: string;
  placement: Placement;
  info: RunningJobInfo;
}

function checkInvariants(held: ReadonlyMap<string, Held>): void {
  const perGpu = new Map<
    string,
    {
      orgs: Set<string>;
      milli: number;
      whole: number;
      shares: number;
      compute: number;
      memory: number;
      byProfile: Map<string, number>;
    }
  >();
  const usage = new Map<string, number>();
  for (const h of held.values()) {
    for (const a of h.placement.nodes) {
      for (const g of a.gpus) {
        const key = `${a.node}/${g}`;
        let e = perGpu.get(key);
        if (!e) {
          e = { orgs: new Set(), milli: 0, whole: 0, shares: 0, compute: 0, memory: 0, byProfile: new Map() };
          perGpu.set(key, e);
        }
        if (a.milli === undefined) {
          e.whole++;
          continue;
        }
        e.orgs.add(h.org);
        e.shares++;
        e.milli += a.milli;
        if (a.migProfile) {
          const p = B200_MIG.profiles.find((x) => x.name === a.migProfile);
          assert.ok(p, `known profile ${a.migProfile}`);
          e.compute += p.computeSlices;
          e.memory += p.memorySlices;
          e.byProfile.set(p.name, (e.byProfile.get(p.name) ?? 0) + 1);
        }
      }
      const eq = a.milli === undefined ? a.gpus.length : a.milli / 1000;
      usage.set(h.project, (usage.get(h.project) ?? 0) + eq);
    }
  }
  for (const [key, e] of perGpu) {
    assert.ok(e.whole <= 1, `${key} held whole twice`);
    assert.ok(e.whole === 0 || e.shares === 0, `${key} is both whole and shared`);
    assert.ok(e.orgs.size <= 1, `${key} shared by ${[...e.orgs].join(', ')}`);
    assert.ok(e.milli <= 1000, `${key} holds ${e.milli} milli`);
    assert.ok(e.compute <= B200_MIG.computeSlices && e.memory <= B200_MIG.memorySlices, `${key} MIG slices over the layout`);
    for (const [name, n] of e.byProfile) {
      const max = B200_MIG.profiles.find((p) => p.name === name)?.maxInstances ?? 0;
      assert.ok(n <= max, `${key} holds ${n} ${name}`);
    }
  }
  for (const [project, n] of usage) assert.ok(n <= QUOTA + 1e-9, `${project} holds ${n} GPU-equivalents over its quota`);
}

test('fractions and MIG: never over 1000 milli, never two orgs on a GPU, MIG within the layout, quotas in GPU-equivalents', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.array(opArb, { minLength: 1, maxLength: 25 }), (nodes, ops) => {
      const fleet = shareFleet({ nodes, gpus: 4 });
      const cluster = new ClusterModel(fleet);
      const q = quotas(Object.fromEntries(ORGS.map((o) => [`${o}-p`, { B200: QUOTA }])));
      const held = new Map<string, Held>();
      const queued = new Map<string, SchedJob>();
      let seq = 0;
      for (const op of ops) {
        if (op.kind === 'cycle') {
          for (const j of op.jobs) {
            seq++;
            const id = `j${seq}`;
            queued.set(id, {
              id,
              seq,
              org: j.org,
              project: `${j.org}-p`,
              gpuType: 'B200',
              gpusPerNode: j.share ? 1 : j.gpus,
              nodes: 1,
              priority: j.priority,
              submittedAt: 0,
              maxRuntimeSeconds: 3600,
              ...(j.share ? { share: j.share } : {}),
            });
          }
          // Preemption and backfill release and re-allocate running shares while they plan: the
          // cluster must come back exactly, organisation and all (checked below).
          const r = scheduleCycle(cluster, {
            queue: [...queued.values()],
            quotas: q,
            now: seq * 1000,
            running: [...held.values()].map((h) => h.info),
            preemption: { enabled: true, minRuntimeSeconds: 0 },
            backfill: { enabled: true, gangsOnly: false },
          });
          for (const p of r.preemptions ?? []) {
            // Victims stop at once and go back to the queue (the lifecycle's requeue).
            cluster.release(p.victimId);
            held.delete(p.victimId);
          }
          for (const s of r.starts) {
            const j = queued.get(s.jobId);
            assert.ok(j);
            queued.delete(s.jobId);
            held.set(s.jobId, {
              org: j.org,
              project: j.project,
              placement: s.placement,
              info: {
                id: j.id,
                project: j.project,
                org: j.org,
                priority: j.priority,
                gpus: 1,
                startedAt: seq * 1000,
                borrowed: s.borrowed === true,
                preemptible: true,
                maxRuntimeSeconds: 3600,
              },
            });
            if (j.share) assert.equal(s.placement.nodes[0].migProfile, j.share.migProfile);
          }
          assert.equal(r.pending.size, queued.size);
        } else if (op.kind === 'end') {
          const ids = [...held.keys()];
          if (ids.length === 0) continue;
          const id = ids[op.pick % ids.length];
          cluster.release(id);
          held.delete(id);
        } else {
          const node = fleet.nodes[op.pick % fleet.nodes.length];
          cluster.setNodeState(node.id, op.state);
        }
        checkInvariants(held);
        cluster.verifyIndexes();
      }
    }),
    { numRuns: 150 },
  );
});
