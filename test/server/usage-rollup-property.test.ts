/**
 * fast-check property: a usage report read from the daily rollup (whole days) plus raw segments
 * (partial days, days with a price change inside, running segments) equals one that adds up every
 * raw segment — every row's GPU-seconds, GPU-hours, segments, open segments, cost and unpriced
 * time, and the total — on random histories: segments across midnight and across a month's end,
 * zero-length and fractional-GPU ones, some still running; price versions at midnight and inside a
 * day, per-second and per-minute; periods on and off day boundaries; every grouping and filter.
 * The closed segments are closed by metering's own close path (which keeps the rollup), and the
 * rollup rebuilt by migration 027's backfill must be the same. Some closed segments carry a measured
 * energy: the kWh at the GPUs (measured, spread over the run, and the power model for the rest) agree
 * too, to a millionth of a kWh (the measured parts are sums of doubles in another order). On SQLite
 * and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Kysely, sql } from 'kysely';
import { PriceTimeline } from '../../src/model/cost.js';
import type { PriceVersion } from '../../src/model/prices.js';
import { USAGE_GROUPS, type UsageGroup } from '../../src/model/usage.js';
import { closeSegment } from '../../src/server/metering.js';
import { UsageAggregate } from '../../src/server/usage-aggregate.js';
import { readUsage, readUsageRaw } from '../../src/server/usage-read.js';
import { rebuildUsageDaily } from '../../src/store/migration-027-usage-daily.js';
import { DIALECTS, storeOpener } from '../helpers/store-dialects.js';

const DAY = 86_400_000;
/** Around the end of January 2026: histories cross the month's end. */
const BASE = Date.parse('2026-01-31T00:00:00Z');
const CLASSES = ['on-demand', 'preemptible', 'borrowed'] as const;

const segmentArb = fc.record({
  org: fc.constantFrom('acme', 'globex'),
  project: fc.constantFrom('p1', 'p2'),
  gpuType: fc.constantFrom('B200', 'H200'),
  site: fc.constantFrom('s1', 's2'),
  cls: fc.constantFrom(...CLASSES),
  gpus: fc.constantFrom(0.25, 1, 3, 8),
  // Start anywhere in six days around the month's end, to the millisecond; some at midnight.
  start: fc.oneof(
    fc.integer({ min: -3 * DAY, max: 3 * DAY }),
    fc.integer({ min: -3, max: 3 }).map((d) => d * DAY),
  ),
  // Zero, seconds, hours, up to three days.
  ms: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 120_000 }), fc.integer({ min: 1, max: 3 * DAY })),
  open: fc.boolean(),
  // Joules the driver measured for a closed segment, or none.
  measuredJoules: fc.option(fc.integer({ min: 0, max: 2_000_000_000 }), { nil: undefined }),
});

type Report = ReturnType<UsageAggregate['report']>;
/** withoutEnergy: the report with its kWh taken out (compared to a tolerance by sameEnergy). */
const withoutEnergy = (r: Report) => ({
  items: r.items.map(({ itKwh: _i, measuredKwh: _m, ...rest }) => rest),
  total: { ...r.total, itKwh: 0, measuredKwh: 0 },
});
function sameEnergy(a: Report, b: Report, label: string): void {
  const close = (x: number, y: number) => Math.abs(x - y) <= 2e-6 + 1e-9 * Math.abs(y);
  const pairs: [number, number][] = [
    [a.total.itKwh, b.total.itKwh],
    [a.total.measuredKwh, b.total.measuredKwh],
    ...a.items.flatMap((r, i): [number, number][] => [
      [r.itKwh, b.items[i]!.itKwh],
      [r.measuredKwh, b.items[i]!.measuredKwh],
    ]),
  ];
  for (const [x, y] of pairs) assert.ok(close(x, y), `${label}: kWh ${x} vs ${y}`);
}

const versionArb = fc.record({
  at: fc.oneof(
    fc.integer({ min: -4, max: 4 }).map((d) => d * DAY),
    fc.integer({ min: -4 * DAY, max: 4 * DAY }),
  ),
  granularity: fc.constantFrom('second' as const, 'minute' as const),
  prices: fc.subarray(
    ['B200', 'H200'].flatMap((t) => CLASSES.map((c) => [t, c] as const)),
    { minLength: 0 },
  ),
  cents: fc.integer({ min: 0, max: 100_000 }),
});

const queryArb = fc.record({
  from: fc.oneof(
    fc.integer({ min: -5, max: 4 }).map((d) => d * DAY),
    fc.integer({ min: -5 * DAY, max: 4 * DAY }),
  ),
  days: fc.oneof(
    fc.integer({ min: 1, max: 8 }).map((d) => d * DAY),
    fc.integer({ min: 1, max: 8 * DAY }),
  ),
  groupBy: fc.subarray([...USAGE_GROUPS]),
  org: fc.option(fc.constantFrom('acme', 'globex'), { nil: undefined }),
  project: fc.option(fc.constantFrom('p1', 'p2'), { nil: undefined }),
});

for (const dialect of DIALECTS) {
  test(`${dialect}: a report from the daily rollup and raw edges equals the raw segments added up`, async () => {
    const store = await storeOpener(dialect)(mkdtempSync(join(tmpdir(), 'gigafab-rollup-')));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(segmentArb, { maxLength: 25 }),
          fc.array(versionArb, { maxLength: 3 }),
          fc.array(queryArb, { minLength: 1, maxLength: 4 }),
          async (segs, vers, queries) => {
            for (const t of ['usage_daily', 'usage_records', 'prices', 'price_versions']) {
              await sql`DELETE FROM ${sql.table(t)}`.execute(store.db);
            }
            const versions: PriceVersion[] = vers.map((v, i) => ({
              version: i + 1,
              effectiveFrom: new Date(BASE + v.at).toISOString(),
              granularity: v.granularity,
              prices: v.prices.map(([gpuType, c], k) => ({ gpuType, class: c, centsPerGpuHour: (v.cents + k * 37) % 100_001 })),
              createdAt: new Date(BASE + v.at).toISOString(),
              createdBy: 'test',
            }));
            for (const v of versions) {
              await store.db
                .insertInto('price_versions')
                .values({
                  version: v.version,
                  effective_from: v.effectiveFrom,
                  granularity: v.granularity,
                  created_at: v.createdAt,
                  created_by: 'test',
                })
                .execute();
            }
            // Every segment is opened, then the closed ones are closed by metering's own close path.
            for (const [job, s] of segs.entries()) {
              await store.db
                .insertInto('usage_records')
                .values({
                  org_id: s.org,
                  project_id: s.project,
                  job_id: job + 1,
                  attempt: 1,
                  gpu_type: s.gpuType,
                  site: s.site,
                  gpus: s.gpus,
                  class: s.cls,
                  started_at: new Date(BASE + s.start).toISOString(),
                })
                .execute();
              if (!s.open) {
                await store.write((trx) =>
                  closeSegment(trx, String(job + 1), new Date(BASE + s.start + s.ms).toISOString(), undefined, s.measuredJoules),
                );
              }
            }
            const now = BASE + 4 * DAY + 1234;
            const prices = new PriceTimeline(versions);
            const check = async (label: string) => {
              for (const q of queries) {
                const from = BASE + q.from;
                const to = from + q.days;
                const groupBy = q.groupBy as UsageGroup[];
                const only = { org: q.org, project: q.project };
                const rolled = new UsageAggregate(groupBy, from, to, prices);
                await readUsage(store, rolled, prices, from, to, now, only);
                const raw = new UsageAggregate(groupBy, from, to, prices);
                await readUsageRaw(store.db, raw, from, to, now, only);
                const what = `${label}: ${JSON.stringify({ ...q, from: new Date(from), to: new Date(to) })}`;
                assert.deepEqual(withoutEnergy(rolled.report()), withoutEnergy(raw.report()), what);
                sameEnergy(rolled.report(), raw.report(), what);
              }
            };
            await check('kept by metering');
            const kept = await store.db
              .selectFrom('usage_daily')
              .selectAll()
              .orderBy('day')
              .orderBy('org_id')
              .orderBy('project_id')
              .orderBy('gpu_type')
              .orderBy('site')
              .orderBy('class')
              .execute();
            await rebuildUsageDaily(store.db as unknown as Kysely<unknown>);
            const rebuilt = await store.db
              .selectFrom('usage_daily')
              .selectAll()
              .orderBy('day')
              .orderBy('org_id')
              .orderBy('project_id')
              .orderBy('gpu_type')
              .orderBy('site')
              .orderBy('class')
              .execute();
            const exact = (rows: typeof kept) => rows.map(({ measured_kwh: _k, ...r }) => r);
            assert.deepEqual(exact(rebuilt), exact(kept), 'the backfill rebuilds what metering kept');
            for (const [i, r] of rebuilt.entries())
              assert.ok(Math.abs(Number(r.measured_kwh) - Number(kept[i]!.measured_kwh)) <= 1e-9, 'measured kWh rebuilt');
            await check('rebuilt');
          },
        ),
        { numRuns: Number(process.env.GIGAFAB_ROLLUP_RUNS ?? (dialect === 'sqlite' ? 60 : 25)) },
      );
    } finally {
      await store.close();
    }
  });
}
