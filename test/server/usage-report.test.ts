/**
 * Usage reports over hand-written segments: clipping to the period, open segments up to now, UTC
 * day splits, grouping by each dimension, tenant isolation, the CSV form and every refusal; kWh at
 * the GPUs, measured where a segment was measured, the power model elsewhere.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Kysely } from 'kysely';
import { PriceTimeline } from '../../src/model/cost.js';
import { DomainError } from '../../src/model/errors.js';
import type { Principal } from '../../src/model/principal.js';
import { usageCsv } from '../../src/model/usage.js';
import { UsageAggregate } from '../../src/server/usage-aggregate.js';
import { rebuildUsageDaily } from '../../src/store/migration-027-usage-daily.js';
import { type Harness, harness } from './harness.js';

let h: Harness;
const acme: Principal = { userId: 'ada', role: 'viewer', org: 'acme' };
const globex: Principal = { userId: 'gus', role: 'admin', org: 'globex' };

before(async () => {
  h = await harness(); // now: 2026-01-05T09:00:00Z
  const at = '2026-01-01T00:00:00.000Z';
  await h.store.db.insertInto('orgs').values({ id: 'globex', name: 'Globex', kind: 'company', created_at: at }).execute();
  await h.store.db.insertInto('projects').values({ id: 'rockets', org_id: 'globex', name: 'rockets', created_at: at }).execute();
  const seg = (
    job: number,
    org: string,
    project: string,
    gpuType: string,
    site: string,
    cls: string,
    gpus: number,
    start: string,
    end: string | null,
    measuredJoules: number | null = null,
  ) => ({
    org_id: org,
    project_id: project,
    job_id: job,
    attempt: 1,
    gpu_type: gpuType,
    site,
    gpus,
    class: cls,
    started_at: start,
    ended_at: end,
    gpu_seconds: end === null ? null : (gpus * (Date.parse(end) - Date.parse(start))) / 1000,
    measured_joules: measuredJoules,
  });
  await h.store.db
    .insertInto('usage_records')
    .values([
      // Crosses midnight: 2 h on the 4th, 2 h on the 5th.
      seg(1, 'acme', 'vision', 'B200', 's1', 'on-demand', 8, '2026-01-04T22:00:00.000Z', '2026-01-05T02:00:00.000Z'),
      // Still running: counts up to now (09:00).
      seg(2, 'acme', 'vision', 'B200', 's1', 'preemptible', 4, '2026-01-05T08:00:00.000Z', null),
      // Measured: 3.6 MJ = 1 kWh (the model: 2 H200 × 700 W × 1 h = 1.4 kWh).
      seg(3, 'globex', 'rockets', 'H200', 's2', 'borrowed', 2, '2026-01-05T00:00:00.000Z', '2026-01-05T01:00:00.000Z', 3_600_000),
      // Entirely before every period asked for below.
      seg(4, 'acme', 'vision', 'B200', 's1', 'on-demand', 8, '2025-12-01T00:00:00.000Z', '2025-12-01T01:00:00.000Z'),
    ])
    .execute();
  // Written around metering (which keeps the rollup): the rollup is rebuilt from them, as migration 027 does.
  await rebuildUsageDaily(h.store.db as unknown as Kysely<unknown>);
});
after(() => h.close());

const report = (p: Principal, q: Record<string, string>) => h.cp.usage.report(p, q);

test('segments are clipped to [from, to); an open one counts up to now; groups by class', async () => {
  const r = await report(h.operator, { from: '2026-01-05', to: '2026-01-06', groupBy: 'class' });
  assert.equal(r.from, '2026-01-05T00:00:00.000Z');
  assert.deepEqual(r.groupBy, ['class']);
  assert.deepEqual(r.items, [
    {
      class: 'borrowed',
      gpuSeconds: 7200,
      gpuHours: 2,
      segments: 1,
      openSegments: 0,
      cost: 0,
      unpricedGpuSeconds: 7200,
      itKwh: 1,
      measuredKwh: 1,
    },
    {
      class: 'on-demand',
      gpuSeconds: 8 * 7200,
      gpuHours: 16,
      segments: 1,
      openSegments: 0,
      cost: 0,
      unpricedGpuSeconds: 8 * 7200,
      // 8 B200 × 1000 W × 2 h.
      itKwh: 16,
      measuredKwh: 0,
    },
    {
      class: 'preemptible',
      gpuSeconds: 4 * 3600,
      gpuHours: 4,
      segments: 1,
      openSegments: 1,
      cost: 0,
      unpricedGpuSeconds: 4 * 3600,
      itKwh: 4,
      measuredKwh: 0,
    },
  ]);
  assert.deepEqual(r.total, {
    gpuSeconds: 7200 + 57600 + 14400,
    gpuHours: 22,
    segments: 3,
    cost: 0,
    unpricedGpuSeconds: 7200 + 57600 + 14400,
    itKwh: 21,
    measuredKwh: 1,
  });
});

test('a segment across midnight is split by UTC day; a period ending before now cuts the open one', async () => {
  const r = await report(h.operator, { from: '2026-01-04T23:00:00Z', to: '2026-01-05T08:30:00Z', groupBy: 'day,org' });
  assert.deepEqual(
    r.items.map((i) => [i.day, i.org, i.gpuSeconds]),
    [
      ['2026-01-04', 'acme', 8 * 3600],
      ['2026-01-05', 'acme', 8 * 7200 + 4 * 1800],
      ['2026-01-05', 'globex', 2 * 3600],
    ],
  );
  assert.equal(r.total.segments, 3, 'a segment split over two days is one segment');
});

test('grouping by project, GPU type and site', async () => {
  const r = await report(h.operator, { from: '2026-01-05', to: '2026-01-06', groupBy: 'gpuType,site,project' });
  assert.deepEqual(
    r.items.map((i) => [i.gpuType, i.site, i.project, i.gpuSeconds]),
    [
      ['B200', 's1', 'vision', 8 * 7200 + 4 * 3600],
      ['H200', 's2', 'rockets', 7200],
    ],
  );
});

test("a tenant sees its organisation only; another organisation's usage is invisible, asked for or not", async () => {
  const mine = await report(globex, { from: '2026-01-01', to: '2026-01-06', groupBy: 'org,project' });
  assert.deepEqual(
    mine.items.map((i) => [i.org, i.project, i.gpuSeconds]),
    [['globex', 'rockets', 7200]],
  );
  assert.deepEqual((await report(acme, { from: '2026-01-01', to: '2026-01-06', project: 'rockets' })).items, []);
  await assert.rejects(report(globex, { org: 'acme' }), (e: unknown) => e instanceof DomainError && e.code === 'org_not_found');
  const op = await report(h.operator, { from: '2026-01-01', to: '2026-01-06', org: 'acme', groupBy: 'org' });
  assert.deepEqual(
    op.items.map((i) => i.org),
    ['acme'],
    'operators may filter by organisation',
  );
});

test('the default period is today and the 29 days before it (UTC), grouped by project', async () => {
  const r = await report(acme, {});
  assert.equal(r.to, '2026-01-06T00:00:00.000Z');
  assert.equal(r.from, '2025-12-07T00:00:00.000Z');
  assert.deepEqual(
    r.items.map((i) => [i.project, i.gpuSeconds]),
    [['vision', 8 * 4 * 3600 + 4 * 3600]],
  );
});

test('the CSV has the group columns, then the figures', async () => {
  const r = await report(h.operator, { from: '2026-01-05', to: '2026-01-06', groupBy: 'org' });
  assert.equal(
    usageCsv(r),
    'org,gpuSeconds,gpuHours,segments,openSegments,cost,unpricedGpuSeconds,itKwh,measuredKwh\r\nacme,72000,20,2,1,0,72000,20,0\r\nglobex,7200,2,1,0,0,7200,1,1\r\n',
  );
});

test('bad periods and groupings are refused with a code', async () => {
  const cases: [Record<string, string>, string][] = [
    [{ from: 'yesterday' }, 'invalid_period'],
    [{ to: '5' }, 'invalid_period'],
    [{ from: '2026-01-05', to: '2026-01-05' }, 'invalid_period'],
    [{ from: '2024-01-01', to: '2026-01-01' }, 'invalid_period'],
    [{ groupBy: 'tenant' }, 'invalid_group_by'],
    [{ groupBy: 'day,day' }, 'invalid_group_by'],
  ];
  for (const [q, code] of cases) {
    await assert.rejects(
      report(acme, q),
      (e: unknown) => e instanceof DomainError && e.kind === 'unprocessable' && e.code === code,
      JSON.stringify(q),
    );
  }
});

test('with a price book, each group costs its billed time at the price in effect; an unpriced class stays out of it', async () => {
  const now = h.clock.t;
  const ctx = { principal: h.operator, requestId: 'req-prices' };
  try {
    // Set before any segment: 3.60 EUR per B200-hour on demand, 1.80 preemptible; from 01:00 on the 5th on demand costs 7.20.
    h.clock.t = Date.parse('2026-01-01T00:00:00Z');
    await h.cp.prices.set(ctx, {
      granularity: 'minute',
      prices: [
        { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 360 },
        { gpuType: 'B200', class: 'preemptible', centsPerGpuHour: 180 },
      ],
    });
    await h.cp.prices.set(ctx, {
      effectiveFrom: '2026-01-05T01:00:00Z',
      granularity: 'minute',
      prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 720 }],
    });
  } finally {
    h.clock.t = now;
  }
  const r = await report(h.operator, { from: '2026-01-05', to: '2026-01-06', groupBy: 'class' });
  assert.deepEqual(
    r.items.map((i) => [i.class, i.cost, i.unpricedGpuSeconds]),
    [
      ['borrowed', 0, 7200], // H200 borrowed: no price
      ['on-demand', 8 * 360 + 8 * 720, 0], // 00:00–01:00 at 3.60, 01:00–02:00 at 7.20, 8 GPUs
      ['preemptible', 0, 4 * 3600], // version 2 sets no preemptible price: from 01:00 it is unpriced
    ],
  );
  assert.equal(r.total.cost, 8640);
  assert.match(usageCsv(r).split('\r\n')[2] ?? '', /^on-demand,57600,16,1,0,8640,0,16,0$/);
  // The day has a price change: read from the raw segments, the kWh are the rollup's.
  assert.deepEqual(
    r.items.map((i) => [i.class, i.itKwh, i.measuredKwh]),
    [
      ['borrowed', 1, 1],
      ['on-demand', 16, 0],
      ['preemptible', 4, 0],
    ],
  );
});

test('a report with more rows than the bound is refused with usage_report_too_large (JSON and CSV come from the same report)', () => {
  const day = Date.parse('2026-01-01T00:00:00Z');
  const agg = new UsageAggregate(['project'], day, day + 86_400_000, new PriceTimeline([]), 2);
  const seg = (project: string) => ({
    org: 'acme',
    project,
    gpuType: 'B200',
    site: 's1',
    class: 'on-demand' as const,
    gpus: 1,
    start: day,
    end: day + 1000,
    open: false,
  });
  agg.add(seg('a'));
  agg.add(seg('b'));
  agg.add(seg('a'));
  assert.throws(
    () => agg.add(seg('c')),
    (e: unknown) => e instanceof DomainError && e.code === 'usage_report_too_large',
  );
});
