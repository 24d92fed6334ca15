/** Number and time formatting shared by the views (one locale: en, 24-hour UTC-free local time). */
const nf = new Intl.NumberFormat('en');
export const fmtInt = (n: number): string => nf.format(n);
export const fmtPct = (part: number, whole: number): string => (whole > 0 ? `${Math.round((100 * part) / whole)}%` : '–');

const tf = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
export const fmtTime = (iso: string | null): string => (iso ? tf.format(new Date(iso)) : '–');

export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

/** fmtUntil says when an ISO time comes, relative to now: "in 2h 10m", "in 3d 4h", "any moment now". */
export function fmtUntil(iso: string | null, now = Date.now()): string {
  if (!iso) return 'unknown';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return 'unknown';
  const s = (t - now) / 1000;
  if (s < 60) return 'any moment now';
  const d = Math.floor(s / 86_400);
  return d > 0 ? `in ${d}d ${Math.floor((s % 86_400) / 3600)}h` : `in ${fmtDuration(s)}`;
}

/** fmtAgo says how long ago an ISO time was: "3s ago", "2m 10s ago" ("just now" for a clock a little ahead). */
export function fmtAgo(iso: string, now = Date.now()): string {
  const s = (now - Date.parse(iso)) / 1000;
  return s < 1 ? 'just now' : `${fmtDuration(s)} ago`;
}

const eur = new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
/** fmtEur: EUR cents as the API counts them, written as the CLI does ("EUR 1,234.50"). */
export const fmtEur = (cents: number): string => `EUR ${eur.format(cents / 100)}`;
