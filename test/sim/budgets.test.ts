/**
 * The simulator's budgets go through the scheduler's budget gate, as the server's do: on an
 * overloaded synthetic trace with caps per organisation and project, the committed spend (spent by
 * ended jobs + estimates of running ones) never passes a cap at any start, jobs are held until
 * budget frees, and a cap nothing reaches changes no decision.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simulate } from '../../src/sim/engine.js';
import { syntheticJobs } from '../../src/sim/synthetic.js';
import type { SimJob } from '../../src/sim/types.js';
import { job, tinyFleet } from './fixtures.js';

const PRICE = 3600; // one cent per GPU-second

test('a job over budget waits until a running job ends under its estimate, then starts', async () => {
  const starts = new Map<string, number>();
  // A: 8 GPUs, limit 100 s (estimate 800), ends at 10 s (spends 80). B: 8 GPUs x 100 s waits for that.
  const jobs = [job('A', 0, 8, 1, 10, { wallLimit: 100 }), job('B', 0, 8, 1, 100)];
  const r = await simulate(jobs, {
    fleet: tinyFleet(4),
    budgets: { centsPerGpuHour: PRICE, projects: { 'o/p': 1000 } },
    onStart: (j, t) => starts.set(j.id, t),
  });
  assert.deepEqual(
    [...starts],
    [
      ['A', 0],
      ['B', 10],
    ],
  );
  assert.equal(r.summary.jobs.completed, 2);
});

test('property: on an overloaded trace, committed spend never passes a cap at any start', async () => {
  const fleet = tinyFleet(8);
  for (const seed of [3, 5, 8]) {
    const jobs = [...syntheticJobs({ jobs: 400, seed, targetLoad: 1.5, fleetGpus: fleet.totalGpus, tenants: 4 })];
    const orgs = [...new Set(jobs.map((j) => j.org))];
    const projects = [...new Set(jobs.map((j) => `${j.org}/${j.project}`))];
    const cost = (j: SimJob, s: number) => Math.round((j.gpusPerNode * j.nodes * s * PRICE) / 3600);
    const total = jobs.reduce((a, j) => a + cost(j, j.wallLimit), 0);
    const caps = {
      orgs: Object.fromEntries(orgs.map((o, i) => [o, Math.round((total / orgs.length) * (0.2 + 0.2 * i))])),
      projects: Object.fromEntries(projects.slice(0, 2).map((p) => [p, Math.round(total / projects.length / 4)])),
    };
    // The test's own ledger: estimates while running, what really ran once ended.
    const running = new Map<string, { j: SimJob; end: number; start: number }>();
    const spent = new Map<string, number>();
    let started = 0;
    const r = await simulate(jobs, {
      fleet,
      budgets: { centsPerGpuHour: PRICE, ...caps },
      onStart: (j, t, end) => {
        for (const [id, x] of running) {
          if (x.end > t) continue;
          running.delete(id);
          for (const k of [`org:${x.j.org}`, `project:${x.j.org}/${x.j.project}`])
            spent.set(k, (spent.get(k) ?? 0) + cost(x.j, x.end - x.start));
        }
        running.set(j.id, { j, end, start: t });
        started++;
        for (const [scope, table] of [
          ['org', caps.orgs],
          ['project', caps.projects],
        ] as const) {
          for (const [id, cap] of Object.entries(table)) {
            let c = spent.get(`${scope}:${id}`) ?? 0;
            for (const x of running.values())
              if ((scope === 'org' ? x.j.org : `${x.j.org}/${x.j.project}`) === id) c += cost(x.j, x.j.wallLimit);
            assert.ok(c <= cap, `seed ${seed}: ${scope} ${id} committed ${c} > cap ${cap} at ${t}`);
          }
        }
      },
    });
    assert.ok(started > 0 && r.summary.jobs.neverStarted > 0, `seed ${seed}: budgets held some jobs (${started} started)`);
    // Caps nothing reaches: the same decisions as without budgets.
    const free = await simulate(jobs, { fleet, incremental: false });
    const rich = await simulate(jobs, {
      fleet,
      budgets: { centsPerGpuHour: PRICE, orgs: Object.fromEntries(orgs.map((o) => [o, total])) },
    });
    assert.deepEqual(rich.summary, free.summary);
  }
});
