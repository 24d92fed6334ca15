/**
 * Property (fast-check): for random run segments and random price versions (each with its own
 * granularity, some types and classes left unpriced), the cost of every group of a usage report
 * equals, to the cent, a reference summed second by second: each segment rounded up from its start
 * to the granularity in effect at its start, each second of it inside the period priced by the
 * version in effect at that second, the group's sum rounded half up once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PriceTimeline } from '../../src/model/cost.js';
import type { BillingGranularity, PriceVersion } from '../../src/model/prices.js';
import { USAGE_CLASSES, type UsageClass } from '../../src/model/usage.js';
import { type Segment, UsageAggregate } from '../../src/server/usage-aggregate.js';

const T0 = Date.parse('2026-03-01T20:00:00Z'); // a UTC midnight falls inside the window
const WINDOW_S = 12 * 3600;
const TYPES = ['B200', 'H200'] as const;

interface Seg {
  gpuType: (typeof TYPES)[number];
  cls: UsageClass;
  gpus: number;
  startS: number;
  durS: number;
}
interface Ver {
  fromS: number;
  granularity: BillingGranularity;
  prices: { gpuType: string; cls: UsageClass; cents: number }[];
}

const segArb = fc.record({
  gpuType: fc.constantFrom(...TYPES),
  cls: fc.constantFrom(...USAGE_CLASSES),
  gpus: fc.integer({ min: 1, max: 16 }),
  startS: fc.integer({ min: 0, max: WINDOW_S }),
  durS: fc.integer({ min: 0, max: 4 * 3600 }),
});
const verArb = fc.record({
  fromS: fc.integer({ min: 0, max: WINDOW_S + 4 * 3600 }),
  granularity: fc.constantFrom<BillingGranularity>('second', 'minute'),
  prices: fc.uniqueArray(
    fc.record({
      gpuType: fc.constantFrom(...TYPES),
      cls: fc.constantFrom(...USAGE_CLASSES),
      cents: fc.integer({ min: 0, max: 100_000 }),
    }),
    { selector: (p) => `${p.gpuType}/${p.cls}`, maxLength: 6 },
  ),
});

const iso = (s: number) => new Date(T0 + s * 1000).toISOString();
const toVersions = (vs: Ver[]): PriceVersion[] =>
  vs.map((v, i) => ({
    version: i + 1,
    effectiveFrom: iso(v.fromS),
    granularity: v.granularity,
    prices: v.prices.map((p) => ({ gpuType: p.gpuType, class: p.cls, centsPerGpuHour: p.cents })),
    createdAt: iso(0),
    createdBy: 'op',
  }));

/** The version in effect at second `t`: the latest start at or before it; a later-set one wins a tie. */
function inEffect(vs: Ver[], t: number): Ver | undefined {
  let best: { v: Ver; i: number } | undefined;
  vs.forEach((v, i) => {
    if (v.fromS <= t && (!best || v.fromS > best.v.fromS || (v.fromS === best.v.fromS && i > best.i))) best = { v, i };
  });
  return best?.v;
}

/** centsOf: a class's own price, or (sessions and service replicas, README) the on-demand price; 0 where none. */
function centsOf(v: Ver | undefined, gpuType: string, cls: UsageClass): number {
  const own = v?.prices.find((p) => p.gpuType === gpuType && p.cls === cls)?.cents;
  if (own !== undefined) return own;
  if (cls !== 'interactive' && cls !== 'service') return 0;
  return v?.prices.find((p) => p.gpuType === gpuType && p.cls === 'on-demand')?.cents ?? 0;
}

/** reference: per (UTC day, class) group, the sum over billed seconds of gpus × cents, in cent-seconds per hour. */
function reference(segs: Seg[], vs: Ver[], fromS: number, toS: number): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const s of segs) {
    const g = inEffect(vs, s.startS)?.granularity === 'minute' ? 60 : 1;
    const billedEnd = s.startS + Math.ceil(s.durS / g) * g;
    for (let t = Math.max(s.startS, fromS); t < Math.min(billedEnd, toS); t++) {
      const cents = centsOf(inEffect(vs, t), s.gpuType, s.cls);
      const key = `${iso(t).slice(0, 10)}|${s.cls}`;
      sums.set(key, (sums.get(key) ?? 0n) + BigInt(s.gpus * cents));
    }
  }
  return sums;
}

/** Half a cent up, computed on the cent-seconds-per-hour sum (÷ 3600 s). */
const halfUp = (n: bigint) => Number((n * 2n + 3600n) / 7200n);

test('each group costs what its seconds cost at the price of each second, rounded once', () => {
  fc.assert(
    fc.property(
      fc.array(segArb, { minLength: 1, maxLength: 6 }),
      fc.array(verArb, { maxLength: 4 }),
      fc.integer({ min: 0, max: WINDOW_S }),
      fc.integer({ min: 1, max: WINDOW_S }),
      (segs, vs, fromS, len) => {
        const toS = fromS + len;
        const agg = new UsageAggregate(['day', 'class'], T0 + fromS * 1000, T0 + toS * 1000, new PriceTimeline(toVersions(vs)));
        for (const s of segs) {
          const seg: Segment = {
            org: 'acme',
            project: 'vision',
            gpuType: s.gpuType,
            site: 's1',
            class: s.cls,
            gpus: s.gpus,
            start: T0 + s.startS * 1000,
            end: T0 + (s.startS + s.durS) * 1000,
            open: false,
          };
          agg.add(seg);
        }
        const { items, total } = agg.report();
        const ref = reference(segs, vs, fromS, toS);
        for (const item of items) {
          assert.equal(item.cost, halfUp(ref.get(`${item.day}|${item.class}`) ?? 0n), `${item.day} ${item.class}`);
        }
        for (const [key, n] of ref) {
          if (n > 0n)
            assert.ok(
              items.some((i) => `${i.day}|${i.class}` === key),
              `a group for ${key}`,
            );
        }
        assert.equal(
          total.cost,
          items.reduce((a, i) => a + i.cost, 0),
        );
      },
    ),
    { numRuns: 100 },
  );
});

test('ungrouped, the total is the whole reference rounded once: a price change mid-segment adds no cent', () => {
  fc.assert(
    fc.property(fc.array(segArb, { minLength: 1, maxLength: 6 }), fc.array(verArb, { maxLength: 4 }), (segs, vs) => {
      const fromS = 0;
      const toS = WINDOW_S + 5 * 3600;
      const agg = new UsageAggregate([], T0, T0 + toS * 1000, new PriceTimeline(toVersions(vs)));
      for (const s of segs) {
        agg.add({
          org: 'acme',
          project: 'vision',
          gpuType: s.gpuType,
          site: 's1',
          class: s.cls,
          gpus: s.gpus,
          start: T0 + s.startS * 1000,
          end: T0 + (s.startS + s.durS) * 1000,
          open: false,
        });
      }
      const all = [...reference(segs, vs, fromS, toS).values()].reduce((a, n) => a + n, 0n);
      assert.equal(agg.report().total.cost, halfUp(all));
    }),
    { numRuns: 100 },
  );
});

test('a worked example: 8 GPUs for 90 s across a change from 3.60 to 7.20 EUR per GPU-hour, billed per minute', () => {
  const vs: PriceVersion[] = [
    {
      version: 1,
      effectiveFrom: iso(0),
      granularity: 'minute',
      prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 360 }],
      createdAt: iso(0),
      createdBy: 'op',
    },
    {
      version: 2,
      effectiveFrom: iso(160),
      granularity: 'second',
      prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 720 }],
      createdAt: iso(0),
      createdBy: 'op',
    },
  ];
  const agg = new UsageAggregate([], T0, T0 + 3600_000, new PriceTimeline(vs));
  // 100 s to 190 s, rounded up to 2 minutes (100 s to 220 s): 60 s at 3.60, 60 s at 7.20, on 8 GPUs.
  agg.add({
    org: 'a',
    project: 'p',
    gpuType: 'B200',
    site: 's',
    class: 'on-demand',
    gpus: 8,
    start: T0 + 100_000,
    end: T0 + 190_000,
    open: false,
  });
  // 8 × 60 × 360 / 3600 = 48 cents, 8 × 60 × 720 / 3600 = 96 cents.
  assert.equal(agg.report().total.cost, 144);
  assert.equal(agg.report().total.gpuSeconds, 720);
});
