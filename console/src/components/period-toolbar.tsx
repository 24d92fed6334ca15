/** PeriodToolbar: the usage pages' period picker (last 7, 30 or 90 days) and their CSV download. */

/** The periods the usage pages offer, in days. */
export const USAGE_RANGES = [7, 30, 90] as const;

export function PeriodToolbar({ range, onRange, onCsv }: { range: number; onRange: (days: number) => void; onCsv: () => void }) {
  return (
    <div class="toolbar">
      <label>
        Period{' '}
        <select value={String(range)} onChange={(e) => onRange(Number(e.currentTarget.value))}>
          {USAGE_RANGES.map((r) => (
            <option key={r} value={String(r)}>
              last {r} days
            </option>
          ))}
        </select>
      </label>
      <button type="button" onClick={onCsv}>
        Download CSV
      </button>
    </div>
  );
}
