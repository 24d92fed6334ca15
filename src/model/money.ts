/**
 * Money as integer cents, formatted without a schema library: the CLI imports this on every price, budget and
 * usage command, and must not pay zod's start-up cost for it.
 */

/** euros: integer cents as a decimal euro amount, e.g. 12345 → "123.45", -5 → "-0.05". */
export function euros(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const a = Math.abs(cents);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}
