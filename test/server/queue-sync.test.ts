/**
 * The server syncs its scheduler from the queue's changes (src/server/cycle/queue-sync.ts) instead
 * of walking the queue every cycle. Over a seeded random history (arrivals, cancels, replaced
 * objects, holds and their preemptors leaving, restrictions set and lifted, refused starts, a
 * reset), after every cycle: the per-organisation and per-project counts and id indexes equal a
 * recount, the scheduler holds exactly the jobs a from-scratch walk would queue (the same objects),
 * and its decisions equal those of a second scheduler given that walk's whole queue. Before each
 * cycle, the restricted organisations' reasons and the budget gate's costs (random budgets), read
 * through the indexes, equal those of a walk over the whole queue.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HoldCause } from '../../src/lifecycle/index.js';
import type { PendingReason } from '../../src/model/job.js';
import { mulberry32 } from '../../src/model/prng.js';
import { ClusterModel, type SchedJob } from '../../src/scheduler/index.js';
import { type BudgetCap, type BudgetLimits, budgetCosts, budgetKey, jobsUnderCaps } from '../../src/server/budget-figures.js';
import { IncrementalCycle } from '../../src/server/cycle/incremental-cycle.js';
import { QueueMap } from '../../src/server/cycle/queue-map.js';
import { QueueSync } from '../../src/server/cycle/queue-sync.js';
import { BIG_QUOTA, job, makeFleet } from '../scheduler/fixtures.js';

const ORGS = ['o1', 'o2', 'o3'];
const PROJECTS = ['p1', 'p2', 'p3', 'p4'];

function idsWith(queue: QueueMap, key: 'org' | 'project', of: string): Set<string> {
  return new Set([...queue.values()].filter((j) => j[key] === of).map((j) => j.id));
}

/** Budget limits as the spend read left them: some of the budgets (the others arrive "late"). */
function limitsOf(caps: readonly BudgetCap[]): BudgetLimits {
  const out: BudgetLimits = { orgs: new Map(), projects: new Map() };
  for (const c of caps)
    (c.scope === 'org' ? out.orgs : out.projects).set(c.id, {
      scope: c.scope,
      id: c.id,
      capCents: c.capCents,
      remainingCents: 5,
      month: 'm',
    });
  return out;
}

function recount(queue: QueueMap, key: 'org' | 'project'): Map<string, number> {
  const out = new Map<string, number>();
  for (const j of queue.values()) out.set(j[key], (out.get(j[key]) ?? 0) + 1);
  return out;
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`seed ${seed}: synced from the changes, the scheduler's queue and decisions equal a whole-queue walk's`, () => {
    const fleet = makeFleet([{ site: 's1', gpuType: 'B200', count: 6 }]);
    const live = new ClusterModel(fleet);
    const ref = new ClusterModel(fleet);
    const rng = mulberry32(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
    const state = { queue: new QueueMap(), holds: new Map<string, HoldCause>() };
    const restricted = new Set<string>();
    const holdReason = (org: string): PendingReason | null =>
      restricted.has(org) ? { code: 'processing_restricted', message: `processing of ${org} restricted` } : null;
    const deps = { state, holdReason };
    const synced = new IncrementalCycle();
    const sync = new QueueSync(synced);
    const walked = new IncrementalCycle();
    let running: string[] = [];
    let n = 0;
    let held = 0;
    let releasedHolds = 0;
    let refused = 0;
    let restrictedReasons = 0;
    let budgeted = 0;
    let late = 0;
    for (let cycle = 0; cycle < 120; cycle++) {
      const now = 1_000_000 + cycle * 1000;
      for (let k = Math.floor(rng() * 4); k > 0; k--) {
        const id = `j${n++}`;
        const gpus = pick([1, 2, 4, 8]);
        state.queue.set(id, job(id, { org: pick(ORGS), project: pick(PROJECTS), gpusPerNode: gpus, submittedAt: now }));
      }
      const ids = () => [...state.queue.keys()];
      if (state.queue.size > 0 && rng() < 0.3) state.queue.delete(pick(ids()));
      if (state.queue.size > 0 && rng() < 0.3) {
        const id = pick(ids());
        const j = state.queue.get(id)!;
        // Now and then under another owner: the counts and indexes must move it.
        const owner = rng() < 0.3 ? { org: pick(ORGS), project: pick(PROJECTS) } : {};
        state.queue.set(id, { ...j, ...owner, gpusPerNode: j.gpusPerNode === 8 ? 1 : 8 });
      }
      if (state.queue.size > 1 && rng() < 0.2) {
        const [a, b] = [pick(ids()), pick(ids())];
        if (a !== b) {
          state.holds.set(a, { kind: 'preempted', forJobId: b });
          held++;
        }
      }
      if (rng() < 0.1) {
        const org = pick(ORGS);
        if (restricted.has(org)) restricted.delete(org);
        else restricted.add(org);
      }
      if (running.length > 0 && rng() < 0.5) {
        const id = running.splice(Math.floor(rng() * running.length), 1)[0]!;
        live.release(id);
        ref.release(id);
      }
      if (cycle === 60) {
        // A reset (a follower taking over): the queue is rebuilt with the same jobs.
        const jobs = [...state.queue];
        state.queue.clear();
        for (const [id, j] of jobs) state.queue.set(id, j);
      }
      // The whole-queue walk (what snapshot() did before), pure: a hold counts while its preemptor is queued.
      const walk = [...state.queue.values()].filter((j) => {
        const h = state.holds.get(j.id);
        return !(h && state.queue.has(h.forJobId)) && !restricted.has(j.org);
      });
      const heldBefore = state.holds.size;
      sync.sync(deps);
      releasedHolds += heldBefore - state.holds.size;

      // Restricted organisations' reasons through the index, against a walk over the queue.
      const reasons = new Map<string, PendingReason>([['x', { code: 'priority', message: 'kept' }]]);
      const walkedReasons = new Map(reasons);
      sync.holdRestricted(deps, reasons);
      for (const [id, j] of state.queue) {
        const r = holdReason(j.org);
        if (r) walkedReasons.set(id, r);
      }
      assert.deepEqual(reasons, walkedReasons, `cycle ${cycle}: restricted reasons`);
      restrictedReasons += reasons.size - 1;

      // Random budgets: the budgeted owners' jobs through the index, against the scheduler's whole queue.
      const caps = new Map<string, BudgetCap>();
      for (const [scope, owners] of [
        ['org', ORGS],
        ['project', PROJECTS],
      ] as const)
        for (const id of owners)
          if (rng() < 0.3)
            caps.set(budgetKey(scope, id), {
              scope,
              id,
              org: 'o1',
              capCents: 100,
              policy: 'wait',
              alertThresholds: [],
              webhookUrl: null,
            });
      const read = [...caps.values()].filter(() => rng() < 0.7);
      const costOf = (j: SchedJob) => j.gpusPerNode * 10;
      const viaIndex = limitsOf(read);
      const costs = budgetCosts(caps, viaIndex, jobsUnderCaps(caps.values(), synced.byOwner(state.queue)), 'm', costOf);
      const viaWalk = limitsOf(read);
      const walkedCosts = budgetCosts(caps, viaWalk, synced.queue(), 'm', costOf);
      assert.deepEqual(costs, walkedCosts, `cycle ${cycle}: budget costs`);
      assert.deepEqual(viaIndex, viaWalk, `cycle ${cycle}: budget limits`);
      budgeted += costs.costs.size;
      late += costs.late ? 1 : 0;
      const input = { quotas: BIG_QUOTA, now, running: [] };
      const got = synced.cycle(live, input);
      const want = walked.run(ref, { ...input, queue: walk });
      for (const o of ORGS)
        assert.deepEqual(new Set(state.queue.idsOfOrg(o)), idsWith(state.queue, 'org', o), `cycle ${cycle}: ${o}'s ids`);
      for (const p of PROJECTS)
        assert.deepEqual(new Set(state.queue.idsOfProject(p)), idsWith(state.queue, 'project', p), `cycle ${cycle}: ${p}'s ids`);
      sync.started(got.starts.map((s) => s.jobId));

      assert.deepEqual(recount(state.queue, 'org'), new Map([...state.queue.orgs()].map((o) => [o, state.queue.countOf(o)])));
      assert.deepEqual(
        recount(state.queue, 'project'),
        new Map([...state.queue.projects()].map((p) => [p, state.queue.countOfProject(p)])),
      );
      const startedIds = new Set(got.starts.map((s) => s.jobId));
      const queued = new Map(synced.queue().map((j) => [j.id, j]));
      const expected = walk.filter((j) => !startedIds.has(j.id));
      assert.equal(queued.size, expected.length, `cycle ${cycle}: the scheduler's queue size`);
      for (const j of expected) assert.equal(queued.get(j.id), j, `cycle ${cycle}: ${j.id} queued as the same object`);
      assert.deepEqual(
        got.starts.map((s) => [s.jobId, s.placement]),
        want.starts.map((s) => [s.jobId, s.placement]),
        `cycle ${cycle}: the same starts`,
      );
      for (const j of walk) assert.deepEqual(got.pending.get(j.id), want.pending.get(j.id), `cycle ${cycle}: reason of ${j.id}`);

      // The store commits the starts, except (sometimes) one it refuses: that job stays queued.
      const refuse = got.starts.length > 0 && rng() < 0.25 ? got.starts[0]!.jobId : null;
      if (refuse) {
        live.release(refuse);
        ref.release(refuse);
        startedIds.delete(refuse);
        refused++;
      }
      for (const id of startedIds) state.queue.delete(id);
      running = [...running, ...startedIds];
    }
    assert.ok(
      held > 0 && releasedHolds > 0 && refused > 0,
      `the history exercised holds (${held}, ${releasedHolds} released) and refusals (${refused})`,
    );
    assert.ok(
      restrictedReasons > 0 && budgeted > 0 && late > 0,
      `the history exercised restrictions (${restrictedReasons} reasons) and budgets (${budgeted} costs, ${late} late)`,
    );
  });
}

test('changes nobody takes (a follower runs no cycles) give way to one full sync instead of growing', () => {
  const q = new QueueMap();
  for (let i = 0; i < 5000; i++) {
    q.set(`j${i}`, job(`j${i}`));
    q.delete(`j${i}`);
  }
  assert.equal(q.takeChanges(), null, 'a full sync');
  q.set('a', job('a'));
  assert.deepEqual([...(q.takeChanges() ?? [])], ['a'], 'then changes again');
});
