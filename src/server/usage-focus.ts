/**
 * The FOCUS export of metered usage (model/usage-focus.ts): the usage report grouped by every
 * dimension (organisation, project, GPU type, site, class, day), read once per stretch of the
 * period between price changes, so each row has one price version; the same aggregation as
 * GET /v1/usage (usage-aggregate.ts, usage-read.ts), so its costs add up to the same figures.
 */

import type { PriceTimeline } from '../model/cost.js';
import { invalid } from '../model/errors.js';
import { MAX_USAGE_ROWS } from '../model/usage.js';
import { FOCUS_VERSION, type FocusExport, type FocusRow } from '../model/usage-focus.js';
import type { BilledRow } from './usage-aggregate.js';
import { type PeriodCommitment, proratedCents } from './usage-coverage.js';

/** Provider, publisher and invoice issuer named in every row: the platform that meters and invoices. */
export const FOCUS_PROVIDER = 'gigafab';

const iso = (t: number) => new Date(t).toISOString();
const eur = (cents: number) => cents / 100;
const hours6 = (seconds: number) => Math.round((seconds / 3600) * 1e6) / 1e6;

/** stretches: [from, to) cut at each instant a price version takes effect (each stretch has one price per type and class). */
export function priceStretches(prices: PriceTimeline, from: number, to: number): [number, number][] {
  const cuts = [from, ...prices.changesIn(from, to), to];
  return cuts.slice(1).map((b, i) => [cuts[i]!, b]);
}

/** monthOf: the UTC calendar month holding `t` (the invoice's billing period). */
function monthOf(t: number): [number, number] {
  const d = new Date(t);
  return [Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)];
}

export interface FocusNames {
  org(id: string): string;
  project(id: string): string;
}

/** A commitment's id in the export: `reserved/<org>/<GPU type>/<month>`. */
export const commitmentId = (c: Pick<PeriodCommitment, 'org' | 'gpuType' | 'month'>) =>
  `reserved/${c.org}/${c.gpuType}/${c.month}`;

const NO_COMMITMENT = {
  CommitmentDiscountId: null,
  CommitmentDiscountCategory: null,
  CommitmentDiscountName: null,
  CommitmentDiscountType: null,
  CommitmentDiscountStatus: null,
} as const;

const commitmentColumns = (c: PeriodCommitment, status: 'Used' | 'Unused' | null) => ({
  CommitmentDiscountId: commitmentId(c),
  CommitmentDiscountCategory: 'Usage' as const,
  CommitmentDiscountName: `${c.gpus} × ${c.gpuType} reserved, ${c.month}`,
  CommitmentDiscountType: 'Reserved Capacity' as const,
  CommitmentDiscountStatus: status,
});

/** Usage rows a commitment covered, kept to amortise its fee onto (commitmentRows). */
export interface UsedRow {
  row: FocusRow;
  commitment: PeriodCommitment;
  /** Covered billed GPU-seconds. */
  gpuSeconds: number;
}

/**
 * focusRows: one stretch's rows (grouped by all six dimensions) as FOCUS charge rows; a group some
 * of whose billed time a commitment covered (`commitmentOf` its organisation, type and month) gives
 * two: the rest at list price, and the covered time at 0 with the commitment's columns (in `used`).
 */
export function focusRows(
  rows: readonly BilledRow[],
  stretch: [number, number],
  prices: PriceTimeline,
  names: FocusNames,
  commitmentOf: (org: string, gpuType: string, month: string) => PeriodCommitment | undefined = () => undefined,
  used: UsedRow[] = [],
): FocusRow[] {
  return rows.flatMap((r) => {
    const org = r.org ?? '';
    const project = r.project ?? '';
    const gpuType = r.gpuType ?? '';
    const site = r.site ?? '';
    const cls = r.class ?? 'on-demand';
    const dayStart = Date.parse(`${r.day ?? ''}T00:00:00Z`);
    const start = Math.max(stretch[0], dayStart);
    const end = Math.min(stretch[1], dayStart + 86_400_000);
    const [billingStart, billingEnd] = monthOf(start);
    const price = prices.priceAt(start, gpuType, cls);
    const covered = r.coveredGpuSeconds ?? 0;
    const net = r.netCost ?? r.cost;
    const cost = eur(net);
    const unit = price === null ? null : eur(price.centsPerGpuHour);
    const sku = `${gpuType}/${cls}`;
    const usage: FocusRow = {
      BillingAccountId: org,
      BillingAccountName: names.org(org),
      BillingPeriodStart: iso(billingStart),
      BillingPeriodEnd: iso(billingEnd),
      BillingCurrency: 'EUR',
      SubAccountId: project,
      SubAccountName: names.project(project),
      ChargePeriodStart: iso(start),
      ChargePeriodEnd: iso(end),
      ChargeCategory: 'Usage',
      ChargeClass: null,
      ChargeFrequency: 'Usage-Based',
      ChargeDescription: `${gpuType} GPU time, ${cls}, site ${site}${unit === null ? ', no price in effect' : `, EUR ${unit.toFixed(2)} per GPU-hour`}`,
      BilledCost: cost,
      EffectiveCost: cost,
      ListCost: cost,
      ContractedCost: cost,
      ListUnitPrice: unit,
      ContractedUnitPrice: unit,
      PricingCategory: price === null ? 'Other' : 'Standard',
      PricingQuantity: hours6(r.billedGpuSeconds - covered),
      PricingUnit: 'GPU-Hours',
      ConsumedQuantity: Math.max(0, Math.round((r.gpuHours - covered / 3600) * 1e6) / 1e6),
      ConsumedUnit: 'GPU-Hours',
      ResourceId: null,
      ResourceName: null,
      ResourceType: null,
      RegionId: site,
      RegionName: site,
      AvailabilityZone: null,
      ServiceName: 'GPU Compute',
      ServiceCategory: 'Compute',
      SkuId: sku,
      SkuPriceId: price === null ? null : `${sku}/v${price.version}`,
      ProviderName: FOCUS_PROVIDER,
      PublisherName: FOCUS_PROVIDER,
      InvoiceIssuerName: FOCUS_PROVIDER,
      ...NO_COMMITMENT,
      Tags: { 'gigafab/project': project, 'gigafab/class': cls, 'gigafab/gpu-type': gpuType },
      x_GpuType: gpuType,
      x_UsageClass: cls,
      x_PriceVersion: price?.version ?? null,
      x_GpuSeconds: r.gpuSeconds,
      x_BilledGpuSeconds: Math.round((r.billedGpuSeconds - covered) * 1000) / 1000,
      x_UnpricedGpuSeconds: r.unpricedGpuSeconds,
      x_Segments: r.segments,
    };
    const c = covered > 0 ? commitmentOf(org, gpuType, iso(start).slice(0, 7)) : undefined;
    if (!c) return [usage];
    const list = eur(r.cost - net);
    const coveredRow: FocusRow = {
      ...usage,
      ChargeDescription: `${gpuType} GPU time, ${cls}, site ${site}, covered by reserved capacity`,
      BilledCost: 0,
      EffectiveCost: 0,
      ListCost: list,
      ContractedCost: list,
      PricingCategory: 'Committed',
      PricingQuantity: hours6(covered),
      ConsumedQuantity: hours6(covered),
      ...commitmentColumns(c, 'Used'),
      x_GpuSeconds: 0,
      x_BilledGpuSeconds: covered,
      x_UnpricedGpuSeconds: 0,
      x_Segments: 0,
    };
    used.push({ row: coveredRow, commitment: c, gpuSeconds: covered });
    return [usage, coveredRow];
  });
}

/**
 * commitmentRows: each commitment's Purchase row (its fee for the period) and Unused row; the fee
 * is amortised by GPU-time onto its Used rows (rounded so that they add up, in order) and the rest
 * onto the Unused row, so the EffectiveCost of the three kinds adds up to the fee.
 */
export function commitmentRows(
  commitments: readonly PeriodCommitment[],
  used: readonly UsedRow[],
  names: FocusNames,
): FocusRow[] {
  const out: FocusRow[] = [];
  for (const c of commitments) {
    const fee = proratedCents(c);
    const capacitySeconds = (c.gpus * (c.to - c.from)) / 1000;
    let coveredSeconds = 0;
    let amortised = 0;
    for (const u of used) {
      if (u.commitment !== c) continue;
      coveredSeconds += u.gpuSeconds;
      const upTo = Math.round((fee * Math.min(coveredSeconds, capacitySeconds)) / capacitySeconds);
      u.row.EffectiveCost = eur(upTo - amortised);
      amortised = upTo;
    }
    const [billingStart, billingEnd] = monthOf(c.from);
    const base = {
      BillingAccountId: c.org,
      BillingAccountName: names.org(c.org),
      BillingPeriodStart: iso(billingStart),
      BillingPeriodEnd: iso(billingEnd),
      BillingCurrency: 'EUR' as const,
      SubAccountId: '',
      SubAccountName: '',
      ChargePeriodStart: iso(c.from),
      ChargePeriodEnd: iso(c.to),
      ChargeClass: null,
      ListUnitPrice: eur(c.centsPerGpuMonth),
      ContractedUnitPrice: eur(c.centsPerGpuMonth),
      ResourceId: null,
      ResourceName: null,
      ResourceType: null,
      RegionId: '',
      RegionName: '',
      AvailabilityZone: null,
      ServiceName: 'GPU Compute' as const,
      ServiceCategory: 'Compute' as const,
      SkuId: `${c.gpuType}/reserved`,
      SkuPriceId: `${c.gpuType}/reserved/${c.month}`,
      ProviderName: FOCUS_PROVIDER,
      PublisherName: FOCUS_PROVIDER,
      InvoiceIssuerName: FOCUS_PROVIDER,
      Tags: { 'gigafab/gpu-type': c.gpuType },
      x_GpuType: c.gpuType,
      x_UsageClass: 'reserved',
      x_PriceVersion: null,
      x_GpuSeconds: 0,
      x_UnpricedGpuSeconds: 0,
      x_Segments: 0,
    };
    out.push({
      ...base,
      ChargeCategory: 'Purchase',
      ChargeFrequency: 'Recurring',
      PricingCategory: 'Standard',
      ChargeDescription: `${c.gpus} × ${c.gpuType} reserved capacity, ${c.month}, EUR ${eur(c.centsPerGpuMonth).toFixed(2)} per GPU-month`,
      BilledCost: eur(fee),
      EffectiveCost: 0,
      ListCost: eur(fee),
      ContractedCost: eur(fee),
      PricingQuantity: Math.round(((c.gpus * (c.to - c.from)) / c.monthMs) * 1e6) / 1e6,
      PricingUnit: 'GPU-Months',
      ConsumedQuantity: 0,
      ConsumedUnit: 'GPU-Hours',
      ...commitmentColumns(c, null),
      x_BilledGpuSeconds: 0,
    });
    const unused = Math.max(0, capacitySeconds - coveredSeconds);
    out.push({
      ...base,
      ChargeCategory: 'Usage',
      ChargeFrequency: 'Usage-Based',
      ChargeDescription: `${c.gpuType} reserved capacity not used, ${c.month}`,
      PricingCategory: 'Committed',
      BilledCost: 0,
      EffectiveCost: eur(fee - amortised),
      ListCost: 0,
      ContractedCost: 0,
      PricingQuantity: hours6(unused),
      PricingUnit: 'GPU-Hours',
      ConsumedQuantity: 0,
      ConsumedUnit: 'GPU-Hours',
      ...commitmentColumns(c, 'Unused'),
      x_BilledGpuSeconds: 0,
    });
  }
  return out;
}

/** focusExport: the rows of every stretch, in time order, with their totals (summed in cents, then EUR). */
export function focusExport(from: number, to: number, rows: FocusRow[]): FocusExport {
  if (rows.length > MAX_USAGE_ROWS) {
    throw invalid(
      'usage_report_too_large',
      `the export would have more than ${MAX_USAGE_ROWS} rows; ask for a shorter period or one organisation or project`,
      [{ path: 'from', message: 'a shorter period' }],
    );
  }
  rows.sort(
    (a, b) =>
      a.ChargePeriodStart.localeCompare(b.ChargePeriodStart) ||
      a.BillingAccountId.localeCompare(b.BillingAccountId) ||
      a.SubAccountId.localeCompare(b.SubAccountId) ||
      a.SkuId.localeCompare(b.SkuId) ||
      a.RegionId.localeCompare(b.RegionId),
  );
  const cents = rows.reduce((s, r) => s + Math.round(r.BilledCost * 100), 0);
  const effective = rows.reduce((s, r) => s + Math.round(r.EffectiveCost * 100), 0);
  const gpuSeconds = rows.reduce((s, r) => s + r.x_GpuSeconds, 0);
  const unpriced = rows.reduce((s, r) => s + r.x_UnpricedGpuSeconds, 0);
  return {
    focusVersion: FOCUS_VERSION,
    from: iso(from),
    to: iso(to),
    items: rows,
    total: {
      BilledCost: eur(cents),
      EffectiveCost: eur(effective),
      ConsumedQuantity: hours6(gpuSeconds),
      x_UnpricedGpuSeconds: Math.round(unpriced * 1000) / 1000,
    },
  };
}
