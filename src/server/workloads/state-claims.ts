/**
 * State-dataset claims: a session's state dataset (session.stateDataset) has one writer at a time, as a
 * ReadWriteOnce volume has one node. A queued or running session claims it from its submission until
 * it ends; a second session naming it is refused with 409 `state_dataset_in_use` naming the holder.
 * The claim is the session's own row (jobs.state_dataset under the partial unique index of migration
 * 038), so it is taken in the submission's transaction and ends when the row turns terminal, with no
 * release step to forget. The checks here run inside write transactions (which the store serialises
 * on both dialects) for a clear refusal; the index is the guarantee should anything slip past them.
 */
import type { Kysely, Transaction } from 'kysely';
import { conflict, type DomainError, notFound } from '../../model/errors.js';
import { TERMINAL_STATES } from '../../model/job.js';
import type { JobSpec } from '../../model/schemas.js';
import { kindOf } from '../../model/workloads.js';
import { flushDeferred } from '../../store/deferred-insert.js';
import type { Database } from '../../store/schema.js';

type Trx = Transaction<Database>;

export interface ClaimHolder {
  jobId: string;
  state: string;
}

/** stateDatasetOf: the dataset a job claims (a session's state dataset), or null. */
export function stateDatasetOf(spec: JobSpec): string | null {
  return kindOf(spec) === 'session' ? (spec.session?.stateDataset ?? null) : null;
}

/**
 * holderOf: the job that has not ended and holds `datasetId` as its state, or null. In a write
 * transaction, rows other bodies of its group commit still hold back (PostgreSQL) are written first,
 * so it sees them too.
 */
export async function holderOf(db: Kysely<Database>, datasetId: string): Promise<ClaimHolder | null> {
  if (db.isTransaction) await flushDeferred(db as Trx);
  const row = await db
    .selectFrom('jobs')
    .select(['id', 'state'])
    .where('state_dataset', '=', datasetId)
    .where('state', 'not in', [...TERMINAL_STATES])
    .executeTakeFirst();
  return row ? { jobId: String(row.id), state: row.state } : null;
}

/** inUse: the refusal of a second session naming a claimed state dataset. */
export function inUse(datasetId: string, h: ClaimHolder): DomainError {
  return conflict(
    'state_dataset_in_use',
    `dataset ${datasetId} is the state dataset of session ${h.jobId} (${h.state}): one session writes it at a time; stop session ${h.jobId} or wait until it ends`,
  );
}

/**
 * claimCheck: in the submission's transaction, before its row is written — the dataset must still be
 * live (a deletion may have committed since admission) and held by no other session.
 */
export async function claimCheck(trx: Trx, datasetId: string): Promise<void> {
  const d = await trx.selectFrom('datasets').select('deleted_at').where('id', '=', datasetId).executeTakeFirst();
  if (!d || d.deleted_at !== null) throw notFound('dataset', datasetId);
  const h = await holderOf(trx, datasetId);
  if (h) throw inUse(datasetId, h);
}

/**
 * writersCheck: in the submission's transaction — a job that would write (datasets.writes) a dataset
 * a session holds as its state is refused too: it would write under the session's feet. (The other
 * way round is not checked: a session may claim a dataset batch jobs are writing.)
 */
export async function writersCheck(trx: Trx, spec: JobSpec): Promise<void> {
  const own = stateDatasetOf(spec);
  for (const id of spec.datasets?.writes ?? []) {
    if (id === own) continue;
    const h = await holderOf(trx, id);
    if (h) {
      throw conflict(
        'state_dataset_in_use',
        `dataset ${id} is the state dataset of session ${h.jobId} (${h.state}): no job writes it while a session holds it; read it (datasets.reads) or wait until session ${h.jobId} ends`,
      );
    }
  }
}

/** isClaimViolation: a write broke the claim index (SQLite names the column, PostgreSQL the index). */
export const isClaimViolation = (err: unknown) => /jobs_state_dataset_claim|jobs\.state_dataset/.test(String(err));
