/**
 * BudgetFigures: every budget's cap (all of them in memory: there are few, and a submission without a
 * budget costs no read), this month's figures per budget, and the scheduler's budget input for a
 * cycle (what is left of each budget, each queued job's estimate).
 */
import { costNumerator, type PriceTimeline, roundCents } from '../model/cost.js';
import { DomainError } from '../model/errors.js';
import type { Budget, BudgetPolicy } from '../model/prices.js';
import type { JobSpec } from '../model/schemas.js';
import { usageClass } from '../model/usage.js';
import type { BudgetInput, BudgetLimit, SchedJob } from '../scheduler/index.js';
import type { Store } from '../store/open-store.js';
import { estimateCost } from './cost-estimate.js';
import type { SchedulingState } from './cycle/scheduling-state.js';
import type { PriceBook } from './price-book.js';
import type { UsageReports } from './usage-report.js';

export type BudgetScope = 'org' | 'project';

/** BudgetCap: one budget as stored: its scope and id (org or project), its organisation, cap and policy. */
export interface BudgetCap {
  scope: BudgetScope;
  id: string;
  org: string;
  capCents: number;
  policy: BudgetPolicy;
  /** Percents of the cap that raise an alert once a month (budget-alerts.ts). */
  alertThresholds: number[];
  webhookUrl: string | null;
}

export type BudgetState = Pick<SchedulingState, 'queue' | 'queuedSpecs' | 'running' | 'fleet' | 'poke'>;

export const budgetKey = (scope: BudgetScope, id: string) => `${scope}:${id}`;

/** monthOf: [start, end) of the UTC calendar month holding `t`. */
export function monthOf(t: number): { from: number; to: number; month: string } {
  const d = new Date(t);
  const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { from, to, month: new Date(from).toISOString().slice(0, 7) };
}

export class BudgetFigures {
  private loaded: Promise<Map<string, BudgetCap>> | null = null;
  /** Counts forget()s: a refresh() that a set() overtook does not install what it read before the set. */
  private generation = 0;
  /** The month the last cycle's budget input was for: a new month frees budget. */
  private cycleMonth: string | null = null;

  constructor(
    private readonly store: Store,
    private readonly state: BudgetState,
    private readonly priceBook: Pick<PriceBook, 'timeline'>,
    private readonly usage: Pick<UsageReports, 'orgCost' | 'projectCost'>,
    readonly now: () => number,
  ) {}

  /** caps: every budget by key (read once, again after a set() here or a refresh() that found a change). */
  caps(): Promise<Map<string, BudgetCap>> {
    if (!this.loaded) {
      const loading = this.load();
      this.loaded = loading;
      // A failed read is not cached: the next caller reads again.
      loading.catch(() => {
        if (this.loaded === loading) this.loaded = null;
      });
    }
    return this.loaded;
  }

  /** forget: a set() changed a budget. */
  forget(): void {
    this.loaded = null;
    this.generation++;
  }

  /**
   * refresh re-reads every budget (another replica on the same database may have set one: every replica
   * calls this every 2 s) and answers whether any differs from what this process had in memory.
   */
  async refresh(): Promise<boolean> {
    const generation = this.generation;
    const before = this.loaded ? await this.loaded.catch(() => null) : null;
    const fresh = await this.load();
    // A set() through this replica forgot the caps meanwhile: the next read is fresh anyway.
    if (generation !== this.generation) return true;
    this.loaded = Promise.resolve(fresh);
    return !sameCaps(before, fresh);
  }

  prices(): Promise<PriceTimeline> {
    return this.priceBook.timeline();
  }

  private async load(): Promise<Map<string, BudgetCap>> {
    const out = new Map<string, BudgetCap>();
    const db = this.store.db;
    const cols = ['cap_cents', 'policy', 'alert_thresholds', 'webhook_url', 'org_id'] as const;
    const common = (r: {
      cap_cents: number;
      policy: string;
      alert_thresholds: string;
      webhook_url: string | null;
      org_id: string;
    }) => ({
      org: r.org_id,
      capCents: Number(r.cap_cents),
      policy: r.policy as BudgetPolicy,
      alertThresholds: parseThresholds(r.alert_thresholds),
      webhookUrl: r.webhook_url,
    });
    for (const r of await db.selectFrom('budgets').select(cols).execute()) {
      out.set(budgetKey('org', r.org_id), { scope: 'org', id: r.org_id, ...common(r) });
    }
    for (const r of await db
      .selectFrom('project_budgets')
      .select([...cols, 'project_id'])
      .execute()) {
      out.set(budgetKey('project', r.project_id), { scope: 'project', id: r.project_id, ...common(r) });
    }
    return out;
  }

  /** report: the budget and this month's figures, as the API shows them. */
  async report(cap: BudgetCap): Promise<Budget> {
    const { spent, committed, month } = await this.of(cap, await this.prices());
    return {
      org: cap.org,
      ...(cap.scope === 'project' ? { project: cap.id } : {}),
      capCents: cap.capCents,
      policy: cap.policy,
      alertThresholds: cap.alertThresholds,
      webhookUrl: cap.webhookUrl,
      month,
      spentCents: spent,
      committedCents: committed,
      remainingCents: cap.capCents - spent - committed,
    };
  }

  /** of: spent this month in the budget's scope, and what its queued jobs and the rest of its running ones would cost. */
  async of(cap: BudgetCap, prices: PriceTimeline): Promise<{ spent: number; committed: number; month: string }> {
    const { month, spent } = await this.spent(cap);
    const now = this.now();
    let committed = this.runningRest(cap, prices, now);
    for (const [id, job] of this.state.queue) {
      const spec = this.state.queuedSpecs.get(id);
      if (spec && inScope(cap, job)) committed += this.specCost(prices, spec);
    }
    return { spent, committed, month };
  }

  private async spent(cap: BudgetCap): Promise<{ spent: number; month: string }> {
    const { from, to, month } = monthOf(this.now());
    const spent =
      cap.scope === 'org' ? await this.usage.orgCost(cap.id, from, to) : await this.usage.projectCost(cap.id, from, to);
    return { spent, month };
  }

  /** runningRest: what the scope's running jobs would cost for the rest of their time limits. */
  private runningRest(cap: BudgetCap, prices: PriceTimeline, now: number): number {
    let rest = 0;
    for (const r of this.state.running.values()) {
      if (!inScope(cap, r)) continue;
      const price = prices.priceAt(now, r.gpuType, usageClass(r.priority, r.borrowed, r.spec.kind));
      const leftMs = Math.max(0, r.startedAt + r.spec.maxRuntimeSeconds * 1000 - now);
      if (price) rest += roundCents(costNumerator(r.gpus, leftMs, price.centsPerGpuHour));
    }
    return rest;
  }

  /** specCost: the job's estimate; a job with no price in effect costs nothing (it is not billed). */
  specCost(prices: PriceTimeline, spec: JobSpec): number {
    try {
      return estimateCost(prices, this.state.fleet, spec, this.now()).cost;
    } catch (err) {
      if (err instanceof DomainError && err.code === 'no_price') return 0;
      throw err;
    }
  }

  /** due: a new month began since the last cycle's budget input (jobs waiting for money may start). */
  due(now: number): boolean {
    return this.cycleMonth !== null && monthOf(now).month !== this.cycleMonth;
  }

  /**
   * prepareCycle reads what needs the store (caps, prices, this month's spend of every budget with
   * queued jobs) and returns the synchronous rest, to run on the cycle's queue with nothing awaited
   * in between: the running jobs' rest and each queued job's estimate are then those the cycle sees.
   */
  async prepareCycle(now: number): Promise<((queue: BudgetQueue) => BudgetInput) | undefined> {
    const caps = await this.caps();
    this.cycleMonth = monthOf(now).month;
    if (caps.size === 0) return undefined;
    // Budgets with queued jobs, from the queue's per-organisation and per-project counts (no walk).
    const { queue } = this.state;
    const wanted = [...caps.values()].filter((c) => (c.scope === 'org' ? queue.countOf(c.id) : queue.countOfProject(c.id)) > 0);
    if (wanted.length === 0) return undefined;
    const prices = await this.prices();
    const spent = new Map<BudgetCap, { spent: number; month: string }>();
    for (const cap of wanted) spent.set(cap, await this.spent(cap));
    return (queue) => {
      const limits: BudgetLimits = { orgs: new Map(), projects: new Map() };
      for (const [cap, s] of spent) {
        const remainingCents = cap.capCents - s.spent - this.runningRest(cap, prices, now);
        const limit: BudgetLimit = { scope: cap.scope, id: cap.id, capCents: cap.capCents, remainingCents, month: s.month };
        (cap.scope === 'org' ? limits.orgs : limits.projects).set(cap.id, limit);
      }
      const { costs, late } = budgetCosts(caps, limits, jobsUnderCaps(caps.values(), queue), this.cycleMonth ?? '', (j) => {
        const spec = this.state.queuedSpecs.get(j.id);
        // A queued job whose spec is not in memory yet counts as the dearest: it waits, never overshoots.
        return spec ? this.specCost(prices, spec) : Number.MAX_SAFE_INTEGER;
      });
      if (late) this.state.poke();
      return { ...limits, costs };
    };
  }
}

/** BudgetQueue: the cycle's queue as the budget gate reads it, one organisation's or project's jobs at a time. */
export interface BudgetQueue {
  ofOrg(org: string): Iterable<SchedJob>;
  ofProject(project: string): Iterable<SchedJob>;
}

export interface BudgetLimits {
  orgs: Map<string, BudgetLimit>;
  projects: Map<string, BudgetLimit>;
}

/**
 * jobsUnderCaps: the queue's jobs some budget covers (its organisation's or its project's), each
 * once: the budget gate's costs are read from these, so a cycle reads the budgeted organisations'
 * and projects' jobs, not the whole queue.
 */
export function jobsUnderCaps(caps: Iterable<BudgetCap>, queue: BudgetQueue): SchedJob[] {
  const seen = new Set<string>();
  const out: SchedJob[] = [];
  for (const cap of caps) {
    for (const j of cap.scope === 'org' ? queue.ofOrg(cap.id) : queue.ofProject(cap.id)) {
      if (seen.has(j.id)) continue;
      seen.add(j.id);
      out.push(j);
    }
  }
  return out;
}

/**
 * budgetCosts: each of `jobs`' estimate where a budget limits it (`limits`, completed in place); a
 * budget whose first job arrived while the spend was read gets nothing left for this cycle (`late`:
 * the caller asks for the next). Jobs under no budget are skipped, so passing them changes nothing.
 */
export function budgetCosts(
  caps: ReadonlyMap<string, BudgetCap>,
  limits: BudgetLimits,
  jobs: Iterable<SchedJob>,
  month: string,
  costOf: (j: SchedJob) => number,
): { costs: Map<string, number>; late: boolean } {
  const costs = new Map<string, number>();
  let late = false;
  for (const j of jobs) {
    for (const [scope, id, table] of [
      ['org', j.org, limits.orgs],
      ['project', j.project, limits.projects],
    ] as const) {
      const cap = caps.get(budgetKey(scope, id));
      if (cap && !table.has(id)) {
        table.set(id, { scope, id, capCents: cap.capCents, remainingCents: 0, month });
        late = true;
      }
    }
    if (!limits.orgs.has(j.org) && !limits.projects.has(j.project)) continue;
    costs.set(j.id, costOf(j));
  }
  return { costs, late };
}

function sameCaps(a: Map<string, BudgetCap> | null, b: Map<string, BudgetCap>): boolean {
  if (!a || a.size !== b.size) return a === null && b.size === 0;
  for (const [k, c] of b) {
    const o = a.get(k);
    if (
      !o ||
      o.capCents !== c.capCents ||
      o.policy !== c.policy ||
      o.webhookUrl !== c.webhookUrl ||
      o.alertThresholds.join(',') !== c.alertThresholds.join(',')
    )
      return false;
  }
  return true;
}

function parseThresholds(text: string): number[] {
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? v.filter((n): n is number => typeof n === 'number') : [];
}

function inScope(cap: BudgetCap, j: { org: string; project: string }): boolean {
  return cap.scope === 'org' ? j.org === cap.id : j.project === cap.id;
}
