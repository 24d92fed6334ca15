/**
 * Usage reports: GPU-seconds of the run segments metered by metering.ts, clipped to a period and
 * grouped by organisation, project, GPU type, site, class or UTC day. Open segments count up to
 * now (or the period's end), and are priced by the price book (usage-aggregate.ts). Whole days
 * come from the daily rollup, the rest from raw segments (usage-read.ts). Tenants see their organisation only; operators all (model/authz).
 */
import { canSeeOrg, isOperator } from '../model/authz.js';
import type { PriceTimeline } from '../model/cost.js';
import { invalid, notFound } from '../model/errors.js';
import type { Principal } from '../model/principal.js';
import { MAX_USAGE_PERIOD_DAYS, USAGE_GROUPS, type UsageGroup, type UsageReport, type UsageReservation } from '../model/usage.js';
import type { FocusExport, FocusRow } from '../model/usage-focus.js';
import type { Store } from '../store/open-store.js';
import type { PriceBook } from './price-book.js';
import { UsageAggregate } from './usage-aggregate.js';
import { commitmentsIn, coverUsage, type PeriodCommitment, proratedCents } from './usage-coverage.js';
import { commitmentRows, focusExport, focusRows, priceStretches, type UsedRow } from './usage-focus.js';
import { readUsage, type UsageFilter } from './usage-read.js';

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

/** How long budgets reuse a scope's coverage deduction before sweeping again (netCost). */
export const COVERAGE_TTL_MS = 60_000;

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
    const only = { org, project: q.project };
    const prices = await this.prices.timeline();
    const agg = new UsageAggregate(groupBy, from, to, prices);
    await readUsage(this.store, agg, prices, from, to, now, only);
    const reserved = await this.cover(agg, prices, from, to, now, only);
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      groupBy,
      ...agg.report(),
      ...(reserved.length ? { reservedCapacity: reserved } : {}),
    };
  }

  /**
   * cover: the commitments of the period (those of `only.org`, or all) and the usage they covered,
   * added to `agg` (usage-coverage.ts); none: nothing read beyond one query, the report as before.
   */
  private async cover(
    agg: UsageAggregate,
    prices: PriceTimeline,
    from: number,
    to: number,
    now: number,
    only: UsageFilter,
  ): Promise<UsageReservation[]> {
    const commitments = await commitmentsIn(this.store.db, from, to, only.org);
    if (commitments.length === 0) return [];
    agg.withCoverage();
    const covered = new Map<PeriodCommitment, number>(commitments.map((c) => [c, 0]));
    for (const u of await coverUsage(this.store.db, prices, commitments, now)) {
      if (only.project !== undefined && u.project !== only.project) continue;
      agg.addCovered(u);
      covered.set(u.commitment, covered.get(u.commitment)! + u.mms);
    }
    return commitments.map((c) => ({
      org: c.org,
      gpuType: c.gpuType,
      month: c.month,
      gpus: c.gpus,
      centsPerGpuMonth: c.centsPerGpuMonth,
      from: new Date(c.from).toISOString(),
      to: new Date(c.to).toISOString(),
      amountCents: proratedCents(c),
      coveredGpuSeconds: Math.round(covered.get(c)!) / 1_000_000,
    }));
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
    const commitments = await commitmentsIn(this.store.db, from, to, only.org);
    const byKey = new Map(commitments.map((c) => [`${c.org}\u0000${c.gpuType}\u0000${c.month}`, c]));
    const commitmentOf = (org: string, gpuType: string, month: string) => byKey.get(`${org}\u0000${gpuType}\u0000${month}`);
    const rows: FocusRow[] = [];
    const used: UsedRow[] = [];
    for (const stretch of priceStretches(prices, from, to)) {
      const agg = new UsageAggregate([...USAGE_GROUPS], stretch[0], stretch[1], prices);
      await readUsage(this.store, agg, prices, stretch[0], stretch[1], now, only);
      // Coverage is instantaneous: the stretch's is the commitments' clipped to it.
      const clipped = commitments
        .map((c) => ({ ...c, from: Math.max(c.from, stretch[0]), to: Math.min(c.to, stretch[1]) }))
        .filter((c) => c.to > c.from);
      if (clipped.length) agg.withCoverage();
      for (const u of await coverUsage(this.store.db, prices, clipped, now)) {
        if (only.project === undefined || u.project === only.project) agg.addCovered(u);
      }
      rows.push(...focusRows(agg.billedRows(), stretch, prices, names, commitmentOf, used));
    }
    // A project's export shows the usage its organisation's commitments covered, not their fees.
    if (only.project === undefined) rows.push(...commitmentRows(commitments, used, names));
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

  /** orgCost: an organisation's cost in [from, to) in EUR cents, open segments up to now (budgets); usage reserved capacity covered at 0. */
  async orgCost(org: string, from: number, to: number): Promise<number> {
    return this.netCost(from, to, { org });
  }

  /** projectCost: a project's cost in [from, to) in EUR cents, open segments up to now (project budgets); covered usage at 0. */
  async projectCost(project: string, from: number, to: number): Promise<number> {
    const row = await this.store.db.selectFrom('projects').select('org_id').where('id', '=', project).executeTakeFirst();
    return this.netCost(from, to, { org: row?.org_id, project });
  }

  /**
   * netCost: the cost from the rollup, less what reserved capacity covered. The coverage (a raw read
   * of the reserved types' month) is computed at most once per COVERAGE_TTL_MS per budget scope and
   * period, since budgets ask at every scheduling cycle; in between the last deduction is used. Covered
   * time only grows as the month goes on, so a stale deduction overstates the spend (a budget holds
   * back a little early), never understates it — except after a reconciliation shortens a covered run.
   */
  private async netCost(from: number, to: number, only: UsageFilter): Promise<number> {
    const now = this.now();
    const prices = await this.prices.timeline();
    const agg = new UsageAggregate([], from, to, prices);
    await readUsage(this.store, agg, prices, from, to, now, only);
    const key = `${only.org ?? ''}\u0000${only.project ?? ''}\u0000${from}\u0000${to}`;
    const cached = this.deductions.get(key);
    if (cached && now - cached.at < COVERAGE_TTL_MS) return Math.max(0, agg.report().total.cost - cached.cents);
    await this.cover(agg, prices, from, to, now, only);
    const { total } = agg.report();
    if (this.deductions.size > 10_000) this.deductions.clear();
    this.deductions.set(key, { at: now, cents: total.cost - (total.netCost ?? total.cost) });
    return total.netCost ?? total.cost;
  }

  /** What coverage took off each budget scope's cost, and when it was computed (netCost). */
  private readonly deductions = new Map<string, { at: number; cents: number }>();
}
