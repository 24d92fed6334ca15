/** insertEvent: the one way a job event row is written (inside the caller's transaction). */
import type { JobEvent } from '../model/schemas.js';
import { defers, insertLater } from '../store/deferred-insert.js';
import { insertReturningId } from '../store/fast-insert.js';
import type { Store } from '../store/open-store.js';
import { type FieldSealer, sealEventText } from '../store/sealed-fields.js';
import { toJobEvent } from './job-rows.js';

export type Trx = Parameters<Parameters<Store['write']>[0]>[0];

export async function insertEvent(
  trx: Trx,
  jobId: string,
  at: string,
  type: string,
  message: string,
  data: Record<string, unknown> | null,
): Promise<JobEvent> {
  const values = { job_id: Number(jobId), at, type, message, data: data ? JSON.stringify(data) : null };
  if (defers(trx)) return later(trx, values, toJobEvent({ ...values, id: 0 }));
  const id = await insertReturningId(trx, 'job_events', values);
  return toJobEvent({ ...values, id });
}

/**
 * later: on PostgreSQL an event row is written with the transaction's other events in one INSERT
 * before COMMIT (deferred-insert.ts); its id is set on the returned event then. Events are published
 * only after the commit, so nobody reads the id before. Column order is the same for every event, so
 * all of a transaction's events are one group, written in the order they were appended.
 */
async function later(
  trx: Trx,
  row: { job_id: number; at: string; type: string; message: string; data: string | null },
  event: JobEvent,
): Promise<JobEvent> {
  const { job_id, at, type, message, data } = row;
  await insertLater(
    trx,
    'job_events',
    { job_id, at, type, message, data },
    {
      onId: (id) => {
        event.id = id;
      },
    },
  );
  return event;
}

/**
 * insertDriverEvent: an event whose text a driver wrote (started, an image-pull phase, the exit). It
 * may name what the tenant wrote (the image, a registry's answer about it), so it is stored sealed
 * like other tenant-written text and returned clear. The org must be ready (`store.fields.ready`).
 */
export async function insertDriverEvent(
  trx: Trx,
  fields: FieldSealer,
  org: string,
  e: { jobId: string; at: string; type: string; message: string; data: Record<string, unknown> | null },
): Promise<JobEvent> {
  const data = e.data ? JSON.stringify(e.data) : null;
  const sealed = sealEventText(fields, org, e.message, data);
  if (defers(trx)) {
    const clear = { id: 0, job_id: Number(e.jobId), at: e.at, type: e.type, message: e.message, data };
    return later(trx, { job_id: Number(e.jobId), at: e.at, type: e.type, ...sealed }, toJobEvent(clear));
  }
  const id = await insertReturningId(trx, 'job_events', { job_id: Number(e.jobId), at: e.at, type: e.type, ...sealed });
  return toJobEvent({ id, job_id: Number(e.jobId), at: e.at, type: e.type, message: e.message, data });
}
