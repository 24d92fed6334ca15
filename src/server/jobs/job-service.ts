/**
 * JobService: a caller's jobs — submit, read, list, cancel, explain, checkpoint, events. Every
 * method takes the caller's RequestContext; every change is one store transaction with its audit
 * record, and the live scheduling state learns of it through the JobCycle port afterwards.
 */

import { canSubmit, enforce } from '../../model/authz.js';
import { conflict, notFound } from '../../model/errors.js';
import type { Fleet } from '../../model/fleet.js';
import { newerCycle, PRIORITY_CLASSES } from '../../model/job.js';
import type { RequestContext } from '../../model/principal.js';
import type { Job, JobEvent, JobExplanation, JobSpec } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import { insertJobLater } from '../../store/fast-insert.js';
import type { Store } from '../../store/open-store.js';
import { openEventRow, sealJobColumns } from '../../store/sealed-fields.js';
import type { BusEvent, EventBus } from '../event-bus.js';
import { insertEvent } from '../job-events.js';
import { cycleView, type JobRow, toJob, toJobEvent } from '../job-rows.js';
import type { Metrics } from '../metrics.js';
import { recordCheckpoint } from '../node-failure.js';
import { claimCheck, holderOf, inUse, isClaimViolation, stateDatasetOf, writersCheck } from '../workloads/state-claims.js';
import { cancelJob } from './cancel.js';
import { findIdempotent, isDuplicateKey, sameSubmission } from './idempotency.js';
import { type JobListQuery, listJobs, visibleJobRow } from './job-queries.js';
import type { JobCycle } from './ports.js';
import { checkSubmission, type SubmissionRules } from './submission.js';

export interface JobServiceDeps extends SubmissionRules {
  store: Store;
  fleet: Fleet;
  cycle: JobCycle;
  bus: EventBus;
  metrics: Metrics | null;
  /** Grace period (seconds) a cancelled running job gets before it is killed. */
  grace: number;
}

export class JobService {
  /** Projects never change owner, so their owner is cached after the first read. */
  private readonly projectOrgs = new Map<string, { id: string; org_id: string }>();

  constructor(private readonly d: JobServiceDeps) {}

  async submit(rc: RequestContext, spec: JobSpec, idempotencyKey: string | undefined): Promise<{ job: Job; created: boolean }> {
    const p = rc.principal;
    const { store } = this.d;
    const may = canSubmit(p, p.org);
    enforce(
      may,
      !may.allowed && may.reason === 'operator_not_tenant'
        ? 'platform operators do not run tenant work; submit as a member of the organisation'
        : 'viewers cannot submit jobs',
    );
    const project = await this.projectOwner(spec.project);
    if (!project || project.org_id !== p.org) throw notFoundProject(spec.project);
    if (idempotencyKey) {
      const prior = await findIdempotent(store, p.userId, idempotencyKey);
      if (prior) return this.replay(prior, spec);
    }
    // Held until the job is queued or refused: concurrent submissions see its budget reservation.
    const release = await checkSubmission(this.d, project, spec);
    const at = new Date(this.d.now()).toISOString();
    const stateDataset = stateDatasetOf(spec);
    let row: JobRow;
    try {
      await store.fields.ready(project.org_id);
      row = await store.write(async (trx) => {
        // A session claims its state dataset with its row (state-claims.ts): one writer at a time.
        if (stateDataset) await claimCheck(trx, stateDataset);
        if (spec.datasets?.writes.length) await writersCheck(trx, spec);
        const values = {
          org_id: project.org_id,
          project_id: project.id,
          state: 'queued',
          priority: PRIORITY_CLASSES[spec.priorityClass],
          placement: null,
          exit_code: null,
          submitted_by: p.userId,
          idempotency_key: idempotencyKey ?? null,
          created_at: at,
          started_at: null,
          finished_at: null,
          borrowed: 0,
          lenders: null,
          attempt: 0,
          state_dataset: stateDataset,
        };
        // PostgreSQL: the id is drawn now, the row written with the batch's other jobs before COMMIT.
        const id = await insertJobLater(trx, { ...values, ...sealJobColumns(store.fields, project.org_id, spec) });
        const inserted: JobRow = {
          ...values,
          name: spec.name,
          spec: JSON.stringify(spec),
          labels: JSON.stringify(spec.labels),
          id,
        };
        const gpus = spec.nodes * spec.gpusPerNode;
        const share = spec.migProfile ? `MIG ${spec.migProfile}` : spec.gpuFraction ? `${spec.gpuFraction} milli-GPU` : null;
        const message = share
          ? `submitted: ${share} of one ${spec.gpuType} GPU`
          : `submitted: ${spec.nodes}×${spec.gpusPerNode} ${spec.gpuType} (${gpus} GPUs)`;
        // On PostgreSQL the batch's events go in one INSERT before COMMIT (job-events.ts); SQLite writes it now.
        await insertEvent(trx, String(id), at, 'queued', message, null);
        await appendAudit(trx, {
          at,
          actor: p.userId,
          org: project.org_id,
          action: 'job.submit',
          objectType: 'job',
          objectId: String(id),
          after: { state: 'queued', project: project.id, gpus, gpuType: spec.gpuType },
          requestId: rc.requestId,
        });
        return inserted;
      });
    } catch (err) {
      release();
      // Two concurrent retries with one key: the unique index lets exactly one in.
      if (idempotencyKey && isDuplicateKey(err)) {
        const prior = await findIdempotent(store, p.userId, idempotencyKey);
        if (prior) return this.replay(prior, spec);
      }
      // Two sessions raced for one state dataset: the index let one in; this one hears who holds it.
      if (stateDataset && isClaimViolation(err)) {
        const holder = await holderOf(store.db, stateDataset);
        if (holder) throw inUse(stateDataset, holder);
      }
      throw err;
    }
    try {
      this.d.cycle.enqueue(String(row.id), row, spec);
    } finally {
      release();
    }
    this.d.metrics?.jobsSubmitted.inc();
    return { job: toJob(row, null), created: true };
  }

  private replay(prior: JobRow, spec: JobSpec): { job: Job; created: boolean } {
    const row = sameSubmission(prior, spec);
    const key = String(row.id);
    return { job: toJob(row, this.d.cycle.pendingReason(key), this.d.cycle.reasonCycle(key)), created: false };
  }

  private async projectOwner(id: string) {
    const hit = this.projectOrgs.get(id);
    if (hit) return hit;
    const row = await this.d.store.db.selectFrom('projects').select(['id', 'org_id']).where('id', '=', id).executeTakeFirst();
    if (row) this.projectOrgs.set(id, row);
    return row;
  }

  async get(rc: RequestContext, id: string): Promise<Job> {
    return toJob(
      await visibleJobRow(this.d.store, rc.principal, id),
      this.d.cycle.pendingReason(id),
      this.d.cycle.reasonCycle(id),
    );
  }

  list(rc: RequestContext, q: JobListQuery): Promise<{ items: Job[]; nextCursor: string | null }> {
    return listJobs(this.d.store, this.d.cycle, rc.principal, q);
  }

  async cancel(rc: RequestContext, id: string): Promise<Job> {
    const row = await visibleJobRow(this.d.store, rc.principal, id);
    await cancelJob(this.d, rc, row);
    return this.get(rc, id);
  }

  async events(rc: RequestContext, id: string, afterId = 0): Promise<{ events: JobEvent[]; job: JobRow }> {
    const { store } = this.d;
    const job = await visibleJobRow(store, rc.principal, id);
    const rows = await store.db
      .selectFrom('job_events')
      .selectAll()
      .where('job_id', '=', Number(id))
      .where('id', '>', afterId)
      .orderBy('id')
      .execute();
    return { events: rows.map((r) => toJobEvent(openEventRow(store.fields, job.org_id, r))), job };
  }

  subscribe(id: string, fn: (e: BusEvent) => void): () => void {
    return this.d.bus.subscribeJob(id, fn);
  }

  /**
   * explain: the scheduler's latest explanation of a job (refreshed every `explainIntervalSeconds`),
   * naming the cycle that computed it and the (possibly newer) cycle that gave its pending reason.
   */
  async explain(rc: RequestContext, id: string): Promise<JobExplanation> {
    const row = await visibleJobRow(this.d.store, rc.principal, id);
    const { explain: e, priority: prio, computedAt, cycle } = this.d.cycle.explanation(id);
    const queued = row.state === 'queued';
    const reason = queued ? this.d.cycle.pendingReason(id) : null;
    const reasonCycle = reason ? this.d.cycle.reasonCycle(id) : null;
    return {
      jobId: id,
      state: row.state as Job['state'],
      pendingReason: reason,
      position: queued ? (e?.position ?? null) : null,
      expectedStart: e?.expectedStart !== undefined && queued ? new Date(e.expectedStart).toISOString() : null,
      blockedBy: queued ? (e?.blockedBy ?? []) : [],
      counterfactual: queued ? (e?.counterfactual ?? []) : [],
      priority: prio ? { total: prio.total, factors: { ...prio.factors } } : null,
      computedAt: computedAt ? new Date(computedAt).toISOString() : null,
      cycle: cycleView(cycle),
      reasonCycle: cycleView(reasonCycle),
      // Compared by number only within one term: a new leader's first cycle is newer than any before.
      stale: reasonCycle !== null && (cycle === null || newerCycle(reasonCycle, cycle)),
    };
  }

  /** checkpoint records a checkpoint of a running job (its owner's org reports it). */
  async checkpoint(rc: RequestContext, id: string, body: { step?: number; label?: string }): Promise<JobEvent> {
    const p = rc.principal;
    const row = await visibleJobRow(this.d.store, p, id);
    enforce(canSubmit(p, row.org_id), "only members of the job's organisation report its checkpoints");
    if (row.state !== 'running' || !this.d.cycle.isRunning(id))
      throw conflict('job_not_running', `job ${id} is ${row.state}; only a running job checkpoints`);
    const now = this.d.now();
    const at = new Date(now).toISOString();
    const event = await recordCheckpoint(this.d.store, { id, org: row.org_id }, body, p.userId, at, rc.requestId);
    this.d.cycle.noteCheckpoint(id, now);
    this.d.bus.publish({ org: row.org_id, event });
    return event;
  }
}

const notFoundProject = (id: string) => notFound('project', id);
