/**
 * Monthly invoices: one per organisation and calendar month (UTC), with line items per GPU type,
 * usage class and unit price, VAT by the organisation's billing country, and the energy and CO₂ of
 * the metered run time. Money is integer EUR cents. An issued invoice never changes: its canonical
 * JSON's SHA-256 is in the audit chain; corrections are credit notes. The API validates and
 * documents with these schemas; the CLI reads them.
 */
import { z } from '@hono/zod-openapi';
import { euros } from './money.js';
import { USAGE_CLASSES } from './usage.js';

/** The supplier's country: the platform's operating entity is in Germany (domestic VAT). */
export const SUPPLIER_COUNTRY = 'DE';

/** EU member states' standard VAT rates in percent (as of 2026); the operator's table, one place to change. */
export const EU_VAT_PERCENT: Readonly<Record<string, number>> = {
  AT: 20,
  BE: 21,
  BG: 20,
  CY: 19,
  CZ: 21,
  DE: 19,
  DK: 25,
  EE: 24,
  ES: 21,
  FI: 25.5,
  FR: 20,
  GR: 24,
  HR: 25,
  HU: 27,
  IE: 23,
  IT: 22,
  LT: 21,
  LU: 17,
  LV: 21,
  MT: 18,
  NL: 21,
  PL: 23,
  PT: 23,
  RO: 21,
  SE: 25,
  SI: 22,
  SK: 23,
};

export const REVERSE_CHARGE_NOTE =
  'Reverse charge: VAT to be accounted for by the recipient (Art. 196 Council Directive 2006/112/EC).';
export const OUTSIDE_EU_NOTE = 'Service not taxable in Germany (place of supply outside the EU, § 3a (2) UStG).';

export interface VatTreatment {
  ratePercent: number;
  note: string | null;
}

/**
 * vatFor: a business customer in Germany, or one without a VAT id anywhere in the EU, pays German
 * VAT (the supplier's place: B2C rules are simplified to it); one with a VAT id elsewhere in the EU
 * gets the reverse charge; one outside the EU is not taxable here.
 */
export function vatFor(country: string, vatId: string | null): VatTreatment {
  const c = country.toUpperCase();
  if (c === SUPPLIER_COUNTRY || (EU_VAT_PERCENT[c] !== undefined && !vatId)) {
    return { ratePercent: EU_VAT_PERCENT[SUPPLIER_COUNTRY]!, note: null };
  }
  if (EU_VAT_PERCENT[c] !== undefined) return { ratePercent: 0, note: REVERSE_CHARGE_NOTE };
  return { ratePercent: 0, note: OUTSIDE_EU_NOTE };
}

/** vatCents: VAT on a net amount at a percent rate (up to two decimals), half a cent up. */
export function vatCents(netCents: number, ratePercent: number): number {
  const basisPoints = Math.round(ratePercent * 100);
  const num = BigInt(netCents) * BigInt(basisPoints);
  const sign = num < 0n ? -1n : 1n;
  const abs = num * sign;
  return Number((sign * ((abs * 2n + 10_000n) / 20_000n)) as bigint);
}

/** canonicalJson: JSON with object keys sorted at every level (what the audited hash covers). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

export const InvoiceRunInputSchema = z
  .strictObject({
    month: z
      .string()
      .max(16)
      .openapi({ description: 'The calendar month (UTC) to invoice, YYYY-MM; it must have ended', example: '2026-11' }),
  })
  .openapi('InvoiceRunInput');

/** isMonth: YYYY-MM. */
export const isMonth = (m: string) => MONTH.test(m);

export const InvoiceLineSchema = z
  .object({
    gpuType: z.string(),
    class: z.enum(USAGE_CLASSES),
    priceVersion: z.number().int(),
    centsPerGpuHour: z.number().int().openapi({ description: 'Unit price: EUR cents per GPU-hour' }),
    gpuSeconds: z
      .number()
      .openapi({ description: 'Billed GPU-seconds (run time rounded up to the granularity), to the millisecond' }),
    gpuHours: z.number().openapi({ description: 'Quantity: billed GPU-hours (gpuSeconds / 3600, 6 decimals)' }),
    amountCents: z.number().int().openapi({ description: 'Net amount in EUR cents, rounded once (half a cent up)' }),
    itKwh: z.number().openapi({
      description: 'GPU energy of the metered run time, kWh: measured where the driver measured it, the power model elsewhere',
    }),
    facilityKwh: z.number().openapi({ description: "itKwh × the site's PUE for the month" }),
    co2Kg: z.number().openapi({ description: "facilityKwh × the site's grid factor for the month, kg CO₂e" }),
  })
  .openapi('InvoiceLine');

export const InvoiceReservationSchema = z
  .object({
    gpuType: z.string(),
    gpus: z.number().int().openapi({ description: 'GPUs reserved for the month' }),
    centsPerGpuMonth: z.number().int().openapi({ description: 'Unit price: EUR cents per GPU per month' }),
    amountCents: z.number().int().openapi({ description: 'gpus × centsPerGpuMonth, net EUR cents' }),
    coveredGpuSeconds: z.number().openapi({
      description:
        "The organisation's billed GPU-seconds of the type the reservation covered (up to `gpus` at every instant), billed at 0",
    }),
    coveredGpuHours: z.number().openapi({ description: 'coveredGpuSeconds / 3600, 6 decimals' }),
  })
  .openapi('InvoiceReservation');

export const InvoiceCorrectionSchema = z
  .object({
    invoiceId: z.string().openapi({ description: 'The earlier invoice corrected (which stays as issued)' }),
    invoiceNumber: z.string(),
    month: z.string().openapi({ description: "The corrected invoice's month, YYYY-MM" }),
    jobId: z.string(),
    attempt: z.number().int(),
    netCents: z.number().int().openapi({
      description: 'Net EUR cents the reconciled run time adds to the corrected invoice, priced as it was priced',
    }),
    description: z.string(),
  })
  .openapi('InvoiceCorrection');
export const InvoiceLentCreditSchema = z
  .object({
    gpuType: z.string(),
    priceVersion: z.number().int().openapi({ description: 'The price version whose lent-credit price applies' }),
    centsPerGpuHour: z.number().int().openapi({ description: 'Credit per GPU-hour: the lent-credit price, EUR cents' }),
    gpuSeconds: z.number().openapi({
      description:
        "Other organisations' borrowed GPU-seconds attributed to the organisation's lent quota, up to the reservation's idle GPUs at every instant",
    }),
    gpuHours: z.number().openapi({ description: 'gpuSeconds / 3600, 6 decimals' }),
    amountCents: z.number().int().openapi({ description: 'The credit in EUR cents (positive), rounded once (half a cent up)' }),
  })
  .openapi('InvoiceLentCredit');

export const InvoiceSchema = z
  .object({
    id: z.string(),
    number: z.string().openapi({ example: 'GF-2026-11-000001' }),
    org: z.string(),
    month: z.string(),
    period: z.object({ from: z.string(), to: z.string() }),
    issuedAt: z.string(),
    currency: z.literal('EUR'),
    customer: z.object({ country: z.string(), vatId: z.string().nullable() }),
    lines: z.array(InvoiceLineSchema).openapi({
      description: 'Usage at the price book’s prices; GPU-seconds a reservation covered are not in them',
    }),
    reservedCapacity: z.array(InvoiceReservationSchema).optional().openapi({
      description: 'One line per reserved-capacity commitment of the month (absent where there is none)',
    }),
    corrections: z.array(InvoiceCorrectionSchema).optional().openapi({
      description:
        'Run time reconciled after an earlier invoice was issued that raised what it would bill: charged here (absent where there is none)',
    }),
    lentCredits: z.array(InvoiceLentCreditSchema).optional().openapi({
      description:
        'Credits for reserved capacity lent to other organisations, per type and price version (absent where there is none)',
    }),
    lentCreditCents: z.number().int().optional().openapi({
      description:
        "The lent credits taken off the net: their sum, but at most the lines' and reservations' sum (the rest lapses)",
    }),
    netCents: z.number().int().openapi({
      description: 'Sum of the lines and the reservations, less lentCreditCents (never below 0), plus the corrections',
    }),
    vatRatePercent: z.number(),
    vatCents: z.number().int(),
    grossCents: z.number().int(),
    vatNote: z.string().nullable(),
    unpricedGpuSeconds: z.number().openapi({ description: 'Metered GPU-seconds with no price in effect (not billed)' }),
    energy: z.object({
      itKwh: z.number(),
      facilityKwh: z.number(),
      co2Kg: z.number(),
      measuredKwh: z.number().optional().openapi({
        description:
          'The part of itKwh the drivers measured (the rest is the power model); absent on invoices issued before it was counted',
      }),
      sitesWithoutFactors: z
        .array(z.string())
        .openapi({ description: 'Sites with no PUE/grid factor for the month: PUE 1, no CO₂ counted' }),
      powerModel: z.string(),
    }),
  })
  .openapi('Invoice');

export const CreditNoteSchema = z
  .object({
    id: z.string(),
    number: z.string(),
    invoiceId: z.string(),
    org: z.string(),
    issuedAt: z.string(),
    reason: z.string(),
    netCents: z.number().int().openapi({ description: 'Credited net amount in EUR cents (positive)' }),
    vatRatePercent: z.number(),
    vatCents: z.number().int(),
    grossCents: z.number().int(),
  })
  .openapi('CreditNote');

export const CreditNoteInputSchema = z
  .strictObject({
    netCents: z.number().int().min(1).max(1_000_000_000_000).openapi({ description: 'Net EUR cents to credit', example: 1200 }),
    reason: z.string().min(3).max(500).openapi({ example: 'node failure on 2026-11-14 billed in error' }),
  })
  .openapi('CreditNoteInput');

export const IssuedInvoiceSchema = InvoiceSchema.extend({
  sha256: z.string().openapi({ description: "SHA-256 of the invoice's canonical JSON (what the audit chain holds)" }),
  creditNotes: z.array(CreditNoteSchema.extend({ sha256: z.string() })),
}).openapi('IssuedInvoice');

export const InvoiceSummarySchema = z
  .object({
    id: z.string(),
    number: z.string(),
    org: z.string(),
    month: z.string(),
    issuedAt: z.string(),
    netCents: z.number().int(),
    grossCents: z.number().int(),
    creditedCents: z.number().int().openapi({ description: 'Gross EUR cents credited by credit notes' }),
    sha256: z.string(),
  })
  .openapi('InvoiceSummary');

export const InvoiceRunSchema = z
  .object({
    month: z.string(),
    issued: z.array(InvoiceSummarySchema).openapi({ description: 'Invoices this run issued' }),
    alreadyIssued: z.number().int().openapi({ description: 'Organisations whose invoice for the month an earlier run issued' }),
  })
  .openapi('InvoiceRun');

export const InvoiceVerificationSchema = z
  .object({
    id: z.string(),
    ok: z.boolean(),
    sha256: z.string().openapi({ description: 'SHA-256 of the stored canonical JSON now' }),
    auditedSha256: z.string().nullable().openapi({ description: 'The hash the audit record of its issue holds' }),
    auditId: z.number().int().nullable(),
    problem: z.string().nullable(),
  })
  .openapi('InvoiceVerification');

export const BillingProfileInputSchema = z
  .strictObject({
    country: z.string().length(2).openapi({ description: 'ISO 3166-1 alpha-2 billing country', example: 'FR' }),
    vatId: z.string().min(4).max(20).nullable().optional().openapi({ example: 'FR12345678901' }),
  })
  .openapi('BillingProfileInput');
export const BillingProfileSchema = z
  .object({
    org: z.string(),
    country: z.string(),
    vatId: z.string().nullable(),
    vatRatePercent: z.number(),
    vatNote: z.string().nullable(),
  })
  .openapi('BillingProfile');

export type Invoice = z.infer<typeof InvoiceSchema>;
export type InvoiceLine = z.infer<typeof InvoiceLineSchema>;
export type InvoiceReservation = z.infer<typeof InvoiceReservationSchema>;
export type InvoiceLentCredit = z.infer<typeof InvoiceLentCreditSchema>;

/**
 * reservationRows: a reservation's two rows in an invoice's line table (the CLI's and the PDF's),
 * in the line columns (type, class, version, GPU-hours, unit price, amount, kWh, kWh with PUE, CO₂):
 * the commitment, then the usage it covers at 0.
 */
export function reservationRows(r: InvoiceReservation, hours: (h: number) => string): string[][] {
  return [
    [r.gpuType, `reserved, ${r.gpus} GPUs`, '', '', `${euros(r.centsPerGpuMonth)}/GPU-month`, euros(r.amountCents), '', '', ''],
    [r.gpuType, 'covered by reservation', '', hours(r.coveredGpuHours), euros(0), euros(0), '', '', ''],
  ];
}
/** correctionRow: a correction's row in an invoice's line table (the CLI's and the PDF's), in the line columns. */
export function correctionRow(c: InvoiceCorrection): string[] {
  return ['', `correction of ${c.invoiceNumber}`, '', '', `job ${c.jobId}`, euros(c.netCents), '', '', ''];
}
export type InvoiceCorrection = z.infer<typeof InvoiceCorrectionSchema>;

/** lentCreditRow: a lent credit's row in an invoice's line table (as reservationRows), the amount negative. */
export function lentCreditRow(c: InvoiceLentCredit, hours: (h: number) => string): string[] {
  return [
    c.gpuType,
    'credit: lent capacity',
    String(c.priceVersion),
    hours(c.gpuHours),
    euros(c.centsPerGpuHour),
    euros(-c.amountCents),
    '',
    '',
    '',
  ];
}

/** lentCreditNote: the sentence under the table when the credits exceed the charges (null: they did not). */
export function lentCreditNote(inv: Pick<Invoice, 'lentCredits' | 'lentCreditCents'>): string | null {
  const total = (inv.lentCredits ?? []).reduce((s, c) => s + c.amountCents, 0);
  if (inv.lentCreditCents === undefined || total <= inv.lentCreditCents) return null;
  return `Lent capacity credits of ${euros(total)} exceed the month's charges: ${euros(inv.lentCreditCents)} is applied, the rest lapses.`;
}
export type CreditNote = z.infer<typeof CreditNoteSchema>;
export type IssuedInvoice = z.infer<typeof IssuedInvoiceSchema>;
export type InvoiceSummary = z.infer<typeof InvoiceSummarySchema>;
export type InvoiceRun = z.infer<typeof InvoiceRunSchema>;
export type InvoiceVerification = z.infer<typeof InvoiceVerificationSchema>;
export type BillingProfile = z.infer<typeof BillingProfileSchema>;
