/**
 * Rendering helpers for the CLI: borderless aligned tables, key/value blocks, JSON,
 * and human durations (both directions).
 */

export type OutputFormat = 'table' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json'];

/** Where the CLI writes. Tests pass a capturing implementation. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => {
    process.stdout.write(text);
  },
  err: (text) => {
    process.stderr.write(text);
  },
};

/** A table cell: null/undefined print as `-`, '' prints as nothing. */
export type Cell = string | number | null | undefined;

/** Display width of a string: code points (good enough for the ASCII-ish content we print; `×` counts 1). */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function cellText(c: Cell): string {
  if (c === null || c === undefined) return '-';
  return String(c).replace(/[\r\n\t]+/g, ' ');
}

export interface TableOptions {
  /** Column indexes to right-align (numbers). */
  alignRight?: number[];
  /** Maximum width for any cell; longer cells end with `…`. Default 60. */
  maxCellWidth?: number;
}

function truncate(s: string, max: number): string {
  if (width(s) <= max) return s;
  const chars = [...s];
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/**
 * renderTable lays out rows under upper-case headers, columns separated by 3 spaces,
 * no borders, no trailing whitespace. Empty / null cells print as `-`.
 */
export function renderTable(headers: string[], rows: Cell[][], opts: TableOptions = {}): string {
  const max = opts.maxCellWidth ?? 60;
  const right = new Set(opts.alignRight ?? []);
  const text = rows.map((r) => headers.map((_, i) => truncate(cellText(r[i]), max)));
  const widths = headers.map((h, i) => Math.max(width(h), ...text.map((r) => width(r[i]))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const pad = ' '.repeat(widths[i] - width(c));
        if (i === cells.length - 1 && !right.has(i)) return c;
        return right.has(i) ? pad + c : c + pad;
      })
      .join('   ')
      .trimEnd();
  return `${[line(headers.map((h) => h.toUpperCase())), ...text.map(line)].join('\n')}\n`;
}

/** renderKeyValues prints `Key:   value` lines with the values aligned. Null/undefined rows are skipped. */
export function renderKeyValues(pairs: [string, Cell][]): string {
  const shown = pairs.filter(([, v]) => v !== null && v !== undefined);
  const w = Math.max(0, ...shown.map(([k]) => width(k) + 1));
  const lines = shown.map(([k, v]) => `${`${k}:`.padEnd(w)}  ${String(v)}`.trimEnd());
  return `${lines.join('\n')}\n`;
}

export function renderJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

// ---------- durations ----------

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export class DurationError extends Error {}

/**
 * parseDuration turns `3600`, `90s`, `90m`, `2h`, `1h30m`, `1.5h`, `2d` into whole seconds.
 * A bare number means seconds. Throws DurationError for anything else.
 */
export function parseDuration(input: string): number {
  const s = input.trim().toLowerCase();
  if (/^\d+$/.test(s)) return Number(s);
  if (!/^(\d+(\.\d+)?[smhdw])+$/.test(s)) {
    throw new DurationError(`invalid duration "${input}" (use e.g. 3600, 90s, 90m, 2h, 1h30m, 2d)`);
  }
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]];
  }
  return Math.round(total);
}

/** formatDuration: seconds -> compact human text with at most two units: `45s`, `3m20s`, `2h5m`, `3d4h`. */
export function formatDuration(totalSeconds: number): string {
  let s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return `${s}s`;
  const units: [string, number][] = [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  for (const [name, size] of units) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${name}`);
      s %= size;
    } else if (parts.length > 0) {
      break;
    }
    if (parts.length === 2) break;
  }
  return parts.join('');
}

/** age: time since an ISO timestamp, e.g. `5m`, `2h3m`. */
export function age(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '-';
  return formatDuration((now - t) / 1000);
}

/** timestamp with a relative suffix: `2025-01-01T10:00:00Z (5m ago)`. */
export function timestamp(iso: string | null | undefined, now: number = Date.now()): string | null {
  if (!iso) return null;
  return `${iso} (${age(iso, now)} ago)`;
}

/** compressRanges: [0,1,2,3,6] -> `0-3,6`. */
export function compressRanges(nums: readonly number[]): string {
  const sorted = [...nums].sort((a, b) => a - b);
  const out: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}
