/**
 * Bulk submission: `gigafab job submit --file specs.jsonl` (JSON Lines: one JobSpec object per line;
 * `-` reads stdin). Every line is checked before the first is sent, so a typo on line 9,000 does not
 * leave 8,999 jobs behind; then the jobs go out a few at a time, in order of their lines in the output.
 */

import type { Job, JobSpecInput } from '../model/schemas.js';
import { ApiError } from './client.js';
import { CliError, type Ctx, ExitCode } from './context.js';
import { type JobFlags, mergeJobSpec, type Obj, validateJobSpec } from './jobspec.js';

/** A file named *.jsonl or *.ndjson holds many specs; stdin does when it looks like JSON Lines. */
export function isJsonLinesName(path: string): boolean {
  return /\.(jsonl|ndjson)$/i.test(path);
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** looksLikeJsonLines: two or more non-empty lines, each one JSON object (a YAML or a pretty-printed JSON spec is not). */
export function looksLikeJsonLines(text: string): boolean {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return false;
  return lines.every((l) => {
    if (!l.trimStart().startsWith('{')) return false;
    try {
      return isObj(JSON.parse(l));
    } catch {
      return false;
    }
  });
}

export interface NumberedSpec {
  /** 1-based line number in the input. */
  line: number;
  spec: JobSpecInput;
}

/** How many problems a refused file lists before it only counts the rest. */
const SHOWN_PROBLEMS = 10;

/**
 * parseBulkSpecs parses every non-empty line, merges the flags into it and validates it; throws one
 * CliError naming each bad line (nothing has been sent then).
 */
export async function parseBulkSpecs(text: string, name: string, flags: JobFlags): Promise<NumberedSpec[]> {
  const specs: NumberedSpec[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      problems.push(`line ${line}: not JSON (${(err as Error).message})`);
      continue;
    }
    if (!isObj(value)) {
      problems.push(`line ${line}: expected a JobSpec object`);
      continue;
    }
    try {
      specs.push({ line, spec: await validateJobSpec(mergeJobSpec(value, flags)) });
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      problems.push(`line ${line}: ${[err.message, ...err.details].join('; ')}`);
    }
  }
  if (problems.length > 0) {
    const more = problems.length - SHOWN_PROBLEMS;
    throw new CliError(
      `${name}: ${problems.length} of ${specs.length + problems.length} job specs are invalid; nothing was submitted`,
      1,
      more > 0 ? [...problems.slice(0, SHOWN_PROBLEMS), `… and ${more} more`] : problems,
    );
  }
  if (specs.length === 0) throw new CliError(`${name} holds no job specs`);
  return specs;
}

export type BulkResult =
  | { line: number; job: Job; replayed: boolean }
  | { line: number; error: { status: number; code: string; detail: string } };

export interface BulkOptions {
  /** Each line gets `<key>-<line>`, so running the same file again submits nothing twice. */
  idempotencyKey?: string;
  /** Submissions in flight at once. */
  concurrency?: number;
  /** Called after each submission with how many are done and how many failed. */
  onProgress?: (done: number, failed: number) => void;
}

/**
 * submitBulk sends every spec; a refused job (an API error) is recorded and the rest go on. An
 * unreachable server ends the run (what was sent stays submitted; rerun with the same key).
 */
export async function submitBulk(ctx: Ctx, specs: readonly NumberedSpec[], opts: BulkOptions = {}): Promise<BulkResult[]> {
  const results: BulkResult[] = new Array(specs.length);
  let next = 0;
  let done = 0;
  let failed = 0;
  const worker = async () => {
    while (next < specs.length) {
      const i = next++;
      const { line, spec } = specs[i];
      const key = opts.idempotencyKey ? `${opts.idempotencyKey}-${line}` : undefined;
      try {
        const { job, replayed } = await ctx.client.submitJob(spec, key);
        results[i] = { line, job, replayed };
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        failed++;
        results[i] = { line, error: { status: err.status, code: err.code, detail: err.detail } };
      }
      done++;
      opts.onProgress?.(done, failed);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 8, specs.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}

/** bulkSummary: `submitted 98 of 100 jobs in 1.2 s (81 jobs/s); 2 failed`. */
export function bulkSummary(results: readonly BulkResult[], seconds: number): string {
  const ok = results.filter((r) => 'job' in r).length;
  const failed = results.length - ok;
  const rate = seconds > 0 ? ` (${Math.round(ok / seconds)} jobs/s)` : '';
  return `submitted ${ok} of ${results.length} jobs in ${seconds.toFixed(1)} s${rate}${failed > 0 ? `; ${failed} failed` : ''}`;
}

/** runBulk submits many jobs with a progress bar (on a terminal), prints one result per line and a summary. */
export async function runBulk(ctx: Ctx, specs: NumberedSpec[], idempotencyKey: string | undefined): Promise<void> {
  const bar = ctx.rt.interactive
    ? new (await import('cli-progress')).SingleBar({
        stream: process.stderr,
        format: 'submit [{bar}] {value}/{total} jobs | {failed} failed',
        hideCursor: true,
      })
    : null;
  bar?.start(specs.length, 0, { failed: 0 });
  const started = ctx.now();
  let results: BulkResult[];
  try {
    results = await submitBulk(ctx, specs, { idempotencyKey, onProgress: (done, failed) => bar?.update(done, { failed }) });
  } finally {
    bar?.stop();
  }
  for (const r of results) {
    if ('job' in r) {
      if (ctx.json) ctx.out(JSON.stringify({ line: r.line, job: r.job }));
      else ctx.out(`job ${r.job.id} ${r.replayed ? 'already submitted' : 'submitted'}: ${r.job.state}`);
    } else if (ctx.json) ctx.out(JSON.stringify({ line: r.line, error: r.error }));
    else ctx.note(`line ${r.line}: error: ${r.error.detail} (${r.error.code})`);
  }
  ctx.note(bulkSummary(results, (ctx.now() - started) / 1000));
  if (results.some((r) => 'error' in r)) throw new ExitCode(1);
}
