/**
 * Monthly budgets: a hard cap in EUR cents per calendar month (UTC) for an organisation and, under
 * it, for any of its projects (never above the organisation's cap), set by the organisation's admins
 * or an operator (audited). A budget's policy says what happens at the cap:
 *  - refuse: admission (jobs/submission.ts) refuses a job when what the budget's scope spent this
 *    month (usage cost, running segments up to now) + what its queued jobs would cost run to their
 *    time limits + what its running jobs would cost for the rest of theirs + the new job's estimate
 *    passes the cap. A check reserves its estimate until the job is queued (or refused), so
 *    concurrent submissions cannot together pass a cap that each alone would respect.
 *  - wait: the job is queued; the scheduler's budget gate (src/scheduler/budget-gate.ts, fed by
 *    budget-cycle.ts) starts it only when its estimate fits what is left.
 * Both budgets over a job apply; the tighter one decides. The gate applies to every budget, so a
 * lowered cap also holds jobs that admission accepted before.
 */
import { canAdminOrg, canSeeOrg, enforce } from '../model/authz.js';
import { DomainError, notFound } from '../model/errors.js';
import { euros } from '../model/money.js';
import type { Budget, BudgetList, BudgetPolicy } from '../model/prices.js';
import type { Principal, RequestContext } from '../model/principal.js';
import type { JobSpec } from '../model/schemas.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import { type BudgetCap, BudgetFigures, type BudgetScope, type BudgetState, budgetKey } from './budget-figures.js';
import type { PriceBook } from './price-book.js';
import type { UsageReports } from './usage-report.js';
import { checkWebhookUrl } from './webhook-target.js';

export { monthOf } from './budget-figures.js';

/** What a set() changes: the organisation's budget (project undefined) or one of its projects'. */
interface Target {
  org: string;
  project?: string;
}

/** BudgetChange: the cap, and what to change besides (absent: unchanged). */
export interface BudgetChange {
  capCents: number;
  policy?: BudgetPolicy;
  alertThresholds?: number[];
  webhookUrl?: string | null;
}

export class Budgets {
  /** Estimates admitted but not yet in the queue, per budget key. */
  private readonly reserved = new Map<string, Map<symbol, number>>();
  readonly figures: BudgetFigures;

  constructor(
    private readonly store: Store,
    private readonly state: BudgetState,
    prices: Pick<PriceBook, 'timeline'>,
    usage: Pick<UsageReports, 'orgCost' | 'projectCost'>,
    now: () => number,
    /** The server setting budgetAlerts.allowLoopback (webhook-target.ts). */
    private readonly allowLoopback = false,
  ) {
    this.figures = new BudgetFigures(store, state, prices, usage, now);
  }

  /** set: the organisation's cap (and policy); 422 budget_below_project_cap under one of its projects' caps. */
  async set(ctx: RequestContext, org: string, change: BudgetChange | number): Promise<Budget> {
    const c = typeof change === 'number' ? { capCents: change } : change;
    const capCents = c.capCents;
    await this.mayAdmin(ctx.principal, org);
    const caps = await this.figures.caps();
    const above = [...caps.values()].find((c) => c.scope === 'project' && c.org === org && c.capCents > capCents);
    if (above) {
      throw new DomainError(
        'unprocessable',
        'budget_below_project_cap',
        `project ${above.id} has a budget of EUR ${euros(above.capCents)}, more than the EUR ${euros(capCents)} asked ` +
          `for organisation ${org}; lower the project's budget first`,
      );
    }
    return this.write(ctx, { org }, c);
  }

  /** setProject: a project's cap (and policy); 422 budget_exceeds_org_cap above its organisation's cap. */
  async setProject(ctx: RequestContext, project: string, change: BudgetChange | number, policy?: BudgetPolicy): Promise<Budget> {
    const c = typeof change === 'number' ? { capCents: change, policy } : change;
    const capCents = c.capCents;
    const org = await this.orgOfProject(ctx.principal, project);
    await this.mayAdmin(ctx.principal, org);
    const orgCap = (await this.figures.caps()).get(budgetKey('org', org));
    if (orgCap && capCents > orgCap.capCents) {
      throw new DomainError(
        'unprocessable',
        'budget_exceeds_org_cap',
        `a budget of EUR ${euros(capCents)} for project ${project} exceeds organisation ${org}'s cap of ` +
          `EUR ${euros(orgCap.capCents)}; ask for at most that, or raise the organisation's budget first`,
      );
    }
    return this.write(ctx, { org, project }, c);
  }

  /** status: the organisation's cap and this month's figures; 404 budget_not_found without one. */
  async status(p: Principal, org: string): Promise<Budget> {
    enforce(canSeeOrg(p, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    const cap = (await this.figures.caps()).get(budgetKey('org', org));
    if (!cap) throw notFound('budget', org);
    return this.figures.report(cap);
  }

  /** projectStatus: a project's cap and this month's figures; 404 budget_not_found without one. */
  async projectStatus(p: Principal, project: string): Promise<Budget> {
    await this.orgOfProject(p, project);
    const cap = (await this.figures.caps()).get(budgetKey('project', project));
    if (!cap) throw notFound('budget', project);
    return this.figures.report(cap);
  }

  /** list: the organisation's budget (if any), then its projects' by id, with this month's figures. */
  async list(p: Principal, org: string): Promise<BudgetList> {
    enforce(canSeeOrg(p, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    await this.orgExists(org);
    const mine = [...(await this.figures.caps()).values()]
      .filter((c) => c.org === org)
      .sort((a, b) => (a.scope === b.scope ? a.id.localeCompare(b.id) : a.scope === 'org' ? -1 : 1));
    const items: Budget[] = [];
    for (const c of mine) items.push(await this.figures.report(c));
    return { org, items };
  }

  /**
   * admit: refuses (422 budget_exhausted) a job that could take a `refuse` budget over it (its
   * project's, its organisation's) past its cap; otherwise reserves its estimate under both and
   * returns the release, to call once the job is queued or refused. `wait` budgets never refuse.
   */
  async admit(org: string, spec: JobSpec): Promise<() => void> {
    const caps = await this.figures.caps();
    const over = [caps.get(budgetKey('project', spec.project)), caps.get(budgetKey('org', org))].filter(
      (c): c is BudgetCap => c !== undefined,
    );
    if (over.length === 0) return () => {};
    const prices = await this.figures.prices();
    const figures: { cap: BudgetCap; spent: number; committed: number; month: string }[] = [];
    for (const cap of over) figures.push({ cap, ...(await this.figures.of(cap, prices)) });
    // From here to the reservation nothing awaits: concurrent checks see each other's reservations.
    const estimate = this.figures.specCost(prices, spec);
    for (const { cap, spent, committed, month } of figures) {
      if (cap.policy !== 'refuse') continue;
      const reserved = [...(this.reserved.get(budgetKey(cap.scope, cap.id))?.values() ?? [])].reduce((a, c) => a + c, 0);
      if (spent + committed + reserved + estimate <= cap.capCents) continue;
      const whose = cap.scope === 'org' ? `organisation ${cap.id}` : `project ${cap.id}`;
      throw new DomainError(
        'unprocessable',
        'budget_exhausted',
        `the job could cost EUR ${euros(estimate)}, but ${whose} has EUR ${euros(Math.max(0, cap.capCents - spent - committed - reserved))} ` +
          `left of its EUR ${euros(cap.capCents)} budget for ${month} (spent EUR ${euros(spent)}, committed to queued and running jobs EUR ${euros(committed + reserved)}); ` +
          'ask for a shorter time limit, fewer GPUs, or a larger budget',
      );
    }
    const key = Symbol('reservation');
    const held: Map<symbol, number>[] = [];
    for (const { cap } of figures) {
      const k = budgetKey(cap.scope, cap.id);
      const mine = this.reserved.get(k) ?? new Map<symbol, number>();
      mine.set(key, estimate);
      this.reserved.set(k, mine);
      held.push(mine);
    }
    return () => {
      for (const [i, mine] of held.entries()) {
        mine.delete(key);
        const k = budgetKey(figures[i].cap.scope, figures[i].cap.id);
        if (mine.size === 0 && this.reserved.get(k) === mine) this.reserved.delete(k);
      }
    };
  }

  private async write(ctx: RequestContext, t: Target, c: BudgetChange): Promise<Budget> {
    const { capCents } = c;
    if (c.webhookUrl) {
      await checkWebhookUrl(c.webhookUrl, this.allowLoopback);
      const secret = await this.store.db
        .selectFrom('budget_webhook_secrets')
        .select('org_id')
        .where('org_id', '=', t.org)
        .executeTakeFirst();
      if (!secret) {
        throw new DomainError(
          'unprocessable',
          'webhook_secret_missing',
          `organisation ${t.org} has no webhook signing secret yet: create one first (POST /v1/orgs/${t.org}/budget-webhook-secret, ` +
            `gigafab budget webhook-secret ${t.org}), then set the URL`,
        );
      }
    }
    const at = new Date(this.figures.now()).toISOString();
    const by = ctx.principal.userId;
    const scope: BudgetScope = t.project === undefined ? 'org' : 'project';
    const id = t.project ?? t.org;
    await this.store.write(async (trx) => {
      const cols = ['cap_cents', 'policy', 'alert_thresholds', 'webhook_url'] as const;
      const before =
        scope === 'org'
          ? await trx.selectFrom('budgets').select(cols).where('org_id', '=', id).executeTakeFirst()
          : await trx.selectFrom('project_budgets').select(cols).where('project_id', '=', id).executeTakeFirst();
      const pol = c.policy ?? (before?.policy as BudgetPolicy | undefined) ?? 'refuse';
      const thresholds = c.alertThresholds
        ? JSON.stringify([...c.alertThresholds].sort((a, b) => a - b))
        : (before?.alert_thresholds ?? '[]');
      const url = c.webhookUrl !== undefined ? c.webhookUrl : (before?.webhook_url ?? null);
      const row = {
        cap_cents: capCents,
        policy: pol,
        alert_thresholds: thresholds,
        webhook_url: url,
        updated_at: at,
        updated_by: by,
      };
      if (scope === 'org') {
        await trx
          .insertInto('budgets')
          .values({ org_id: id, ...row })
          .onConflict((oc) => oc.column('org_id').doUpdateSet(row))
          .execute();
      } else {
        await trx
          .insertInto('project_budgets')
          .values({ project_id: id, org_id: t.org, ...row })
          .onConflict((oc) => oc.column('project_id').doUpdateSet(row))
          .execute();
      }
      const policy = pol;
      this.figures.forget();
      await appendAudit(trx, {
        at,
        actor: by,
        org: t.org,
        action: 'budget.set',
        objectType: 'budget',
        objectId: scope === 'org' ? t.org : `${t.org}/${id}`,
        before: before
          ? {
              capCents: Number(before.cap_cents),
              policy: before.policy,
              alertThresholds: JSON.parse(before.alert_thresholds),
              webhookUrl: before.webhook_url,
            }
          : undefined,
        after: { capCents, policy, alertThresholds: JSON.parse(thresholds), webhookUrl: url },
        requestId: ctx.requestId,
      });
    });
    this.figures.forget();
    // A raised cap (or a policy change) may let waiting jobs start.
    this.state.poke();
    const cap = (await this.figures.caps()).get(budgetKey(scope, id));
    if (!cap) throw notFound('budget', id);
    return this.figures.report(cap);
  }

  private async mayAdmin(p: Principal, org: string): Promise<void> {
    enforce(canSeeOrg(p, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    await this.orgExists(org);
    enforce(canAdminOrg(p, org), "only the organisation's admins and operators set its budgets");
  }

  private async orgExists(org: string): Promise<void> {
    const exists = await this.store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst();
    if (!exists) throw notFound('org', org);
  }

  /** orgOfProject: the project's organisation, 404 project_not_found if the caller may not see it. */
  private async orgOfProject(p: Principal, project: string): Promise<string> {
    const row = await this.store.db.selectFrom('projects').select('org_id').where('id', '=', project).executeTakeFirst();
    if (!row || !canSeeOrg(p, row.org_id).allowed) throw notFound('project', project);
    return row.org_id;
  }
}
