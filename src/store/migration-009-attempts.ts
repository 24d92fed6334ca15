/**
 * 009: a job's attempt number (how many times it was started) is part of its state, so that each
 * run gets its own directory on the execution side and a restarted control plane reattaches the
 * right one. Existing jobs count their `running` events (one per committed start).
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration009Attempts: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('jobs')
      .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await sql`UPDATE jobs SET attempt = (SELECT count(*) FROM job_events WHERE job_events.job_id = jobs.id AND job_events.type = 'running')`.execute(
      db,
    );
  },
};
