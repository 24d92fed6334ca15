/**
 * 007: scheduling operations: advance reservations (capacity windows for an organisation),
 * maintenance windows, and the time of a job's last checkpoint (preemption picks victims by work lost).
 */
import type { Kysely, Migration } from 'kysely';

export const m007Scheduling: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('reservations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('gpu_type', 'text', (c) => c.notNull())
      .addColumn('gpus', 'integer', (c) => c.notNull())
      .addColumn('gpus_per_node', 'integer', (c) => c.notNull())
      .addColumn('nodes', 'integer', (c) => c.notNull())
      .addColumn('site', 'text')
      .addColumn('start_at', 'text', (c) => c.notNull())
      .addColumn('end_at', 'text', (c) => c.notNull())
      .addColumn('note', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('reservations_org').on('reservations').columns(['org_id', 'start_at']).execute();
    await db.schema
      .createTable('maintenance_windows')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('site', 'text')
      /** JSON array of node ids (null with a site: every node of the site). */
      .addColumn('nodes', 'text')
      .addColumn('start_at', 'text', (c) => c.notNull())
      .addColumn('end_at', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    await db.schema
      .createTable('job_checkpoints')
      .addColumn('id', (pg ? 'bigserial' : 'integer') as 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('job_id', 'integer', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('step', 'integer')
      .addColumn('label', 'text')
      .execute();
    await db.schema.createIndex('job_checkpoints_job').on('job_checkpoints').columns(['job_id', 'at']).execute();
  },
};
