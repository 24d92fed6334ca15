/**
 * invoicedRun: a harness at 2026-01-05 whose December is invoiced: B200 on-demand at 360 cents per
 * GPU-hour since December (and optionally a reservation), one run of job 77 (8 GPUs) of `hours`,
 * the month's invoice issued; `reconcile(h)` reports that run to have lasted h hours instead.
 * Shared by the reconciliation and invoice-correction tests.
 */
import assert from 'node:assert/strict';
import { closeSegment } from '../../src/server/metering.js';
import { recordReconciliation } from '../../src/server/usage-reconcile.js';
import { type Dialect, storeOpener } from '../helpers/store-dialects.js';
import { harness } from './harness.js';

export const HOUR = 3_600_000;
export const iso = (ms: number) => new Date(ms).toISOString();
export const START = Date.parse('2025-12-10T10:00:00Z');

/** A harness at 2026-01-05 with B200 on-demand at 360 cents per GPU-hour since December, and one run of job 77 in December. */
export async function invoicedRun(dialect: Dialect, hours: number, reservedGpus = 0, start = START) {
  const h = await harness({ openStore: storeOpener(dialect) });
  const op = { principal: h.operator, requestId: 'req-op' };
  const now = h.clock.t;
  h.clock.t = Date.parse('2025-12-01T00:00:00Z');
  await h.cp.prices.set(op, { granularity: 'second', prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 360 }] });
  if (reservedGpus > 0) {
    await h.cp.reserved.set(op, { org: 'acme', gpuType: 'B200', month: '2025-12', gpus: reservedGpus, centsPerGpuMonth: 1000 });
  }
  h.clock.t = now;
  await h.store.db
    .insertInto('usage_records')
    .values({
      org_id: 'acme',
      project_id: 'vision',
      job_id: 77,
      attempt: 1,
      gpu_type: 'B200',
      site: 's1',
      gpus: 8,
      class: 'on-demand',
      started_at: iso(start),
    })
    .execute();
  await h.store.write((trx) => closeSegment(trx, '77', iso(start + hours * HOUR), 1));
  const { issued } = await h.cp.invoices.run(op, '2025-12');
  assert.equal(issued.length, 1);
  const reconcile = (reportedHours: number) =>
    h.store.write((trx) =>
      recordReconciliation(
        trx,
        { jobId: '77', attempt: 1, start, end: start + reportedHours * HOUR, driver: 'slurm' },
        iso(h.clock.t),
        'system:driver:slurm',
      ),
    );
  return { h, op, invoice: issued[0]!, reconcile };
}
