/**
 * Helpers shared by the trace importers: a byte-offset-aware line reader, CSV headers, the
 * GPUs -> nodes x gpusPerNode mapping, and an index sort for traces not in submission order.
 */
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import type { ImportStats, SimJob } from '../types.js';

/** Shape of a job on nodes of `nodeSize` GPUs (README: "GPUs -> nodes"). */
export interface Shape {
  nodes: number;
  gpusPerNode: number;
  /** true when the job got more GPUs than it asked for (whole nodes). */
  roundedUp: boolean;
}

/**
 * shapeFor maps a GPU count onto nodes of `nodeSize` GPUs:
 * - g <= nodeSize: one node with g GPUs;
 * - else the fewest nodes n >= ceil(g / nodeSize) with g divisible by n and n <= 2 ceil(g / nodeSize)
 *   (exact GPU count, e.g. 12 -> 2 x 6, 24 -> 3 x 8);
 * - else ceil(g / nodeSize) whole nodes (rounded up, e.g. 13 -> 2 x 8).
 */
export function shapeFor(gpus: number, nodeSize: number): Shape {
  if (gpus <= nodeSize) return { nodes: 1, gpusPerNode: gpus, roundedUp: false };
  const min = Math.ceil(gpus / nodeSize);
  for (let n = min; n <= 2 * min; n++) {
    if (gpus % n === 0 && gpus / n <= nodeSize) return { nodes: n, gpusPerNode: gpus / n, roundedUp: false };
  }
  return { nodes: min, gpusPerNode: nodeSize, roundedUp: true };
}

export interface Line {
  text: string;
  /** Byte offset of the line's first byte. */
  offset: number;
  /** Length in bytes without the newline. */
  length: number;
}

/** readLines streams a file's lines (LF or CRLF) with their byte offsets, chunk by chunk. */
export async function* readLines(path: string, onBytes?: (bytes: number) => void): AsyncGenerator<Line> {
  let carry: Buffer = Buffer.alloc(0);
  let base = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buf: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      yield { text: buf.toString('utf8', start, end), offset: base + start, length: end - start };
      start = nl + 1;
    }
    base += start;
    carry = buf.subarray(start);
    onBytes?.((chunk as Buffer).length);
  }
  if (carry.length > 0) {
    const end = carry[carry.length - 1] === 13 ? carry.length - 1 : carry.length;
    yield { text: carry.toString('utf8', 0, end), offset: base, length: end };
  }
}

export class TraceFormatError extends Error {}

/** splitCsv splits one CSV line (no quoted commas in these traces; quotes are stripped). */
export function splitCsv(line: string): string[] {
  return line.split(',').map((f) => (f.length >= 2 && f[0] === '"' && f[f.length - 1] === '"' ? f.slice(1, -1) : f).trim());
}

/** headerIndex maps required column names to positions; throws naming the missing ones. */
export function headerIndex<K extends string>(path: string, header: string, names: readonly K[]): Record<K, number> {
  const cols = splitCsv(header.replace(/^\uFEFF/, ''));
  const out = {} as Record<K, number>;
  const missing: string[] = [];
  for (const n of names) {
    const i = cols.indexOf(n);
    if (i < 0) missing.push(n);
    out[n] = i;
  }
  if (missing.length > 0) {
    throw new TraceFormatError(`${path}: missing column(s) ${missing.join(', ')} (header: ${cols.join(',')})`);
  }
  return out;
}

/**
 * sortedLines yields the data lines of a CSV (header excluded) ordered by `keyOf(line)` ascending,
 * ties in file order, without holding the lines: pass 1 keeps 20 bytes per line (key, offset,
 * length) in typed arrays; pass 2 reads each line back by offset. Lines with a NaN key are dropped
 * and passed to `onBad`.
 */
export async function* sortedLines(
  path: string,
  keyOf: (text: string) => number,
  onHeader: (header: string) => void,
  onBad: (text: string) => void,
): AsyncGenerator<string> {
  let keys = new Float64Array(1024);
  let offsets = new Float64Array(1024);
  let lengths = new Int32Array(1024);
  let n = 0;
  let first = true;
  for await (const line of readLines(path)) {
    if (first) {
      first = false;
      onHeader(line.text);
      continue;
    }
    if (line.text.trim() === '') continue;
    const k = keyOf(line.text);
    if (Number.isNaN(k)) {
      onBad(line.text);
      continue;
    }
    if (n === keys.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T, make: (len: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      keys = grow(keys, (l) => new Float64Array(l));
      offsets = grow(offsets, (l) => new Float64Array(l));
      lengths = grow(lengths, (l) => new Int32Array(l));
    }
    keys[n] = k;
    offsets[n] = line.offset;
    lengths[n] = line.length;
    n++;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => keys[a] - keys[b] || a - b);
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.alloc(4096);
    for (let j = 0; j < n; j++) {
      const i = order[j];
      if (lengths[i] > buf.length) buf = Buffer.alloc(lengths[i]);
      readSync(fd, buf, 0, lengths[i], offsets[i]);
      yield buf.toString('utf8', 0, lengths[i]);
    }
  } finally {
    closeSync(fd);
  }
}

/** The limit a job gets when its trace names none and it runs at most this long (the server's default). */
export const DEFAULT_TIME_LIMIT_SECONDS = 86400;
/** The longest limit a job may have (the server's JobSpec maximum). */
export const MAX_TIME_LIMIT_SECONDS = 30 * 86400;
/** The optional column a trace names its jobs' own wall-clock limits in (seconds). */
export const TIME_LIMIT_COLUMN = 'time_limit';

/**
 * timeLimitFor: an imported job's wall-clock limit. The trace's own (`own`, seconds) where it has
 * one; else the server's 24 h default, or for a longer job its runtime rounded up to the hour (what
 * a user who knew the runtime would ask for). Capped at 30 days like a submitted job's: a job
 * longer than its limit times out, as it would on the server. Backfill plans with this limit, not
 * with the runtime the scheduler cannot know.
 */
export function timeLimitFor(runtimeSeconds: number, own?: number): number {
  if (own !== undefined && Number.isFinite(own) && own > 0) return Math.min(Math.ceil(own), MAX_TIME_LIMIT_SECONDS);
  const limit =
    runtimeSeconds <= DEFAULT_TIME_LIMIT_SECONDS ? DEFAULT_TIME_LIMIT_SECONDS : Math.ceil(runtimeSeconds / 3600) * 3600;
  return Math.min(limit, MAX_TIME_LIMIT_SECONDS);
}

/** optionalColumn: the position of column `name` in a CSV header, or -1. */
export function optionalColumn(header: string, name: string): number {
  return splitCsv(header.replace(/^\uFEFF/, '')).indexOf(name);
}

/** ownTimeLimit: a row's value in the optional time-limit column (undefined when absent or empty). */
export function ownTimeLimit(fields: readonly string[], column: number): number | undefined {
  if (column < 0) return undefined;
  const v = num(fields[column]);
  return Number.isFinite(v) ? v : undefined;
}

/** fileSize in bytes (for progress). */
export function fileSize(path: string): number {
  return statSync(path).size;
}

/** ImportedTrace: a lazily read job stream plus counters that fill in as it is consumed. */
export interface ImportedTrace {
  jobs: AsyncIterable<SimJob>;
  stats: ImportStats;
}

/** ImporterOptions shared by all importers. */
export interface ImporterOptions {
  /** GPUs per node of the target fleet (largest node), for shapeFor. */
  nodeSize: number;
}

/** num parses a finite number or returns NaN (empty strings are NaN, not 0). */
export function num(s: string | undefined): number {
  if (s === undefined || s.trim() === '') return Number.NaN;
  const v = Number(s);
  return Number.isFinite(v) ? v : Number.NaN;
}
