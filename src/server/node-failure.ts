/**
 * Node failure and checkpoints: the store side. When a node goes down, each running job on it is
 * stopped and then requeued or failed as its spec's `onNodeFailure` asks (default requeue): a gang
 * always as a whole, since one allocation holds all its nodes. Checkpoints a job reports are kept
 * so that preemption picks the victims that lose least work.
 */
import type { StopCause } from '../lifecycle/index.js';
import type { JobEvent, JobSpec } from '../model/schemas.js';
import type { OnNodeFailure } from '../model/schemas-scheduling.js';
import { appendAudit } from '../store/audit.js';
import { insertReturningId } from '../store/fast-insert.js';
import type { Store } from '../store/open-store.js';
import { sealEventText } from '../store/sealed-fields.js';
import { type JobRow, toJobEvent } from './job-rows.js';
import { closeSegment } from './metering.js';
import { recordReconciliation } from './usage-reconcile.js';
import { clearEndpoint } from './workloads/endpoints.js';

type Trx = Parameters<Parameters<Store['write']>[0]>[0];

/** NodeFailureCause: the lifecycle's stop cause for a job whose node went down. */
export type NodeFailureCause = Extract<StopCause, { kind: 'node-failure' }>;

/** NodeFailure: why a running job is being stopped, and what happens to it once it has stopped. */
export interface NodeFailure {
  node: string;
  why: string;
  policy: OnNodeFailure;
  /** The attempt the job's next start will be (jobs.attempt + 1). */
  attempt: number;
}

async function event(trx: Trx, jobId: string, at: string, type: string, message: string, data: Record<string, unknown>) {
  const values = { job_id: Number(jobId), at, type, message, data: JSON.stringify(data) };
  const id = await insertReturningId(trx, 'job_events', values);
  return toJobEvent({ ...values, id });
}

const outcomeText = (f: NodeFailure) =>
  f.policy === 'requeue' ? `requeued (attempt ${f.attempt})` : 'failed (the job asked for onNodeFailure: fail)';

/**
 * markNodeFailures records, for each running job on a node that went down, a `node-failure` event
 * and an audit record; returns the failure per job (the caller stops the jobs).
 */
export async function markNodeFailures(
  store: Store,
  jobs: readonly { id: string; org: string; spec: JobSpec }[],
  node: string,
  why: string,
  actor: string,
  at: string,
): Promise<{ id: string; org: string; failure: NodeFailure; event: JobEvent }[]> {
  if (jobs.length === 0) return [];
  return store.decide(async (trx) => {
    const out: { id: string; org: string; failure: NodeFailure; event: JobEvent }[] = [];
    for (const j of jobs) {
      const runs = await trx.selectFrom('jobs').select('attempt').where('id', '=', Number(j.id)).executeTakeFirst();
      const failure: NodeFailure = { node, why, policy: j.spec.onNodeFailure ?? 'requeue', attempt: (runs?.attempt ?? 1) + 1 };
      const message = `node ${node} went down (${why}): stopping the job; it will be ${outcomeText(failure)}`;
      const ev = await event(trx, j.id, at, 'node-failure', message, { node, policy: failure.policy });
      await appendAudit(trx, {
        at,
        actor,
        org: j.org,
        action: 'job.node-failure',
        objectType: 'job',
        objectId: j.id,
        before: { state: 'running' },
        after: { state: 'stopping', node, policy: failure.policy },
      });
      out.push({ id: j.id, org: j.org, failure, event: ev });
    }
    return out;
  });
}

/**
 * settleNodeFailure commits a stopped job's outcome: back to the queue (with its history and
 * original order) or failed. Returns null when the job was no longer running.
 */
export async function settleNodeFailure(
  store: Store,
  jobId: string,
  cause: NodeFailureCause,
  exitCode: number | null,
  at: string,
  actor: string,
  /** When the driver says the run really started and ended (its exit's `ran`), and which driver: the segment is corrected to it. */
  ran?: { start: number; end: number; driver: string },
): Promise<{ row: JobRow; event: JobEvent; state: 'queued' | 'failed'; reconciled: JobEvent | null } | null> {
  return store.decide(async (trx) => {
    const requeue = cause.onNodeFailure === 'requeue';
    const row = await trx
      .updateTable('jobs')
      .set(
        requeue
          ? { state: 'queued', placement: null, started_at: null, borrowed: 0, lenders: null }
          : { state: 'failed', exit_code: exitCode, finished_at: at },
      )
      .where('id', '=', Number(jobId))
      .where('state', '=', 'running')
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await closeSegment(trx, jobId, at, row.attempt);
    const reconciled = ran ? await recordReconciliation(trx, { jobId, attempt: row.attempt, ...ran }, at, actor) : null;
    await clearEndpoint(trx, jobId);
    // The attempt its next start will be (a requeue leaves jobs.attempt as it was).
    const f: NodeFailure = { node: cause.node, why: cause.why, policy: cause.onNodeFailure, attempt: row.attempt + 1 };
    const state = requeue ? ('queued' as const) : ('failed' as const);
    const ev = await event(trx, jobId, at, state, `node ${f.node} went down: ${outcomeText(f)}`, {
      node: f.node,
      ...(requeue ? { attempt: f.attempt } : { exitCode }),
    });
    await appendAudit(trx, {
      at,
      actor,
      org: row.org_id,
      action: requeue ? 'job.requeue' : 'job.finish',
      objectType: 'job',
      objectId: jobId,
      before: { state: 'running' },
      after: requeue ? { state, node: f.node, attempt: f.attempt } : { state, node: f.node, exitCode },
    });
    return { row, event: ev, state, reconciled };
  });
}

/** recordCheckpoint stores a checkpoint with its `checkpoint` event and audit record. */
export async function recordCheckpoint(
  store: Store,
  job: { id: string; org: string },
  body: { step?: number; label?: string },
  actor: string,
  at: string,
  requestId?: string,
): Promise<JobEvent> {
  const f = store.fields;
  await f.ready(job.org);
  return store.write(async (trx) => {
    const label = body.label ? f.seal(job.org, 'checkpoint.label', body.label) : null;
    await trx
      .insertInto('job_checkpoints')
      .values({ job_id: Number(job.id), at, step: body.step ?? null, label })
      .execute();
    const what = `${body.step !== undefined ? ` at step ${body.step}` : ''}${body.label ? ` (${body.label})` : ''}`;
    const message = `checkpoint${what}: a preemption now loses only work after it`;
    const data = { ...(body.step !== undefined ? { step: body.step } : {}), ...(body.label ? { label: body.label } : {}) };
    // The label is tenant-written: the stored event is sealed; the one returned and published is clear.
    const sealed = sealEventText(f, job.org, message, JSON.stringify(data));
    const id = await insertReturningId(trx, 'job_events', { job_id: Number(job.id), at, type: 'checkpoint', ...sealed });
    const ev = toJobEvent({ id, job_id: Number(job.id), at, type: 'checkpoint', message, data: JSON.stringify(data) });
    await appendAudit(trx, {
      at,
      actor,
      org: job.org,
      action: 'job.checkpoint',
      objectType: 'job',
      objectId: job.id,
      // The audit chain is never encrypted: it records that a label was given, not the label.
      after: { at, step: body.step ?? null, labelled: body.label !== undefined },
      requestId,
    });
    return ev;
  });
}

/** lastCheckpoints: the latest checkpoint time (epoch ms) per job among `ids`. */
export async function lastCheckpoints(store: Store, ids: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (ids.length === 0) return out;
  const rows = await store.db
    .selectFrom('job_checkpoints')
    .select(['job_id', (eb) => eb.fn.max('at').as('at')])
    .where(
      'job_id',
      'in',
      ids.map((id) => Number(id)),
    )
    .groupBy('job_id')
    .execute();
  for (const r of rows) if (r.at) out.set(String(r.job_id), Date.parse(String(r.at)));
  return out;
}
