/**
 * Reserved capacity in usage reports, the FOCUS export and budgets (issue 15): which of an
 * organisation's usage its commitments covered, by the invoice's rule and with the invoice's sweep
 * (invoices/reserved-cover.ts). Coverage at an instant depends only on the usage at that instant,
 * so a period's coverage is the months' coverage clipped to it: for each commitment (organisation,
 * GPU type, month) the billed parts of that organisation's segments of that type inside the month
 * and the period are read raw and swept. Only organisations with a commitment in the period are
 * read so; the rest of a report stays on the daily rollup.
 */
import type { PriceTimeline } from '../model/cost.js';
import { GRANULARITY_MS } from '../model/prices.js';
import { USAGE_CLASSES, type UsageClass } from '../model/usage.js';
import { DAY_MS, milliGpus, utcDayName } from '../model/usage-daily.js';
import type { Db } from '../store/open-store.js';
import { type CoverPrice, coverOrder, sweepCover } from './invoices/reserved-cover.js';
import { ReservedParts } from './invoices/reserved-parts.js';
import type { CoveredGroup } from './usage-aggregate.js';

const isClass = (c: string): c is UsageClass => (USAGE_CLASSES as readonly string[]).includes(c);
const iso = (t: number) => new Date(t).toISOString();
const BATCH = 5000;

/** A commitment of one month, and the part of the report's period it falls in. */
export interface PeriodCommitment {
  org: string;
  gpuType: string;
  month: string;
  gpus: number;
  centsPerGpuMonth: number;
  /** [from, to): the month clipped to the period. */
  from: number;
  to: number;
  /** The month's length in ms (for prorating its fee). */
  monthMs: number;
}

/** A group of covered usage: where it ran, the day, its price (null: no price in effect), and milli-GPU × ms. */
export interface CoveredUsage extends CoveredGroup {
  price: (CoverPrice & { centsPerGpuHour: number }) | null;
  /** The commitment that covered it. */
  commitment: PeriodCommitment;
}

const monthBounds = (month: string): [number, number] => {
  const [y, m] = month.split('-').map(Number);
  return [Date.UTC(y!, m! - 1, 1), Date.UTC(y!, m!, 1)];
};
const monthName = (t: number) => iso(t).slice(0, 7);

/** commitmentsIn: the commitments of the months [from, to) touches (one organisation's, or all), clipped to it. */
export async function commitmentsIn(db: Db, from: number, to: number, org?: string): Promise<PeriodCommitment[]> {
  const months: string[] = [];
  for (let m = monthBounds(monthName(from))[0]; m < to; m = monthBounds(monthName(m))[1]) months.push(monthName(m));
  let sel = db
    .selectFrom('reserved_capacity')
    .select(['org_id', 'gpu_type', 'month', 'gpus', 'cents_per_gpu_month'])
    .where('month', 'in', months);
  if (org !== undefined) sel = sel.where('org_id', '=', org);
  const rows = await sel.orderBy('org_id').orderBy('month').orderBy('gpu_type').execute();
  return rows.map((r) => {
    const [a, b] = monthBounds(r.month);
    return {
      org: r.org_id,
      gpuType: r.gpu_type,
      month: r.month,
      gpus: r.gpus,
      centsPerGpuMonth: Number(r.cents_per_gpu_month),
      from: Math.max(a, from),
      to: Math.min(b, to),
      monthMs: b - a,
    };
  });
}

/** prorated: the commitment's fee for its part of the period, EUR cents (the whole fee for a whole month). */
export function proratedCents(c: PeriodCommitment): number {
  const whole = c.gpus * c.centsPerGpuMonth;
  return Math.round((whole * (c.to - c.from)) / c.monthMs);
}

interface SegmentRow {
  project_id: string;
  site: string;
  class: string;
  gpus: number;
  started_at: string;
  ended_at: string | null;
}

interface Key {
  project: string;
  site: string;
  class: UsageClass;
  price: (CoverPrice & { centsPerGpuHour: number }) | null;
}

/**
 * coverUsage: the usage each commitment covered, one entry per project, site, class, price and UTC
 * day. Within one price level (same price, class and version) the covered share is split among the
 * projects and sites pro rata to their usage at each instant; the level's total is the invoice's.
 */
export async function coverUsage(
  db: Db,
  prices: PriceTimeline,
  commitments: readonly PeriodCommitment[],
  now: number,
): Promise<CoveredUsage[]> {
  const out: CoveredUsage[] = [];
  for (const c of commitments) {
    if (c.to <= c.from) continue;
    const parts = new ReservedParts();
    const keys = new Map<string, Key>();
    const billedSince = iso(c.from - GRANULARITY_MS.minute);
    const add = (r: SegmentRow) => {
      const cls = isClass(r.class) ? r.class : 'on-demand';
      const start = Date.parse(r.started_at);
      const end = r.ended_at === null ? now : Date.parse(r.ended_at);
      const milli = milliGpus(Number(r.gpus));
      const billedEnd = prices.billedEnd(start, end);
      for (const part of prices.parts(Math.max(start, c.from), Math.min(billedEnd, c.to), c.gpuType, cls)) {
        const v = prices.priceAt(part.start, c.gpuType, cls);
        const price =
          part.centsPerGpuHour === null
            ? null
            : { centsPerGpuHour: part.centsPerGpuHour, class: cls, priceVersion: v?.version ?? 0 };
        const k = `${r.project_id}\u0000${r.site}\u0000${cls}\u0000${price?.priceVersion ?? ''}\u0000${price?.centsPerGpuHour ?? ''}`;
        if (!keys.has(k)) keys.set(k, { project: r.project_id, site: r.site, class: cls, price });
        // Cut at UTC midnights: every covered stretch then falls in one day.
        for (let a = part.start, b = part.start + part.ms; a < b; ) {
          const cut = Math.min(b, (Math.floor(a / DAY_MS) + 1) * DAY_MS);
          parts.push(a, cut, milli, k);
          a = cut;
        }
      }
    };
    // Open segments (few), then closed ones that end after the window began, in keyset pages on the
    // (org_id, ended_at) index, as the invoice run reads them: the month's records, not the history.
    const columns = ['id', 'project_id', 'site', 'class', 'gpus', 'started_at', 'ended_at'] as const;
    const open = await db
      .selectFrom('usage_records')
      .select(columns)
      .where('org_id', '=', c.org)
      .where('ended_at', 'is', null)
      .where('gpu_type', '=', c.gpuType)
      .where('started_at', '<', iso(c.to))
      .execute();
    for (const r of open) add(r);
    for (let after: [string, number] = [billedSince, Number.MAX_SAFE_INTEGER]; ; ) {
      const rows = await db
        .selectFrom('usage_records')
        .select(columns)
        .where('org_id', '=', c.org)
        .where((eb) => eb(eb.refTuple('ended_at', 'id'), '>', eb.tuple(after[0], after[1])))
        .where('started_at', '<', iso(c.to))
        .where('gpu_type', '=', c.gpuType)
        .orderBy('ended_at')
        .orderBy('id')
        .limit(BATCH)
        .execute();
      for (const r of rows) add(r);
      if (rows.length < BATCH) break;
      const last = rows[rows.length - 1]!;
      after = [last.ended_at ?? billedSince, last.id];
    }
    // Levels: keys of equal rank, in the invoice's cover order.
    const info = parts.keys.map((k) => keys.get(k ?? '')!);
    const order = info.map((_, i) => i).sort((x, y) => coverOrder(info[x]!.price, info[y]!.price));
    const levels: number[][] = [];
    for (const i of order) {
      const last = levels[levels.length - 1];
      if (last && coverOrder(info[last[0]!]!.price, info[i]!.price) === 0) last.push(i);
      else levels.push([i]);
    }
    // Covered milli-GPU × ms per key and UTC day of the window, in one typed array (no per-stretch allocation).
    const firstDay = Math.floor(c.from / DAY_MS);
    const days = Math.floor((c.to - 1) / DAY_MS) - firstDay + 1;
    const covered = new Float64Array(info.length * days);
    sweepCover(parts, levels, c.gpus * 1000, (key, at, dt, milli) => {
      covered[key * days + Math.floor(at / DAY_MS) - firstDay]! += milli * dt;
    });
    for (let key = 0; key < info.length; key++) {
      const k = info[key]!;
      for (let d = 0; d < days; d++) {
        const mms = covered[key * days + d]!;
        if (mms <= 0) continue;
        out.push({
          org: c.org,
          project: k.project,
          gpuType: c.gpuType,
          site: k.site,
          class: k.class,
          day: utcDayName(firstDay + d),
          price: k.price,
          mms,
          commitment: c,
        });
      }
    }
  }
  return out;
}
