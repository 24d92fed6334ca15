/**
 * Member keys: beside a class group's member array (class-queue.ts), each member's submittedAt and
 * seq, interleaved in one array of numbers (member k at 2k and 2k + 1, in the group's order).
 * Members of a scan class share every other score input (project, class, GPU type, shape), so the
 * class walk scores a member and orders it against the last visited job from these two numbers,
 * without reading the job object: at ≈ 4,400 groups, each read of a member past its group's head
 * is a cache miss, and most of the members a reopened group's search reads are never visited. The
 * numbers are the fields' own values, so the arithmetic and the comparisons are the same. A plain
 * array, not a Float64Array: the group's copy on write then stays on the young heap (a typed array
 * over 64 bytes gets its own off-heap buffer, allocated and finalised per copy).
 */
import type { SchedJob } from './types.js';

/** keysOf: the keys of `jobs`, in their order. */
export function keysOf(jobs: readonly SchedJob[]): number[] {
  const keys = new Array<number>(2 * jobs.length);
  for (let k = 0; k < jobs.length; k++) {
    keys[2 * k] = jobs[k].submittedAt;
    keys[2 * k + 1] = jobs[k].seq;
  }
  return keys;
}

/** insertKey puts `job`'s keys at member index `at`. */
export function insertKey(keys: number[], at: number, job: SchedJob): void {
  if (2 * at === keys.length) keys.push(job.submittedAt, job.seq);
  else keys.splice(2 * at, 0, job.submittedAt, job.seq);
}

/** removeKey takes member index `at` out. */
export function removeKey(keys: number[], at: number): void {
  keys.splice(2 * at, 2);
}
