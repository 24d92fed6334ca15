/** Mapping between job rows in the store and the public Job shape. */
import type { Selectable } from 'kysely';
import type { JobState, PendingReason, Placement, SchedulingCycle } from '../model/job.js';
import type { Job, JobEvent, JobSpec, SchedulingCycleView } from '../model/schemas.js';
import type { JobEventsTable, JobsTable } from '../store/schema.js';

export type JobRow = Selectable<JobsTable>;

/** toJob: the public job; `reasonCycle` is the cycle that gave `pending` (null: none yet). */
export function toJob(row: JobRow, pending: PendingReason | null, reasonCycle: SchedulingCycle | null = null): Job {
  const queued = row.state === 'queued';
  return {
    id: String(row.id),
    org: row.org_id,
    project: row.project_id,
    name: row.name,
    state: row.state as JobState,
    spec: JSON.parse(row.spec) as JobSpec,
    placement: row.placement ? (JSON.parse(row.placement) as Placement) : null,
    pendingReason: queued ? (pending ?? notYetScheduled) : null,
    reasonCycle: queued && pending ? cycleView(reasonCycle) : null,
    exitCode: row.exit_code,
    submittedBy: row.submitted_by,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    attempt: row.attempt,
  };
}

/** cycleView: a scheduling cycle as the API shows it (its time as ISO 8601). */
export function cycleView(c: SchedulingCycle | null): SchedulingCycleView | null {
  if (!c) return null;
  return { number: c.number, ...(c.term !== undefined ? { term: c.term } : {}), startedAt: new Date(c.startedAt).toISOString() };
}

const notYetScheduled: PendingReason = {
  code: 'not_yet_scheduled',
  message: 'waiting: not yet considered by the scheduler',
};

export function toJobEvent(row: Selectable<JobEventsTable>): JobEvent {
  return {
    id: row.id,
    jobId: String(row.job_id),
    at: row.at,
    type: row.type,
    message: row.message,
    data: row.data ? (JSON.parse(row.data) as Record<string, unknown>) : null,
  };
}
