/**
 * DayChart: figures per UTC day as stacked bars, one colour per series (a project, say), drawn as
 * SVG. Days are few (a month, a quarter), so SVG stays small, scales with its box and keeps each
 * bar in the document: every bar carries its series, day and value (data-* attributes, a <title>),
 * and the chart's accessible name sums it up; the page's table holds the same figures as text.
 */
import { OKABE_ITO } from '../lib/palette.js';

/** Series colours in order (Okabe–Ito, black last); a ninth series and on reuse them. */
const COLOURS = [
  OKABE_ITO.blue,
  OKABE_ITO.orange,
  OKABE_ITO.bluishGreen,
  OKABE_ITO.vermillion,
  OKABE_ITO.reddishPurple,
  OKABE_ITO.skyBlue,
  OKABE_ITO.yellow,
  OKABE_ITO.black,
];
export const seriesColour = (i: number) => COLOURS[i % COLOURS.length];

export interface DaySeries {
  label: string;
  /** One value per day, in the order of `days`. */
  values: number[];
}

const W = 760;
const H = 220;
const LEFT = 64;
const BOTTOM = 24;
const TOP = 8;
/** Room right of the last bar for its day's label. */
const RIGHT = 20;

/** niceMax: a round upper bound for the axis (1, 2 or 5 × 10^n). */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function DayChart({
  testid,
  days,
  series,
  label,
  unit,
  fmt,
}: {
  testid: string;
  /** UTC days, YYYY-MM-DD, oldest first. */
  days: string[];
  series: DaySeries[];
  /** The chart's accessible name (it is drawn, so screen readers get this and the table). */
  label: string;
  /** The y axis' unit, said beside it ("GPU-hours", "EUR"). */
  unit: string;
  fmt: (v: number) => string;
}) {
  const totals = days.map((_, d) => series.reduce((sum, s) => sum + (s.values[d] ?? 0), 0));
  const top = niceMax(Math.max(0, ...totals));
  const plotH = H - TOP - BOTTOM;
  const y = (v: number) => TOP + plotH - (plotH * v) / top;
  const slot = (W - LEFT - RIGHT) / Math.max(1, days.length);
  const barW = Math.max(1, slot * 0.7);
  // A label under every day of a week, every 7th of a month or a quarter.
  const every = days.length <= 10 ? 1 : 7;
  return (
    <figure class="day-chart" data-testid={testid}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} preserveAspectRatio="xMinYMin meet">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={LEFT} x2={W - RIGHT} y1={y(top * f)} y2={y(top * f)} stroke="#d0d0d0" />
            <text x={LEFT - 6} y={y(top * f) + 4} text-anchor="end" font-size="11" fill="#444">
              {fmt(top * f)}
            </text>
          </g>
        ))}
        <text
          x="12"
          y={TOP + plotH / 2}
          font-size="11"
          fill="#444"
          transform={`rotate(-90 12 ${TOP + plotH / 2})`}
          text-anchor="middle"
        >
          {unit}
        </text>
        {series.map((s, i) => (
          <g key={s.label} data-series={s.label} fill={seriesColour(i)}>
            {days.map((day, d) => {
              const below = series.slice(0, i).reduce((sum, t) => sum + (t.values[d] ?? 0), 0);
              const v = s.values[d] ?? 0;
              return (
                <rect
                  key={day}
                  data-day={day}
                  data-value={v}
                  x={LEFT + d * slot + (slot - barW) / 2}
                  width={barW}
                  y={y(below + v)}
                  height={y(below) - y(below + v)}
                >
                  <title>{`${s.label}, ${day}: ${fmt(v)} ${unit}`}</title>
                </rect>
              );
            })}
          </g>
        ))}
        <line x1={LEFT} x2={W - RIGHT} y1={y(0)} y2={y(0)} stroke="#444" />
        {days.map((day, d) =>
          (days.length - 1 - d) % every === 0 ? (
            <text key={day} x={LEFT + d * slot + slot / 2} y={H - 6} text-anchor="middle" font-size="11" fill="#444">
              {day.slice(5)}
            </text>
          ) : null,
        )}
      </svg>
      {series.length > 0 && (
        <figcaption class="legend">
          <ul>
            {series.map((s, i) => (
              <li key={s.label}>
                <span class="swatch" style={{ background: seriesColour(i) }} />
                {s.label}
              </li>
            ))}
          </ul>
        </figcaption>
      )}
    </figure>
  );
}

/** utcDays: the UTC days from `from` to `to` inclusive (YYYY-MM-DD). */
export function utcDays(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

/** dayOffset: the UTC day `n` days after (negative: before) today, YYYY-MM-DD. */
export const dayOffset = (n: number, now = Date.now()) => new Date(now + n * 86_400_000).toISOString().slice(0, 10);
