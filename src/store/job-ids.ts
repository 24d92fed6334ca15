/**
 * Job ids drawn by the store itself on PostgreSQL, so that a submission needs no round trip of its
 * own: its `jobs` row can wait for the transaction's one multi-row INSERT before COMMIT
 * (deferred-insert.ts) like its event and audit rows, while the submission already knows its id for
 * the event, the audit record and the answer.
 *
 * Every write transaction holds the advisory write lock (open-store.ts), so within one the ids after
 * the `jobs` sequence's last value are nobody else's. That value comes with the audit heads the
 * transaction reads anyway (audit.ts), so drawing ids costs no round trip of its own. Before COMMIT
 * the sequence is moved to the highest id drawn (`setval`, in the same statement as the deferred
 * rows), so a process that still inserts with the column's default (`nextval`, e.g. an older replica during an upgrade) never meets a drawn id.
 * As with `nextval`, a transaction that rolls back after that leaves a gap; one that rolls back
 * before it draws its ids again next time. Ids stay in commit order, as with the sequence under the
 * lock before.
 *
 * SQLite needs none of this (no round trips): its jobs keep their INTEGER PRIMARY KEY ids.
 */
import { sql, type Transaction } from 'kysely';
import { jobSequenceLast } from './audit.js';
import type { Database } from './schema.js';

interface Drawn {
  /** The next id this transaction hands out. */
  next: number;
  /** The highest id drawn and not yet written to the sequence, or 0. */
  unsynced: number;
}

const drawnByTx = new WeakMap<object, Drawn>();

/**
 * nextJobId: a fresh `jobs.id` for a row of organisation `org` that `trx` writes (PostgreSQL, inside a
 * write transaction). The sequence is read with the audit heads (audit.ts), which the submission
 * reads anyway for its audit record: no round trip of its own.
 */
export async function nextJobId(trx: Transaction<Database>, org: string | null): Promise<number> {
  let d = drawnByTx.get(trx);
  if (!d) {
    // null: the sequence was never used (a new database), its first value is 1.
    d = { next: ((await jobSequenceLast(trx, org)) ?? 0) + 1, unsynced: 0 };
    drawnByTx.set(trx, d);
  }
  const id = d.next++;
  d.unsynced = id;
  return id;
}

/** takeJobIdSync: the highest id `trx` drew since the last call (the sequence must move to it), or null. */
export function takeJobIdSync(trx: Transaction<Database>): number | null {
  const d = drawnByTx.get(trx);
  if (!d || d.unsynced === 0) return null;
  const upto = d.unsynced;
  d.unsynced = 0;
  return upto;
}

/** The statement that moves the `jobs` sequence to `upto` (it never moves back: only drawn ids are passed). */
export const SYNC_JOB_SEQUENCE = (upto: number) => sql`select setval(pg_get_serial_sequence('jobs', 'id'), ${upto}::bigint)`;
