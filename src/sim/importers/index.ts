/** Trace importers by format name. */
import { type AlibabaOptions, importAlibaba } from './alibaba.js';
import type { ImportedTrace } from './common.js';
import { importItp } from './itp.js';
import { importPhilly } from './philly.js';

export const TRACE_FORMATS = ['alibaba', 'philly', 'itp', 'synthetic'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

/** guessFormat picks a format from the file name, or null. */
export function guessFormat(path: string): TraceFormat | null {
  const base = path.split('/').pop() ?? path;
  if (/^openb_pod_list.*\.csv$/i.test(base)) return 'alibaba';
  if (/philly.*\.csv$/i.test(base)) return 'philly';
  if (/^cluster\d+\.csv$/i.test(base)) return 'itp';
  return null;
}

export function importTrace(format: Exclude<TraceFormat, 'synthetic'>, path: string, opts: AlibabaOptions): ImportedTrace {
  if (format === 'alibaba') return importAlibaba(path, opts);
  if (format === 'philly') return importPhilly(path, opts);
  return importItp(path, opts);
}

export type { ImportedTrace } from './common.js';
