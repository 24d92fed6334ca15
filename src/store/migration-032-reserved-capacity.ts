/**
 * 032_reserved_capacity: the operator's reserved-capacity commitments (src/server/reserved-capacity.ts):
 * per organisation, GPU type and calendar month, a number of GPUs at a price in EUR cents per GPU
 * per month. One row per (org, type, month); a new commitment for the same key replaces the row
 * (audited with what it replaced), never one of a month already invoiced.
 */
import type { Kysely, Migration } from 'kysely';

export const migration032ReservedCapacity: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('reserved_capacity')
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('gpu_type', 'text', (c) => c.notNull())
      .addColumn('month', 'text', (c) => c.notNull())
      .addColumn('gpus', 'integer', (c) => c.notNull())
      .addColumn('cents_per_gpu_month', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('reserved_capacity_pk', ['org_id', 'month', 'gpu_type'])
      .execute();
    // The invoice run asks which organisations committed to a month.
    await db.schema.createIndex('reserved_capacity_month').on('reserved_capacity').columns(['month', 'org_id']).execute();
  },
};
