/**
 * 016_usage_records: one row per run segment of a job (a start until its end, requeue, preemption
 * or node failure), written in the transaction that commits the start and closed in the one that
 * records the stop (src/server/metering). Jobs running at the upgrade get their open segment here,
 * from their recorded start, so that their end closes it; earlier runs are not backfilled.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import { parseJson } from '../model/json.js';
import { PlacementSchema } from '../model/schemas.js';
import { usageClass } from '../model/usage.js';

export const migration016UsageRecords: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    await db.schema
      .createTable('usage_records')
      .addColumn('id', (pg ? 'bigserial' : 'integer') as 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('project_id', 'text', (c) => c.notNull())
      .addColumn('job_id', 'integer', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('gpu_type', 'text', (c) => c.notNull())
      .addColumn('site', 'text', (c) => c.notNull())
      .addColumn('gpus', 'integer', (c) => c.notNull())
      .addColumn('class', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text')
      .addColumn('gpu_seconds', 'double precision')
      .execute();
    // One segment per attempt: a start committed twice (or replayed at recovery) cannot open a second row.
    await db.schema.createIndex('usage_records_attempt').on('usage_records').columns(['job_id', 'attempt']).unique().execute();
    await db.schema.createIndex('usage_records_org').on('usage_records').columns(['org_id', 'started_at']).execute();
    await db.schema.createIndex('usage_records_started').on('usage_records').columns(['started_at']).execute();
    const running = await sql<{
      id: number;
      org_id: string;
      project_id: string;
      attempt: number;
      priority: number;
      borrowed: number;
      placement: string | null;
      started_at: string | null;
    }>`SELECT id, org_id, project_id, attempt, priority, borrowed, placement, started_at FROM jobs WHERE state = 'running'`.execute(
      db,
    );
    for (const j of running.rows) {
      if (!j.placement || !j.started_at) continue;
      const p = parseJson(j.placement, PlacementSchema, `placement of running job ${j.id}`);
      const gpus = p.nodes.reduce((a, n) => a + n.gpus.length, 0);
      const cls = usageClass(j.priority, j.borrowed === 1);
      await sql`INSERT INTO usage_records (org_id, project_id, job_id, attempt, gpu_type, site, gpus, class, started_at)
        VALUES (${j.org_id}, ${j.project_id}, ${j.id}, ${Math.max(1, j.attempt)}, ${p.gpuType}, ${p.site}, ${gpus}, ${cls}, ${j.started_at})`.execute(
        db,
      );
    }
  },
};
