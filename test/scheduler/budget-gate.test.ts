/**
 * The budget gate (src/scheduler/budget-gate.ts): in one cycle, the jobs admitted (started, or given
 * a preemption plan) never together cost more than what is left of any budget over them, however
 * many jobs the cycle sees; a job over budget waits with `budget_exhausted` naming the amounts; and
 * over many cycles with jobs arriving at once (concurrent submissions), committed spend never
 * passes a cap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type BudgetInput,
  type BudgetLimit,
  ClusterModel,
  type CycleResult,
  type SchedJob,
  scheduleCycle,
} from '../../src/scheduler/index.js';
import { BIG_QUOTA, job, makeFleet } from './fixtures.js';

const PROJECTS = ['p1', 'p2', 'p3'] as const;
const ORGS: Record<string, string> = { p1: 'o1', p2: 'o1', p3: 'o2' };

function limit(scope: 'org' | 'project', id: string, capCents: number, remainingCents: number): BudgetLimit {
  return { scope, id, capCents, remainingCents, month: '2026-12' };
}

function admitted(r: CycleResult): string[] {
  return [...r.starts.map((s) => s.jobId), ...(r.preemptions ?? []).map((p) => p.forJobId)];
}

test('a job over budget waits with budget_exhausted naming the amounts; the tighter budget wins', () => {
  const cluster = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 4 }]));
  const jobs = [job('a', { project: 'p1', org: 'o1' }), job('b', { project: 'p1', org: 'o1' })];
  const budgets: BudgetInput = {
    orgs: new Map([['o1', limit('org', 'o1', 100_000, 100_000)]]),
    projects: new Map([['p1', limit('project', 'p1', 50_000, 5_000)]]),
    costs: new Map([
      ['a', 4_200],
      ['b', 4_200],
    ]),
  };
  const r = scheduleCycle(cluster, { queue: jobs, quotas: BIG_QUOTA, now: 0, budgets });
  assert.deepEqual(
    r.starts.map((s) => s.jobId),
    ['a'],
  );
  const why = r.pending.get('b');
  assert.equal(why?.code, 'budget_exhausted');
  assert.equal(
    why?.message,
    "waiting: the job needs EUR 42.00, EUR 8.00 left of project p1's EUR 500.00 budget for 2026-12; it starts when " +
      'budget frees (a larger cap, the next month, running jobs ending under their estimates)',
  );
  assert.deepEqual(why?.details, {
    scope: 'project',
    budget: 'p1',
    month: '2026-12',
    needsCents: 4200,
    leftCents: 800,
    capCents: 50000,
  });
  // A job with no cost (no price in effect) is never held by money.
  const free = scheduleCycle(new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 1 }])), {
    queue: [job('c', { project: 'p1', org: 'o1' })],
    quotas: BIG_QUOTA,
    now: 0,
    budgets: { ...budgets, projects: new Map([['p1', limit('project', 'p1', 0, -10)]]), costs: new Map() },
  });
  assert.deepEqual(
    free.starts.map((s) => s.jobId),
    ['c'],
  );
});

const jobArb = fc.record({
  project: fc.constantFrom(...PROJECTS),
  gpusPerNode: fc.constantFrom(1, 2, 4, 8),
  nodes: fc.integer({ min: 1, max: 2 }),
  priority: fc.constantFrom(100, 200),
  cost: fc.integer({ min: 0, max: 30_000 }),
});

const budgetArb = fc.record({
  orgCaps: fc.dictionary(fc.constantFrom('o1', 'o2'), fc.integer({ min: 0, max: 100_000 })),
  projectCaps: fc.dictionary(fc.constantFrom(...PROJECTS), fc.integer({ min: 0, max: 60_000 })),
});

test('property: one cycle never admits more than what is left of any budget, however many jobs it sees', () => {
  fc.assert(
    fc.property(
      fc.array(jobArb, { minLength: 1, maxLength: 60 }),
      budgetArb,
      fc.integer({ min: -20_000, max: 20_000 }),
      fc.boolean(),
      (specs, caps, spentSkew, preemption) => {
        const cluster = new ClusterModel(
          makeFleet([
            { site: 'a', gpuType: 'B200', count: 4 },
            { site: 'b', gpuType: 'B200', count: 4 },
          ]),
        );
        const queue: SchedJob[] = specs.map((s, i) =>
          job(`j${i}`, {
            project: s.project,
            org: ORGS[s.project],
            gpusPerNode: s.gpusPerNode,
            nodes: s.nodes,
            priority: s.priority,
          }),
        );
        const costs = new Map(specs.map((s, i) => [`j${i}`, s.cost]));
        // Remaining below or above the cap: a lowered cap leaves it negative.
        const orgs = new Map(
          Object.entries(caps.orgCaps).map(([o, cap]) => [o, limit('org', o, cap, cap - Math.max(0, spentSkew))]),
        );
        const projects = new Map(
          Object.entries(caps.projectCaps).map(([p, cap]) => [p, limit('project', p, cap, cap + Math.min(0, spentSkew))]),
        );
        const r = scheduleCycle(cluster, {
          queue,
          quotas: BIG_QUOTA,
          now: 0,
          budgets: { orgs, projects, costs },
          preemption: preemption ? { enabled: true } : undefined,
        });
        const byId = new Map(queue.map((j) => [j.id, j]));
        for (const [key, lim] of [...orgs.entries(), ...projects.entries()]) {
          const committed = admitted(r)
            .map((id) => byId.get(id) as SchedJob)
            .filter((j) => (lim.scope === 'org' ? j.org === key : j.project === key))
            .reduce((a, j) => a + (costs.get(j.id) ?? 0), 0);
          const paid = admitted(r).some((id) => {
            const j = byId.get(id) as SchedJob;
            return (costs.get(id) ?? 0) > 0 && (lim.scope === 'org' ? j.org === key : j.project === key);
          });
          if (paid) assert.ok(committed <= lim.remainingCents, `${lim.scope} ${key}: ${committed} > ${lim.remainingCents}`);
        }
        // Every job that waits for money could not have fit: its reason names less than it needs.
        for (const [id, why] of r.pending) {
          if (why.code !== 'budget_exhausted') continue;
          assert.ok(Number(why.details?.needsCents) > Number(why.details?.leftCents), id);
          assert.equal(why.details?.needsCents, costs.get(id));
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('property: over many cycles with bursts of simultaneous submissions, committed spend never passes a cap', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(jobArb, { minLength: 0, maxLength: 12 }), { minLength: 1, maxLength: 8 }),
      budgetArb,
      fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 8, maxLength: 8 }),
      (bursts, caps, underPct) => {
        const cluster = new ClusterModel(makeFleet([{ site: 'a', gpuType: 'B200', count: 6 }]));
        const queue = new Map<string, SchedJob>();
        const costs = new Map<string, number>();
        // What each started job is committed to (its estimate) until it ends, then what it really cost.
        const running = new Map<string, { job: SchedJob; estimate: number }>();
        const spent = new Map<string, number>(); // per 'org:x' / 'project:y'
        let n = 0;
        const charge = (key: string, c: number) => spent.set(key, (spent.get(key) ?? 0) + c);
        for (let cycle = 0; cycle < bursts.length; cycle++) {
          for (const s of bursts[cycle]) {
            const id = `j${n++}`;
            queue.set(id, job(id, { project: s.project, org: ORGS[s.project], gpusPerNode: s.gpusPerNode, nodes: s.nodes }));
            costs.set(id, s.cost);
          }
          const committedOf = (scope: 'org' | 'project', key: string) => {
            let c = spent.get(`${scope}:${key}`) ?? 0;
            for (const r of running.values()) if ((scope === 'org' ? r.job.org : r.job.project) === key) c += r.estimate;
            return c;
          };
          const orgs = new Map(
            Object.entries(caps.orgCaps).map(([o, cap]) => [o, limit('org', o, cap, cap - committedOf('org', o))]),
          );
          const projects = new Map(
            Object.entries(caps.projectCaps).map(([p, cap]) => [p, limit('project', p, cap, cap - committedOf('project', p))]),
          );
          const r = scheduleCycle(cluster, {
            queue: [...queue.values()],
            quotas: BIG_QUOTA,
            now: cycle,
            budgets: { orgs, projects, costs },
          });
          for (const s of r.starts) {
            const j = queue.get(s.jobId) as SchedJob;
            queue.delete(s.jobId);
            running.set(j.id, { job: j, estimate: costs.get(j.id) ?? 0 });
          }
          for (const [scope, table] of [
            ['org', caps.orgCaps],
            ['project', caps.projectCaps],
          ] as const) {
            for (const [key, cap] of Object.entries(table)) {
              const c = committedOf(scope, key);
              const anyPaid = [...running.values()].some(
                (x) => x.estimate > 0 && (scope === 'org' ? x.job.org : x.job.project) === key,
              );
              if (anyPaid || (spent.get(`${scope}:${key}`) ?? 0) > 0) assert.ok(c <= cap, `${scope} ${key}: ${c} > ${cap}`);
            }
          }
          // Half the running jobs end, under their estimates by a random share: budget frees.
          let k = 0;
          for (const [id, x] of [...running]) {
            if (k++ % 2 === 1) continue;
            const real = Math.floor((x.estimate * underPct[cycle % underPct.length]) / 100);
            charge(`org:${x.job.org}`, real);
            charge(`project:${x.job.project}`, real);
            running.delete(id);
            cluster.release(id);
          }
        }
      },
    ),
    { numRuns: 150 },
  );
});
