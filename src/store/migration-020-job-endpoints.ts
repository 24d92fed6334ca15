/**
 * 020_job_endpoints: where a running session's or service's port is reached (the driver's `started`
 * observation, model/workloads.ts), one row per running job; deleted when the job leaves `running`.
 */
import type { Kysely, Migration } from 'kysely';

export const migration020JobEndpoints: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('job_endpoints')
      .addColumn('job_id', 'integer', (c) => c.primaryKey())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull())
      .addColumn('reported_at', 'text', (c) => c.notNull())
      .execute();
  },
};
