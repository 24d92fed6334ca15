/**
 * 019_org_registries: each organisation's registry allow-list (src/server/org-registries.ts), one row
 * per allowed host pattern; no rows: no restriction of the organisation's own (sites' lists still apply).
 */
import type { Kysely, Migration } from 'kysely';

export const migration019OrgRegistries: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('org_registries')
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('pattern', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('org_registries_pk', ['org_id', 'pattern'])
      .execute();
  },
};
