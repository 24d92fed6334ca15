/**
 * An invoice's line items from metered run segments: each segment's billed time (its run rounded up
 * to the granularity in effect at its start, counted from its start, as GET /v1/usage bills it)
 * inside the month, split at each price change, summed per GPU type, class and price version
 * exactly (gpus × ms × cents per GPU-hour) and rounded to the cent once per line. Energy comes from
 * the metered (not rounded) time: what the driver measured for the segment where it did (spread over
 * its run), else GPU watts from the power model; then the site's PUE and grid factor of the month.
 * Energy is informational: it never changes a cent. Segments stream in: memory holds one entry per line and site, not per segment —
 * except for GPU types the organisation reserved capacity of for the month: their billed parts are
 * kept (in typed arrays, 24 bytes each) for the sweep that covers them (see `cover`).
 *
 * Reserved capacity covers the organisation's own billed usage of the type up to its GPU count at
 * every instant, dearest first (price, then class order, then price version; unpriced time last):
 * the covered milli-GPU × ms leave their line (at its own price, so no cent is added or lost by the
 * split) and are billed at 0 in the reservation's line, which also bills GPUs × the monthly price.
 *
 * Lent reserved capacity is credited (`addLent`; the sweep is reserved-parts.ts lentCredit): other
 * organisations' borrowed segments attributed to the organisation's projects (model/lenders.ts),
 * billed time × attributed GPUs, at the `lent-credit` price in effect, but at no instant more GPUs
 * than the commitment has idle (its GPUs less the organisation's own usage of the type then).
 */
import { costNumerator, type PriceTimeline, roundCents } from '../../model/cost.js';
import { partKwh, round6 } from '../../model/energy.js';
import type { InvoiceLentCredit, InvoiceLine, InvoiceReservation } from '../../model/invoices.js';
import { LENT_CREDIT } from '../../model/prices.js';
import type { UsageClass } from '../../model/usage.js';
import { coverOrder, sweepCover } from './reserved-cover.js';
import { lentCredit, ReservedParts } from './reserved-parts.js';

export interface BillableSegment {
  gpuType: string;
  site: string;
  class: UsageClass;
  gpus: number;
  start: number;
  /** The segment's end, or the time of the run for one still open. */
  end: number;
  /** Joules the driver measured for the segment (null or absent: not measured; the power model counts). */
  measuredJoules?: number | null;
}

/** A borrowed segment of another organisation, with the GPUs of it attributed to this organisation's projects. */
export interface LentSegment {
  gpuType: string;
  gpus: number;
  start: number;
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

/** A reserved-capacity commitment of the month for one GPU type. */
export interface Commitment {
  gpus: number;
  centsPerGpuMonth: number;
}

export interface InvoiceLines {
  lines: InvoiceLine[];
  reservations: InvoiceReservation[];
  lentCredits: InvoiceLentCredit[];
  /** The credit taken off the charges: the lent credits' sum, but never more than the charges. */
  lentCreditCents: number;
  netCents: number;
  unpricedGpuSeconds: number;
  energy: { itKwh: number; facilityKwh: number; co2Kg: number; measuredKwh: number; sitesWithoutFactors: string[] };
}

export class InvoiceLineBuilder {
  private readonly lines = new Map<string, LineAcc>();
  private unpricedMs = 0;
  private readonly energy = { itKwh: 0, facilityKwh: 0, co2Kg: 0, measuredKwh: 0 };
  private readonly missing = new Set<string>();
  private readonly reservedParts = new Map<string, ReservedParts>();
  /** Per reserved type: lent parts keyed by `version NUL cents` of the credit price (null: none in effect). */
  private readonly lentParts = new Map<string, ReservedParts>();

  constructor(
    private readonly from: number,
    private readonly to: number,
    private readonly prices: PriceTimeline,
    private readonly factors: ReadonlyMap<string, SiteFactors>,
    private readonly commitments: ReadonlyMap<string, Commitment> = new Map(),
  ) {
    for (const t of commitments.keys()) {
      this.reservedParts.set(t, new ReservedParts());
      this.lentParts.set(t, new ReservedParts());
    }
  }

  /** addLent: a borrowed segment that ran on this organisation's lent quota (only reserved types count). */
  addLent(s: LentSegment): void {
    const lent = this.lentParts.get(s.gpuType);
    if (!lent) return;
    const billedEnd = this.prices.billedEnd(s.start, s.end);
    const milli = Math.round(s.gpus * 1000);
    for (const part of this.prices.parts(Math.max(s.start, this.from), Math.min(billedEnd, this.to), s.gpuType, LENT_CREDIT)) {
      const version = this.prices.priceAt(part.start, s.gpuType, LENT_CREDIT)?.version;
      const key = part.centsPerGpuHour === null ? null : `${version}\u0000${part.centsPerGpuHour}`;
      lent.push(part.start, part.start + part.ms, milli, key);
    }
  }

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

  private keyOf(l: LineAcc): string {
    return `${l.gpuType}\u0000${l.class}\u0000${l.priceVersion}\u0000${l.centsPerGpuHour}`;
  }

  /**
   * cover: sweeps a reserved type's billed parts (reserved-cover.ts); between two consecutive
   * boundaries the usage in progress is covered up to the commitment's GPUs, dearest line first.
   * Returns the covered milli-GPU × ms, taken off each line (and off the unpriced time).
   */
  private cover(gpuType: string, c: Commitment): bigint {
    const parts = this.reservedParts.get(gpuType);
    if (!parts || parts.n === 0) return 0n;
    // The lines' cover order is fixed (coverOrder): dearest first; unpriced last.
    const keys = parts.keys;
    const line = (i: number) => {
      const k = keys[i]!;
      return k === null ? null : this.lines.get(k)!;
    };
    const byRank = keys.map((_, i) => i).sort((x, y) => coverOrder(line(x), line(y)));
    const covered: bigint[] = keys.map(() => 0n);
    // Exact sums: a Number while it stays below 2^52, flushed into the BigInt before. One line a
    // level, so every take is whole milli-GPUs.
    const pending = new Float64Array(keys.length);
    const LIMIT = 2 ** 52;
    sweepCover(
      parts,
      byRank.map((k) => [k]),
      c.gpus * 1000,
      (k, _at, dt, take) => {
        const mms = take * dt;
        if (mms >= LIMIT || pending[k]! + mms >= LIMIT) {
          covered[k] = covered[k]! + BigInt(pending[k]!) + BigInt(take) * BigInt(dt);
          pending[k] = 0;
        } else pending[k]! += mms;
      },
    );
    let total = 0n;
    keys.forEach((k, i) => {
      const mms = covered[i]! + BigInt(pending[i]!);
      if (mms === 0n) return;
      total += mms;
      if (k === null) {
        this.unpricedMs -= Number(mms) / 1000;
        return;
      }
      const l = this.lines.get(k)!;
      l.billedMs -= Number(mms) / 1000;
      l.numerator -= mms * BigInt(l.centsPerGpuHour);
    });
    return total;
  }

  add(s: BillableSegment): void {
    const billedEnd = this.prices.billedEnd(s.start, s.end);
    const a = Math.max(s.start, this.from);
    const reserved = this.reservedParts.get(s.gpuType);
    const milli = Math.round(s.gpus * 1000);
    for (const part of this.prices.parts(a, Math.min(billedEnd, this.to), s.gpuType, s.class)) {
      if (part.centsPerGpuHour === null) {
        this.unpricedMs += s.gpus * part.ms;
        reserved?.push(part.start, part.start + part.ms, milli, null);
        continue;
      }
      const l = this.line(s, part.start, part.centsPerGpuHour);
      l.billedMs += s.gpus * part.ms;
      l.numerator += costNumerator(s.gpus, part.ms, part.centsPerGpuHour);
      reserved?.push(part.start, part.start + part.ms, milli, this.keyOf(l));
    }
    const f = this.factors.get(s.site);
    if (!f) this.missing.add(s.site);
    for (const part of this.prices.parts(a, Math.min(s.end, this.to), s.gpuType, s.class)) {
      const { kwh: it, measured } = partKwh(s, part.ms);
      if (measured) this.energy.measuredKwh += it;
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
    const reservations: InvoiceReservation[] = [...this.commitments]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([gpuType, c]) => {
        const mms = this.cover(gpuType, c);
        return {
          gpuType,
          gpus: c.gpus,
          centsPerGpuMonth: c.centsPerGpuMonth,
          amountCents: c.gpus * c.centsPerGpuMonth,
          coveredGpuSeconds: Number(mms) / 1_000_000,
          coveredGpuHours: Math.round((Number(mms) / 3_600_000_000) * 1e6) / 1e6,
        };
      });
    const lentCredits: InvoiceLentCredit[] = [...this.commitments]
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([gpuType, c]) =>
        [...lentCredit(this.reservedParts.get(gpuType), this.lentParts.get(gpuType), c.gpus)].map(([key, mms]) => {
          const [version, cents] = key.split('\u0000').map(Number) as [number, number];
          return {
            gpuType,
            priceVersion: version,
            centsPerGpuHour: cents,
            gpuSeconds: Number(mms) / 1_000_000,
            gpuHours: Math.round((Number(mms) / 3_600_000_000) * 1e6) / 1e6,
            amountCents: roundCents(mms * BigInt(cents)),
          };
        }),
      )
      .sort((x, y) => x.gpuType.localeCompare(y.gpuType) || x.priceVersion - y.priceVersion);
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
    const charges = lines.reduce((sum, l) => sum + l.amountCents, 0) + reservations.reduce((sum, r) => sum + r.amountCents, 0);
    // Credits beyond the month's charges are not paid out or carried forward: net stops at 0.
    const lentCreditCents = Math.min(
      charges,
      lentCredits.reduce((sum, l) => sum + l.amountCents, 0),
    );
    return {
      lines,
      reservations,
      lentCredits,
      lentCreditCents,
      netCents: charges - lentCreditCents,
      unpricedGpuSeconds: this.unpricedMs / 1000,
      energy: {
        itKwh: round6(this.energy.itKwh),
        facilityKwh: round6(this.energy.facilityKwh),
        co2Kg: round6(this.energy.co2Kg),
        measuredKwh: round6(this.energy.measuredKwh),
        sitesWithoutFactors: [...this.missing].sort(),
      },
    };
  }
}
