/**
 * SpendBar: a budget's month at a glance: spent (blue; vermillion past the cap) and committed to
 * queued and running jobs (sky blue) against the cap, with a tick per alert threshold. The figures are written out beside it
 * and in its accessible name, so the bar is never the only signal.
 */
import { fmtEur } from '../lib/format.js';

const W = 240;
const H = 16;

export function SpendBar({
  cap,
  spent,
  committed,
  thresholds,
}: {
  cap: number;
  spent: number;
  committed: number;
  thresholds: readonly number[];
}) {
  // Past the cap (a wait budget's queued jobs), the scale grows so the overshoot shows.
  const scale = Math.max(cap, spent + committed, 1);
  const x = (cents: number) => Math.round((W * Math.max(0, cents)) / scale);
  const over = spent + committed > cap;
  const label = `${fmtEur(spent)} spent and ${fmtEur(committed)} committed of ${fmtEur(cap)}`;
  return (
    <div class="spend" data-testid="spend-bar">
      <svg width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <rect x="0.5" y="0.5" width={W - 1} height={H - 1} fill="#e6e6e6" stroke="#8a8a8a" />
        <rect x="0" y="0" width={x(spent)} height={H} fill={over ? '#D55E00' : '#0072B2'} data-part="spent" />
        <rect x={x(spent)} y="0" width={x(spent + committed) - x(spent)} height={H} fill="#56B4E9" data-part="committed" />
        {thresholds.map((t) => (
          <line key={t} x1={x((cap * t) / 100)} x2={x((cap * t) / 100)} y1="0" y2={H} stroke="#000" stroke-dasharray="2 2" />
        ))}
        <line x1={x(cap)} x2={x(cap)} y1="0" y2={H} stroke="#000" stroke-width="2" />
      </svg>
      <span class="spend-text">{cap > 0 ? `${Math.round((100 * (spent + committed)) / cap)}% of cap` : 'cap 0'}</span>
    </div>
  );
}
