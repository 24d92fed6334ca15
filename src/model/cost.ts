/**
 * Pricing run time: which price version is in effect when, how a segment's duration is rounded up
 * (the granularity in effect at its start, counted from its start), and its billed time split at
 * each price change. Costs are summed exactly as integers (milli-GPUs × ms × cents per GPU-hour, a
 * BigInt) and rounded to the cent only once per sum, so splitting a segment never adds a cent.
 */
import { type BillingGranularity, GRANULARITY_MS, type PriceVersion } from './prices.js';
import { PRICE_FALLBACK, type UsageClass } from './usage.js';

export const MS_PER_HOUR = 3_600_000n;

interface Compiled {
  from: number;
  granularity: BillingGranularity;
  granularityMs: number;
  cents: ReadonlyMap<string, number>;
  version: number;
}

const key = (gpuType: string, cls: string) => `${gpuType}\u0000${cls}`;

/** A part of a billed interval under one price: `centsPerGpuHour` null where none is set. */
export interface PricedPart {
  start: number;
  ms: number;
  centsPerGpuHour: number | null;
}

/** withFallbacks: a version's prices by type and class, a class it leaves out priced as its PRICE_FALLBACK. */
function withFallbacks(prices: PriceVersion['prices']): Map<string, number> {
  const cents = new Map(prices.map((p) => [key(p.gpuType, p.class), p.centsPerGpuHour]));
  const types = new Set(prices.map((p) => p.gpuType));
  for (const [cls, from] of Object.entries(PRICE_FALLBACK) as [UsageClass, UsageClass][]) {
    for (const t of types) {
      const c = cents.get(key(t, from));
      if (c !== undefined && !cents.has(key(t, cls))) cents.set(key(t, cls), c);
    }
  }
  return cents;
}

export class PriceTimeline {
  private readonly versions: Compiled[];

  constructor(versions: readonly PriceVersion[]) {
    this.versions = versions
      .map((v) => ({
        from: Date.parse(v.effectiveFrom),
        granularity: v.granularity,
        granularityMs: GRANULARITY_MS[v.granularity],
        cents: withFallbacks(v.prices),
        version: v.version,
      }))
      // A later version set for the same instant wins.
      .sort((a, b) => a.from - b.from || a.version - b.version);
  }

  /** indexAt: the version in effect at `t` (the last one that began at or before it), or -1. */
  private indexAt(t: number): number {
    let lo = 0;
    let hi = this.versions.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.versions[mid]!.from <= t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** billedEnd: `end` rounded up to a whole number of the granularity in effect at `start`, counted from `start`. */
  billedEnd(start: number, end: number): number {
    const i = this.indexAt(start);
    const g = i < 0 ? GRANULARITY_MS.second : this.versions[i]!.granularityMs;
    return start + Math.ceil(Math.max(0, end - start) / g) * g;
  }

  /** priceAt: the version number and price in effect at `t` for the type and class (null: none). */
  priceAt(
    t: number,
    gpuType: string,
    cls: string,
  ): { version: number; centsPerGpuHour: number; granularity: BillingGranularity; granularityMs: number } | null {
    const i = this.indexAt(t);
    if (i < 0) return null;
    const v = this.versions[i]!;
    const c = v.cents.get(key(gpuType, cls));
    return c === undefined
      ? null
      : { version: v.version, centsPerGpuHour: c, granularity: v.granularity, granularityMs: v.granularityMs };
  }

  /** changesWithin: whether a version takes effect strictly inside (a, b) (then prices differ across it). */
  changesWithin(a: number, b: number): boolean {
    return this.versions.some((v) => v.from > a && v.from < b);
  }

  /** changesIn: the instants strictly inside (a, b) where a version takes effect, ascending, each once. */
  changesIn(a: number, b: number): number[] {
    return [...new Set(this.versions.filter((v) => v.from > a && v.from < b).map((v) => v.from))];
  }

  /** parts: [a, b) split where another price version takes effect. */
  *parts(a: number, b: number, gpuType: string, cls: string): Generator<PricedPart> {
    let i = this.indexAt(a);
    while (a < b) {
      const next = this.versions[i + 1]?.from ?? Number.POSITIVE_INFINITY;
      const cut = Math.min(b, next);
      const c = i < 0 ? undefined : this.versions[i]!.cents.get(key(gpuType, cls));
      if (cut > a) yield { start: a, ms: cut - a, centsPerGpuHour: c ?? null };
      a = cut;
      i += 1;
    }
  }
}

/**
 * costNumerator: milli-GPUs × ms × cents per GPU-hour, exact; divided by MS_PER_HOUR × 1000 it is
 * cents. GPUs are counted in milli so that fractional GPUs (0.25 of a GPU) stay exact integers.
 */
export const costNumerator = (gpus: number, ms: number, centsPerGpuHour: number): bigint =>
  BigInt(Math.round(gpus * 1000)) * BigInt(Math.round(ms)) * BigInt(centsPerGpuHour);

const NUMERATOR_PER_CENT = MS_PER_HOUR * 1000n;

/** roundCents: a non-negative numerator to whole cents, half a cent rounded up. */
export function roundCents(numerator: bigint): number {
  return Number((numerator * 2n + NUMERATOR_PER_CENT) / (2n * NUMERATOR_PER_CENT));
}
