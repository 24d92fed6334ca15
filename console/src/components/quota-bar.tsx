/** QuotaBar: GPUs in use against a quota, as a meter with the numbers written out. */
import { fmtInt } from '../lib/format.js';

export function QuotaBar({ used, quota, label }: { used: number; quota: number; label: string }) {
  return (
    <div class="quota">
      <meter
        class={used > quota ? 'over' : undefined}
        min={0}
        max={Math.max(quota, used, 1)}
        value={used}
        aria-label={label}
        aria-valuetext={`${fmtInt(used)} of ${fmtInt(quota)} GPUs`}
      />
      <span class="quota-text">
        {fmtInt(used)} / {fmtInt(quota)}
      </span>
    </div>
  );
}
