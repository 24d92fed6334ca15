/**
 * 023_scheduler_lease: the one row that says which server process schedules (scheduler-lease.ts).
 * `token` only ever grows: every new holder gets the next one, and a decision commit checks it.
 * `expires_ms` is epoch milliseconds by the database's clock (replicas' clocks may disagree).
 */
import type { Kysely, Migration } from 'kysely';

export const migration023SchedulerLease: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('scheduler_lease')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('token', 'bigint', (c) => c.notNull())
      .addColumn('expires_ms', 'bigint', (c) => c.notNull())
      .execute();
  },
};
