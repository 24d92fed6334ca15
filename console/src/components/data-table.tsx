/**
 * DataTable: the console's list table (class "data"): column headings, then one row per item as
 * the view renders it. A heading is its label, or { label, num } to right-align a numeric column;
 * `false` leaves a column out (say, Actions for someone who may not act).
 */
import type { JSX } from 'preact';

export type Col = string | { label: string; num: true };

export function DataTable<T>({
  testid,
  caption,
  cols,
  rows,
  row,
}: {
  testid?: string;
  /** Read by screen readers only. */
  caption?: string;
  cols: (Col | false)[];
  rows: T[];
  row: (item: T) => JSX.Element;
}) {
  return (
    <table class="data" data-testid={testid}>
      {caption && <caption class="sr-only">{caption}</caption>}
      <thead>
        <tr>
          {cols.map((c) =>
            c === false ? null : typeof c === 'string' ? (
              <th key={c} scope="col">
                {c}
              </th>
            ) : (
              <th key={c.label} scope="col" class="num">
                {c.label}
              </th>
            ),
          )}
        </tr>
      </thead>
      <tbody>{rows.map(row)}</tbody>
    </table>
  );
}
