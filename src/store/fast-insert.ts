/**
 * insertReturningId: a single-row INSERT … RETURNING id whose SQL is built by Kysely once per
 * (table, columns) and then reused with new parameters. The submission hot path spends more time
 * building query trees than executing them; this keeps the SQL dialect-correct (Kysely compiles it
 * for SQLite or PostgreSQL) while skipping the rebuild.
 */
import { CompiledQuery, type Transaction } from 'kysely';
import type { Database } from './schema.js';

type IdTable = 'jobs' | 'job_events' | 'audit';
const compiled = new Map<string, string>();

export async function insertReturningId<T extends IdTable>(
  trx: Transaction<Database>,
  table: T,
  values: Record<string, string | number | null>,
): Promise<number> {
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
