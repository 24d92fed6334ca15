/**
 * Reconciling metered run time with what a driver reports afterwards (reconcileSegment,
 * usage-reconcile.ts), on SQLite and PostgreSQL:
 * - fast-check: random segments closed by metering's close path (some corrected in the close's own
 *   transaction, where PostgreSQL still holds the close back), then corrected to random reported
 *   runs: each segment holds the reported figures, a usage report from the rollup equals one from the
 *   raw segments, the rollup equals migration 027's rebuild, each correction keeps what was metered,
 *   and a second identical report changes nothing;
 * - the control plane's path: a driver's exit with `ran` corrects the run, with the job event
 *   `usage_reconciled` and the audit record `usage.reconcile` in the exit's transaction, and the
 *   usage report gives the corrected figures;
 * - an issued invoice: a correction in its month leaves it exactly as issued and says how the
 *   difference is settled (invoice-corrections.test.ts tests the settling).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Kysely, sql } from 'kysely';
import type { Observation } from '../../src/drivers/driver.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { VirtualClock } from '../../src/drivers/timers.js';
import { PriceTimeline } from '../../src/model/cost.js';
import { closeSegment } from '../../src/server/metering.js';
import { UsageAggregate } from '../../src/server/usage-aggregate.js';
import { readUsage, readUsageRaw } from '../../src/server/usage-read.js';
import { RECONCILE_TOLERANCE_MS, reconcileSegment, recordReconciliation } from '../../src/server/usage-reconcile.js';
import { rebuildUsageDaily } from '../../src/store/migration-027-usage-daily.js';
import { DIALECTS, storeOpener } from '../helpers/store-dialects.js';
import { eventually, harness } from './harness.js';
import { invoicedRun, START } from './invoiced-run.js';

const DAY = 86_400_000;
const BASE = Date.parse('2026-01-31T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

const segArb = fc.record({
  gpus: fc.constantFrom(0.25, 1, 8),
  start: fc.oneof(
    fc.integer({ min: -2 * DAY, max: 2 * DAY }),
    fc.integer({ min: -2, max: 2 }).map((d) => d * DAY),
  ),
  ms: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 120_000 }), fc.integer({ min: 1, max: 2 * DAY })),
  // The driver's report: shifts of start and end (0: none; small: within the tolerance).
  dStart: fc.oneof(fc.constant(0), fc.integer({ min: -999, max: 999 }), fc.integer({ min: -DAY, max: DAY })),
  dEnd: fc.oneof(fc.constant(0), fc.integer({ min: -999, max: 999 }), fc.integer({ min: -DAY, max: DAY })),
  sameTx: fc.boolean(),
  // The energy the driver measured for the run, or none: it spreads over the corrected run.
  joules: fc.option(fc.integer({ min: 1, max: 1_000_000_000 }), { nil: undefined }),
});

const dailyRows = (db: Kysely<unknown>) =>
  sql<{
    day: string;
    org_id: string;
    class: string;
    run_mms: string;
    billed_mms: string;
    pieces: number;
    starts: number;
    earliest_start: string;
    measured_mms: string;
    measured_kwh: number;
  }>`
    SELECT day, org_id, class, cast(run_mms as text) as run_mms, cast(billed_mms as text) as billed_mms, pieces, starts, earliest_start,
      cast(measured_mms as text) as measured_mms, measured_kwh
    FROM usage_daily ORDER BY day, org_id, class`
    .execute(db)
    .then((r) => r.rows);

for (const dialect of DIALECTS) {
  test(`${dialect}: corrected segments hold the reported run, the rollup follows, and a repeated report changes nothing`, async () => {
    const store = await storeOpener(dialect)(mkdtempSync(join(tmpdir(), 'gigafab-reconcile-')));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(segArb, { minLength: 1, maxLength: 12 }),
          fc.constantFrom('second', 'minute'),
          async (segs, gran) => {
            for (const t of ['usage_corrections', 'usage_daily', 'usage_records', 'prices', 'price_versions']) {
              await sql`DELETE FROM ${sql.table(t)}`.execute(store.db);
            }
            await store.db
              .insertInto('price_versions')
              .values({
                version: 1,
                effective_from: iso(BASE - 10 * DAY),
                granularity: gran,
                created_at: iso(BASE - 10 * DAY),
                created_by: 'test',
              })
              .execute();
            const expected: { job: number; start: number; end: number; metered: [number, number]; corrected: boolean }[] = [];
            for (const [i, s] of segs.entries()) {
              const job = i + 1;
              const start = BASE + s.start;
              const end = start + s.ms;
              await store.db
                .insertInto('usage_records')
                .values({
                  org_id: 'acme',
                  project_id: 'p1',
                  job_id: job,
                  attempt: 1,
                  gpu_type: 'B200',
                  site: 's1',
                  gpus: s.gpus,
                  class: 'on-demand',
                  started_at: iso(start),
                })
                .execute();
              const rs = start + s.dStart;
              const re = Math.max(rs, end + s.dEnd);
              const run = { jobId: String(job), attempt: 1, start: rs, end: re, driver: 'test' };
              const corrected = Math.abs(rs - start) >= RECONCILE_TOLERANCE_MS || Math.abs(re - end) >= RECONCILE_TOLERANCE_MS;
              if (s.sameTx) {
                // The close and the correction in one transaction (PostgreSQL holds the close back until its flush).
                const got = await store.write(async (trx) => {
                  await closeSegment(trx, String(job), iso(end), 1, s.joules);
                  return reconcileSegment(trx, run, iso(BASE + 3 * DAY));
                });
                assert.equal(got !== null, corrected, `job ${job}: corrected in the close's transaction`);
              } else {
                await store.write((trx) => closeSegment(trx, String(job), iso(end), 1, s.joules));
                const got = await store.write((trx) => reconcileSegment(trx, run, iso(BASE + 3 * DAY)));
                assert.equal(got !== null, corrected);
                if (got) {
                  assert.equal(got.before.seconds, s.ms / 1000);
                  assert.equal(got.after.seconds, (re - rs) / 1000);
                  assert.deepEqual(got.invoiced, []);
                }
              }
              // The same report again: nothing to correct.
              assert.equal(await store.write((trx) => reconcileSegment(trx, run, iso(BASE + 3 * DAY))), null);
              expected.push({ job, start: corrected ? rs : start, end: corrected ? re : end, metered: [start, end], corrected });
            }
            const rows = await store.db
              .selectFrom('usage_records')
              .select(['job_id', 'gpus', 'started_at', 'ended_at', 'gpu_seconds'])
              .orderBy('job_id')
              .execute();
            for (const [i, e] of expected.entries()) {
              const r = rows[i]!;
              assert.equal(r.started_at, iso(e.start));
              assert.equal(r.ended_at, iso(e.end));
              assert.ok(Math.abs(Number(r.gpu_seconds) - (Number(r.gpus) * (e.end - e.start)) / 1000) < 1e-6);
            }
            const corrections = await store.db.selectFrom('usage_corrections').selectAll().orderBy('job_id').execute();
            assert.deepEqual(
              corrections.map((c) => [
                Number(c.job_id),
                c.metered_started_at,
                c.metered_ended_at,
                c.reported_started_at,
                c.reported_ended_at,
                c.driver,
                c.invoiced,
              ]),
              expected
                .filter((e) => e.corrected)
                .map((e) => [e.job, iso(e.metered[0]), iso(e.metered[1]), iso(e.start), iso(e.end), 'test', null]),
              'one correction per corrected run, keeping what was metered',
            );
            // Reports from the rollup equal the raw segments added up.
            const prices = new PriceTimeline([
              {
                version: 1,
                effectiveFrom: iso(BASE - 10 * DAY),
                granularity: gran,
                prices: [],
                createdAt: iso(BASE - 10 * DAY),
                createdBy: 'test',
              },
            ]);
            for (const [from, to] of [
              [BASE - 3 * DAY, BASE + 4 * DAY],
              [BASE - DAY, BASE + DAY],
              [BASE - DAY + 3_600_000, BASE + 2 * DAY - 7_000],
            ] as const) {
              const rolled = new UsageAggregate(['day'], from, to, prices);
              await readUsage(store, rolled, prices, from, to, BASE + 5 * DAY, {});
              const raw = new UsageAggregate(['day'], from, to, prices);
              await readUsageRaw(store.db, raw, from, to, BASE + 5 * DAY, {});
              const [a, b] = [rolled.report(), raw.report()];
              const kwh = (r: typeof a) => r.items.map((i) => [i.itKwh, i.measuredKwh]);
              const plain = (r: typeof a) => ({
                items: r.items.map(({ itKwh: _i, measuredKwh: _m, ...rest }) => rest),
                total: { ...r.total, itKwh: 0, measuredKwh: 0 },
              });
              assert.deepEqual(plain(a), plain(b));
              for (const [i, [x, y]] of kwh(a).entries())
                assert.ok(Math.abs(x! - kwh(b)[i]![0]!) <= 2e-6 && Math.abs(y! - kwh(b)[i]![1]!) <= 2e-6, `kWh on row ${i}`);
            }
            // The rollup as corrected equals one rebuilt from the segments (a kept earliest start
            // may be earlier than the rebuilt one, which only widens a raw read).
            const kept = await dailyRows(store.db as unknown as Kysely<unknown>);
            await rebuildUsageDaily(store.db as unknown as Kysely<unknown>);
            const rebuilt = await dailyRows(store.db as unknown as Kysely<unknown>);
            const exact = (rows: typeof kept) =>
              rows.map(({ earliest_start: _, measured_kwh: _k, ...r }) => ({
                ...r,
                pieces: Number(r.pieces),
                starts: Number(r.starts),
              }));
            assert.deepEqual(exact(kept), exact(rebuilt));
            for (const [i, r] of kept.entries())
              assert.ok(
                Math.abs(Number(r.measured_kwh) - Number(rebuilt[i]!.measured_kwh)) <= 1e-6,
                'measured kWh follows the correction',
              );
            for (const [i, r] of kept.entries()) assert.ok(r.earliest_start <= rebuilt[i]!.earliest_start);
          },
        ),
        { numRuns: Number(process.env.GIGAFAB_RECONCILE_RUNS ?? (dialect === 'sqlite' ? 40 : 15)) },
      );
    } finally {
      await store.close();
    }
  });
}

/** The simulated driver, its exits carrying the run time the test says the engine reports. */
class ReportingSim extends SimDriver {
  readonly ran = new Map<string, { start: number; end: number }>();
  override onObservation(listener: (o: Observation) => void): void {
    super.onObservation((o) => {
      const r = this.ran.get(o.jobId);
      listener(o.type === 'exited' && r ? { ...o, ran: r } : o);
    });
  }
}

for (const dialect of DIALECTS) {
  test(`${dialect}: an exit with the run time the driver reports corrects the run, with its event and audit record`, async () => {
    const T0 = Date.parse('2026-01-05T09:00:00Z');
    const v = new VirtualClock(T0);
    let driver: ReportingSim | null = null;
    const h = await harness({ openStore: storeOpener(dialect), driver: () => (driver = new ReportingSim(1, v)) });
    try {
      const { job } = await h.cp.jobs.submit(
        h.tenant,
        h.spec({ gpusPerNode: 8, simulation: { durationSeconds: 3600, exitCode: 0 } }),
        undefined,
      );
      await h.cp.runCycle();
      // Slurm queued it for 95 s and the exit was seen 7 s late: it ran 3,498 s, not 3,600.
      driver!.ran.set(job.id, { start: T0 + 95_000, end: T0 + 3_593_000 });
      h.clock.t += 3_600_000;
      v.advanceTo(h.clock.t);
      await eventually(async () => (await h.stateOf(job.id)) === 'succeeded', 'the job to succeed');
      const seg = await h.store.db
        .selectFrom('usage_records')
        .selectAll()
        .where('job_id', '=', Number(job.id))
        .executeTakeFirstOrThrow();
      assert.equal(seg.started_at, iso(T0 + 95_000));
      assert.equal(seg.ended_at, iso(T0 + 3_593_000));
      assert.equal(Number(seg.gpu_seconds), 8 * 3498);
      const { events } = await h.cp.jobs.events(h.tenant, job.id);
      const ev = events.find((e) => e.type === 'usage_reconciled');
      assert.ok(ev, 'the job events show the correction');
      assert.equal(ev.data?.beforeSeconds, 3600);
      assert.equal(ev.data?.afterSeconds, 3498);
      assert.match(ev.message, /3600 s metered .*3498 s reported/);
      const audit = await h.store.db.selectFrom('audit').selectAll().where('action', '=', 'usage.reconcile').execute();
      assert.equal(audit.length, 1);
      assert.equal(audit[0]!.object_id, job.id);
      assert.equal(audit[0]!.actor, 'system:driver:sim');
      assert.equal(JSON.parse(audit[0]!.before ?? '{}').gpuSeconds, 8 * 3600);
      assert.equal(JSON.parse(audit[0]!.after ?? '{}').gpuSeconds, 8 * 3498);
      const report = await h.cp.usage.report(h.tenant.principal, { from: iso(T0 - 3_600_000), to: iso(T0 + 2 * DAY) });
      assert.equal(report.total.gpuSeconds, 8 * 3498, 'the usage report counts what the engine ran');
      const [c] = await h.store.db.selectFrom('usage_corrections').selectAll().execute();
      assert.equal(c?.metered_gpu_seconds, 8 * 3600);
      assert.equal(c?.driver, 'sim');
    } finally {
      await h.close();
    }
  });
}

test('a correction in a month already invoiced leaves the invoice as issued and names it', async () => {
  const { h, op } = await invoicedRun('sqlite', 1); // now: 2026-01-05
  try {
    const before = await h.store.db.selectFrom('invoices').selectAll().execute();
    const run = { jobId: '77', attempt: 1, start: START, end: START + 7_200_000, driver: 'slurm' };
    const ev = await h.store.write((trx) => recordReconciliation(trx, run, iso(h.clock.t), 'system:driver:slurm'));
    assert.ok(ev);
    assert.deepEqual(ev.data?.invoiced, [before[0]!.number]);
    assert.match(
      ev.message,
      new RegExp(
        `invoice ${before[0]!.number} was already issued and stays as issued: EUR 28\\.80 net is charged on the organisation's next invoice`,
      ),
    );
    assert.equal(await h.store.write((trx) => recordReconciliation(trx, run, iso(h.clock.t), 'system:driver:slurm')), null);
    assert.deepEqual(await h.store.db.selectFrom('invoices').selectAll().execute(), before, 'the issued invoice is unchanged');
    const inv = await h.cp.invoices.get(h.operator, String(before[0]!.id));
    assert.equal(inv.netCents, before[0]!.net_cents);
    assert.equal(inv.netCents, 2880, 'the invoice still bills the hour metered, not the two reported');
    const [c] = await h.store.db.selectFrom('usage_corrections').selectAll().execute();
    assert.equal(c?.invoiced, before[0]!.number);
    // Issuing the month again does not issue a second invoice.
    assert.deepEqual((await h.cp.invoices.run(op, '2025-12')).issued, []);
  } finally {
    await h.close();
  }
});

test("a run stopped by its node's failure is corrected too; the requeued job's next run is not touched", async () => {
  const T0 = Date.parse('2026-01-05T09:00:00Z');
  const v = new VirtualClock(T0);
  let driver: ReportingSim | null = null;
  const h = await harness({ driver: () => (driver = new ReportingSim(1, v)) });
  try {
    const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined);
    await h.cp.runCycle();
    driver!.ran.set(job.id, { start: T0 + 30_000, end: T0 + 110_000 });
    h.clock.t += 120_000;
    v.advanceTo(h.clock.t);
    const node = h.cp.cluster.allocationOf(job.id)!.nodes[0]!.node;
    await h.cp.setNodeState(h.operator, node, 'down', 'PSU failure', 'req-node');
    await eventually(async () => (await h.stateOf(job.id)) === 'queued', 'the requeue');
    h.clock.t += 60_000;
    v.advanceTo(h.clock.t);
    await h.cp.runCycle();
    const rows = await h.store.db
      .selectFrom('usage_records')
      .select(['attempt', 'started_at', 'ended_at', 'gpu_seconds'])
      .where('job_id', '=', Number(job.id))
      .orderBy('attempt')
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.attempt, r.started_at, r.ended_at, r.gpu_seconds]),
      [
        [1, iso(T0 + 30_000), iso(T0 + 110_000), 8 * 80],
        [2, iso(T0 + 180_000), null, null],
      ],
    );
    assert.deepEqual(
      (await h.eventTypes(job.id)).filter((t) => t === 'usage_reconciled'),
      ['usage_reconciled'],
    );
  } finally {
    await h.close();
  }
});
