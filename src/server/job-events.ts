/** insertEvent: the one way a job event row is written (inside the caller's transaction). */
import type { JobEvent } from '../model/schemas.js';
import { insertReturningId } from '../store/fast-insert.js';
import type { Store } from '../store/open-store.js';
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
  const id = await insertReturningId(trx, 'job_events', values);
  return toJobEvent({ ...values, id });
}
