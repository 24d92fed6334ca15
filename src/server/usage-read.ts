/**
 * Reading a usage report's segments: whole UTC days inside the period whose prices do not change
 * during the day come from the daily rollup (usage_daily, one row per org, project, GPU type, site,
 * class and day, kept by metering's close path); the rest of the period — a partial first or last
 * day, a day with a price change inside it — from the closed segments that touch it, and the
 * running segments from their own partial index. Everything is read in one transaction (one
 * snapshot), so a segment closing meanwhile is counted once. The answer equals adding up every raw
 * segment (test/server/usage-rollup-property.test.ts).
 */
import { type Kysely, sql } from 'kysely';
import type { PriceTimeline } from '../model/cost.js';
import { GRANULARITY_MS } from '../model/prices.js';
import { USAGE_CLASSES, type UsageClass, type UsageGroup } from '../model/usage.js';
import { DAY_MS } from '../model/usage-daily.js';
import type { Store } from '../store/open-store.js';
import type { Database } from '../store/schema.js';
import type { Segment, UsageAggregate } from './usage-aggregate.js';

const isClass = (c: string): c is UsageClass => (USAGE_CLASSES as readonly string[]).includes(c);
const BATCH = 5000;
const iso = (t: number) => new Date(t).toISOString();
const dayName = (d: number) => iso(d * DAY_MS).slice(0, 10);
const DIM_COLUMN = {
  org: 'org_id',
  project: 'project_id',
  gpuType: 'gpu_type',
  site: 'site',
  class: 'class',
  day: 'day',
} as const satisfies Record<UsageGroup, string>;

export interface UsageFilter {
  org?: string;
  project?: string;
}

/** A usage segment's row as read raw (the columns RAW_COLUMNS selects). */
export interface UsageSegmentRow {
  id: number;
  org_id: string;
  project_id: string;
  gpu_type: string;
  site: string;
  class: string;
  gpus: number;
  started_at: string;
  ended_at: string | null;
  measured_joules: number | null;
}

const segment = (r: UsageSegmentRow, now: number): Segment => ({
  org: r.org_id,
  project: r.project_id,
  gpuType: r.gpu_type,
  site: r.site,
  class: isClass(r.class) ? r.class : 'on-demand',
  gpus: Number(r.gpus),
  start: Date.parse(r.started_at),
  end: r.ended_at === null ? now : Date.parse(r.ended_at),
  open: r.ended_at === null,
  measuredJoules: r.measured_joules === null ? null : Number(r.measured_joules),
});
const RAW_COLUMNS = [
  'id',
  'org_id',
  'project_id',
  'gpu_type',
  'site',
  'class',
  'gpus',
  'started_at',
  'ended_at',
  'measured_joules',
] as const;

/** readUsage: adds every segment of [from, to) (filtered) to `agg`, rollup for whole days, raw for the rest. */
export async function readUsage(
  store: Store,
  agg: UsageAggregate,
  prices: PriceTimeline,
  from: number,
  to: number,
  now: number,
  only: UsageFilter,
): Promise<void> {
  // Days d with [d, d+1) inside the period and one price all day come from the rollup.
  const firstDay = Math.floor(from / DAY_MS);
  const endDay = Math.ceil(to / DAY_MS);
  const rolled = (d: number) =>
    d * DAY_MS >= from && (d + 1) * DAY_MS <= to && !prices.changesWithin(d * DAY_MS, (d + 1) * DAY_MS);
  // The rest: maximal runs of other days, clipped to the period.
  const windows: { a: number; b: number; days: [number, number] }[] = [];
  for (let d = firstDay; d < endDay; d++) {
    if (rolled(d)) continue;
    const last = windows[windows.length - 1];
    if (last && last.days[1] === d) {
      last.days[1] = d + 1;
      last.b = Math.min(to, (d + 1) * DAY_MS);
    } else windows.push({ a: Math.max(from, d * DAY_MS), b: Math.min(to, (d + 1) * DAY_MS), days: [d, d + 1] });
  }
  const read = async (db: Kysely<Database>) => {
    // Whole days: the rollup summed in the database per asked-for dimension and per GPU type,
    // class and day (what a price depends on); days that are not rolled up are dropped here.
    const dims = agg.dimensions.map((g) => DIM_COLUMN[g]);
    const keys = [...new Set([...dims, 'gpu_type', 'class', 'day'] as const)];
    let daily = db
      .selectFrom('usage_daily')
      .select(keys)
      .select([
        sql<string>`cast(sum(run_mms) as text)`.as('run'),
        sql<string>`cast(sum(billed_mms) as text)`.as('billed'),
        sql<number>`sum(pieces)`.as('pieces'),
        sql<number>`sum(starts)`.as('starts'),
        sql<string>`cast(sum(measured_mms) as text)`.as('measured_mms'),
        sql<number>`sum(measured_kwh)`.as('measured_kwh'),
      ])
      .where('day', '>=', dayName(firstDay))
      .where('day', '<', dayName(endDay));
    if (only.org !== undefined) daily = daily.where('org_id', '=', only.org);
    if (only.project !== undefined) daily = daily.where('project_id', '=', only.project);
    for (const r of await daily.groupBy(keys).execute()) {
      const d = Math.round(Date.parse(`${r.day}T00:00:00Z`) / DAY_MS);
      if (!rolled(d)) continue;
      const row = r as Partial<Record<(typeof keys)[number], string>> & typeof r;
      const cls = row.class ?? '';
      agg.addDaily(
        {
          org: row.org_id ?? '',
          project: row.project_id ?? '',
          gpuType: row.gpu_type ?? '',
          site: row.site ?? '',
          class: isClass(cls) ? cls : 'on-demand',
          day: d,
          runMms: BigInt(r.run),
          billedMms: BigInt(r.billed),
          pieces: Number(r.pieces),
          starts: Number(r.starts),
          measuredMms: BigInt(r.measured_mms),
          measuredKwh: Number(r.measured_kwh),
        },
        d * DAY_MS === from,
      );
    }
    // The other days: how far back the closed segments touching them began, which bounds the raw read.
    const earliest = new Map<number, string>();
    const rawDays = windows.flatMap((w) => Array.from({ length: w.days[1] - w.days[0] }, (_, i) => dayName(w.days[0] + i)));
    for (let i = 0; i < rawDays.length; i += 500) {
      let e = db
        .selectFrom('usage_daily')
        .select(['day', sql<string>`min(earliest_start)`.as('earliest')])
        .where('day', 'in', rawDays.slice(i, i + 500));
      if (only.org !== undefined) e = e.where('org_id', '=', only.org);
      if (only.project !== undefined) e = e.where('project_id', '=', only.project);
      for (const r of await e.groupBy('day').execute())
        earliest.set(Math.round(Date.parse(`${r.day}T00:00:00Z`) / DAY_MS), r.earliest);
    }
    // Closed segments touching each window: begun no earlier than the rollup says, billed into it
    // (a segment that ended before the window may be billed into it, by a minute at most).
    for (const w of windows) {
      let since: string | undefined;
      for (let d = w.days[0]; d < w.days[1]; d++) {
        const e = earliest.get(d);
        if (e !== undefined && (since === undefined || e < since)) since = e;
      }
      if (since === undefined) continue;
      const billedSince = iso(w.a - GRANULARITY_MS.minute);
      for (let afterStart = since, afterId = 0; ; ) {
        let sel = db
          .selectFrom('usage_records')
          .select(RAW_COLUMNS)
          .where('started_at', '>=', afterStart)
          .where('started_at', '<', iso(w.b))
          .where('ended_at', 'is not', null)
          .where('ended_at', '>', billedSince)
          .where((eb) => eb.or([eb('started_at', '>', afterStart), eb('id', '>', afterId)]));
        if (only.org !== undefined) sel = sel.where('org_id', '=', only.org);
        if (only.project !== undefined) sel = sel.where('project_id', '=', only.project);
        const rows = await sel.orderBy('started_at').orderBy('id').limit(BATCH).execute();
        for (const r of rows) agg.add(segment(r, now), [[w.a, w.b]]);
        if (rows.length < BATCH) break;
        const lastRow = rows[rows.length - 1]!;
        afterStart = lastRow.started_at;
        afterId = lastRow.id;
      }
    }
    // Running segments: up to now, over the whole period.
    for (let after = 0; ; ) {
      let sel = db
        .selectFrom('usage_records')
        .select(RAW_COLUMNS)
        .where('ended_at', 'is', null)
        .where('id', '>', after)
        .where('started_at', '<', iso(to));
      if (only.org !== undefined) sel = sel.where('org_id', '=', only.org);
      if (only.project !== undefined) sel = sel.where('project_id', '=', only.project);
      const rows = await sel.orderBy('id').limit(BATCH).execute();
      for (const r of rows) agg.add(segment(r, now));
      if (rows.length < BATCH) break;
      after = rows[rows.length - 1]!.id;
    }
  };
  if (store.dialect === 'postgres') await store.db.transaction().setIsolationLevel('repeatable read').execute(read);
  else await store.db.transaction().execute(read);
}

/** readUsageRaw: every segment of [from, to) from the raw records (the reference the rollup must equal). */
export async function readUsageRaw(
  db: Kysely<Database>,
  agg: UsageAggregate,
  from: number,
  to: number,
  now: number,
  only: UsageFilter,
): Promise<void> {
  const billedSince = iso(from - GRANULARITY_MS.minute);
  for (let after = 0; ; ) {
    let sel = db
      .selectFrom('usage_records')
      .select(RAW_COLUMNS)
      .where('id', '>', after)
      .where('started_at', '<', iso(to))
      .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>', billedSince)]));
    if (only.org !== undefined) sel = sel.where('org_id', '=', only.org);
    if (only.project !== undefined) sel = sel.where('project_id', '=', only.project);
    const rows = await sel.orderBy('id').limit(BATCH).execute();
    for (const r of rows) agg.add(segment(r, now));
    if (rows.length < BATCH) break;
    after = rows[rows.length - 1]!.id;
  }
}
