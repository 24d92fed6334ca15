/**
 * The reserved-capacity coverage sweep (over reserved-parts.ts's parts), one for the invoice (invoice-lines.ts) and the usage
 * report, FOCUS export and budgets (usage-coverage.ts): an organisation's billed parts of one GPU
 * type, swept in time order; between two consecutive boundaries the usage in progress is covered up
 * to the committed GPUs, level by level in the levels' order (the invoice's rule: dearest first).
 * A level is the parts of equal rank: the invoice has one line per level, so its figures are exact;
 * a report that splits a level into its groups shares a partly covered level among them pro rata.
 */
import { USAGE_CLASSES, type UsageClass } from '../../model/usage.js';
import type { ReservedParts } from './reserved-parts.js';

/** What a part's rank depends on: its unit price, class and price version; null: time without a price. */
export interface CoverPrice {
  centsPerGpuHour: number;
  class: UsageClass;
  priceVersion: number;
}

/** coverOrder: the invoice's cover order, dearest first, then class order, then the older version; unpriced last. */
export function coverOrder(a: CoverPrice | null, b: CoverPrice | null): number {
  const rank = (p: CoverPrice | null): [number, number, number] =>
    p === null ? [-1, USAGE_CLASSES.length, 0] : [p.centsPerGpuHour, USAGE_CLASSES.indexOf(p.class), p.priceVersion];
  const [ca, ka, va] = rank(a);
  const [cb, kb, vb] = rank(b);
  return cb - ca || ka - kb || va - vb;
}

/**
 * sweepCover: calls `covered(key, at, dt, milli)` for each key's covered milli-GPUs over each
 * stretch [at, at + dt) between two boundaries. `levels`: key indices grouped by rank, in cover
 * order. A level taken whole gives each key its own (integral) milli-GPUs; a level taken in part
 * gives each its share of what is left (a fraction).
 */
export function sweepCover(
  parts: ReservedParts,
  levels: readonly (readonly number[])[],
  capMilli: number,
  covered: (key: number, at: number, dt: number, milli: number) => void,
): void {
  const { n, starts, ends, milli, key } = parts;
  if (n === 0) return;
  // Boundaries as indices: i < n is part i's start, i ≥ n part (i − n)'s end; in time order.
  const order = new Uint32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) order[i] = i;
  const at = (i: number) => (i < n ? starts[i]! : ends[i - n]!);
  order.sort((x, y) => at(x) - at(y));
  const active = new Float64Array(parts.keys.length);
  for (let j = 0; j < order.length; ) {
    const t = at(order[j]!);
    for (; j < order.length && at(order[j]!) === t; j++) {
      const i = order[j]!;
      if (i < n) active[key[i]!]! += milli[i]!;
      else active[key[i - n]!]! -= milli[i - n]!;
    }
    if (j === order.length) break;
    const dt = at(order[j]!) - t;
    let left = capMilli;
    for (const level of levels) {
      if (left <= 0) break;
      let sum = 0;
      for (const k of level) sum += active[k]!;
      if (sum <= 0) continue;
      if (sum <= left) {
        for (const k of level) if (active[k]! > 0) covered(k, t, dt, active[k]!);
        left -= sum;
      } else {
        for (const k of level) if (active[k]! > 0) covered(k, t, dt, (left * active[k]!) / sum);
        left = 0;
      }
    }
  }
}
