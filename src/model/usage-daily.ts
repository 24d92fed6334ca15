/**
 * The daily usage rollup's arithmetic: what one closed run segment adds to each UTC day it touches,
 * per (organisation, project, GPU type, site, class, day). Quantities are exact integers in
 * milli-GPU × milliseconds ("mms"): 1,000,000 mms is one GPU-second, so sums never round.
 *
 * - `runMms`: the segment's run time on the day (what `gpuSeconds` adds up);
 * - `billedMms`: its billed time on the day (the run rounded up to the granularity in effect at its
 *   start, counted from its start; what `cost` prices), never less than `runMms`;
 * - `pieces`: 1 when it ran on the day; `starts`: 1 when it began on the day (and ran at all);
 * - `measuredMms` and `measuredKwh`: for a segment whose driver measured its energy, its run time on
 *   the day again and the measured kWh spread evenly over its run (the day's share); else 0. The
 *   day's kWh at the GPUs is then measuredKwh + the power model for runMms − measuredMms
 *   (model/energy.ts rollupKwh);
 * - a day appears when the segment's billed time touches it.
 * The usage report adds these up for whole days and reads raw segments only for the rest
 * (src/server/usage-report.ts); the migration that creates the rollup and metering's close path
 * both use this function, so they cannot disagree.
 */
import { PriceTimeline } from './cost.js';

export const DAY_MS = 86_400_000;

export interface DailyPiece {
  /** UTC day number (epoch ms / DAY_MS). */
  day: number;
  runMms: number;
  billedMms: number;
  pieces: 0 | 1;
  starts: 0 | 1;
  measuredMms: number;
  measuredKwh: number;
}

/** milliGpus: GPU-equivalents in exact milli-GPUs (a 250-milli share is 250). */
export const milliGpus = (gpus: number): number => Math.round(gpus * 1000);

/** utcDayName: YYYY-MM-DD of UTC day number `d`. */
export const utcDayName = (d: number): string => new Date(d * DAY_MS).toISOString().slice(0, 10);

/**
 * dailyPieces: what the closed segment [start, end), billed to `billedEnd`, adds to each day it
 * touches; `measuredJoules`: the energy its driver measured (null or absent: none).
 */
export function dailyPieces(
  gpus: number,
  start: number,
  end: number,
  billedEnd: number,
  measuredJoules?: number | null,
): DailyPiece[] {
  const m = milliGpus(gpus);
  const measured = measuredJoules !== null && measuredJoules !== undefined && end > start;
  const out: DailyPiece[] = [];
  for (let d = Math.floor(start / DAY_MS); d * DAY_MS < billedEnd; d++) {
    const a = Math.max(start, d * DAY_MS);
    const b = (d + 1) * DAY_MS;
    const run = Math.max(0, Math.min(end, b) - a);
    const billed = Math.max(0, Math.min(billedEnd, b) - a);
    if (billed <= 0) continue;
    out.push({
      day: d,
      runMms: m * run,
      billedMms: m * billed,
      pieces: run > 0 ? 1 : 0,
      starts: run > 0 && a === start ? 1 : 0,
      measuredMms: measured ? m * run : 0,
      measuredKwh: measured ? ((measuredJoules / 3.6e6) * run) / (end - start) : 0,
    });
  }
  return out;
}

/** granularityTimeline: the price versions' instants and granularities (billedEnd needs no prices). */
export function granularityTimeline(
  versions: readonly { version: number; effective_from: string; granularity: string }[],
): PriceTimeline {
  return new PriceTimeline(
    versions.map((v) => ({
      version: Number(v.version),
      effectiveFrom: v.effective_from,
      granularity: v.granularity === 'minute' ? 'minute' : 'second',
      prices: [],
      createdAt: v.effective_from,
      createdBy: '',
    })),
  );
}
