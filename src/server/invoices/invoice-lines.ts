/**
 * An invoice's line items from metered run segments: each segment's billed time (its run rounded up
 * to the granularity in effect at its start, counted from its start, as GET /v1/usage bills it)
 * inside the month, split at each price change, summed per GPU type, class and price version
 * exactly (gpus × ms × cents per GPU-hour) and rounded to the cent once per line. Energy comes from
 * the metered (not rounded) time: GPU watts from the power model, the site's PUE and grid factor of
 * the month. Segments stream in: memory holds one entry per line and site, not per segment.
 */
import { costNumerator, type PriceTimeline, roundCents } from '../../model/cost.js';
import { gpuWatts, kwhOf, round6 } from '../../model/energy.js';
import type { InvoiceLine } from '../../model/invoices.js';
import type { UsageClass } from '../../model/usage.js';

export interface BillableSegment {
  gpuType: string;
  site: string;
  class: UsageClass;
  gpus: number;
  start: number;
  /** The segment's end, or the time of the run for one still open. */
  end: number;
}

export interface SiteFactors {
  pue: number;
  gridGCo2PerKwh: number;
}

interface LineAcc {
  gpuType: string;
  class: UsageClass;
  priceVersion: number;
  centsPerGpuHour: number;
  billedMs: number;
  numerator: bigint;
  itKwh: number;
  facilityKwh: number;
  co2Kg: number;
}

export interface InvoiceLines {
  lines: InvoiceLine[];
  netCents: number;
  unpricedGpuSeconds: number;
  energy: { itKwh: number; facilityKwh: number; co2Kg: number; sitesWithoutFactors: string[] };
}

export class InvoiceLineBuilder {
  private readonly lines = new Map<string, LineAcc>();
  private unpricedMs = 0;
  private readonly energy = { itKwh: 0, facilityKwh: 0, co2Kg: 0 };
  private readonly missing = new Set<string>();

  constructor(
    private readonly from: number,
    private readonly to: number,
    private readonly prices: PriceTimeline,
    private readonly factors: ReadonlyMap<string, SiteFactors>,
  ) {}

  private line(s: BillableSegment, at: number, cents: number): LineAcc {
    const version = this.prices.priceAt(at, s.gpuType, s.class)?.version ?? 0;
    const key = `${s.gpuType}\u0000${s.class}\u0000${version}\u0000${cents}`;
    let l = this.lines.get(key);
    if (!l) {
      l = {
        gpuType: s.gpuType,
        class: s.class,
        priceVersion: version,
        centsPerGpuHour: cents,
        billedMs: 0,
        numerator: 0n,
        itKwh: 0,
        facilityKwh: 0,
        co2Kg: 0,
      };
      this.lines.set(key, l);
    }
    return l;
  }

  add(s: BillableSegment): void {
    const billedEnd = this.prices.billedEnd(s.start, s.end);
    const a = Math.max(s.start, this.from);
    for (const part of this.prices.parts(a, Math.min(billedEnd, this.to), s.gpuType, s.class)) {
      if (part.centsPerGpuHour === null) {
        this.unpricedMs += s.gpus * part.ms;
        continue;
      }
      const l = this.line(s, part.start, part.centsPerGpuHour);
      l.billedMs += s.gpus * part.ms;
      l.numerator += costNumerator(s.gpus, part.ms, part.centsPerGpuHour);
    }
    const f = this.factors.get(s.site);
    if (!f) this.missing.add(s.site);
    const watts = gpuWatts(s.gpuType);
    for (const part of this.prices.parts(a, Math.min(s.end, this.to), s.gpuType, s.class)) {
      const it = kwhOf(s.gpus, part.ms, watts);
      const facility = it * (f?.pue ?? 1);
      const co2 = f ? (facility * f.gridGCo2PerKwh) / 1000 : 0;
      this.energy.itKwh += it;
      this.energy.facilityKwh += facility;
      this.energy.co2Kg += co2;
      if (part.centsPerGpuHour === null) continue;
      const l = this.line(s, part.start, part.centsPerGpuHour);
      l.itKwh += it;
      l.facilityKwh += facility;
      l.co2Kg += co2;
    }
  }

  result(): InvoiceLines {
    const lines: InvoiceLine[] = [...this.lines.values()]
      .map((l) => ({
        gpuType: l.gpuType,
        class: l.class,
        priceVersion: l.priceVersion,
        centsPerGpuHour: l.centsPerGpuHour,
        gpuSeconds: l.billedMs / 1000,
        gpuHours: Math.round((l.billedMs / 3_600_000) * 1e6) / 1e6,
        amountCents: roundCents(l.numerator),
        itKwh: round6(l.itKwh),
        facilityKwh: round6(l.facilityKwh),
        co2Kg: round6(l.co2Kg),
      }))
      .sort((x, y) => x.gpuType.localeCompare(y.gpuType) || x.class.localeCompare(y.class) || x.priceVersion - y.priceVersion);
    return {
      lines,
      netCents: lines.reduce((sum, l) => sum + l.amountCents, 0),
      unpricedGpuSeconds: this.unpricedMs / 1000,
      energy: {
        itKwh: round6(this.energy.itKwh),
        facilityKwh: round6(this.energy.facilityKwh),
        co2Kg: round6(this.energy.co2Kg),
        sitesWithoutFactors: [...this.missing].sort(),
      },
    };
  }
}
