/**
 * 036_invoice_corrections: how a reconciliation in a month already invoiced is settled
 * (src/server/invoices/invoice-corrections.ts): one row per correction (usage_corrections) and issued
 * invoice it touches, with the difference in net EUR cents as the invoice priced it. Less billed
 * time: a credit note on that invoice (credit_note_id); more: a correction line on the
 * organisation's next invoice (charged_invoice_id, null until that invoice is issued). Unique per
 * correction and invoice, so a repeated settlement fails instead of settling twice.
 */
import type { Kysely, Migration } from 'kysely';

export const migration036InvoiceCorrections: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    const serial = (pg ? 'bigserial' : 'integer') as 'integer';
    await db.schema
      .createTable('invoice_corrections')
      .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('usage_correction_id', 'bigint', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('invoice_id', 'integer', (c) => c.notNull())
      .addColumn('month', 'text', (c) => c.notNull())
      .addColumn('job_id', 'integer', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('net_cents', 'bigint', (c) => c.notNull())
      .addColumn('credit_note_id', 'integer')
      .addColumn('charged_invoice_id', 'integer')
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('invoice_corrections_once')
      .on('invoice_corrections')
      .columns(['usage_correction_id', 'invoice_id'])
      .unique()
      .execute();
    await db.schema
      .createIndex('invoice_corrections_pending')
      .on('invoice_corrections')
      .columns(['org_id', 'charged_invoice_id'])
      .execute();
  },
};
