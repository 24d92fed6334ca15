/**
 * 018_price_book: the operator's price book in versions (src/server/price-book.ts). A version takes
 * effect at `effective_from` and holds one price per GPU type and usage class it sets, in integer
 * EUR cents per GPU-hour; versions are only ever added, never changed. And each organisation's
 * monthly budget: a hard cap in EUR cents that admission enforces (src/server/budgets.ts).
 */
import type { Kysely, Migration } from 'kysely';

export const migration018PriceBook: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('price_versions')
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('effective_from', 'text', (c) => c.notNull())
      .addColumn('granularity', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('prices')
      .addColumn('version', 'integer', (c) => c.notNull().references('price_versions.version'))
      .addColumn('gpu_type', 'text', (c) => c.notNull())
      .addColumn('class', 'text', (c) => c.notNull())
      .addColumn('cents_per_gpu_hour', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('prices_pk', ['version', 'gpu_type', 'class'])
      .execute();
    await db.schema
      .createTable('budgets')
      .addColumn('org_id', 'text', (c) => c.primaryKey().references('orgs.id'))
      .addColumn('cap_cents', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .execute();
  },
};
