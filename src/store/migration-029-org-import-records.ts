/**
 * 029_org_import_records: the usage and residency evidence an imported organisation brought from its
 * old installation (`usage` and `residency` sections of the archive, org-import.ts), one row per
 * archive record, with the import it came from. They are the old provider's metering and evidence:
 * kept and shown as such (marked with their origin), never billed here — invoices and budgets read
 * `usage_records`, this installation's own metering, only. Each record is sealed under the
 * organisation's data key (an erasure shreds it with the rest).
 */
import type { Kysely, Migration } from 'kysely';

export interface OrgImportRecordsTable {
  id: number;
  /** org_imports.id of the import that wrote it. */
  import_id: number;
  org_id: string;
  /** `usage` or `residency`: the archive section. */
  section: string;
  /** Its position in that section (1-based). */
  seq: number;
  /** The archive's record (JSON), sealed under the organisation's data key (sealed-fields.ts). */
  record: string;
}

export type OrgImportRecordTables = { org_import_records: OrgImportRecordsTable };

export const migration029OrgImportRecords: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    const serial = (pg ? 'bigserial' : 'integer') as 'integer';
    await db.schema
      .createTable('org_import_records')
      .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('import_id', 'integer', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('section', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('record', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('org_import_records_org')
      .on('org_import_records')
      .columns(['org_id', 'section', 'import_id', 'seq'])
      .execute();
  },
};
