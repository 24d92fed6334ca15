/**
 * Adding up run segments into a usage report's groups: GPU-seconds of each segment's part inside
 * the period (split at UTC midnights when grouping by day), and its cost: the segment's time
 * rounded up to the granularity in effect at its start, priced by the version in effect at each
 * instant (split at each price change), summed exactly and rounded to the cent once per group.
 * The total cost is the sum of the groups' costs, so a CSV adds up.
 */
import { costNumerator, type PriceTimeline, roundCents } from '../model/cost.js';
import type { UsageClass, UsageGroup, UsageReport, UsageRow } from '../model/usage.js';

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

interface Acc {
  row: UsageRow;
  costNumerator: bigint;
  unpricedMs: number;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const hours = (gpuSeconds: number) => Math.round((gpuSeconds / 3600) * 1e6) / 1e6;

export class UsageAggregate {
  private readonly groups = new Map<string, Acc>();
  private readonly byDay: boolean;
  private segments = 0;
  private totalMs = 0;

  constructor(
    private readonly groupBy: readonly UsageGroup[],
    private readonly from: number,
    private readonly to: number,
    private readonly prices: PriceTimeline,
  ) {
    this.byDay = groupBy.includes('day');
  }

  private acc(s: Segment, day: string): Acc {
    const dims = { org: s.org, project: s.project, gpuType: s.gpuType, site: s.site, class: s.class, day };
    const key = this.groupBy.map((g) => dims[g]).join('\u0000');
    let a = this.groups.get(key);
    if (!a) {
      const row: UsageRow = {
        ...Object.fromEntries(this.groupBy.map((g) => [g, dims[g]])),
        gpuSeconds: 0,
        gpuHours: 0,
        segments: 0,
        openSegments: 0,
        cost: 0,
        unpricedGpuSeconds: 0,
      };
      a = { row, costNumerator: 0n, unpricedMs: 0 };
      this.groups.set(key, a);
    }
    return a;
  }

  add(s: Segment): void {
    let inside = false;
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
    for (const piece of dayPieces(Math.max(s.start, this.from), Math.min(s.end, this.to), this.byDay)) {
      const a = accOf(piece.day);
      a.row.gpuSeconds += (s.gpus * piece.ms) / 1000;
      a.row.segments += 1;
      if (s.open) a.row.openSegments += 1;
      this.totalMs += s.gpus * piece.ms;
      inside = true;
    }
    if (inside) this.segments += 1;
    // The billed time: the run rounded up from its start; its part inside the period is priced here.
    const billedEnd = this.prices.billedEnd(s.start, s.end);
    for (const piece of dayPieces(Math.max(s.start, this.from), Math.min(billedEnd, this.to), this.byDay)) {
      const a = accOf(piece.day);
      for (const part of this.prices.parts(piece.start, piece.start + piece.ms, s.gpuType, s.class)) {
        if (part.centsPerGpuHour === null) a.unpricedMs += s.gpus * part.ms;
        else a.costNumerator += costNumerator(s.gpus, part.ms, part.centsPerGpuHour);
      }
    }
  }

  report(): Pick<UsageReport, 'items' | 'total'> {
    const items = [...this.groups.values()]
      .map(({ row, costNumerator: n, unpricedMs }) => ({
        ...row,
        gpuSeconds: round3(row.gpuSeconds),
        gpuHours: hours(row.gpuSeconds),
        cost: roundCents(n),
        unpricedGpuSeconds: round3(unpricedMs / 1000),
      }))
      .sort((a, b) => {
        for (const g of this.groupBy) {
          const c = String(a[g]).localeCompare(String(b[g]));
          if (c !== 0) return c;
        }
        return 0;
      });
    const gpuSeconds = round3(this.totalMs / 1000);
    return {
      items,
      total: {
        gpuSeconds,
        gpuHours: hours(gpuSeconds),
        segments: this.segments,
        cost: items.reduce((sum, i) => sum + i.cost, 0),
        unpricedGpuSeconds: round3(items.reduce((sum, i) => sum + i.unpricedGpuSeconds, 0)),
      },
    };
  }
}
