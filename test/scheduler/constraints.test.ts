/**
 * Placement constraints as data: sites, certifications, labels, single scalable unit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandFleet, loadFleetFile } from '../../src/fleet/load-fleet.js';
import type { FleetSpec } from '../../src/model/fleet.js';
import { ClusterModel, type CycleResult, type SchedJob, scheduleCycle } from '../../src/scheduler/index.js';
import { BIG_QUOTA, job, makeFleet, quotas } from './fixtures.js';

const demo = loadFleetFile();
const DEMO_Q = quotas({ p1: { B200: 100_000, 'RTX-PRO-6000': 100_000 } });

function onDemo(queue: SchedJob[]): CycleResult {
  const c = new ClusterModel(demo);
  const r = scheduleCycle(c, { queue, quotas: DEMO_Q, now: 0 });
  c.verifyIndexes();
  return r;
}

const siteOf = (r: CycleResult, id: string) => r.starts.find((s) => s.jobId === id)?.placement.site;
const rtx = (id: string, over: Partial<SchedJob>) => job(id, { gpuType: 'RTX-PRO-6000', gpusPerNode: 8, ...over });

test('sites: required and forbidden sites steer placement', () => {
  const r = onDemo([rtx('req', { requiredSites: ['vie1'] }), rtx('forb', { forbiddenSites: ['fra1'] }), rtx('free', {})]);
  assert.equal(siteOf(r, 'req'), 'vie1');
  assert.equal(siteOf(r, 'forb'), 'vie1');
  // Unconstrained, the same shape packs next to them (tightest unit), wherever that is.
  assert.ok(siteOf(r, 'free'));
  const alone = onDemo([rtx('fra-first', {})]);
  assert.equal(siteOf(alone, 'fra-first'), 'fra1');
});

test('certifications: only sites holding every required certification', () => {
  const r = onDemo([
    rtx('c5', { requiredCertifications: ['bsi-c5'], forbiddenSites: [] }),
    rtx('iso', { requiredCertifications: ['iso27001'], requiredSites: ['vie1', 'fra1'], forbiddenSites: ['fra1'] }),
  ]);
  assert.equal(siteOf(r, 'c5'), 'fra1');
  assert.equal(siteOf(r, 'iso'), 'vie1');
});

test('nothing allowed fits: reason constraints; an unconstrained job of the same shape still starts', () => {
  const r = onDemo([rtx('nowhere', { requiredSites: ['muc1'] }), rtx('anywhere', {})]);
  const why = r.pending.get('nowhere');
  assert.equal(why?.code, 'constraints');
  assert.match(why?.message ?? '', /sites muc1/);
  assert.ok(siteOf(r, 'anywhere'));
  const any = onDemo([job('anytype', { gpuType: null, gpusPerNode: 8, requiredCertifications: ['nope'] })]);
  assert.equal(any.pending.get('anytype')?.code, 'constraints');
});

test('constrained capacity failures do not poison the equivalence class', () => {
  const c = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 1 },
      { site: 'b', gpuType: 'B200', count: 1 },
    ]),
  );
  c.allocate('x', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-b200-8-0001', gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
  const r = scheduleCycle(c, {
    queue: [job('only-a', { gpusPerNode: 8, requiredSites: ['a'] }), job('any', { gpusPerNode: 8 })],
    quotas: BIG_QUOTA,
    now: 0,
  });
  assert.equal(r.pending.get('only-a')?.code, 'insufficient_capacity');
  assert.equal(siteOf(r, 'any'), 'b');
});

test('node labels select pools (every node of the site x type group must carry them)', () => {
  const spec: FleetSpec = {
    name: 't',
    sites: [
      { id: 'a', name: 'a', city: 'a', country: 'DE', certifications: [] },
      { id: 'b', name: 'b', city: 'b', country: 'DE', certifications: [] },
    ],
    nodeTypes: [
      {
        id: 'b8',
        gpuType: 'B200',
        gpusPerNode: 8,
        gpuMemoryGiB: 180,
        interconnect: 'nvlink',
        cpus: 64,
        memoryGiB: 1024,
      },
    ],
    pools: [
      { site: 'a', nodeType: 'b8', count: 2, unitSize: 2, namePrefix: 'plain' },
      { site: 'b', nodeType: 'b8', count: 2, unitSize: 2, namePrefix: 'gold', labels: { tier: 'gold' } },
    ],
  };
  const c = new ClusterModel(expandFleet(spec));
  const r = scheduleCycle(c, {
    queue: [job('g', { gpusPerNode: 8, nodeLabels: { tier: 'gold' } }), job('x', { gpusPerNode: 8, nodeLabels: { tier: 'x' } })],
    quotas: BIG_QUOTA,
    now: 0,
  });
  assert.equal(siteOf(r, 'g'), 'b');
  assert.equal(r.pending.get('x')?.code, 'constraints');
});

test('requireSingleUnit: a gang waits rather than span scalable units; partial gangs stay in one unit', () => {
  const mk = () => {
    const c = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 8, unitSize: 4, prefix: 'a' }]));
    // One node busy in each unit: 3 fully free nodes per unit.
    c.allocate('x', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-0001', gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
    c.allocate('y', 'p2', { site: 'a', gpuType: 'B200', nodes: [{ node: 'a-0005', gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] });
    return c;
  };
  const free = scheduleCycle(mk(), { queue: [job('g', { gpusPerNode: 8, nodes: 4 })], quotas: BIG_QUOTA, now: 0 });
  assert.equal(free.starts.length, 1);
  const single = scheduleCycle(mk(), {
    queue: [job('g', { gpusPerNode: 8, nodes: 4, requireSingleUnit: true })],
    quotas: BIG_QUOTA,
    now: 0,
  });
  assert.equal(single.starts.length, 0);
  assert.ok(['insufficient_capacity', 'topology'].includes(single.pending.get('g')?.code ?? ''));
  const c = mk();
  const partial = scheduleCycle(c, {
    queue: [job('pg', { gpusPerNode: 4, nodes: 3, requireSingleUnit: true })],
    quotas: BIG_QUOTA,
    now: 0,
  });
  const nodes = partial.starts[0]?.placement.nodes.map((a) => a.node) ?? [];
  assert.equal(nodes.length, 3);
  const units = new Set(nodes.map((id) => c.fleet.nodes[c.fleet.nodeIndex.get(id) ?? -1].unit));
  assert.equal(units.size, 1);
  c.verifyIndexes();
});

test('a residency-constrained job that cannot start does not make an unconstrained job of the same shape wait', () => {
  // Both jobs ask for the same shape in the same project; the first may only use a site that has
  // no RTX GPUs left to it (none allowed), so its failure must not be reused for the second.
  const r = onDemo([
    rtx('health', {
      residency: { allowedSites: [], reason: 'waiting: health data needs a current C5 Type 2', rule: 'health' },
    }),
    rtx('plain', {}),
  ]);
  assert.equal(r.pending.get('health')?.code, 'residency');
  assert.ok(siteOf(r, 'plain'), 'the unconstrained job starts');
});
