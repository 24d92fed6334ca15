/**
 * BudgetGate: the money step of a cycle. A job whose estimate exceeds what is left of its project's
 * or its organisation's monthly budget stays queued with `budget_exhausted`; a job that fits is
 * debited from both as it is admitted (started, or given a preemption plan), so the jobs admitted in
 * one cycle can never together pass a cap. Pure: amounts come from the caller's snapshot.
 */
import type { PendingReason } from '../model/job.js';
import { REASON } from './reasons.js';
import type { BudgetInput, BudgetLimit, SchedJob } from './types.js';

export class BudgetGate {
  /** What is left of each budget after this cycle's admissions so far. */
  private readonly left = new Map<BudgetLimit, number>();

  constructor(private readonly input: BudgetInput) {}

  /** costOf: the job's estimate in EUR cents (0 without one: an unpriced job is never billed). */
  costOf(job: SchedJob): number {
    return this.input.costs.get(job.id) ?? 0;
  }

  /** check: why the job must wait for money, or undefined when it fits every budget over it. */
  check(job: SchedJob): PendingReason | undefined {
    const cost = this.costOf(job);
    if (cost <= 0) return undefined;
    let worst: { limit: BudgetLimit; left: number } | undefined;
    for (const limit of this.limits(job)) {
      const left = this.leftOf(limit);
      if (cost > left && (!worst || left < worst.left)) worst = { limit, left };
    }
    return worst ? REASON.budgetExhausted(worst.limit, cost, worst.left) : undefined;
  }

  /** debit: the job was admitted; its estimate is committed against every budget over it. */
  debit(job: SchedJob): void {
    const cost = this.costOf(job);
    if (cost <= 0) return;
    for (const limit of this.limits(job)) this.left.set(limit, this.leftOf(limit) - cost);
  }

  private leftOf(limit: BudgetLimit): number {
    return this.left.get(limit) ?? limit.remainingCents;
  }

  private limits(job: SchedJob): BudgetLimit[] {
    const out: BudgetLimit[] = [];
    const p = this.input.projects.get(job.project);
    if (p) out.push(p);
    const o = this.input.orgs.get(job.org);
    if (o) out.push(o);
    return out;
  }
}
