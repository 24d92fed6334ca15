/**
 * Reconciling metered run time with what a driver reports afterwards (issue 15): a run segment is
 * metered from the control plane's start commit to its exit commit; an execution engine that knows
 * when the run really started and ended (Slurm's sacct Start and End, after queueing on the
 * cluster, a poll's delay at the end) reports it with the exit, and the segment is corrected to it
 * in the exit's own transaction (metering.ts reconcileSegment), with the job event
 * `usage_reconciled` (before and after, in seconds) and the audit record `usage.reconcile`.
 */
import type { JobEvent } from '../model/schemas.js';
import { appendAudit } from '../store/audit.js';
import { insertEvent, type Trx } from './job-events.js';
import { type Reconciliation, type ReportedRun, reconcileSegment } from './metering.js';

const secs = (n: number) => `${Math.round(n * 1000) / 1000} s`;

/** reconcileMessage: the event's sentence (operational: composed from times only). */
export function reconcileMessage(r: ReportedRun, c: Reconciliation): string {
  const invoiced = c.invoiced.length
    ? `; invoice ${c.invoiced.join(', ')} was already issued and stays as issued: the difference is settled by a credit note`
    : '';
  return `run time reconciled with ${r.driver}: ${secs(c.before.seconds)} metered (${c.before.startedAt} to ${c.before.endedAt}), ${secs(c.after.seconds)} reported (${c.after.startedAt} to ${c.after.endedAt}); GPU-seconds ${secs(c.before.gpuSeconds)} → ${secs(c.after.gpuSeconds)}${invoiced}`;
}

/**
 * recordReconciliation: the correction, its job event and its audit record, in `trx`; null when
 * nothing differed (a repeated report, a run within the tolerance, a segment not closed).
 */
export async function recordReconciliation(trx: Trx, r: ReportedRun, at: string, actor: string): Promise<JobEvent | null> {
  const c = await reconcileSegment(trx, r, at);
  if (!c) return null;
  const data = {
    attempt: r.attempt,
    driver: r.driver,
    before: c.before,
    after: c.after,
    beforeSeconds: c.before.seconds,
    afterSeconds: c.after.seconds,
    ...(c.invoiced.length ? { invoiced: c.invoiced } : {}),
  };
  const event = await insertEvent(trx, r.jobId, at, 'usage_reconciled', reconcileMessage(r, c), data);
  await appendAudit(trx, {
    at,
    actor,
    org: c.org,
    action: 'usage.reconcile',
    objectType: 'job',
    objectId: r.jobId,
    before: { attempt: r.attempt, ...c.before },
    after: { attempt: r.attempt, driver: r.driver, ...c.after, ...(c.invoiced.length ? { invoiced: c.invoiced } : {}) },
  });
  return event;
}
