/**
 * 025_org_imports: organisations imported from another installation's archive (`gigafab org import`).
 * Each row keeps the archive exactly as it came (the old installation's signed audit slice inside),
 * sealed under the organisation's data key (an erasure shreds it with the rest), so the imported
 * history stays verifiable offline (`gigafab org verify-archive`); its SHA-256 is in
 * the `org.import` audit record that the import appends to this installation's chain.
 */
import type { Kysely, Migration } from 'kysely';

export interface OrgImportsTable {
  id: number;
  org_id: string;
  imported_at: string;
  imported_by: string;
  /** The installation the archive names as its source (its URL as the exporter saw it). */
  source: string;
  exported_at: string;
  archive_sha256: string;
  /** The archive's text, byte for byte, sealed under the organisation's data key (sealed-fields.ts). */
  archive: string;
}

export type OrgImportTables = { org_imports: OrgImportsTable };

export const migration025OrgImports: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    const serial = (pg ? 'bigserial' : 'integer') as 'integer';
    await db.schema
      .createTable('org_imports')
      .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('imported_at', 'text', (c) => c.notNull())
      .addColumn('imported_by', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('exported_at', 'text', (c) => c.notNull())
      .addColumn('archive_sha256', 'text', (c) => c.notNull())
      .addColumn('archive', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('org_imports_org').on('org_imports').columns(['org_id', 'id']).execute();
  },
};
