/**
 * Idempotent submission: a retry with the same Idempotency-Key returns the job the first try
 * created (same spec), or 409 for a different spec. The store's unique index lets exactly one of
 * two concurrent tries in.
 */
import { conflict } from '../../model/errors.js';
import type { JobSpec } from '../../model/schemas.js';
import type { Store } from '../../store/open-store.js';
import { openJobRow } from '../../store/sealed-fields.js';
import type { JobRow } from '../job-rows.js';

export async function findIdempotent(store: Store, userId: string, key: string): Promise<JobRow | undefined> {
  const row = await store.db
    .selectFrom('jobs')
    .selectAll()
    .where('submitted_by', '=', userId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
  return row && openJobRow(store.fields, row);
}

/** sameSubmission: the prior job when it was submitted with this spec; 409 otherwise. */
export function sameSubmission(prior: JobRow, spec: JobSpec): JobRow {
  if (prior.spec !== JSON.stringify(spec)) {
    throw conflict('idempotency_key_reused', 'this Idempotency-Key was already used for a different job spec');
  }
  return prior;
}

/** isDuplicateKey: the insert lost a race on the (submitted_by, idempotency_key) unique index. */
export const isDuplicateKey = (err: unknown) => /UNIQUE|duplicate/i.test(String(err));
