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
