/**
 * 037_gpu_partitions: a GPU's partition mode is node state, not a side effect of the jobs on it
 * (issue 18). gpu_partitions: one row per GPU that was ever re-partitioned (mode `mig` | `whole`,
 * when, for which job); a GPU without a row is whole. node_events: a node's own event log
 * (re-partitions, drain/undrain/down), read by GET /v1/nodes/{id}/events.
 */
import type { Kysely, Migration } from 'kysely';

export const migration037GpuPartitions: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    const serial = (pg ? 'bigserial' : 'integer') as 'integer';
    await db.schema
      .createTable('gpu_partitions')
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('gpu', 'integer', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('changed_at', 'text', (c) => c.notNull())
      .addColumn('job_id', 'text')
      .addPrimaryKeyConstraint('gpu_partitions_pk', ['node_id', 'gpu'])
      .execute();
    await db.schema
      .createTable('node_events')
      .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('data', 'text')
      .execute();
    await db.schema.createIndex('node_events_by_node').on('node_events').columns(['node_id', 'id']).execute();
  },
};
