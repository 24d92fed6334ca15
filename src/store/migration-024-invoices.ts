/**
 * 024_invoices: issued invoices (one per organisation and month; the body is the canonical JSON whose
 * SHA-256 the audit chain holds, never updated), credit notes against them, each organisation's
 * billing profile (country, VAT id) and each site's energy factors per month (PUE, grid factor).
 * Invoices and credit notes are append-only like the audit log (triggers on SQLite, rules on PostgreSQL).
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration024Invoices: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    const serial = (pg ? 'bigserial' : 'integer') as 'integer';
    await db.schema
      .createTable('invoices')
      .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('month', 'text', (c) => c.notNull())
      .addColumn('number', 'text', (c) => c.notNull().unique())
      .addColumn('issued_at', 'text', (c) => c.notNull())
      .addColumn('net_cents', 'bigint', (c) => c.notNull())
      .addColumn('gross_cents', 'bigint', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .execute();
    // The idempotency of an invoice run: a second run (or one after a crash) cannot issue a second invoice.
    await db.schema.createIndex('invoices_org_month').on('invoices').columns(['org_id', 'month']).unique().execute();
    // An invoice run reads the segments that end in or after its month (or are still open) without
    // scanning the organisation's older history: by organisation and end, and by end for the
    // organisations to invoice.
    await db.schema.createIndex('usage_records_org_ended').on('usage_records').columns(['org_id', 'ended_at']).execute();
    await db.schema.createIndex('usage_records_ended').on('usage_records').columns(['ended_at', 'org_id']).execute();
    await db.schema
      .createTable('credit_notes')
      .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('invoice_id', 'integer', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('number', 'text', (c) => c.notNull().unique())
      .addColumn('issued_at', 'text', (c) => c.notNull())
      .addColumn('gross_cents', 'bigint', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('credit_notes_invoice').on('credit_notes').columns(['invoice_id', 'id']).execute();
    await db.schema
      .createTable('billing_profiles')
      .addColumn('org_id', 'text', (c) => c.primaryKey())
      .addColumn('country', 'text', (c) => c.notNull())
      .addColumn('vat_id', 'text')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('energy_factors')
      .addColumn('site', 'text', (c) => c.notNull())
      .addColumn('month', 'text', (c) => c.notNull())
      .addColumn('pue', 'double precision', (c) => c.notNull())
      .addColumn('grid_g_co2_per_kwh', 'double precision', (c) => c.notNull())
      .addColumn('renewable_share', 'double precision')
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('energy_factors_pk', ['site', 'month'])
      .execute();
    if (pg) {
      await sql`CREATE FUNCTION invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'issued invoices and credit notes are immutable'; END $$`.execute(db);
    }
    for (const t of ['invoices', 'credit_notes']) {
      if (pg) {
        await sql
          .raw(`CREATE TRIGGER ${t}_no_change BEFORE UPDATE OR DELETE ON ${t} FOR EACH ROW EXECUTE FUNCTION invoices_immutable()`)
          .execute(db);
      } else {
        await sql
          .raw(`CREATE TRIGGER ${t}_no_update BEFORE UPDATE ON ${t} BEGIN SELECT RAISE(ABORT, '${t} are immutable'); END`)
          .execute(db);
        await sql
          .raw(`CREATE TRIGGER ${t}_no_delete BEFORE DELETE ON ${t} BEGIN SELECT RAISE(ABORT, '${t} are immutable'); END`)
          .execute(db);
      }
    }
  },
};
