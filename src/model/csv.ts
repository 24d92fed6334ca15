/**
 * The one CSV writer for everything gigafab exports (audit log, residency report): RFC 4180 quoting by
 * csv-stringify, and spreadsheet formula neutralisation — a cell that starts with `=`, `+`, `-`, `@`,
 * tab or CR (or their full-width forms) gets a leading single quote (OWASP "CSV injection"), so a job
 * named `=HYPERLINK(…)` is shown as text, never evaluated, when the file is opened in a spreadsheet.
 */
import { stringify } from 'csv-stringify/sync';

export type CsvCell = string | number | boolean | null | undefined | readonly string[];

/**
 * toCsv writes one header line (the column names) and one line per row; list cells are joined with
 * `;`, null and undefined are empty, booleans are `true`/`false`. Lines end with CRLF (RFC 4180).
 */
export function toCsv<K extends string>(columns: readonly K[], rows: Iterable<Readonly<Record<K, unknown>>>): string {
  const records: CsvCell[][] = [];
  for (const row of rows) records.push(columns.map((c) => cell(row[c])));
  return stringify(records, {
    header: true,
    columns: [...columns],
    record_delimiter: 'windows',
    escape_formulas: true,
    cast: { boolean: (v) => String(v) },
  });
}

function cell(v: unknown): CsvCell {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(String).join(';');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return JSON.stringify(v);
}
