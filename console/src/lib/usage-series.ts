/** Usage report rows (grouped by day and something else) as chart series: one per group, a value per day. */
import type { UsageRow } from '../api/types.js';
import type { DaySeries } from '../components/day-chart.js';

export function byDay(
  items: readonly UsageRow[],
  days: readonly string[],
  key: (r: UsageRow) => string,
  value: (r: UsageRow) => number,
): DaySeries[] {
  const index = new Map(days.map((d, i) => [d, i]));
  const series = new Map<string, number[]>();
  for (const r of items) {
    const d = r.day === undefined ? undefined : index.get(r.day);
    if (d === undefined) continue;
    const k = key(r);
    let values = series.get(k);
    if (!values) {
      values = days.map(() => 0);
      series.set(k, values);
    }
    values[d] += value(r);
  }
  return [...series.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([label, values]) => ({ label, values }));
}

/** fmtHours: GPU-hours to 4 decimals, as `gigafab usage` prints them. */
export const fmtHours = (h: number): string => h.toFixed(4);

/** fmtKwh: kWh to 3 decimals, as `gigafab usage` prints them. */
export const fmtKwh = (kwh: number): string => kwh.toFixed(3);
