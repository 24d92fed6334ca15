/**
 * Adding up run segments into a usage report's groups: GPU-seconds of each segment's part inside
 * the period (split at UTC midnights when grouping by day), and its cost: the segment's time
 * rounded up to the granularity in effect at its start, priced by the version in effect at each
 * instant (split at each price change), summed exactly and rounded to the cent once per group.
 * The total cost is the sum of the groups' costs, so a CSV adds up. Time is summed exactly, in
 * milli-GPU × ms, so that a report built from the daily rollup (addDaily) for whole days and from
 * raw segments (add, clipped to windows) for the rest equals one built from raw segments alone.
 * Energy at the GPUs (itKwh): a measured segment's measurement spread evenly over its run, the
 * power model for the run time of the rest (kept exact per GPU type, in milli-GPU × ms).
 */
import { costNumerator, type PriceTimeline, roundCents } from '../model/cost.js';
import { gpuWatts, kwhOf, round6 } from '../model/energy.js';
import { invalid } from '../model/errors.js';
import { MAX_USAGE_ROWS, type UsageClass, type UsageGroup, type UsageReport, type UsageRow } from '../model/usage.js';
import { milliGpus } from '../model/usage-daily.js';

export interface Segment {
  org: string;
  project: string;
  gpuType: string;
  site: string;
  class: UsageClass;
  gpus: number;
  start: number;
  end: number;
  open: boolean;
  /** Joules the driver measured for the (closed) segment; null or absent: not measured. */
  measuredJoules?: number | null;
}

const DAY_MS = 86_400_000;
const dayNames = new Map<number, string>();
/** utcDay: YYYY-MM-DD of `t`, formatted once per day (reports cover at most 400 days). */
function utcDay(t: number): string {
  const d = Math.floor(t / DAY_MS);
  let name = dayNames.get(d);
  if (name === undefined) {
    name = new Date(d * DAY_MS).toISOString().slice(0, 10);
    if (dayNames.size > 10_000) dayNames.clear();
    dayNames.set(d, name);
  }
  return name;
}

/** dayPieces: [a, b) split at UTC midnights when grouping by day. */
function* dayPieces(a: number, b: number, byDay: boolean): Generator<{ day: string; start: number; ms: number }> {
  while (a < b) {
    const cut = byDay ? Math.min(b, (Math.floor(a / DAY_MS) + 1) * DAY_MS) : b;
    yield { day: utcDay(a), start: a, ms: cut - a };
    a = cut;
  }
}

/** A day of the rollup: one (org, project, GPU type, site, class) on one UTC day (model/usage-daily.ts). */
export interface DailyRow {
  org: string;
  project: string;
  gpuType: string;
  site: string;
  class: UsageClass;
  /** UTC day number (epoch ms / 86,400,000). */
  day: number;
  runMms: bigint;
  billedMms: bigint;
  pieces: number;
  starts: number;
  /** The part of runMms that was measured, and its measured kWh (migration 035). */
  measuredMms: bigint;
  measuredKwh: number;
}

interface Acc {
  row: UsageRow;
  /** Run time, milli-GPU × ms. */
  mms: bigint;
  costNumerator: bigint;
  unpricedMms: bigint;
  /** Billed time (the run rounded up to the granularity), milli-GPU × ms, priced or not. */
  billedMms: bigint;
  /** Unmeasured run time per GPU type (milli-GPU × ms), for the power model; and the measured kWh. */
  modelMms: Map<string, bigint>;
  measuredKwh: number;
  /** Billed time reserved capacity covered (usage-coverage.ts), milli-GPU × ms, and its list price's numerator. */
  coveredMms: bigint;
  coveredNumerator: bigint;
}

/** The kWh at the GPUs of an accumulated group: measured, plus the power model for the rest. */
function itKwhOf(a: Pick<Acc, 'modelMms' | 'measuredKwh'>): number {
  let kwh = a.measuredKwh;
  for (const [type, mms] of a.modelMms) kwh += kwhOf(1, Number(mms / 1000n) + Number(mms % 1000n) / 1000, gpuWatts(type));
  return kwh;
}

const addModel = (a: Acc, gpuType: string, mms: bigint) => {
  if (mms !== 0n) a.modelMms.set(gpuType, (a.modelMms.get(gpuType) ?? 0n) + mms);
};

/** A group of the report with its billed time (GPU-seconds rounded to the millisecond), for the FOCUS export. */
export type BilledRow = UsageRow & { billedGpuSeconds: number };

/** A group of usage a commitment covered: where it ran, the day, milli-GPU × ms, its list price (null: none in effect). */
export interface CoveredGroup {
  org: string;
  project: string;
  gpuType: string;
  site: string;
  class: UsageClass;
  day: string;
  mms: number;
  price: { centsPerGpuHour: number } | null;
}

/** mms to GPU-seconds rounded to the millisecond (half up), and to GPU-hours to 6 decimals. */
const seconds3 = (mms: bigint) => Number((mms + 500n) / 1000n) / 1000;
const hours6 = (mms: bigint) => Number((mms + 1800n) / 3600n) / 1e6;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

export class UsageAggregate {
  private readonly groups = new Map<string, Acc>();
  private readonly byDay: boolean;
  /** Whether coverage was asked for (a commitment falls in the period): rows then carry coveredGpuSeconds and netCost. */
  private covering = false;
  private segments = 0;
  private totalMms = 0n;

  constructor(
    private readonly groupBy: readonly UsageGroup[],
    private readonly from: number,
    private readonly to: number,
    private readonly prices: PriceTimeline,
    private readonly maxRows = MAX_USAGE_ROWS,
  ) {
    this.byDay = groupBy.includes('day');
  }

  /** The dimensions grouped by, in order. */
  get dimensions(): readonly UsageGroup[] {
    return this.groupBy;
  }

  private acc(s: Segment, day: string): Acc {
    const dims = { org: s.org, project: s.project, gpuType: s.gpuType, site: s.site, class: s.class, day };
    const key = this.groupBy.map((g) => dims[g]).join('\u0000');
    let a = this.groups.get(key);
    if (!a) {
      if (this.groups.size >= this.maxRows) {
        throw invalid(
          'usage_report_too_large',
          `the report would have more than ${this.maxRows} rows; ask for a shorter period or group by fewer dimensions`,
          [{ path: 'groupBy', message: 'fewer dimensions, or a shorter period' }],
        );
      }
      const row: UsageRow = {
        ...Object.fromEntries(this.groupBy.map((g) => [g, dims[g]])),
        gpuSeconds: 0,
        gpuHours: 0,
        segments: 0,
        openSegments: 0,
        cost: 0,
        unpricedGpuSeconds: 0,
        itKwh: 0,
        measuredKwh: 0,
      };
      a = {
        row,
        mms: 0n,
        costNumerator: 0n,
        unpricedMms: 0n,
        billedMms: 0n,
        modelMms: new Map(),
        measuredKwh: 0,
        coveredMms: 0n,
        coveredNumerator: 0n,
      };
      this.groups.set(key, a);
    }
    return a;
  }

  /**
   * add: a raw segment's parts inside `windows` (default: the whole period; each window a union of
   * whole UTC day portions the rollup does not cover). It counts as a segment where its first
   * instant in the period falls in a window; grouped by day, once per day it ran.
   */
  add(s: Segment, windows: readonly (readonly [number, number])[] = [[this.from, this.to]]): void {
    const m = BigInt(milliGpus(s.gpus));
    const mg = milliGpus(s.gpus);
    const t0 = Math.max(s.start, this.from);
    const counted = t0 < Math.min(s.end, this.to) && windows.some(([a, b]) => a <= t0 && t0 < b);
    // The run and its billed time mostly fall on the same days: look each group up once.
    let lastDay = '';
    let last: Acc | undefined;
    const accOf = (day: string): Acc => {
      if (day !== lastDay || !last) {
        last = this.acc(s, day);
        lastDay = day;
      }
      return last;
    };
    const billedEnd = this.prices.billedEnd(s.start, s.end);
    const joules = s.measuredJoules ?? null;
    const measuredPerMs = joules !== null && s.end > s.start ? joules / 3.6e6 / (s.end - s.start) : null;
    let groupCounted = false;
    for (const [wa, wb] of windows) {
      for (const piece of dayPieces(Math.max(s.start, wa), Math.min(s.end, wb), this.byDay)) {
        const a = accOf(piece.day);
        const mms = m * BigInt(piece.ms);
        a.mms += mms;
        this.totalMms += mms;
        if (measuredPerMs === null) addModel(a, s.gpuType, mms);
        else a.measuredKwh += measuredPerMs * piece.ms;
        if (this.byDay || (counted && !groupCounted)) {
          a.row.segments += 1;
          if (s.open) a.row.openSegments += 1;
          groupCounted = true;
        }
      }
      // The billed time: the run rounded up from its start; its part inside the window is priced here.
      for (const piece of dayPieces(Math.max(s.start, wa), Math.min(billedEnd, wb), this.byDay)) {
        const a = accOf(piece.day);
        a.billedMms += m * BigInt(piece.ms);
        for (const part of this.prices.parts(piece.start, piece.start + piece.ms, s.gpuType, s.class)) {
          if (part.centsPerGpuHour === null) a.unpricedMms += BigInt(mg) * BigInt(part.ms);
          else a.costNumerator += costNumerator(s.gpus, part.ms, part.centsPerGpuHour);
        }
      }
    }
    if (counted) this.segments += 1;
  }

  /**
   * addDaily: one rollup row of a whole day inside the period whose prices do not change during the
   * day. `first`: the day begins the period (its segments from earlier days count here, once).
   */
  addDaily(r: DailyRow, first: boolean): void {
    const start = r.day * DAY_MS;
    const s: Segment = { ...r, gpus: 0, start, end: start, open: false };
    const a = this.acc(s, utcDay(start));
    a.mms += r.runMms;
    this.totalMms += r.runMms;
    addModel(a, r.gpuType, r.runMms - r.measuredMms);
    a.measuredKwh += r.measuredKwh;
    const counted = this.byDay || first ? r.pieces : r.starts;
    a.row.segments += counted;
    this.segments += first ? r.pieces : r.starts;
    a.billedMms += r.billedMms;
    const price = this.prices.priceAt(start, r.gpuType, r.class);
    if (price === null) a.unpricedMms += r.billedMms;
    else a.costNumerator += r.billedMms * BigInt(price.centsPerGpuHour);
  }

  /** withCoverage: rows carry coveredGpuSeconds and netCost (set before adding covered usage, even if none is). */
  withCoverage(): void {
    this.covering = true;
  }

  /** addCovered: billed time a commitment covered (usage-coverage.ts): off the row's net cost at its list price. */
  addCovered(u: CoveredGroup): void {
    this.covering = true;
    const a = this.acc({ ...u, gpus: 0, start: 0, end: 0, open: false }, u.day);
    const mms = BigInt(Math.round(u.mms));
    a.coveredMms += mms;
    if (u.price !== null) a.coveredNumerator += mms * BigInt(u.price.centsPerGpuHour);
  }

  /** billedRows: the groups as report() answers them, each with its billed time. */
  billedRows(): BilledRow[] {
    return this.rows((row, billedMms) => ({ ...row, billedGpuSeconds: seconds3(billedMms) }));
  }

  private rows<T extends UsageRow>(extend: (row: UsageRow, billedMms: bigint) => T): T[] {
    return [...this.groups.values()]
      .map(({ row, mms, costNumerator: n, unpricedMms, billedMms, modelMms, measuredKwh, coveredMms, coveredNumerator }) =>
        extend(
          {
            ...row,
            gpuSeconds: seconds3(mms),
            gpuHours: hours6(mms),
            cost: roundCents(n),
            unpricedGpuSeconds: seconds3(unpricedMms),
            itKwh: round6(itKwhOf({ modelMms, measuredKwh })),
            measuredKwh: round6(measuredKwh),
            ...(this.covering
              ? {
                  coveredGpuSeconds: seconds3(coveredMms),
                  netCost: roundCents(n > coveredNumerator ? n - coveredNumerator : 0n),
                }
              : {}),
          },
          billedMms,
        ),
      )
      .sort((a, b) => {
        for (const g of this.groupBy) {
          const c = String(a[g]).localeCompare(String(b[g]));
          if (c !== 0) return c;
        }
        return 0;
      });
  }

  report(): Pick<UsageReport, 'items' | 'total'> {
    const items = this.rows((row) => row);
    return {
      items,
      total: {
        gpuSeconds: seconds3(this.totalMms),
        gpuHours: hours6(this.totalMms),
        segments: this.segments,
        cost: items.reduce((sum, i) => sum + i.cost, 0),
        unpricedGpuSeconds: round3(items.reduce((sum, i) => sum + i.unpricedGpuSeconds, 0)),
        itKwh: round6(items.reduce((sum, i) => sum + i.itKwh, 0)),
        measuredKwh: round6(items.reduce((sum, i) => sum + i.measuredKwh, 0)),
        ...(this.covering
          ? {
              coveredGpuSeconds: round3(items.reduce((sum, i) => sum + (i.coveredGpuSeconds ?? 0), 0)),
              netCost: items.reduce((sum, i) => sum + (i.netCost ?? 0), 0),
            }
          : {}),
      },
    };
  }
}
