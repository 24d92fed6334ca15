/**
 * Lenders of a borrowed start: the projects whose idle lent quota a job running on borrowed capacity
 * was attributed to when it started (src/scheduler/borrowing.ts decides; the job row and its usage
 * segment keep it as JSON text). GPUs are GPU-equivalents (a 250-milli share is 0.25). The part of a
 * borrowed job no lender's idle quota covered is attributed to no one (the pool) and is not listed.
 */
import { z } from 'zod';
import { parseJson } from './json.js';

export interface LenderShare {
  project: string;
  gpus: number;
}

const LendersSchema = z.array(z.object({ project: z.string(), gpus: z.number().positive() }));

/** lendersJson: the column value for a start's lenders (null: none, not borrowed or all from the pool). */
export function lendersJson(lenders: readonly LenderShare[] | undefined): string | null {
  return lenders && lenders.length > 0 ? JSON.stringify(lenders.map((l) => ({ project: l.project, gpus: l.gpus }))) : null;
}

/** parseLenders: a stored lenders column back to shares ([] for null). */
export function parseLenders(text: string | null, what: string): LenderShare[] {
  return text === null ? [] : parseJson(text, LendersSchema, what);
}
