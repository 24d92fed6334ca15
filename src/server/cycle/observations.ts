/**
 * Observations: what the drivers report (started, exited, checkpoints) turned into committed job
 * state. What follows a job's exit is the lifecycle's rule (afterStop): a job stopped for
 * preemption or a restriction is requeued, one stopped for a node failure requeued or failed as
 * its spec asks, anything else ends with the driver's outcome.
 */
import type { CheckpointObservation, Observation } from '../../drivers/driver.js';
import { exitDecision, type HoldCause, type StopCause } from '../../lifecycle/index.js';
import type { JobEvent } from '../../model/schemas.js';
import { exposesPort } from '../../model/workloads.js';
import { appendAudit } from '../../store/audit.js';
import { openSpec } from '../../store/sealed-fields.js';
import { insertDriverEvent, insertEvent, type Trx } from '../job-events.js';
import { closeSegment } from '../metering.js';
import { type NodeFailureCause, recordCheckpoint, settleNodeFailure } from '../node-failure.js';
import { recordReconciliation } from '../usage-reconcile.js';
import { clearEndpoint, recordEndpoint } from '../workloads/endpoints.js';
import { type CycleContext, driverActor } from './context.js';

type Exited = Observation & { type: 'exited' };

const OUTCOME_STATE = { completed: null, 'timed-out': 'timed-out', cancelled: 'cancelled', lost: 'failed' } as const;

export class Observations {
  constructor(private readonly ctx: CycleContext) {}

  /** observe turns a driver observation into committed job state. */
  async observe(o: Observation): Promise<void> {
    const { state } = this.ctx;
    if (o.type === 'started' || o.type === 'phase') return this.progressed(o);
    const cause = state.running.get(o.jobId)?.stopping ?? null;
    const next = exitDecision(cause, o);
    if (cause?.kind === 'node-failure' && !(next.next === 'finish' && next.state === 'succeeded'))
      return this.afterNodeFailure(o, cause);
    if (cause && next.next === 'requeue') return this.requeue(o, cause, next.hold);
    return this.finish(o);
  }

  /** progressed records a step of a running job's start (an image pull phase, the process started). */
  private async progressed(o: Observation & { type: 'started' | 'phase' }): Promise<void> {
    const r = this.ctx.state.running.get(o.jobId);
    if (!r) return; // a report about a job that no longer runs here (ended, requeued) changes nothing
    const { fields } = this.ctx.store;
    await fields.ready(r.org);
    const at = new Date(o.at).toISOString();
    const [type, data] = o.type === 'phase' ? [o.phase, o.data ?? null] : ['started', null];
    const endpoint = o.type === 'started' ? o.endpoint : undefined;
    const event = await this.ctx.store.write(async (trx) => {
      if (endpoint) await recordEndpoint(trx, o.jobId, endpoint, at);
      return insertDriverEvent(trx, fields, r.org, { jobId: o.jobId, at, type, message: o.message, data });
    });
    if (endpoint && this.ctx.state.running.get(o.jobId) === r) r.endpoint = endpoint;
    this.ctx.bus.publish({ org: r.org, event });
  }

  /** finish records the job's end with the driver's outcome. */
  private async finish(o: Exited): Promise<void> {
    const { ctx } = this;
    const at = new Date(o.at).toISOString();
    const state = OUTCOME_STATE[o.outcome] ?? (o.exitCode === 0 ? 'succeeded' : 'failed');
    const { fields } = ctx.store;
    const knownOrg = ctx.state.running.get(o.jobId)?.org;
    if (knownOrg) await fields.ready(knownOrg);
    const mayHaveEndpoint = this.mayHaveEndpoint(o.jobId);
    const done = await ctx.store.decide(async (trx) => {
      const res = await trx
        .updateTable('jobs')
        .set({ state, exit_code: o.exitCode, finished_at: at })
        .where('id', '=', Number(o.jobId))
        .where('state', '=', 'running')
        .returning(['org_id', 'attempt'])
        .executeTakeFirst();
      if (!res) return null;
      await closeSegment(trx, o.jobId, at, res.attempt, o.energyJoules);
      const reconciled = await this.reconcile(trx, o, res.attempt, at);
      if (mayHaveEndpoint) await clearEndpoint(trx, o.jobId);
      const data = { exitCode: o.exitCode };
      // The driver's exit message may name the image (a failed pull): sealed where the org's key is ready.
      const event =
        res.org_id === knownOrg
          ? await insertDriverEvent(trx, fields, res.org_id, { jobId: o.jobId, at, type: state, message: o.message, data })
          : await insertEvent(trx, o.jobId, at, state, o.message, data);
      await appendAudit(trx, {
        at,
        actor: driverActor(ctx),
        org: res.org_id,
        action: 'job.finish',
        objectType: 'job',
        objectId: o.jobId,
        before: { state: 'running' },
        after: { state, exitCode: o.exitCode },
      });
      return { event, org: res.org_id, reconciled };
    });
    ctx.state.removeRunning(o.jobId);
    ctx.state.poke();
    if (ctx.state.forgetOnExit.delete(o.jobId)) await ctx.driver.forget?.(o.jobId);
    if (done) {
      if (done.reconciled) ctx.bus.publish({ org: done.org, event: done.reconciled });
      ctx.bus.publish({ org: done.org, event: done.event, terminalState: state });
      ctx.metrics?.jobsFinished.inc({ state });
    }
  }

  /** requeue puts a stopped job back in the queue with its history and original submission order. */
  private async requeue(o: Exited, cause: StopCause, hold: HoldCause | null): Promise<void> {
    const { ctx } = this;
    const at = new Date(o.at).toISOString();
    const mayHaveEndpoint = this.mayHaveEndpoint(o.jobId);
    const done = await ctx.store.decide(async (trx) => {
      const row = await trx
        .updateTable('jobs')
        .set({ state: 'queued', placement: null, started_at: null, borrowed: 0, lenders: null })
        .where('id', '=', Number(o.jobId))
        .where('state', '=', 'running')
        .returningAll()
        .executeTakeFirst();
      if (!row) return null;
      await closeSegment(trx, o.jobId, at, row.attempt, o.energyJoules);
      const reconciled = await this.reconcile(trx, o, row.attempt, at);
      if (mayHaveEndpoint) await clearEndpoint(trx, o.jobId);
      const event = await insertEvent(
        trx,
        o.jobId,
        at,
        'queued',
        cause.kind === 'preempt'
          ? `requeued after preemption for job ${cause.forJobId} (${o.message})`
          : `requeued and held: processing restricted (${cause.kind === 'restrict' ? cause.reason : cause.kind})`,
        cause.kind === 'preempt' ? { preemptedFor: cause.forJobId } : { restricted: true },
      );
      await appendAudit(trx, {
        at,
        actor: driverActor(ctx),
        org: row.org_id,
        action: 'job.requeue',
        objectType: 'job',
        objectId: o.jobId,
        before: { state: 'running' },
        after: { state: 'queued' },
      });
      return { row, event, reconciled };
    });
    ctx.state.removeRunning(o.jobId);
    if (done) {
      const spec = openSpec(ctx.store.fields, done.row.org_id, done.row.spec);
      ctx.state.enqueue(o.jobId, done.row, spec);
      if (hold) ctx.state.holds.set(o.jobId, hold);
      if (done.reconciled) ctx.bus.publish({ org: done.row.org_id, event: done.reconciled });
      ctx.bus.publish({ org: done.row.org_id, event: done.event });
    }
    ctx.state.poke();
  }

  /**
   * reconcile: the run's segment (just closed) corrected to the run time the driver reported with
   * the exit, if it did (usage-reconcile.ts); the event to publish, or null.
   */
  private async reconcile(trx: Trx, o: Exited, attempt: number, at: string): Promise<JobEvent | null> {
    if (!o.ran) return null;
    const { ctx } = this;
    const run = { jobId: o.jobId, attempt, start: o.ran.start, end: o.ran.end, driver: ctx.driver.name };
    return recordReconciliation(trx, run, at, driverActor(ctx));
  }

  /** afterNodeFailure settles a job stopped because its node went down: requeued or failed. */
  private async afterNodeFailure(o: Exited, f: NodeFailureCause): Promise<void> {
    const { ctx } = this;
    const ran = o.ran ? { ...o.ran, driver: ctx.driver.name } : undefined;
    const done = await settleNodeFailure(ctx.store, o.jobId, f, o.exitCode, new Date(o.at).toISOString(), driverActor(ctx), ran);
    ctx.state.removeRunning(o.jobId);
    if (done?.reconciled) ctx.bus.publish({ org: done.row.org_id, event: done.reconciled });
    if (done?.state === 'queued') {
      const spec = openSpec(ctx.store.fields, done.row.org_id, done.row.spec);
      ctx.state.enqueue(o.jobId, done.row, spec);
      ctx.bus.publish({ org: done.row.org_id, event: done.event });
    } else if (done) {
      ctx.bus.publish({ org: done.row.org_id, event: done.event, terminalState: 'failed' });
      ctx.metrics?.jobsFinished.inc({ state: 'failed' });
    }
    ctx.state.poke();
  }

  /**
   * mayHaveEndpoint: only sessions and services are given a port and report an endpoint; a batch job
   * has no job_endpoints row to delete (one statement less per end). Unknown here: delete to be sure.
   */
  private mayHaveEndpoint(jobId: string): boolean {
    const r = this.ctx.state.running.get(jobId);
    return !r || exposesPort(r.spec);
  }

  /** observeCheckpoint records a checkpoint the job reported through its execution engine. */
  async observeCheckpoint(o: CheckpointObservation): Promise<void> {
    const { ctx } = this;
    const r = ctx.state.running.get(o.jobId);
    if (!r) return;
    const body = { ...(o.step !== undefined ? { step: o.step } : {}), ...(o.label ? { label: o.label } : {}) };
    const at = new Date(o.at).toISOString();
    const event = await recordCheckpoint(ctx.store, { id: o.jobId, org: r.org }, body, driverActor(ctx), at);
    r.lastCheckpointAt = o.at;
    ctx.bus.publish({ org: r.org, event });
  }
}
