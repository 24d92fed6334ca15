/**
 * Spread across nodes (service replicas, SchedJob.spread): members of one group avoid nodes that
 * hold a running or just-placed member; `required` waits with reason `spread`, `preferred` shares a
 * node when no other fits. Unit tests, then a property test over random fleets, queues and deltas:
 * no two members of a `required` group on one node, ever; a `preferred` member shares a node only
 * when no other node fits it; decisions are deterministic and the indexes stay exact. Fractional
 * replicas (a GPU share) follow the same rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { NodeState } from '../../src/model/fleet.js';
import { ClusterModel, placeJob, type SchedJob, type SchedSpread, scheduleCycle } from '../../src/scheduler/index.js';
import { scheduleCycleWith } from '../../src/scheduler/schedule-cycle.js';
import { BIG_QUOTA, job, makeFleet, type PoolDef, quotas } from './fixtures.js';
import { shareFleet } from './fractional-fixtures.js';

const required: SchedSpread = { group: 'service:svc_x', mode: 'required', name: 'svc_x' };
const preferred: SchedSpread = { group: 'service:svc_x', mode: 'preferred', name: 'svc_x' };

const nodesOf = (c: ClusterModel, ids: string[]) => ids.map((id) => c.allocationOf(id)?.nodes[0]?.node);

test('replicas of one service land on distinct nodes within one cycle (best fit would pack them)', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4 }]));
  const queue = ['r1', 'r2', 'r3'].map((id) => job(id, { spread: preferred }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.equal(r.starts.length, 3);
  const nodes = nodesOf(c, ['r1', 'r2', 'r3']);
  assert.equal(new Set(nodes).size, 3, `distinct nodes: ${nodes.join(', ')}`);
  // Without spread the same jobs share one node (best fit).
  const plain = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4 }]));
  scheduleCycle(plain, { queue: ['q1', 'q2', 'q3'].map((id) => job(id)), quotas: BIG_QUOTA, now: 0 });
  assert.equal(new Set(nodesOf(plain, ['q1', 'q2', 'q3'])).size, 1);
});

test('required: a replica waits with reason spread when every node with room already runs one', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 2 }]));
  const queue = ['r1', 'r2', 'r3'].map((id) => job(id, { spread: required }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['r1', 'r2'],
  );
  assert.equal(new Set(nodesOf(c, ['r1', 'r2'])).size, 2);
  const why = r.pending.get('r3');
  assert.equal(why?.code, 'spread');
  assert.equal(
    why?.message,
    'waiting: every B200 node with a free GPU already runs a replica of svc_x (spread: required; 2 nodes hold one)',
  );
  assert.equal(why?.details?.spreadGroup, 'service:svc_x');
  // A later cycle still refuses it (the running replicas count), until a third node is free of them.
  const again = scheduleCycle(c, { queue: [queue[2]], quotas: BIG_QUOTA, now: 1 });
  assert.equal(again.pending.get('r3')?.code, 'spread');
  c.release('r1');
  const after = scheduleCycle(c, { queue: [queue[2]], quotas: BIG_QUOTA, now: 2 });
  assert.equal(after.starts.length, 1);
});

test('preferred: a replica shares a node when no other node fits', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 2 }]));
  const queue = ['r1', 'r2', 'r3'].map((id) => job(id, { spread: preferred }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.equal(r.starts.length, 3);
  assert.equal(new Set(nodesOf(c, ['r1', 'r2', 'r3'])).size, 2);
});

test('required: with no room on any node the reason is the ordinary capacity reason', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 2, gpus: 2 }]));
  const queue = ['r1', 'r2', 'r3'].map((id) => job(id, { spread: required, gpusPerNode: 2 }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.equal(r.starts.length, 2);
  assert.equal(r.pending.get('r3')?.code, 'insufficient_capacity');
  assert.match(r.pending.get('r3')?.message ?? '', /0 B200 free fleet-wide/);
});

test('groups are per organisation and per group; jobs without spread are not affected', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 1 }]));
  const queue = [
    job('a1', { spread: required }),
    job('b1', { spread: required, org: 'org2', project: 'p2' }),
    job('c1', { spread: { group: 'service:other', mode: 'required' } }),
    job('plain'),
    job('a2', { spread: required }),
  ];
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.deepEqual(r.starts.map((s) => s.jobId).sort(), ['a1', 'b1', 'c1', 'plain']);
  assert.equal(r.pending.get('a2')?.code, 'spread');
  assert.deepEqual(c.spreadNodes('org1', 'service:svc_x'), [0]);
  assert.deepEqual(c.spreadNodes('org2', 'service:svc_x'), [0]);
});

test('residency applies to every replica: spread never moves one to a site it may not use', () => {
  const c = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 2 },
      { site: 'b', gpuType: 'B200', count: 4 },
    ]),
  );
  const residency = { allowedSites: ['a'], reason: 'waiting: residency allows site a only', rule: 'eu-only' };
  for (const mode of ['required', 'preferred'] as const) {
    const queue = ['r1', 'r2', 'r3'].map((id) => job(`${mode}-${id}`, { spread: { group: mode, mode }, residency }));
    const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
    for (const s of r.starts) assert.equal(s.placement.site, 'a');
    if (mode === 'required') {
      assert.equal(r.starts.length, 2);
      assert.equal(r.pending.get('required-r3')?.code, 'spread');
    } else assert.equal(r.starts.length, 3);
  }
});

test('a spread failure never poisons the equivalence class of the same shape', () => {
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 1 }]));
  c.allocate('running', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: c.nodeAt(0).id, gpus: [0] }] }, 'org1', 'g');
  const queue = [job('r', { spread: { group: 'g', mode: 'required' } }), job('plain1'), job('plain2')];
  for (const equivalence of [true, false]) {
    const cc = new ClusterModel(c.fleet);
    cc.allocate('running', 'p1', { site: 'a', gpuType: 'B200', nodes: [{ node: c.nodeAt(0).id, gpus: [0] }] }, 'org1', 'g');
    const r = scheduleCycleWith(cc, { queue, quotas: BIG_QUOTA, now: 0 }, { equivalence });
    assert.equal(r.pending.get('r')?.code, 'spread');
    assert.deepEqual(r.starts.map((s) => s.jobId).sort(), ['plain1', 'plain2']);
  }
});

test('preemption and backfill planning give released replicas their group back', () => {
  const fleet = makeFleet([{ site: 'a', gpuType: 'B200', count: 2 }]);
  const c = new ClusterModel(fleet);
  const on = (i: number, gpus: number[]) => ({ site: 'a', gpuType: 'B200', nodes: [{ node: fleet.nodes[i].id, gpus }] });
  c.allocate('rep', 'p1', on(0, [0, 1, 2, 3, 4, 5, 6, 7]), 'org1', 'g');
  c.allocate('low', 'p2', on(1, [0, 1, 2, 3, 4, 5, 6, 7]), 'org1');
  const r = scheduleCycle(c, {
    queue: [job('big', { project: 'p3', gpusPerNode: 8, nodes: 2, priority: 900 })],
    quotas: quotas({ p3: { B200: 100 } }),
    now: 3_600_000,
    running: [
      {
        id: 'rep',
        project: 'p1',
        org: 'org1',
        priority: 0,
        gpus: 8,
        startedAt: 0,
        borrowed: false,
        preemptible: true,
        maxRuntimeSeconds: 60,
      },
      {
        id: 'low',
        project: 'p2',
        org: 'org1',
        priority: 0,
        gpus: 8,
        startedAt: 0,
        borrowed: false,
        preemptible: true,
        maxRuntimeSeconds: 90,
      },
    ],
    preemption: { enabled: true, minRuntimeSeconds: 0 },
    backfill: { enabled: true },
  });
  assert.equal(r.pending.get('big')?.code, 'preempting');
  assert.equal(c.spreadOf('rep'), 'g');
  assert.deepEqual(c.spreadNodes('org1', 'g'), [0]);
  c.verifyIndexes();
  // Backfill alone: the reservation is planned by releasing both running jobs, then restoring them.
  const b = scheduleCycle(c, {
    queue: [job('big', { project: 'p3', gpusPerNode: 8, nodes: 2, priority: 900 })],
    quotas: quotas({ p3: { B200: 100 } }),
    now: 0,
    running: [
      {
        id: 'rep',
        project: 'p1',
        org: 'org1',
        priority: 0,
        gpus: 8,
        startedAt: 0,
        borrowed: false,
        preemptible: false,
        maxRuntimeSeconds: 60,
      },
      {
        id: 'low',
        project: 'p2',
        org: 'org1',
        priority: 0,
        gpus: 8,
        startedAt: 0,
        borrowed: false,
        preemptible: false,
        maxRuntimeSeconds: 90,
      },
    ],
    backfill: { enabled: true },
  });
  assert.equal(b.reservations?.length, 1);
  assert.equal(c.spreadOf('rep'), 'g');
  assert.deepEqual(c.spreadNodes('org1', 'g'), [0]);
  c.verifyIndexes();
});

// ---------------------------------------------------------------- property

const TYPES = ['B200', 'RTX'] as const;

const poolArb = fc.record({
  site: fc.constantFrom('a', 'b'),
  gpuType: fc.constantFrom(...TYPES),
  count: fc.integer({ min: 1, max: 4 }),
  gpus: fc.constantFrom(2, 4, 8),
  unitSize: fc.integer({ min: 1, max: 3 }),
  // A power domain per pool, or none (a node without the label is a domain of its own).
  power: fc.constantFrom<string | undefined>('p1', 'p2', undefined),
});

const spreadArb = fc.option(
  fc.constantFrom<SchedSpread>(
    { group: 's1', mode: 'required' },
    { group: 's1', mode: 'required' },
    { group: 's2', mode: 'preferred' },
    { group: 's3', mode: 'required' },
    { group: 's4', mode: 'required', over: 'unit' },
    { group: 's5', mode: 'required', over: 'site' },
    { group: 's6', mode: 'preferred', over: 'unit' },
    { group: 's7', mode: 'required', over: 'label:power' },
    { group: 's8', mode: 'preferred', over: 'label:power' },
  ),
  { nil: undefined, freq: 3 },
);

const jobArb = fc.record({
  org: fc.constantFrom('o1', 'o1', 'o2'),
  gpuType: fc.constantFrom<(string | null)[]>('B200', 'B200', 'RTX', null),
  gpusPerNode: fc.constantFrom(1, 1, 2, 4),
  nodes: fc.constantFrom(1, 1, 1, 2),
  priority: fc.constantFrom(0, 100),
  spread: spreadArb,
});

const opArb = fc.oneof(
  fc.record({
    kind: fc.constant('cycle' as const),
    jobs: fc.array(fc.tuple(jobArb, fc.integer({ min: 1, max: 4 })), { maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('state' as const), pick: fc.nat(), state: fc.constantFrom<NodeState>('up', 'draining', 'up') }),
);

test('property: no two members of a required group in one node, unit or site (as it asks); preferred shares only when it must', () => {
  let spreadWaits = 0;
  let shared = 0;
  fc.assert(
    fc.property(fc.array(poolArb, { minLength: 1, maxLength: 3 }), fc.array(opArb, { maxLength: 20 }), (pools, ops) => {
      const fleet = makeFleet(
        pools.map(({ power, ...p }, i): PoolDef => ({ ...p, prefix: `x${i}`, ...(power ? { labels: { power } } : {}) })),
      );
      // The domain a group keeps apart: the node, its scalable unit, its site or its power label (else the node).
      const domainOf = (j: SchedJob, node: string): string => {
        const n = fleet.nodes[fleet.nodeIndex.get(node)!]!;
        const over = j.spread?.over;
        if (over === 'unit') return n.unit;
        if (over === 'site') return n.site;
        if (over === 'label:power') return n.labels.power ?? `node ${n.id}`;
        return n.id;
      };
      const c1 = new ClusterModel(fleet);
      const c2 = new ClusterModel(fleet);
      const jobs = new Map<string, SchedJob>();
      const running = new Set<string>();
      let queue: SchedJob[] = [];
      let seq = 0;
      for (const op of ops) {
        if (op.kind === 'release') {
          const ids = [...running];
          if (ids.length === 0) continue;
          const id = ids[op.pick % ids.length];
          c1.release(id);
          c2.release(id);
          running.delete(id);
          continue;
        }
        if (op.kind === 'state') {
          const node = fleet.nodes[op.pick % fleet.nodes.length].id;
          c1.setNodeState(node, op.state);
          c2.setNodeState(node, op.state);
          continue;
        }
        for (const [j, copies] of op.jobs) {
          for (let k = 0; k < copies; k++) {
            seq++;
            const sj: SchedJob = { ...j, id: `j${seq}`, seq, project: j.org, submittedAt: 0, maxRuntimeSeconds: 60 };
            if (sj.spread === undefined) delete sj.spread;
            jobs.set(sj.id, sj);
            queue.push(sj);
          }
        }
        const q = quotas({ o1: { B200: 1000, RTX: 1000 }, o2: { B200: 1000, RTX: 1000 } });
        const r1 = scheduleCycle(c1, { queue, quotas: q, now: seq });
        const r2 = scheduleCycleWith(c2, { queue: [...queue].reverse(), quotas: q, now: seq }, { equivalence: false });
        assert.deepEqual(r1.starts, r2.starts, 'deterministic, and classes change nothing');
        for (const j of queue) assert.equal(r1.pending.get(j.id)?.code, r2.pending.get(j.id)?.code);
        c1.verifyIndexes();
        for (const s of r1.starts) running.add(s.jobId);
        // Invariant 1: a required group never has two members on one node (running ones included).
        const seen = new Map<string, string>();
        for (const id of running) {
          const j = jobs.get(id);
          if (!j?.spread) continue;
          assert.equal(c1.spreadOf(id), j.spread.group);
          for (const a of c1.allocationOf(id)?.nodes ?? []) {
            const domain = domainOf(j, a.node);
            const key: string = `${j.org}|${j.spread.group}|${domain}`;
            // (A multi-node member's own nodes may share a unit or a site: the rule is between members.)
            if (j.spread.mode === 'required' && seen.get(key) !== id) {
              assert.equal(seen.has(key), false, `${id} shares ${a.node} with ${seen.get(key)} (required)`);
            }
            seen.set(key, id);
          }
        }
        // spreadNodes equals a recomputation from the allocations.
        for (const org of ['o1', 'o2']) {
          for (const g of ['s1', 's2', 's3', 's4', 's5', 's6']) {
            const expect = new Set<number>();
            for (const id of running) {
              const j = jobs.get(id);
              if (j?.org !== org || j.spread?.group !== g) continue;
              for (const a of c1.allocationOf(id)?.nodes ?? []) expect.add(fleet.nodeIndex.get(a.node) ?? -1);
            }
            assert.deepEqual(
              c1.spreadNodes(org, g),
              [...expect].sort((a, b) => a - b),
            );
          }
        }
        // Invariant 2: a preferred member that joined a node of its group, and every `spread` wait, had
        // no other node: with all its group's nodes masked it does not fit even at the end of the cycle
        // (the mask only grows and capacity only shrinks during a cycle, so it did not fit then either).
        const fitsElsewhere = (j: SchedJob) => {
          const spread = j.spread;
          if (!spread || j.gpuType === null) return false;
          const mask = c1.domainNodes(c1.spreadNodes(j.org, spread.group), spread.over ?? 'node');
          c1.maskNodes(mask);
          const ok = placeJob(c1, { gpuType: j.gpuType, gpusPerNode: j.gpusPerNode, nodes: j.nodes }).ok;
          c1.unmaskNodes(mask);
          return ok;
        };
        for (const j of queue) {
          if (r1.pending.get(j.id)?.code !== 'spread') continue;
          spreadWaits++;
          assert.equal(j.spread?.mode, 'required');
          assert.equal(fitsElsewhere(j), false, `${j.id} waits for spread but fits elsewhere`);
        }
        const before = new Set([...running].filter((id) => !r1.starts.some((s) => s.jobId === id)));
        for (const s of r1.starts) {
          const j = jobs.get(s.jobId);
          if (j?.spread?.mode !== 'preferred') continue;
          const mine = new Set(s.placement.nodes.map((a) => domainOf(j, a.node)));
          const joined = [...before].some((id) => {
            const o = jobs.get(id);
            if (o?.org !== j.org || o.spread?.group !== j.spread?.group) return false;
            return (c1.allocationOf(id)?.nodes ?? []).some((a) => mine.has(domainOf(j, a.node)));
          });
          if (joined) {
            shared++;
            assert.equal(fitsElsewhere(j), false, `${j.id} shares a node but fits elsewhere`);
          }
          before.add(s.jobId);
        }
        c1.verifyIndexes();
        queue = queue.filter((j) => !running.has(j.id));
      }
    }),
    { numRuns: 250, seed: 20261205 },
  );
  assert.ok(spreadWaits > 20, `spread waits exercised: ${spreadWaits}`);
  assert.ok(shared > 5, `preferred sharing exercised: ${shared}`);
});

test('over scalable units: required replicas take one unit each, then wait with the units named', () => {
  // Two units of two nodes: best fit and node-level spread would both put the second replica beside the first.
  const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4, unitSize: 2 }]));
  const over: SchedSpread = { ...required, over: 'unit' };
  const queue = ['r1', 'r2', 'r3'].map((id) => job(id, { spread: over }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['r1', 'r2'],
  );
  const units = ['r1', 'r2'].map((id) => c.fleet.nodes[c.fleet.nodeIndex.get(c.allocationOf(id)!.nodes[0]!.node)!]!.unit);
  assert.equal(new Set(units).size, 2, `distinct units: ${units.join(', ')}`);
  const why = r.pending.get('r3');
  assert.equal(why?.code, 'spread');
  assert.equal(
    why?.message,
    'waiting: every B200 node with a free GPU is in a scalable unit that already runs a replica of svc_x (spread: required over scalable units; 2 scalable units hold one)',
  );
  assert.equal(why?.details?.spreadOver, 'unit');
  // Node-level spread places the same third replica (a node free of replicas is left in each unit).
  const byNode = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4, unitSize: 2 }]));
  const plain = scheduleCycle(byNode, {
    queue: ['r1', 'r2', 'r3'].map((id) => job(id, { spread: required })),
    quotas: BIG_QUOTA,
    now: 0,
  });
  assert.equal(plain.starts.length, 3);
});

test('over sites: preferred replicas go to distinct sites first, then share one when no other site fits', () => {
  const c = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 2 },
      { site: 'b', gpuType: 'B200', count: 2 },
    ]),
  );
  const over: SchedSpread = { ...preferred, over: 'site' };
  const queue = ['r1', 'r2', 'r3'].map((id) => job(id, { spread: over }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.equal(r.starts.length, 3);
  const sites = ['r1', 'r2'].map((id) => c.allocationOf(id)!.site);
  assert.deepEqual([...sites].sort(), ['a', 'b']);
  // With required, the third waits: both sites hold one.
  const strict = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 2 },
      { site: 'b', gpuType: 'B200', count: 2 },
    ]),
  );
  const s = scheduleCycle(strict, {
    queue: ['q1', 'q2', 'q3'].map((id) => job(id, { spread: { ...required, over: 'site' } })),
    quotas: BIG_QUOTA,
    now: 0,
  });
  assert.equal(s.starts.length, 2);
  assert.equal(s.pending.get('q3')?.details?.domainsWithReplica, 2);
});

test('domainNodes: a node, its unit or its site — ascending, each once', () => {
  const c = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 4, unitSize: 2 },
      { site: 'b', gpuType: 'B200', count: 2, unitSize: 2 },
    ]),
  );
  assert.deepEqual(c.domainNodes([1], 'node'), [1]);
  assert.deepEqual(c.domainNodes([1, 0], 'unit'), [0, 1]);
  assert.deepEqual(c.domainNodes([2, 5], 'unit'), [2, 3, 4, 5]);
  assert.deepEqual(c.domainNodes([3], 'site'), [0, 1, 2, 3]);
  assert.deepEqual(c.domainNodes([], 'site'), []);
});

test('over a node label: required replicas take one power domain each; unlabelled nodes are domains of their own', () => {
  // Power domains cut across the scalable units: pool x has p1 and p2 nodes in one unit each.
  const fleet = makeFleet([
    { site: 'a', gpuType: 'B200', count: 2, unitSize: 4, prefix: 'x', labels: { power: 'p1' } },
    { site: 'a', gpuType: 'B200', count: 2, unitSize: 4, prefix: 'y', labels: { power: 'p2' } },
    { site: 'a', gpuType: 'B200', count: 1, unitSize: 4, prefix: 'z' },
  ]);
  const c = new ClusterModel(fleet);
  const over: SchedSpread = { ...required, over: 'label:power' };
  const queue = ['r1', 'r2', 'r3', 'r4'].map((id) => job(id, { spread: over }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['r1', 'r2', 'r3'],
  );
  const domains = ['r1', 'r2', 'r3'].map((id) => {
    const n = fleet.nodes[fleet.nodeIndex.get(c.allocationOf(id)!.nodes[0]!.node)!]!;
    return n.labels.power ?? n.id;
  });
  assert.deepEqual([...domains].sort(), ['p1', 'p2', 'z-0001'].sort(), 'one per power domain and the unlabelled node');
  const why = r.pending.get('r4');
  assert.equal(why?.code, 'spread');
  assert.equal(
    why?.message,
    'waiting: every B200 node with a free GPU has a power that already runs a replica of svc_x (spread: required over label power; 3 values hold one)',
  );
  assert.equal(why?.details?.spreadOver, 'label:power');
  // Node-level spread would have started all four (four nodes free of replicas).
  const byNode = scheduleCycle(new ClusterModel(fleet), {
    queue: ['q1', 'q2', 'q3', 'q4'].map((id) => job(id, { spread: required })),
    quotas: BIG_QUOTA,
    now: 0,
  });
  assert.equal(byNode.starts.length, 4);
});

test('domainNodes over a label: every node with the value, an unlabelled node alone', () => {
  const c = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 2, prefix: 'x', labels: { power: 'p1' } },
      { site: 'b', gpuType: 'B200', count: 1, prefix: 'y', labels: { power: 'p1' } },
      { site: 'b', gpuType: 'B200', count: 2, prefix: 'z' },
    ]),
  );
  assert.deepEqual(c.domainNodes([0], 'label:power'), [0, 1, 2], 'p1 spans both sites');
  assert.deepEqual(c.domainNodes([4], 'label:power'), [4]);
  assert.deepEqual(c.domainNodes([3, 1], 'label:power'), [0, 1, 2, 3]);
  assert.deepEqual(c.domainNodes([0], 'label:rack'), [0], 'a label no node has: each node alone');
});

test('fractional replicas: required ones take one node each (never the group’s partly used GPU), then wait with reason spread', () => {
  const c = new ClusterModel(shareFleet({ nodes: 2, gpus: 2 }));
  const queue = ['r1', 'r2', 'r3'].map((id) => job(id, { spread: required, share: { milli: 250 } }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['r1', 'r2'],
  );
  assert.equal(new Set(nodesOf(c, ['r1', 'r2'])).size, 2, 'one node each');
  assert.equal(r.pending.get('r3')?.code, 'spread');
  assert.match(r.pending.get('r3')?.message ?? '', /already runs a replica of svc_x \(spread: required; 2 nodes hold one\)/);
  // Without spread the three shares pack onto one GPU (the organisation's partly used one first).
  const plain = new ClusterModel(shareFleet({ nodes: 2, gpus: 2 }));
  scheduleCycle(plain, { queue: ['q1', 'q2', 'q3'].map((id) => job(id, { share: { milli: 250 } })), quotas: BIG_QUOTA, now: 0 });
  assert.equal(new Set(nodesOf(plain, ['q1', 'q2', 'q3'])).size, 1);
});

test('fractional replicas: preferred ones spread first, then share the group’s GPU when no other node has room', () => {
  const c = new ClusterModel(shareFleet({ nodes: 2, gpus: 1 }));
  const queue = ['r1', 'r2', 'r3'].map((id) => job(id, { spread: preferred, share: { milli: 250 } }));
  const r = scheduleCycle(c, { queue, quotas: BIG_QUOTA, now: 0 });
  assert.equal(r.starts.length, 3);
  assert.equal(new Set(nodesOf(c, ['r1', 'r2'])).size, 2, 'the first two on distinct nodes');
  assert.ok(nodesOf(c, ['r1', 'r2']).includes(nodesOf(c, ['r3'])[0]), 'the third shares one of them');
});

test('required: a blocked replica reserves where it may run (outside its group), so a long job cannot take those GPUs', () => {
  const fleet = makeFleet([{ site: 'a', gpuType: 'B200', count: 2 }]);
  const on = (i: number, gpus: number[]) => ({ site: 'a', gpuType: 'B200', nodes: [{ node: fleet.nodes[i].id, gpus }] });
  const running = (id: string, project: string, gpus: number, maxRuntimeSeconds: number) => ({
    id,
    project,
    org: 'org1',
    priority: 0,
    gpus,
    startedAt: 0,
    borrowed: false,
    preemptible: false,
    maxRuntimeSeconds,
  });
  const world = () => {
    const c = new ClusterModel(fleet);
    // Node 0: replica r1 (never ends within the plan) and a job ending in 30 min; node 1: a job
    // ending in 1 h and 4 free GPUs.
    c.allocate('r1', 'p1', on(0, [0, 1, 2, 3]), 'org1', required.group);
    c.allocate('z', 'p2', on(0, [4, 5, 6, 7]), 'org1');
    c.allocate('x', 'p2', on(1, [0, 1, 2, 3]), 'org1');
    return c;
  };
  const input = (queue: SchedJob[]) => ({
    queue,
    quotas: BIG_QUOTA,
    now: 0,
    running: [running('r1', 'p1', 4, 1_000_000), running('z', 'p2', 4, 1800), running('x', 'p2', 4, 3600)],
    backfill: { enabled: true, reservations: 1, gangsOnly: false },
  });
  const r2 = job('r2', { spread: required, gpusPerNode: 8, priority: 900 });
  const long = job('y', { project: 'p3', gpusPerNode: 4, priority: 100, maxRuntimeSeconds: 36_000 });
  const c = world();
  const r = scheduleCycle(c, input([r2, long]));
  assert.equal(r.starts.length, 0, JSON.stringify(r.starts));
  assert.equal(r.pending.get('r2')?.code, 'insufficient_capacity');
  assert.deepEqual(
    r.reservations?.map((x) => [x.jobId, x.start, x.placement.nodes.map((n) => n.node)]),
    [['r2', 3_600_000, [fleet.nodes[1].id]]],
    'reserved on node 1 when x ends, never on node 0 (its group runs there)',
  );
  assert.equal(r.pending.get('y')?.code, 'reserved', 'the long job does not take the reserved GPUs');
  c.verifyIndexes();
  // A short job that ends before the reservation starts still backfills those GPUs.
  const short = job('s', { project: 'p3', gpusPerNode: 4, priority: 100, maxRuntimeSeconds: 600 });
  const c2 = world();
  const r3 = scheduleCycle(c2, input([r2, short]));
  assert.deepEqual(
    r3.starts.map((s) => [s.jobId, s.placement.nodes[0]?.node]),
    [['s', fleet.nodes[1].id]],
  );
  c2.verifyIndexes();
});
