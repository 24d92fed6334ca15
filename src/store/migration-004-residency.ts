/** 004_residency: versioned residency policies, datasets, and placement evidence. */
import { type Kysely, type Migration, sql } from 'kysely';

type Db = Kysely<unknown>;

function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter.constructor.name.startsWith('Postgres');
}

export const m004Residency: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('residency_policies')
      .addColumn('scope_type', 'text', (c) => c.notNull())
      .addColumn('scope_id', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('rules', 'text', (c) => c.notNull())
      .addColumn('data_classes', 'text', (c) => c.notNull())
      .addColumn('sites_before', 'text', (c) => c.notNull())
      .addColumn('sites_after', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('residency_policies_pk', ['scope_type', 'scope_id', 'version'])
      .execute();
    await db.schema
      .createTable('datasets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('project_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('classification', 'text', (c) => c.notNull())
      .addColumn('home_site', 'text', (c) => c.notNull())
      // Datasets exceed 2 GiB: PostgreSQL's integer is 32-bit, SQLite's is already 64-bit (unchanged there).
      .addColumn('size_bytes', isPostgres(db) ? ('bigint' as 'integer') : 'integer', (c) => c.notNull())
      .addColumn('checksum', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('deleted_at', 'text')
      .execute();
    await db.schema.createIndex('datasets_org').on('datasets').columns(['org_id', 'id']).execute();
    // A name is unique among a project's live datasets; a deleted one frees its name.
    await sql`CREATE UNIQUE INDEX datasets_live_name ON datasets (project_id, name) WHERE deleted_at IS NULL`.execute(db);
    await db.schema
      .createTable('placement_evidence')
      .addColumn('id', isPostgres(db) ? ('bigserial' as 'integer') : 'integer', (c) =>
        isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('job_id', 'integer', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('project_id', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('site', 'text', (c) => c.notNull())
      .addColumn('evidence', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('placement_evidence_org').on('placement_evidence').columns(['org_id', 'at']).execute();
    await db.schema.createIndex('placement_evidence_job').on('placement_evidence').columns(['job_id', 'id']).execute();
  },
};
