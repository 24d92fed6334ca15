/**
 * Time formatting without the clock: the scheduler may not touch `Date` (its purity test), yet its
 * sentences name instants. `isoInstant` turns epoch milliseconds into an ISO 8601 UTC string to the
 * second, by the civil-from-days algorithm (H. Hinnant), exactly as `Date#toISOString` would.
 */
export function isoInstant(epochMs: number): string {
  const secs = Math.floor(epochMs / 1000);
  const days = Math.floor(secs / 86400);
  const sod = secs - days * 86400;
  // Days since 1970-01-01 → civil date (proleptic Gregorian).
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const hms = `${p2(Math.floor(sod / 3600))}:${p2(Math.floor((sod % 3600) / 60))}:${p2(sod % 60)}`;
  return `${String(year).padStart(4, '0')}-${p2(month)}-${p2(day)}T${hms}Z`;
}
