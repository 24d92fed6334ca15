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

/** focusRows: one stretch's rows (grouped by all six dimensions) as FOCUS charge rows. */
export function focusRows(
  rows: readonly BilledRow[],
  stretch: [number, number],
  prices: PriceTimeline,
  names: FocusNames,
): FocusRow[] {
  return rows.map((r) => {
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
    const cost = eur(r.cost);
    const unit = price === null ? null : eur(price.centsPerGpuHour);
    const sku = `${gpuType}/${cls}`;
    return {
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
      PricingQuantity: hours6(r.billedGpuSeconds),
      PricingUnit: 'GPU-Hours',
      ConsumedQuantity: r.gpuHours,
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
      CommitmentDiscountId: null,
      Tags: { 'gigafab/project': project, 'gigafab/class': cls, 'gigafab/gpu-type': gpuType },
      x_GpuType: gpuType,
      x_UsageClass: cls,
      x_PriceVersion: price?.version ?? null,
      x_GpuSeconds: r.gpuSeconds,
      x_BilledGpuSeconds: r.billedGpuSeconds,
      x_UnpricedGpuSeconds: r.unpricedGpuSeconds,
      x_Segments: r.segments,
    };
  });
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
  const gpuSeconds = rows.reduce((s, r) => s + r.x_GpuSeconds, 0);
  const unpriced = rows.reduce((s, r) => s + r.x_UnpricedGpuSeconds, 0);
  return {
    focusVersion: FOCUS_VERSION,
    from: iso(from),
    to: iso(to),
    items: rows,
    total: {
      BilledCost: eur(cents),
      EffectiveCost: eur(cents),
      ConsumedQuantity: hours6(gpuSeconds),
      x_UnpricedGpuSeconds: Math.round(unpriced * 1000) / 1000,
    },
  };
}
