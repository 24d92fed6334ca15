/**
 * The pieces the two usage pages (one organisation's, every organisation's) draw alike: the GPU-hours
 * and cost charts per day, and a usage row's metered cells. One place, so both pages say the same
 * thing in the same format.
 */
import type { ComponentChildren } from 'preact';
import type { UsageRow } from '../api/types.js';
import { fmtEur, fmtInt } from '../lib/format.js';
import { fmtHours } from '../lib/usage-series.js';
import { DayChart, type DaySeries } from './day-chart.js';

/**
 * GPU-hours and cost per day, side by side; `children` adds more charts to the grid. `what` ends the
 * charts' accessible labels (e.g. " of acme, 2026-11-01 to 2026-11-30, per project").
 */
export function UsageCharts(props: {
  testid: string;
  days: string[];
  hours: DaySeries[];
  cost: DaySeries[];
  what: string;
  totalHours: number;
  totalCost: number;
  children?: ComponentChildren;
}) {
  return (
    <div class="chart-grid">
      <div>
        <h3>GPU-hours per day</h3>
        <DayChart
          testid={`${props.testid}-hours-chart`}
          days={props.days}
          series={props.hours}
          unit="GPU-hours"
          fmt={(v) => (v >= 10 ? fmtInt(Math.round(v)) : String(Math.round(v * 100) / 100))}
          label={`GPU-hours per day${props.what}: ${fmtHours(props.totalHours)} in all`}
        />
      </div>
      <div>
        <h3>Cost per day (EUR)</h3>
        <DayChart
          testid={`${props.testid}-cost-chart`}
          days={props.days}
          series={props.cost}
          unit="EUR"
          fmt={(v) => (v === 0 ? '0' : v >= 10 ? fmtInt(Math.round(v)) : v.toFixed(2))}
          label={`Cost per day${props.what}: ${fmtEur(props.totalCost)} in all`}
        />
      </div>
      {props.children}
    </div>
  );
}

/** A usage row's metered cells: GPU-hours, GPU-seconds, runs (and how many still run), cost. */
export function UsageCells({ r }: { r: Pick<UsageRow, 'gpuHours' | 'gpuSeconds' | 'segments' | 'openSegments' | 'cost'> }) {
  return (
    <>
      <td class="num" data-col="gpuHours">
        {fmtHours(r.gpuHours)}
      </td>
      <td class="num" data-col="gpuSeconds">
        {r.gpuSeconds}
      </td>
      <td class="num" data-col="segments">
        {r.segments}
        {r.openSegments > 0 && ` (${r.openSegments} running)`}
      </td>
      <td class="num" data-col="cost">
        {fmtEur(r.cost)}
      </td>
    </>
  );
}
