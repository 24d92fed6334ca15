/**
 * 034_lenders: a borrowed start's lenders (whose idle lent quota it was attributed to, by the
 * scheduler's ledger: src/scheduler/borrowing.ts) on the job row, cleared when it is requeued, and
 * on its usage segment, where invoices credit the lenders' organisations (model/lenders.ts: JSON
 * [{project, gpus}]; null: none). Segments metered before it have none and credit no one.
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration034Lenders: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`ALTER TABLE jobs ADD COLUMN lenders text`.execute(db);
    await sql`ALTER TABLE usage_records ADD COLUMN lenders text`.execute(db);
    // Invoices read the month's segments with lenders: a partial index keeps that off the others.
    await sql`CREATE INDEX usage_records_lent ON usage_records (ended_at) WHERE lenders IS NOT NULL`.execute(db);
  },
};
