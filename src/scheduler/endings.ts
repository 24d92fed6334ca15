/**
 * Endings: backfill's plan order (running jobs in order of expected end, then id) as parallel
 * arrays instead of an object per running job. At 102,400 GPUs a GPU type has ≈ 3,000 running jobs
 * and the list is built every cycle: one object each and a comparator sort over objects were ≈ 6 %
 * of a cycle. Here a job is its position in `running` (its fields are read there and in its view
 * when a plan needs them), and the sort is a numeric sort of (end, position) keys, with only the
 * runs of equal ends compared by id.
 *
 * Exactness: the order is the one `byEnd` (end, then id as strings compare) gives. A running id
 * listed twice counts once, at its last position, as Backfill's map from id to position did (both
 * copies share the one allocation record the cluster holds for the id, hence the one view).
 */
import type { GpuType } from '../model/fleet.js';
import type { Placement } from '../model/job.js';
import type { AllocationView } from './cluster-model.js';
import type { RunningViews } from './running-views.js';
import type { RunningJobInfo } from './types.js';

/** Ending: a start of this cycle, expected to end at `end`. */
export interface Ending {
  readonly id: string;
  readonly org: string;
  readonly placement: Placement;
  readonly end: number;
  readonly preemptible: boolean;
}

/**
 * Endings: in plan order, `ref[k]` is a position in `running` (>= 0) or `~j` for `started[j]`, and
 * `end[k]` its expected end.
 */
export interface Endings {
  readonly ref: Int32Array;
  readonly end: Float64Array;
  readonly started: readonly Ending[];
}

const NO_STARTS: readonly Ending[] = [];

/**
 * sortedEndings: the running jobs holding GPUs of `gpuType` that have an expected end
 * (startedAt + maxRuntimeSeconds, or now while evicting; never before now), in order of end, then id.
 */
export function sortedEndings(running: readonly RunningJobInfo[], views: RunningViews, gpuType: GpuType, now: number): Endings {
  const of = views.ofType(gpuType);
  const pos: number[] = [];
  const ends: number[] = [];
  let seen: Set<AllocationView> | undefined;
  // Last position first, so a repeated id keeps its last copy (see the module comment).
  for (let k = of.length - 1; k >= 0; k--) {
    const at = of[k];
    const view = views.at(at) as AllocationView;
    seen ??= new Set();
    if (seen.has(view)) continue;
    seen.add(view);
    const r = running[at];
    if (r.maxRuntimeSeconds === undefined && !r.evicting) continue;
    const end = r.evicting ? now : r.startedAt + (r.maxRuntimeSeconds ?? 0) * 1000;
    pos.push(at);
    ends.push(Math.max(now, end));
  }
  // Ascending positions: the order the map from id to position listed them in (the sort's input).
  pos.reverse();
  ends.reverse();
  const order = orderByEnd(running, pos, ends, now);
  const m = order.length;
  const ref = new Int32Array(m);
  const end = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    ref[k] = pos[order[k]];
    end[k] = ends[order[k]];
  }
  return { ref, end, started: NO_STARTS };
}

/** orderByEnd: the candidate indexes sorted by (ends[k], running[pos[k]].id). */
function orderByEnd(
  running: readonly RunningJobInfo[],
  pos: readonly number[],
  ends: readonly number[],
  now: number,
): ArrayLike<number> {
  const m = ends.length;
  const idOf = (k: number) => running[pos[k]].id;
  let keyed = Number.isSafeInteger(now);
  let maxD = 0;
  for (let k = 0; keyed && k < m; k++) {
    if (!Number.isSafeInteger(ends[k])) keyed = false;
    else if (ends[k] - now > maxD) maxD = ends[k] - now;
  }
  if (!keyed || maxD > Math.floor(Number.MAX_SAFE_INTEGER / (m + 1)) - 1) {
    // Not integers, or too far apart for a key: the comparator, over the same input order.
    const idx = Array.from({ length: m }, (_, k) => k);
    return idx.sort((a, b) => ends[a] - ends[b] || compareIds(idOf(a), idOf(b)));
  }
  // Key (end - now) * m + k: integers below 2^53, so exact, and one native numeric sort orders by
  // end (then k, which the runs of equal ends below replace by id).
  const keys = new Float64Array(m);
  for (let k = 0; k < m; k++) keys[k] = (ends[k] - now) * m + k;
  keys.sort();
  const order = new Int32Array(m);
  for (let k = 0; k < m; k++) order[k] = keys[k] % m;
  let s = 0;
  while (s < m) {
    const d = ends[order[s]];
    let e = s + 1;
    while (e < m && ends[order[e]] === d) e++;
    if (e - s > 1) {
      const run = Array.from(order.subarray(s, e)).sort((a, b) => compareIds(idOf(a), idOf(b)));
      order.set(run, s);
    }
    s = e;
  }
  return order;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
