/**
 * Reserved capacity in usage reports, the FOCUS export and budgets (usage-coverage.ts, with the
 * invoice's sweep), on SQLite and PostgreSQL:
 * - a whole month's report covers exactly what the invoice covers: per GPU type and class its net
 *   cost is the invoice line, its covered GPU-seconds the reservation's, its commitment block the
 *   reservation's amount; by project the covered time is shared pro rata and adds up the same;
 * - the FOCUS export: the commitment as a Purchase row, covered usage at 0 with its id (Used), the
 *   rest as Unused, the fee amortised onto both; BilledCost adds up to the invoice's net amount;
 * - budgets count covered usage at 0 (what the invoice bills for usage), so a reserved organisation
 *   is admitted within its commitment where the list price would exceed its cap; the coverage is
 *   swept again once a minute, the spend in between overstated, never understated;
 * - an organisation without a commitment gets the report as before (no coverage fields).
 * A fast-check property compares random months' reports with their invoices.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { buildDraft } from '../../src/server/invoices/invoice-drafts.js';
import { closeSegment } from '../../src/server/metering.js';
import { commitmentsOf } from '../../src/server/reserved-capacity.js';
import { COVERAGE_TTL_MS } from '../../src/server/usage-report.js';
import { DIALECTS, storeOpener } from '../helpers/store-dialects.js';
import { harness } from './harness.js';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
type H = Awaited<ReturnType<typeof harness>>;

let job = 1000;
async function run(h: H, s: { project: string; cls: string; gpus: number; start: number; ms: number }) {
  job += 1;
  await h.store.db
    .insertInto('usage_records')
    .values({
      org_id: 'acme',
      project_id: s.project,
      job_id: job,
      attempt: 1,
      gpu_type: 'B200',
      site: 's1',
      gpus: s.gpus,
      class: s.cls,
      started_at: iso(s.start),
    })
    .execute();
  await h.store.write((trx) => closeSegment(trx, String(job), iso(s.start + s.ms), 1));
}

/** Prices from 2025-12-01 (on demand EUR 3.60, preemptible EUR 1.00 per GPU-hour) and a commitment, set with the clock there. */
async function priced(h: H, month: string, gpus: number) {
  const op = { principal: h.operator, requestId: 'req-op' };
  const now = h.clock.t;
  h.clock.t = Date.parse('2025-12-01T00:00:00Z');
  await h.cp.prices.set(op, {
    granularity: 'second',
    prices: [
      { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 360 },
      { gpuType: 'B200', class: 'preemptible', centsPerGpuHour: 100 },
    ],
  });
  h.clock.t = now;
  if (gpus > 0) await h.cp.reserved.set(op, { org: 'acme', gpuType: 'B200', month, gpus, centsPerGpuMonth: 1000 });
  return op;
}

for (const dialect of DIALECTS) {
  test(`${dialect}: a whole month's report, FOCUS export and spend cover what the invoice covers`, async () => {
    const h = await harness({ openStore: storeOpener(dialect) }); // 2026-01-05
    try {
      await h.store.db
        .insertInto('projects')
        .values({ id: 'robotics', org_id: 'acme', name: 'robotics', created_at: iso(h.clock.t) })
        .execute();
      const op = await priced(h, '2025-12', 8);
      const d10 = Date.parse('2025-12-10T10:00:00Z');
      // On demand: 12 (vision) + 4 (robotics) for two hours; 4 preemptible beside them in the second; 2 on demand a day later.
      await run(h, { project: 'vision', cls: 'on-demand', gpus: 12, start: d10, ms: 2 * HOUR });
      await run(h, { project: 'robotics', cls: 'on-demand', gpus: 4, start: d10, ms: 2 * HOUR });
      await run(h, { project: 'robotics', cls: 'preemptible', gpus: 4, start: d10 + HOUR, ms: HOUR });
      await run(h, { project: 'robotics', cls: 'on-demand', gpus: 2, start: d10 + 24 * HOUR, ms: HOUR });
      const { issued } = await h.cp.invoices.run(op, '2025-12');
      const invoice = await h.cp.invoices.get(h.operator, issued[0]!.id);
      const reservation = invoice.reservedCapacity![0]!;
      assert.equal(reservation.coveredGpuSeconds, 18 * 3600, '8 + 8 on demand on the 10th, 2 on the 11th');
      assert.equal(invoice.netCents, 16 * 360 + 4 * 100 + 8000);
      const month = { from: '2025-12-01', to: '2026-01-01' };

      const byLine = await h.cp.usage.report(h.tenant.principal, { ...month, groupBy: 'gpuType,class' });
      assert.deepEqual(
        byLine.items.map((r) => [r.gpuType, r.class, r.coveredGpuSeconds, r.netCost]),
        invoice.lines.map((l) => [
          l.gpuType,
          l.class,
          l.class === 'on-demand' ? reservation.coveredGpuSeconds : 0,
          l.amountCents,
        ]),
        'per type and class: the invoice line',
      );
      assert.equal(byLine.total.coveredGpuSeconds, reservation.coveredGpuSeconds);
      assert.equal(byLine.total.cost, 34 * 360 + 4 * 100, 'cost stays the list price');
      assert.deepEqual(
        byLine.reservedCapacity?.map((r) => [r.gpuType, r.month, r.gpus, r.amountCents, r.coveredGpuSeconds]),
        [['B200', '2025-12', 8, reservation.amountCents, reservation.coveredGpuSeconds]],
      );
      assert.equal(byLine.total.netCost! + byLine.reservedCapacity![0]!.amountCents, invoice.netCents);

      // By project: the on-demand level is shared pro rata (vision 6 of 8 per hour, robotics 2, and the 11th's 2).
      const byProject = await h.cp.usage.report(h.operator, { ...month, groupBy: 'project', org: 'acme' });
      assert.deepEqual(
        byProject.items.map((r) => [r.project, r.coveredGpuSeconds, r.netCost]),
        [
          ['robotics', 6 * 3600, 4 * 360 + 4 * 100],
          ['vision', 12 * 3600, 12 * 360],
        ],
      );
      const vision = await h.cp.usage.report(h.tenant.principal, { ...month, project: 'vision' });
      assert.equal(vision.total.netCost, 12 * 360, "a project's report: its share of the coverage");

      // Budgets spend what the invoice bills for usage.
      const [from, to] = [Date.parse(month.from), Date.parse(month.to)];
      const lines = invoice.lines.reduce((a, l) => a + l.amountCents, 0);
      assert.equal(await h.cp.usage.orgCost('acme', from, to), lines);
      assert.equal(
        (await h.cp.usage.projectCost('vision', from, to)) + (await h.cp.usage.projectCost('robotics', from, to)),
        lines,
      );

      // FOCUS: the Purchase row, Used rows at 0 with the commitment's id, the Unused rest.
      const focus = await h.cp.usage.focus(h.operator, { ...month, org: 'acme' });
      const id = 'reserved/acme/B200/2025-12';
      const purchase = focus.items.filter((r) => r.ChargeCategory === 'Purchase');
      assert.deepEqual(
        purchase.map((r) => [r.CommitmentDiscountId, r.BilledCost, r.EffectiveCost, r.PricingUnit, r.PricingQuantity]),
        [[id, 80, 0, 'GPU-Months', 8]],
      );
      const used = focus.items.filter((r) => r.CommitmentDiscountStatus === 'Used');
      assert.ok(used.every((r) => r.BilledCost === 0 && r.CommitmentDiscountId === id && r.PricingCategory === 'Committed'));
      assert.equal(Math.round(used.reduce((a, r) => a + r.PricingQuantity, 0) * 1e6) / 1e6, 18);
      const unused = focus.items.filter((r) => r.CommitmentDiscountStatus === 'Unused');
      assert.equal(unused.length, 1);
      assert.equal(Math.round((unused[0]!.PricingQuantity + 18) * 1e6) / 1e6, 8 * 31 * 24, 'used and unused make the month');
      const cents = (xs: { EffectiveCost: number }[]) => xs.reduce((a, r) => a + Math.round(r.EffectiveCost * 100), 0);
      assert.equal(cents([...used, ...unused]), 8000, 'the fee amortised onto Used and Unused');
      assert.equal(Math.round(focus.total.BilledCost * 100), invoice.netCents);
      assert.equal(Math.round(focus.total.EffectiveCost * 100), invoice.netCents);
      assert.ok(focus.items.filter((r) => r.CommitmentDiscountId === null).every((r) => r.CommitmentDiscountStatus === null));

      // Without a commitment in the period the report is as before.
      const jan = await h.cp.usage.report(h.tenant.principal, { from: '2026-01-01', to: '2026-01-05' });
      assert.equal(jan.reservedCapacity, undefined);
      assert.equal(jan.total.netCost, undefined);
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: a reserved organisation is not stopped by its budget for usage its commitment covers`, async () => {
    const h = await harness({ openStore: storeOpener(dialect) }); // 2026-01-05T09:00Z
    try {
      const op = await priced(h, '2026-01', 16);
      // 16 GPUs for ten hours on the 2nd: list EUR 576, all covered.
      await run(h, { project: 'vision', cls: 'on-demand', gpus: 16, start: Date.parse('2026-01-02T08:00:00Z'), ms: 10 * HOUR });
      await h.cp.budgets.set(op, 'acme', 20_000);
      const status = await h.cp.budgets.status(h.tenant.principal, 'acme');
      const { from, to } = { from: Date.parse('2026-01-01'), to: Date.parse('2026-02-01') };
      const draft = await buildDraft(
        h.store,
        'acme',
        '2026-01',
        from,
        to,
        h.clock.t,
        await h.cp.prices.timeline(),
        new Map(),
        await commitmentsOf(h.store.db, 'acme', '2026-01'),
      );
      assert.equal(
        status.spentCents,
        draft.lines.reduce((a, l) => a + l.amountCents, 0),
        "spend is what the invoice would bill for usage (the commitment's fee is not spend)",
      );
      assert.equal(status.spentCents, 0);
      const list = await h.cp.usage.report(h.tenant.principal, { from: '2026-01-01', to: '2026-02-01' });
      assert.ok(list.total.cost > 20_000, 'at list price the month would be over the cap');
      // An hour on 8 GPUs (EUR 28.80 at list price, the estimate) is admitted.
      const { job: j } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8, maxRuntimeSeconds: 3600 }), undefined);
      assert.ok(j.id);
      // Another covered run: until the coverage is swept again (a minute) the spend overstates it, never less.
      await run(h, { project: 'vision', cls: 'on-demand', gpus: 16, start: Date.parse('2026-01-03T08:00:00Z'), ms: HOUR });
      assert.equal((await h.cp.budgets.status(h.tenant.principal, 'acme')).spentCents, 16 * 360);
      h.clock.t += COVERAGE_TTL_MS;
      assert.equal((await h.cp.budgets.status(h.tenant.principal, 'acme')).spentCents, 0);
    } finally {
      await h.close();
    }
  });
}

test('property: a random month reported by type and class covers what its invoice covers', async () => {
  const h = await harness();
  try {
    const op = await priced(h, '2025-12', 0);
    const segArb = fc.record({
      cls: fc.constantFrom('on-demand', 'preemptible'),
      gpus: fc.constantFrom(0.25, 1, 4, 8),
      start: fc.integer({ min: -2 * 24, max: 31 * 24 }).map((hrs) => Date.parse('2025-12-01T00:00:00Z') + hrs * HOUR),
      ms: fc.integer({ min: 1, max: 3 * 24 * HOUR }),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(segArb, { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 16 }), async (segs, gpus) => {
        for (const t of ['usage_daily', 'usage_records', 'reserved_capacity'])
          await sql`DELETE FROM ${sql.table(t)}`.execute(h.store.db);
        const month = n % 2 === 0 ? '2025-12' : '2025-11';
        n += 1;
        const from = Date.parse(`${month}-01T00:00:00Z`);
        const to = month === '2025-12' ? Date.parse('2026-01-01') : Date.parse('2025-12-01');
        await h.cp.reserved.set(op, { org: 'acme', gpuType: 'B200', month, gpus, centsPerGpuMonth: 1000 });
        for (const s of segs)
          await run(h, { project: 'vision', ...s, start: s.start - (month === '2025-11' ? 30 * 24 * HOUR : 0) });
        const commitments = await commitmentsOf(h.store.db, 'acme', month);
        const draft = await buildDraft(
          h.store,
          'acme',
          month,
          from,
          to,
          h.clock.t,
          await h.cp.prices.timeline(),
          new Map(),
          commitments,
        );
        const r = await h.cp.usage.report(h.operator, { from: iso(from), to: iso(to), groupBy: 'gpuType,class', org: 'acme' });
        const line = (cls: string) => draft.lines.filter((l) => l.class === cls);
        for (const row of r.items) {
          const ls = line(row.class!);
          assert.equal(
            row.netCost,
            ls.reduce((a, l) => a + l.amountCents, 0),
            `${row.class}: net cost is the invoice's`,
          );
        }
        const covered = draft.reservedCapacity?.[0]?.coveredGpuSeconds ?? 0;
        assert.ok(
          Math.abs((r.total.coveredGpuSeconds ?? 0) - covered) < 0.002,
          `covered ${r.total.coveredGpuSeconds} vs ${covered}`,
        );
        assert.equal(r.reservedCapacity?.[0]?.amountCents, draft.reservedCapacity?.[0]?.amountCents);
      }),
      { numRuns: Number(process.env.GIGAFAB_RESERVE_RUNS ?? 25) },
    );
  } finally {
    await h.close();
  }
});
