/**
 * 022_usage_gpu_equivalents: usage_records.gpus holds GPU-equivalents (a 250-milli GPU share meters
 * 0.25), so on PostgreSQL the column becomes double precision. SQLite's integer affinity keeps a
 * non-integral value as a real already: nothing changes there.
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration022UsageGpuEquivalents: Migration = {
  async up(db: Kysely<unknown>) {
    if (!db.getExecutor().adapter.constructor.name.startsWith('Postgres')) return;
    await sql`ALTER TABLE usage_records ALTER COLUMN gpus TYPE double precision`.execute(db);
  },
};
