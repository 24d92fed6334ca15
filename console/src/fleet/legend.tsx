/** MapLegend: each colour with its meaning and GPU count, so colour is never the only cue. */
import { fmtInt } from '../lib/format.js';
import type { LegendEntry } from './colours.js';

export function MapLegend({ entries, title }: { entries: LegendEntry[]; title: string }) {
  return (
    <figure class="legend" aria-label={title}>
      <ul>
        {entries.map((e) => (
          <li key={e.label} data-legend={e.label}>
            <span class="swatch" style={{ background: e.colour }} aria-hidden="true" />
            {e.label} <span class="count">{fmtInt(e.count)}</span>
          </li>
        ))}
      </ul>
    </figure>
  );
}
