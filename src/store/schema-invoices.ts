/** Table types of migration 024 (invoices, credit notes, billing profiles, sites' energy factors). */
import type { Generated } from 'kysely';

export interface InvoicesTable {
  id: Generated<number>;
  org_id: string;
  /** YYYY-MM; unique with org_id: one invoice per organisation and month. */
  month: string;
  number: string;
  issued_at: string;
  net_cents: number;
  gross_cents: number;
  /** The invoice's canonical JSON (model/invoices.ts canonicalJson); never updated. */
  body: string;
  /** SHA-256 of `body`, hex; the audit record `invoice.issue` holds the same. */
  sha256: string;
}

export interface CreditNotesTable {
  id: Generated<number>;
  invoice_id: number;
  org_id: string;
  number: string;
  issued_at: string;
  gross_cents: number;
  body: string;
  sha256: string;
}

export interface BillingProfilesTable {
  org_id: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  vat_id: string | null;
  updated_at: string;
  updated_by: string;
}

export interface EnergyFactorsTable {
  site: string;
  month: string;
  pue: number;
  grid_g_co2_per_kwh: number;
  renewable_share: number | null;
  source: string;
  updated_at: string;
  updated_by: string;
}

/** Migration 036: a reconciliation's difference on an issued invoice, and how it was settled. */
export interface InvoiceCorrectionsTable {
  id: Generated<number>;
  usage_correction_id: number;
  org_id: string;
  /** The issued invoice whose month the correction touched (it stays as issued). */
  invoice_id: number;
  /** That invoice's month, YYYY-MM. */
  month: string;
  job_id: number;
  attempt: number;
  /** Net EUR cents: negative, credited by `credit_note_id`; positive, charged by `charged_invoice_id`. */
  net_cents: number;
  credit_note_id: number | null;
  /** The later invoice that charged a positive difference; null until it is issued. */
  charged_invoice_id: number | null;
  at: string;
}
