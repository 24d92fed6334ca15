/**
 * Usage reports: GPU-seconds of the run segments metered by metering.ts, clipped to a period and
 * grouped by organisation, project, GPU type, site, class or UTC day. Open segments count up to
 * now (or the period's end), and are priced by the price book (usage-aggregate.ts). Whole days
 * come from the daily rollup, the rest from raw segments (usage-read.ts). Tenants see their organisation only; operators all (model/authz).
 */
import { canSeeOrg, isOperator } from '../model/authz.js';
import { invalid, notFound } from '../model/errors.js';
import type { Principal } from '../model/principal.js';
import { MAX_USAGE_PERIOD_DAYS, USAGE_GROUPS, type UsageGroup, type UsageReport } from '../model/usage.js';
import type { FocusExport, FocusRow } from '../model/usage-focus.js';
import type { Store } from '../store/open-store.js';
import type { PriceBook } from './price-book.js';
import { UsageAggregate } from './usage-aggregate.js';
import { focusExport, focusRows, priceStretches } from './usage-focus.js';
import { readUsage } from './usage-read.js';

export interface UsageQuery {
  /** ISO 8601 date or date-time, inclusive; default: 30 days before `to`. */
  from?: string;
  /** ISO 8601 date or date-time, exclusive; default: the end of today (UTC). */
  to?: string;
  /** Comma-separated dimensions (USAGE_GROUPS); default: project. */
  groupBy?: string;
  org?: string;
  project?: string;
}

const DAY_MS = 86_400_000;
const isGroup = (g: string): g is UsageGroup => (USAGE_GROUPS as readonly string[]).includes(g);
const ISO_PREFIX = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

function instant(name: 'from' | 'to', v: string): number {
  const t = Date.parse(v);
  if (!ISO_PREFIX.test(v) || Number.isNaN(t)) {
    throw invalid('invalid_period', `${name} is not an ISO 8601 date or date-time: ${v}`, [
      { path: name, message: 'expected e.g. 2026-11-01 or 2026-11-01T00:00:00Z' },
    ]);
  }
  return t;
}

/** period: [from, to) in epoch ms, checked (from before to, at most MAX_USAGE_PERIOD_DAYS). */
export function usagePeriod(q: Pick<UsageQuery, 'from' | 'to'>, now: number): { from: number; to: number } {
  // Defaults are whole UTC days (today and the 29 before it): the same answer all day for the same data.
  const to = q.to === undefined ? (Math.floor(now / DAY_MS) + 1) * DAY_MS : instant('to', q.to);
  const from = q.from === undefined ? to - 30 * DAY_MS : instant('from', q.from);
  if (from >= to)
    throw invalid('invalid_period', `from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
  if (to - from > MAX_USAGE_PERIOD_DAYS * DAY_MS)
    throw invalid('invalid_period', `a usage report covers at most ${MAX_USAGE_PERIOD_DAYS} days; ask for a shorter period`);
  return { from, to };
}

/** groupings: the dimensions asked for, in order, each once. */
export function usageGroups(groupBy: string | undefined): UsageGroup[] {
  if (groupBy === undefined || groupBy.trim() === '') return ['project'];
  const asked = groupBy.split(',').map((g) => g.trim());
  const groups = asked.filter(isGroup);
  const bad = asked.filter((g) => !isGroup(g));
  if (bad.length > 0 || new Set(asked).size !== asked.length) {
    throw invalid(
      'invalid_group_by',
      `groupBy takes a comma-separated list of ${USAGE_GROUPS.join(', ')}, each once${bad.length ? `; unknown: ${bad.join(', ')}` : ''}`,
      [{ path: 'groupBy', message: `one or more of ${USAGE_GROUPS.join(', ')}` }],
    );
  }
  return groups;
}

export class UsageReports {
  constructor(
    private readonly store: Store,
    private readonly prices: Pick<PriceBook, 'timeline'>,
    private readonly now: () => number,
  ) {}

  async report(p: Principal, q: UsageQuery): Promise<UsageReport> {
    const now = this.now();
    const { from, to } = usagePeriod(q, now);
    const groupBy = usageGroups(q.groupBy);
    if (q.org !== undefined && !canSeeOrg(p, q.org).allowed) throw notFound('org', q.org);
    const org = isOperator(p) ? q.org : (p.org ?? '');
    const agg = await this.aggregate(groupBy, from, to, now, { org, project: q.project });
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), groupBy, ...agg.report() };
  }

  /**
   * focus: the period's usage as FOCUS charge rows (usage-focus.ts), one per organisation, project,
   * GPU type, site, class and day, cut at price changes; the same visibility as report().
   */
  async focus(p: Principal, q: Omit<UsageQuery, 'groupBy'>): Promise<FocusExport> {
    const now = this.now();
    const { from, to } = usagePeriod(q, now);
    if (q.org !== undefined && !canSeeOrg(p, q.org).allowed) throw notFound('org', q.org);
    const only = { org: isOperator(p) ? q.org : (p.org ?? ''), project: q.project };
    const prices = await this.prices.timeline();
    const names = await this.names(only);
    const rows: FocusRow[] = [];
    for (const stretch of priceStretches(prices, from, to)) {
      const agg = new UsageAggregate([...USAGE_GROUPS], stretch[0], stretch[1], prices);
      await readUsage(this.store, agg, prices, stretch[0], stretch[1], now, only);
      rows.push(...focusRows(agg.billedRows(), stretch, prices, names));
    }
    return focusExport(from, to, rows);
  }

  /** names: display names of the organisations and projects the export may show (their ids where gone). */
  private async names(only: { org?: string }) {
    let orgs = this.store.db.selectFrom('orgs').select(['id', 'name']);
    let projects = this.store.db.selectFrom('projects').select(['id', 'name']);
    if (only.org !== undefined) {
      orgs = orgs.where('id', '=', only.org);
      projects = projects.where('org_id', '=', only.org);
    }
    const org = new Map((await orgs.execute()).map((r) => [r.id, r.name]));
    const project = new Map((await projects.execute()).map((r) => [r.id, r.name]));
    return { org: (id: string) => org.get(id) ?? id, project: (id: string) => project.get(id) ?? id };
  }

  /** orgCost: an organisation's cost in [from, to) in EUR cents, open segments up to now (budgets). */
  async orgCost(org: string, from: number, to: number): Promise<number> {
    return (await this.aggregate([], from, to, this.now(), { org })).report().total.cost;
  }

  /** projectCost: a project's cost in [from, to) in EUR cents, open segments up to now (project budgets). */
  async projectCost(project: string, from: number, to: number): Promise<number> {
    return (await this.aggregate([], from, to, this.now(), { project })).report().total.cost;
  }

  private async aggregate(
    groupBy: UsageGroup[],
    from: number,
    to: number,
    now: number,
    only: { org?: string; project?: string },
  ): Promise<UsageAggregate> {
    const prices = await this.prices.timeline();
    const agg = new UsageAggregate(groupBy, from, to, prices);
    await readUsage(this.store, agg, prices, from, to, now, only);
    return agg;
  }
}
