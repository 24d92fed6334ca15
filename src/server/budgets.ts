/**
 * Monthly budgets: an organisation's hard cap in EUR cents per calendar month (UTC), set by its
 * admins or an operator (audited), enforced at admission (jobs/submission.ts): what it spent this
 * month (its usage cost, running segments up to now) + what its queued jobs would cost run to their
 * time limits + what its running jobs would cost for the rest of theirs + the new job's estimate
 * may not exceed the cap. A check reserves its estimate until the job is queued (or refused), so
 * concurrent submissions cannot together pass a cap that each alone would respect.
 */
import { canAdminOrg, canSeeOrg, enforce } from '../model/authz.js';
import { costNumerator, type PriceTimeline, roundCents } from '../model/cost.js';
import { DomainError, notFound } from '../model/errors.js';
import { euros } from '../model/money.js';
import type { Principal, RequestContext } from '../model/principal.js';
import type { JobSpec } from '../model/schemas.js';
import { usageClass } from '../model/usage.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import { estimateCost } from './cost-estimate.js';
import type { SchedulingState } from './cycle/scheduling-state.js';
import type { PriceBook } from './price-book.js';
import type { UsageReports } from './usage-report.js';

export interface BudgetStatus {
  org: string;
  capCents: number;
  /** The calendar month (UTC) the figures are for, YYYY-MM. */
  month: string;
  spentCents: number;
  committedCents: number;
  remainingCents: number;
}

type BudgetState = Pick<SchedulingState, 'queue' | 'queuedSpecs' | 'running' | 'fleet'>;

/** monthOf: [start, end) of the UTC calendar month holding `t`. */
export function monthOf(t: number): { from: number; to: number; month: string } {
  const d = new Date(t);
  const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { from, to, month: new Date(from).toISOString().slice(0, 7) };
}

export class Budgets {
  /** Estimates admitted but not yet in the queue, per organisation. */
  private readonly reserved = new Map<string, Map<symbol, number>>();
  /** Caps read or set (null: none): a submission without a budget costs no read. Only set() changes one. */
  private readonly caps = new Map<string, number | null>();

  constructor(
    private readonly store: Store,
    private readonly state: BudgetState,
    private readonly prices: Pick<PriceBook, 'timeline'>,
    private readonly usage: Pick<UsageReports, 'orgCost'>,
    private readonly now: () => number,
  ) {}

  async set(ctx: RequestContext, org: string, capCents: number): Promise<BudgetStatus> {
    enforce(canSeeOrg(ctx.principal, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    const exists = await this.store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst();
    if (!exists) throw notFound('org', org);
    enforce(canAdminOrg(ctx.principal, org), "only the organisation's admins and operators set its budget");
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      const before = await trx.selectFrom('budgets').select('cap_cents').where('org_id', '=', org).executeTakeFirst();
      await trx
        .insertInto('budgets')
        .values({ org_id: org, cap_cents: capCents, updated_at: at, updated_by: ctx.principal.userId })
        .onConflict((oc) =>
          oc.column('org_id').doUpdateSet({ cap_cents: capCents, updated_at: at, updated_by: ctx.principal.userId }),
        )
        .execute();
      this.caps.delete(org);
      await appendAudit(trx, {
        at,
        actor: ctx.principal.userId,
        org,
        action: 'budget.set',
        objectType: 'budget',
        objectId: org,
        before: before ? { capCents: before.cap_cents } : undefined,
        after: { capCents },
        requestId: ctx.requestId,
      });
    });
    this.caps.set(org, capCents);
    return this.status(ctx.principal, org);
  }

  /** status: the cap and this month's figures; 404 budget_not_found when the organisation has none. */
  async status(p: Principal, org: string): Promise<BudgetStatus> {
    enforce(canSeeOrg(p, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    const cap = await this.capOf(org);
    if (cap === null) throw notFound('budget', org);
    const { spent, committed, month } = await this.figures(org, await this.prices.timeline());
    return { org, capCents: cap, month, spentCents: spent, committedCents: committed, remainingCents: cap - spent - committed };
  }

  /**
   * admit: refuses (422 budget_exhausted) a job that could take the organisation past its cap;
   * otherwise reserves its estimate and returns the release, to call once the job is queued or refused.
   */
  async admit(org: string, spec: JobSpec): Promise<() => void> {
    const cap = await this.capOf(org);
    if (cap === null) return () => {};
    const prices = await this.prices.timeline();
    const { spent, committed, month } = await this.figures(org, prices);
    // From here to the reservation nothing awaits: concurrent checks see each other's reservations.
    const estimate = this.specCost(prices, spec);
    const reserved = [...(this.reserved.get(org)?.values() ?? [])].reduce((a, c) => a + c, 0);
    if (spent + committed + reserved + estimate > cap) {
      throw new DomainError(
        'unprocessable',
        'budget_exhausted',
        `the job could cost EUR ${euros(estimate)}, but organisation ${org} has EUR ${euros(Math.max(0, cap - spent - committed - reserved))} ` +
          `left of its EUR ${euros(cap)} budget for ${month} (spent EUR ${euros(spent)}, committed to queued and running jobs EUR ${euros(committed + reserved)}); ` +
          'ask for a shorter time limit, fewer GPUs, or a larger budget',
      );
    }
    const key = Symbol('reservation');
    const mine = this.reserved.get(org) ?? new Map<symbol, number>();
    mine.set(key, estimate);
    this.reserved.set(org, mine);
    return () => {
      mine.delete(key);
      if (mine.size === 0 && this.reserved.get(org) === mine) this.reserved.delete(org);
    };
  }

  private async capOf(org: string): Promise<number | null> {
    const known = this.caps.get(org);
    if (known !== undefined) return known;
    const row = await this.store.db.selectFrom('budgets').select('cap_cents').where('org_id', '=', org).executeTakeFirst();
    const cap = row?.cap_cents ?? null;
    // A set() that committed meanwhile has cached the newer cap: keep it.
    if (!this.caps.has(org)) this.caps.set(org, cap);
    return cap;
  }

  /** figures: spent this month, and what the queued jobs and the rest of the running ones would cost. */
  private async figures(org: string, prices: PriceTimeline): Promise<{ spent: number; committed: number; month: string }> {
    const now = this.now();
    const { from, to, month } = monthOf(now);
    const spent = await this.usage.orgCost(org, from, to);
    let committed = 0;
    for (const [id, job] of this.state.queue) {
      const spec = this.state.queuedSpecs.get(id);
      if (job.org === org && spec) committed += this.specCost(prices, spec);
    }
    for (const r of this.state.running.values()) {
      if (r.org !== org) continue;
      const price = prices.priceAt(now, r.gpuType, usageClass(r.priority, r.borrowed));
      const leftMs = Math.max(0, r.startedAt + r.spec.maxRuntimeSeconds * 1000 - now);
      if (price) committed += roundCents(costNumerator(r.gpus, leftMs, price.centsPerGpuHour));
    }
    return { spent, committed, month };
  }

  /** specCost: the job's estimate; a job with no price in effect costs nothing (it is not billed). */
  private specCost(prices: PriceTimeline, spec: JobSpec): number {
    try {
      return estimateCost(prices, this.state.fleet, spec, this.now()).cost;
    } catch (err) {
      if (err instanceof DomainError && err.code === 'no_price') return 0;
      throw err;
    }
  }
}
