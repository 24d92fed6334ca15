/**
 * Property (fast-check): the lent-capacity credit of an invoice (invoice-lines.ts addLent and the
 * sweep in reserved-parts.ts) against a brute-force reference. Random own usage and borrowed segments
 * attributed to the organisation (fractional GPUs too), a random commitment and two price versions,
 * either of which may lack a `lent-credit` price, with a change part-way: at every elementary interval
 * between two boundaries the credited GPUs are min(lent GPUs running, max(0, committed − own GPUs
 * running)), each segment counted over its billed time (rounded up to the granularity at its start)
 * inside the month, priced by the version in effect, rounded half up once per version. The credit
 * taken off is their sum but at most the charges, so the net is never negative.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PriceTimeline } from '../../src/model/cost.js';
import type { BillingGranularity, PriceVersion } from '../../src/model/prices.js';
import { InvoiceLineBuilder } from '../../src/server/invoices/invoice-lines.js';

const FROM = Date.parse('2026-01-01T00:00:00Z');
const TO = Date.parse('2026-02-01T00:00:00Z');
const H = 3_600_000;

const segArb = fc.record({
  milli: fc.constantFrom(250, 500, 1000, 2000, 4000, 8000),
  // Some start before the month, some run past its end.
  startS: fc.integer({ min: -7200, max: 40 * 3600 }),
  seconds: fc.integer({ min: 1, max: 10 * 3600 }),
});
const versionArb = fc.record({
  granularity: fc.constantFrom<BillingGranularity>('second', 'minute'),
  onDemand: fc.integer({ min: 0, max: 100_000 }),
  credit: fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }),
});
const arb = fc.record({
  own: fc.array(segArb, { maxLength: 8 }),
  lent: fc.array(segArb, { maxLength: 8 }),
  gpus: fc.integer({ min: 1, max: 16 }),
  centsPerGpuMonth: fc.constantFrom(0, 1000, 150_000),
  versions: fc.tuple(versionArb, versionArb),
  changeS: fc.integer({ min: 1, max: 30 * 3600 }),
});

interface Seg {
  milli: number;
  start: number;
  end: number;
}

test('the lent credit equals a brute-force sweep, capped at the reservation’s idle GPUs; net never below 0', () => {
  let withCredit = 0;
  let lapsed = 0;
  fc.assert(
    fc.property(arb, ({ own, lent, gpus, centsPerGpuMonth, versions, changeS }) => {
      const froms = [FROM - H, FROM + changeS * 1000];
      const book: PriceVersion[] = versions.map((v, i) => ({
        version: i + 1,
        effectiveFrom: new Date(froms[i]!).toISOString(),
        granularity: v.granularity,
        prices: [
          { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: v.onDemand },
          ...(v.credit === undefined ? [] : [{ gpuType: 'B200', class: 'lent-credit' as const, centsPerGpuHour: v.credit }]),
        ],
        createdAt: '2025-12-01T00:00:00Z',
        createdBy: 'test',
      }));
      const timeline = new PriceTimeline(book);
      const b = new InvoiceLineBuilder(FROM, TO, timeline, new Map(), new Map([['B200', { gpus, centsPerGpuMonth }]]));
      const toSeg = (s: { milli: number; startS: number; seconds: number }): Seg => ({
        milli: s.milli,
        start: FROM + s.startS * 1000,
        end: FROM + (s.startS + s.seconds) * 1000,
      });
      const owns = own.map(toSeg);
      const lents = lent.map(toSeg);
      for (const s of owns) b.add({ gpuType: 'B200', site: 's1', class: 'on-demand', gpus: s.milli / 1000, ...s });
      for (const s of lents) b.addLent({ gpuType: 'B200', gpus: s.milli / 1000, start: s.start, end: s.end });
      const r = b.result();

      // Reference: billed intervals clipped to the month, then every elementary interval.
      const inEffect = (t: number) => (t >= froms[1]! ? 1 : 0);
      const billed = (s: Seg): [number, number] => {
        // Before the first version: whole seconds (no granularity is in effect).
        const g = s.start >= froms[0]! && versions[inEffect(s.start)]!.granularity === 'minute' ? 60_000 : 1000;
        return [Math.max(s.start, FROM), Math.min(s.start + Math.ceil((s.end - s.start) / g) * g, TO)];
      };
      const ownB = owns.map((s) => [...billed(s), s.milli] as const);
      const lentB = lents.map((s) => [...billed(s), s.milli] as const);
      const all = [...ownB, ...lentB];
      const cuts = [...new Set([...all.map(([a]) => a), ...all.map(([, z]) => z), froms[1]!])].sort((x, y) => x - y);
      const credited = [0n, 0n];
      for (let i = 0; i + 1 < cuts.length; i++) {
        const [t0, t1] = [cuts[i]!, cuts[i + 1]!];
        const running = (set: (readonly [number, number, number])[]) =>
          set.filter(([a, z]) => a <= t0 && z >= t1).reduce((sum, [, , m]) => sum + m, 0);
        const take = Math.min(running(lentB), Math.max(0, gpus * 1000 - running(ownB)));
        const v = inEffect(t0);
        if (take > 0 && versions[v]!.credit !== undefined) credited[v] = credited[v]! + BigInt(take) * BigInt(t1 - t0);
      }
      const expected = credited.flatMap((mms, v) => {
        if (mms === 0n) return [];
        const cents = versions[v]!.credit!;
        const amountCents = Number((mms * BigInt(cents) * 2n + 3_600_000_000n) / 7_200_000_000n);
        return [{ priceVersion: v + 1, gpuSeconds: Number(mms) / 1_000_000, amountCents, centsPerGpuHour: cents }];
      });
      assert.deepEqual(
        r.lentCredits.map((c) => ({
          priceVersion: c.priceVersion,
          gpuSeconds: c.gpuSeconds,
          amountCents: c.amountCents,
          centsPerGpuHour: c.centsPerGpuHour,
        })),
        expected,
      );
      const charges = r.lines.reduce((s, l) => s + l.amountCents, 0) + gpus * centsPerGpuMonth;
      const total = expected.reduce((s, c) => s + c.amountCents, 0);
      assert.equal(r.lentCreditCents, Math.min(total, charges));
      if (total > 0) withCredit++;
      if (total > charges) lapsed++;
      assert.equal(r.netCents, charges - r.lentCreditCents);
      assert.ok(r.netCents >= 0);
    }),
    { numRuns: 300 },
  );
  assert.ok(
    withCredit > 60 && lapsed > 5,
    `too few runs credit (${withCredit}) or lapse (${lapsed}): the property tests too little`,
  );
});
