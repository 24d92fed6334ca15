/**
 * Metered usage in the FinOps FOCUS column layout (FinOps Open Cost and Usage Specification, 1.0
 * column names): one charge row per organisation (billing account), project (sub-account), GPU
 * type, site (region), usage class and UTC day, cut where a price version takes effect, so each row
 * has one list unit price. Costs are EUR decimals; gigafab's own columns carry the `x_` prefix the
 * specification reserves for provider columns. The API validates and documents with this schema,
 * the CLI writes the same CSV (`gigafab usage --focus`).
 *
 * Reserved capacity (issue 15) as FOCUS models commitment discounts: the commitment's fee as a
 * `Purchase` row, covered usage as `Usage` rows at BilledCost 0 carrying the commitment's id, and its
 * unused part as a `Usage` row with status `Unused`; the fee is amortised onto those two (their
 * EffectiveCost), so the Purchase row's EffectiveCost is 0. CommitmentDiscountId, Category, Name and
 * Type are FOCUS 1.0 columns; CommitmentDiscountStatus (`Used`, `Unused`) is FOCUS 1.1's, written
 * here with the 1.0 layout because 1.0 has no other way to tell the unused part.
 */
import { z } from '@hono/zod-openapi';
import { toCsv } from './csv.js';

export const FOCUS_VERSION = '1.0';

/** The columns, in the order the CSV writes them: FOCUS columns first, then gigafab's `x_` ones. */
export const FOCUS_COLUMNS = [
  'BillingAccountId',
  'BillingAccountName',
  'BillingPeriodStart',
  'BillingPeriodEnd',
  'BillingCurrency',
  'SubAccountId',
  'SubAccountName',
  'ChargePeriodStart',
  'ChargePeriodEnd',
  'ChargeCategory',
  'ChargeClass',
  'ChargeFrequency',
  'ChargeDescription',
  'BilledCost',
  'EffectiveCost',
  'ListCost',
  'ContractedCost',
  'ListUnitPrice',
  'ContractedUnitPrice',
  'PricingCategory',
  'PricingQuantity',
  'PricingUnit',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ResourceId',
  'ResourceName',
  'ResourceType',
  'RegionId',
  'RegionName',
  'AvailabilityZone',
  'ServiceName',
  'ServiceCategory',
  'SkuId',
  'SkuPriceId',
  'ProviderName',
  'PublisherName',
  'InvoiceIssuerName',
  'CommitmentDiscountId',
  'CommitmentDiscountCategory',
  'CommitmentDiscountName',
  'CommitmentDiscountType',
  'CommitmentDiscountStatus',
  'Tags',
  'x_GpuType',
  'x_UsageClass',
  'x_PriceVersion',
  'x_GpuSeconds',
  'x_BilledGpuSeconds',
  'x_UnpricedGpuSeconds',
  'x_Segments',
] as const;

const nullable = (s: z.ZodString | z.ZodNumber) => s.nullable();

export const FocusRowSchema = z
  .object({
    BillingAccountId: z.string().openapi({ description: 'The organisation (it receives the invoice)' }),
    BillingAccountName: z.string(),
    BillingPeriodStart: z.string().openapi({ description: 'Start of the invoice month (inclusive), UTC' }),
    BillingPeriodEnd: z.string().openapi({ description: 'End of the invoice month (exclusive), UTC' }),
    BillingCurrency: z.literal('EUR'),
    SubAccountId: z.string().openapi({ description: 'The project' }),
    SubAccountName: z.string(),
    ChargePeriodStart: z.string().openapi({ description: 'Inclusive; inside one UTC day and one price version' }),
    ChargePeriodEnd: z.string().openapi({ description: 'Exclusive' }),
    ChargeCategory: z.enum(['Usage', 'Purchase']).openapi({ description: "Purchase: a reserved-capacity commitment's fee" }),
    ChargeClass: z.null().openapi({ description: 'Null: no row is a correction of an earlier period' }),
    ChargeFrequency: z.enum(['Usage-Based', 'Recurring']).openapi({ description: 'Recurring: a commitment (monthly)' }),
    ChargeDescription: z.string(),
    BilledCost: z.number().openapi({
      description:
        'EUR: billed time at the list price, rounded to the cent once per row; 0 for usage a commitment covered; the fee on a Purchase row',
    }),
    EffectiveCost: z.number().openapi({
      description:
        'EUR; equals BilledCost, except for commitments: 0 on the Purchase row, the fee amortised by GPU-time onto its Used and Unused rows',
    }),
    ListCost: z.number().openapi({ description: 'EUR: the quantity at the list price (the price book; a commitment: its fee)' }),
    ContractedCost: z.number(),
    ListUnitPrice: nullable(z.number()).openapi({ description: 'EUR per GPU-hour; null where no price was in effect' }),
    ContractedUnitPrice: nullable(z.number()),
    PricingCategory: z.enum(['Standard', 'Committed', 'Other']).openapi({
      description: 'Other where no price was in effect; Committed for usage a commitment covered and its unused part',
    }),
    PricingQuantity: z.number().openapi({
      description: 'Billed GPU-hours: run time rounded up to the billing granularity (a Purchase row: GPU-months)',
    }),
    PricingUnit: z.enum(['GPU-Hours', 'GPU-Months']),
    ConsumedQuantity: z.number().openapi({ description: 'GPU-hours run (metered, not rounded)' }),
    ConsumedUnit: z.literal('GPU-Hours'),
    ResourceId: z.null().openapi({ description: 'Null: rows add up a project’s jobs, not one resource' }),
    ResourceName: z.null(),
    ResourceType: z.null(),
    RegionId: z.string().openapi({ description: 'The site' }),
    RegionName: z.string(),
    AvailabilityZone: z.null(),
    ServiceName: z.literal('GPU Compute'),
    ServiceCategory: z.literal('Compute'),
    SkuId: z.string().openapi({ description: 'GPU type and usage class, e.g. B200/on-demand' }),
    SkuPriceId: nullable(z.string()).openapi({ description: 'SkuId and price version, e.g. B200/on-demand/v3' }),
    ProviderName: z.string(),
    PublisherName: z.string(),
    InvoiceIssuerName: z.string(),
    CommitmentDiscountId: nullable(z.string()).openapi({
      description: 'The reserved-capacity commitment, e.g. reserved/acme/B200/2026-11; null for usage it did not cover',
    }),
    CommitmentDiscountCategory: z.literal('Usage').nullable(),
    CommitmentDiscountName: nullable(z.string()),
    CommitmentDiscountType: z.literal('Reserved Capacity').nullable(),
    CommitmentDiscountStatus: z
      .enum(['Used', 'Unused'])
      .nullable()
      .openapi({ description: 'FOCUS 1.1; null where no commitment applies' }),
    Tags: z.record(z.string(), z.string()).openapi({ description: 'gigafab/project, gigafab/class, gigafab/gpu-type' }),
    x_GpuType: z.string(),
    x_UsageClass: z.string(),
    x_PriceVersion: nullable(z.number().int()),
    x_GpuSeconds: z.number().openapi({ description: 'GPU-seconds run inside the charge period, as GET /v1/usage counts them' }),
    x_BilledGpuSeconds: z.number(),
    x_UnpricedGpuSeconds: z.number().openapi({ description: 'Billed GPU-seconds with no price in effect (not in the cost)' }),
    x_Segments: z.number().int(),
  })
  .openapi('FocusRow');
export type FocusRow = z.infer<typeof FocusRowSchema>;

export const FocusExportSchema = z
  .object({
    focusVersion: z.literal(FOCUS_VERSION),
    from: z.string(),
    to: z.string(),
    items: z.array(FocusRowSchema),
    total: z.object({
      BilledCost: z.number().openapi({ description: 'EUR, the sum of the rows (summed in cents)' }),
      EffectiveCost: z.number().openapi({ description: 'EUR, the sum of the rows (equals BilledCost for whole commitments)' }),
      ConsumedQuantity: z.number().openapi({ description: 'GPU-hours' }),
      x_UnpricedGpuSeconds: z.number(),
    }),
  })
  .openapi('FocusExport');
export type FocusExport = z.infer<typeof FocusExportSchema>;

/** focusCsv: the FOCUS columns in FOCUS_COLUMNS order; Tags as a JSON object, as FOCUS writes key-value columns. */
export function focusCsv(f: Pick<FocusExport, 'items'>): string {
  return toCsv(
    FOCUS_COLUMNS,
    f.items.map((r) => ({ ...r, Tags: JSON.stringify(r.Tags) })),
  );
}
