/**
 * insertReturningId: a single-row INSERT … RETURNING id whose SQL is built by Kysely once per
 * (table, columns) and then reused with new parameters. The submission hot path spends more time
 * building query trees than executing them; this keeps the SQL dialect-correct (Kysely compiles it
 * for SQLite or PostgreSQL) while skipping the rebuild.
 */
import { CompiledQuery, type Transaction } from 'kysely';
import { defers, insertLater } from './deferred-insert.js';
import { nextJobId } from './job-ids.js';
import type { Database } from './schema.js';

type IdTable = 'jobs' | 'job_events' | 'audit';
const compiled = new Map<string, string>();

export async function insertReturningId<T extends IdTable>(
  trx: Transaction<Database>,
  table: T,
  values: Record<string, string | number | null>,
): Promise<number> {
  // PostgreSQL: a job's id is drawn by the store (job-ids.ts), so every jobs row of a transaction
  // comes from one source, whether written now (here) or before COMMIT (insertJobLater).
  if (table === 'jobs' && defers(trx) && !('id' in values)) {
    const id = await nextJobId(trx, typeof values.org_id === 'string' ? values.org_id : null);
    await insertReturningId(trx, table, { id, ...values });
    return id;
  }
  const keys = Object.keys(values);
  // The dialect is part of the key: SQLite and PostgreSQL write placeholders differently (one process may open both).
  const cacheKey = `${trx.getExecutor().adapter.constructor.name}:${table}:${keys.join(',')}`;
  let text = compiled.get(cacheKey);
  if (!text) {
    // `never`: the row shape is checked by the callers' typed values, not here.
    text = trx
      .insertInto(table)
      .values(values as never)
      .returning('id')
      .compile().sql;
    compiled.set(cacheKey, text);
  }
  const result = await trx.executeQuery<{ id: number }>(
    CompiledQuery.raw(
      text,
      keys.map((k) => values[k]),
    ),
  );
  const row = result.rows[0];
  if (!row) throw new Error(`insert into ${table} returned no id`);
  return Number(row.id);
}

/**
 * insertJobLater: a new `jobs` row and its id. On PostgreSQL the id is drawn by the store
 * (job-ids.ts) and the row is written with the transaction's other jobs in one INSERT before COMMIT,
 * so a group commit of many submissions pays no round trip per job; a constraint it breaks (a reused
 * idempotency key) fails the transaction then, as it would have now. On SQLite the row is written now.
 * Nothing in the transaction may read the row before it commits (a new job is known to nobody yet).
 */
export async function insertJobLater(
  trx: Transaction<Database>,
  values: Record<string, string | number | null>,
): Promise<number> {
  if (!defers(trx)) return insertReturningId(trx, 'jobs', values);
  const id = await nextJobId(trx, typeof values.org_id === 'string' ? values.org_id : null);
  // `never`: the row's shape is checked by the caller's typed values, as in insertReturningId.
  await insertLater(trx, 'jobs', { id, ...values } as never);
  return id;
}
