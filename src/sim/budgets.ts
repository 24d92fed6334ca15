/**
 * SimBudgets: hard caps in EUR cents for organisations and projects over the whole simulated run
 * (one period; the simulator has no calendar), fed to the scheduler's budget gate (the same
 * `BudgetInput` the server builds). A job costs its GPUs x time x one price: its estimate (to its
 * wall limit) is committed from its start until it releases its GPUs, then what it really ran is
 * spent. Remaining = cap - spent - the running jobs' estimates.
 */
import type { BudgetInput, BudgetLimit, SchedJob } from '../scheduler/index.js';
import type { SimJob } from './types.js';

export interface SimBudgetOptions {
  /** One price for every GPU type and class, EUR cents per GPU-hour. */
  centsPerGpuHour: number;
  /** Organisation id -> cap in EUR cents for the run. */
  orgs?: Readonly<Record<string, number>>;
  /** Project, as `org/project` (the simulator's tenant key), -> cap in EUR cents for the run. */
  projects?: Readonly<Record<string, number>>;
}

export class SimBudgets {
  private readonly spent = new Map<string, number>();
  /** Started job id -> its estimate, while it holds GPUs. */
  private readonly running = new Map<string, { job: SimJob; estimate: number; start: number }>();
  private readonly committed = new Map<string, number>();

  constructor(private readonly o: SimBudgetOptions) {}

  /** cost: GPUs x seconds at the price, in cents (rounded half up). */
  cost(job: SimJob, seconds: number): number {
    return Math.round((job.gpusPerNode * job.nodes * seconds * this.o.centsPerGpuHour) / 3600);
  }

  /** started: the job started at virtual second `t`. */
  started(job: SimJob, t: number): void {
    const estimate = this.cost(job, job.wallLimit);
    this.running.set(job.id, { job, estimate, start: t });
    this.add(this.committed, job, estimate);
  }

  /** released: the job gave its GPUs back at virtual second `t` (ended, or evicted). */
  released(job: SimJob, t: number): void {
    const r = this.running.get(job.id);
    if (!r) return;
    this.running.delete(job.id);
    this.add(this.committed, job, -r.estimate);
    this.add(this.spent, job, this.cost(job, Math.max(0, t - r.start)));
  }

  /** spentOf: what the run spent so far under a budget key (`org:x`, `project:y`), ended jobs only. */
  spentOf(key: string): number {
    return this.spent.get(key) ?? 0;
  }

  /** input: the budget gate's input for a cycle over `queue` (jobs by id in `jobs`). */
  input(queue: readonly SchedJob[], jobs: (id: string) => SimJob | undefined): BudgetInput {
    const limits = (scope: 'org' | 'project', caps: Readonly<Record<string, number>> | undefined) => {
      const m = new Map<string, BudgetLimit>();
      for (const [id, cap] of Object.entries(caps ?? {})) {
        const key = `${scope}:${id}`;
        const remainingCents = cap - (this.spent.get(key) ?? 0) - (this.committed.get(key) ?? 0);
        m.set(id, { scope, id, capCents: cap, remainingCents, month: 'the run' });
      }
      return m;
    };
    const costs = new Map<string, number>();
    for (const s of queue) {
      const j = jobs(s.id);
      if (j) costs.set(s.id, this.cost(j, j.wallLimit));
    }
    return { orgs: limits('org', this.o.orgs), projects: limits('project', this.o.projects), costs };
  }

  private add(m: Map<string, number>, job: SimJob, by: number): void {
    for (const key of [`org:${job.org}`, `project:${job.org}/${job.project}`]) m.set(key, (m.get(key) ?? 0) + by);
  }
}
