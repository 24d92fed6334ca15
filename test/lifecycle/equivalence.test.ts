/**
 * One lifecycle (issue #12): a trace run through `gigafab simulate` (runSimulations) and through the
 * server's ControlPlane with the simulated driver on a virtual clock (test/helpers/virtual-server.ts)
 * gives the identical sequence of starts (with their nodes), preemptions and requeues, with the
 * server's default policy file and with a FIFO+backfill one, each also with borrowing and preemption.
 *
 * The trace (test/sim/fixtures/equivalence-philly.csv, Philly format with its own time limits) has
 * gangs of 2 and 3 nodes, short jobs that fit before a blocked gang (backfill), one project
 * borrowing the other's idle quota and the other reclaiming it (preemption, requeue).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadFleetFile } from '../../src/fleet/load-fleet.js';
import { loadPolicyFile } from '../../src/server/policy.js';
import { type SimTransition, simulate } from '../../src/sim/engine.js';
import { importTrace } from '../../src/sim/importers/index.js';
import { QuotaBook } from '../../src/sim/policies.js';
import { resolvePolicy, runSimulations } from '../../src/sim/run.js';
import type { SimJob } from '../../src/sim/types.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { runVirtualServer } from '../helpers/virtual-server.js';

const TRACE = fileURLToPath(new URL('../../../test/sim/fixtures/equivalence-philly.csv', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gigafab-equivalence-'));
const fleetPath = writeSmallFleet(dir);
/** Two tenants with equal entitlements: each may hold 16 of the fleet's 32 B200 without borrowing. */
const ENTITLEMENTS = new Map([
  ['philly/vc-a', 1],
  ['philly/vc-b', 1],
]);

function policyFile(name: string, yaml: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, yaml);
  return path;
}
const DEFAULT = policyFile('default', "# the server's default policy (no file)\n");
const FIFO = policyFile('fifo-backfill', 'fairShare: { enabled: false }\nbackfill: { enabled: true }\n');
const RECLAIM = 'borrowing: { enabled: true }\npreemption: { enabled: true }\n';
const DEFAULT_RECLAIM = policyFile('default-reclaim', RECLAIM);
const FIFO_RECLAIM = policyFile('fifo-reclaim', `fairShare: { enabled: false }\n${RECLAIM}`);
/** The simulator's `entitlement-borrowing` preset as a file: priority and FIFO, borrowing, nothing else. */
const BORROW_ONLY = policyFile(
  'borrow-only',
  'fairShare: { enabled: false }\nbackfill: { enabled: false }\nborrowing: { enabled: true }\n',
);

async function throughSimulate(file: string): Promise<SimTransition[]> {
  const out: SimTransition[] = [];
  await runSimulations({
    fleetPath,
    format: 'philly',
    trace: TRACE,
    scaleLoad: 1,
    variants: [{ label: file, policy: resolvePolicy(file, 'entitlement'), scaleFleet: 1 }],
    cycle: { mode: 'event' },
    entitlements: ENTITLEMENTS,
    onTransition: (_variant, t) => out.push(t),
  });
  return out;
}

async function throughServer(file: string): Promise<SimTransition[]> {
  const jobs: SimJob[] = [];
  for await (const j of importTrace('philly', TRACE, { nodeSize: 8 }).jobs) jobs.push(j);
  const quotas = new QuotaBook(loadFleetFile(fleetPath), 'entitlement', ENTITLEMENTS, ENTITLEMENTS.size).quotas;
  return runVirtualServer(jobs, { fleetPath, policy: loadPolicyFile(file), quotas });
}

const KIND_ORDER = { preempt: 0, requeue: 1, start: 2 } as const;
/**
 * Within one instant the server publishes a preemption's requeue whenever its commit lands (the
 * driver stops the victim while the cycle's starts commit); the order of kinds within an instant is
 * no decision of either side, the order of each kind is. Sorting is stable: starts keep their order.
 */
const canonical = (ts: SimTransition[]) => [...ts].sort((a, b) => a.at - b.at || KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);

async function assertSame(file: string): Promise<SimTransition[]> {
  const sim = canonical(await throughSimulate(file));
  const server = canonical(await throughServer(file));
  assert.deepEqual(server, sim);
  return sim;
}

const traceOrder = new Map<string, number>();
for await (const j of importTrace('philly', TRACE, { nodeSize: 8 }).jobs) traceOrder.set(j.id, traceOrder.size);

/** overtaken: some job started while one submitted before it (and not yet started) still waited. */
function overtaken(ts: readonly SimTransition[]): boolean {
  const started = new Set<string>();
  for (const t of ts) {
    if (t.kind !== 'start') continue;
    const mine = traceOrder.get(t.jobId)!;
    for (const [id, order] of traceOrder) if (order < mine && !started.has(id)) return true;
    started.add(t.jobId);
  }
  return false;
}

const gangs = (ts: readonly SimTransition[]) => ts.filter((t) => t.kind === 'start' && t.nodes.length > 1).length;
const count = (ts: readonly SimTransition[], kind: SimTransition['kind']) => ts.filter((t) => t.kind === kind).length;

test("the server's default policy file: identical starts (gangs, backfill) through the simulator and the server", async () => {
  const ts = await assertSame(DEFAULT);
  // All but the 3-node gang of 24 GPUs, over its project's quota of 16 without borrowing.
  assert.equal(count(ts, 'start'), traceOrder.size - 1, 'every job within quota starts once (no preemption without it)');
  assert.ok(gangs(ts) >= 3, 'gangs of 2 and 3 nodes start');
  assert.ok(overtaken(ts), 'a later job starts before an earlier one that waits (backfill)');
});

test('a FIFO+backfill policy file: identical starts through the simulator and the server', async () => {
  const ts = await assertSame(FIFO);
  assert.equal(count(ts, 'start'), traceOrder.size - 1);
  assert.ok(gangs(ts) >= 3);
  assert.ok(overtaken(ts));
});

test('the default policy with borrowing and preemption: identical starts, preemptions and requeues', async () => {
  const ts = await assertSame(DEFAULT_RECLAIM);
  assert.ok(
    ts.some((t) => t.kind === 'start' && t.borrowed),
    'a job starts on borrowed capacity',
  );
  assert.ok(count(ts, 'preempt') >= 1, 'its owner reclaims it');
  assert.equal(count(ts, 'requeue'), count(ts, 'preempt'), 'every victim is requeued');
  assert.equal(count(ts, 'start'), traceOrder.size + count(ts, 'requeue'), 'and starts again');
});

test('FIFO+backfill with borrowing and preemption: identical starts, preemptions and requeues', async () => {
  const ts = await assertSame(FIFO_RECLAIM);
  assert.ok(ts.some((t) => t.kind === 'start' && t.borrowed));
  assert.ok(count(ts, 'preempt') >= 1);
  assert.equal(count(ts, 'requeue'), count(ts, 'preempt'));
});

test('borrowing alone (no fair share, backfill or preemption): identical starts; borrowed GPUs are not counted as guaranteed', async () => {
  // The simulator used to pass the scheduler no running jobs under this policy, so a borrowed job's
  // GPUs counted against its project's own quota and the owner of the lent quota could not use it.
  const ts = await assertSame(BORROW_ONLY);
  assert.ok(ts.some((t) => t.kind === 'start' && t.borrowed));
  assert.equal(count(ts, 'preempt'), 0);
});

test('a victim stops at once on both sides: requeued at the instant it was preempted, its preemptor started then too', async () => {
  const ts = await throughSimulate(DEFAULT_RECLAIM);
  const preempts = ts.filter((t) => t.kind === 'preempt');
  assert.ok(preempts.length > 0);
  for (const p of preempts) {
    assert.ok(ts.some((t) => t.kind === 'requeue' && t.jobId === p.jobId && t.at === p.at));
    assert.ok(ts.some((t) => t.kind === 'start' && t.jobId === p.forJobId && t.at === p.at));
  }
});

/**
 * Fair share across organisations: org x has two projects, org y one. The server weighs every org
 * and project 1 unless the policy file names it, normalised over the tenants with live jobs; the
 * simulator used to weigh an org by the sum of its projects' entitlements, over every tenant seen.
 */
test('fair share across organisations and projects: identical starts through the simulator and the server', async () => {
  const tenants = [
    { org: 'x', project: 'p1' },
    { org: 'x', project: 'p2' },
    { org: 'y', project: 'p3' },
  ];
  const jobs: SimJob[] = [];
  for (let i = 0; i < 36; i++) {
    const who = tenants[(i * 7) % 3];
    jobs.push({
      id: `j${i}`,
      submitTime: 1_700_000_000 + Math.floor(i / 3) * 120,
      ...who,
      gpuType: 'B200',
      gpusPerNode: 8,
      nodes: i % 5 === 0 ? 2 : 1,
      duration: 600 + ((i * 337) % 1800),
      wallLimit: 3600,
    });
  }
  const fleet = loadFleetFile(fleetPath);
  const policy = resolvePolicy(DEFAULT, 'unlimited');
  const sim: SimTransition[] = [];
  await simulate(jobs, { fleet, policy, onTransition: (t) => sim.push(t) });
  const quotas = new Map(tenants.map((t) => [`${t.org}/${t.project}`, new Map([['B200', 32]])]));
  const server = await runVirtualServer(jobs, { fleetPath, policy: loadPolicyFile(DEFAULT), quotas });
  assert.deepEqual(canonical(server), canonical(sim));
  assert.equal(count(sim, 'start'), jobs.length);
  assert.ok(overtakenIn(jobs, sim), 'fair share reorders the queue');
});

function overtakenIn(jobs: readonly SimJob[], ts: readonly SimTransition[]): boolean {
  const order = jobs.map((j) => j.id);
  const starts = ts.filter((t) => t.kind === 'start').map((t) => t.jobId);
  return starts.some((id, i) => order.indexOf(id) !== i);
}
