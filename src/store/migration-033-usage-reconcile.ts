/**
 * 033_usage_reconcile: usage_corrections, one row per correction of a closed run segment to the run
 * time its execution driver reported afterwards (Slurm's sacct Start and End; src/server/usage-reconcile.ts
 * reconcileSegment). The segment itself then holds the corrected figures, which every report reads;
 * this row keeps what was metered before, what the driver reported, when, by which driver, and the
 * invoice (if any) already issued for a month the correction touches, which it does not change.
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration033UsageReconcile: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    const serial = (pg ? 'bigserial' : 'integer') as 'integer';
    const real = sql.raw(pg ? 'double precision' : 'real');
    await db.schema
      .createTable('usage_corrections')
      .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('usage_record_id', 'bigint', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('job_id', 'integer', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('metered_started_at', 'text', (c) => c.notNull())
      .addColumn('metered_ended_at', 'text', (c) => c.notNull())
      .addColumn('metered_gpu_seconds', real, (c) => c.notNull())
      .addColumn('reported_started_at', 'text', (c) => c.notNull())
      .addColumn('reported_ended_at', 'text', (c) => c.notNull())
      .addColumn('reported_gpu_seconds', real, (c) => c.notNull())
      .addColumn('driver', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      // Issued invoices (numbers, comma-separated) of months the correction touches; null: none.
      .addColumn('invoiced', 'text')
      .execute();
    await db.schema.createIndex('usage_corrections_job').on('usage_corrections').columns(['job_id', 'attempt']).execute();
    await db.schema.createIndex('usage_corrections_org').on('usage_corrections').columns(['org_id', 'at']).execute();
  },
};
