/**
 * Endings: backfill's plan order (running jobs in order of expected end, then id) as parallel
 * arrays instead of an object per running job. At 102,400 GPUs a GPU type has ≈ 2,000 running jobs
 * and the list is built every cycle: one object each, a map of every running id and a comparator
 * sort over objects were ≈ 5 % of a cycle. Here a job is its position in `running` (its fields are
 * read there and in its view when a plan needs them), and the order comes from one native numeric
 * sort of (end rank, id prefix, index) keys; only ids equal over their prefix are compared as strings.
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
  readonly ref: readonly number[];
  readonly end: readonly number[];
  readonly started: readonly Ending[];
}

const NO_STARTS: readonly Ending[] = [];

// Scratch for one call (overwritten before it is read; grown, never shrunk): typed arrays cost an
// off-heap allocation each, more than the sort they serve at these sizes.
let marks = new Uint32Array(0);
let stamps = new Uint32Array(0);
let generation = 0;
let keyBuf: Float64Array = new Float64Array(0);
let distinctBuf: Float64Array = new Float64Array(0);
let prefixBuf: Float64Array = new Float64Array(0);

function grown(buf: Float64Array, m: number): Float64Array {
  return buf.length >= m ? buf : new Float64Array(Math.max(m, 2 * buf.length));
}

/**
 * sortedEndings: the running jobs holding GPUs of `gpuType` that have an expected end
 * (startedAt + maxRuntimeSeconds, or now while evicting; never before now), in order of end, then
 * id. `nodeCount`: the fleet's nodes (views' node indexes are below it).
 */
export function sortedEndings(
  running: readonly RunningJobInfo[],
  views: RunningViews,
  gpuType: GpuType,
  now: number,
  nodeCount: number,
): Endings {
  const of = views.ofType(gpuType);
  const positions = repeatsNone(of, views, nodeCount) ? of : lastCopies(of, views);
  const pos: number[] = [];
  const ends: number[] = [];
  for (const at of positions) {
    const r = running[at];
    if (r.maxRuntimeSeconds === undefined && !r.evicting) continue;
    const end = r.evicting ? now : r.startedAt + (r.maxRuntimeSeconds ?? 0) * 1000;
    pos.push(at);
    ends.push(Math.max(now, end));
  }
  const order = orderByEnd(running, pos, ends);
  const m = order.length;
  const ref = new Array<number>(m);
  const end = new Array<number>(m);
  for (let k = 0; k < m; k++) {
    ref[k] = pos[order[k]];
    end[k] = ends[order[k]];
  }
  return { ref, end, started: NO_STARTS };
}

/**
 * repeatsNone: no view in `of` is listed twice. Distinct allocation records never share a whole
 * GPU (views are read at one instant), so a GPU met twice means a repeated record; shares hold no
 * whole GPU and are not told apart this way (then false: lastCopies decides).
 */
function repeatsNone(of: readonly number[], views: RunningViews, nodeCount: number): boolean {
  if (marks.length < nodeCount) {
    marks = new Uint32Array(nodeCount);
    stamps = new Uint32Array(nodeCount);
  }
  // A node's mark counts only when stamped with this call's generation: no clearing pass.
  if (generation === 0xffffffff) {
    stamps.fill(0);
    generation = 0;
  }
  const gen = ++generation;
  for (let k = 0; k < of.length; k++) {
    const { nodeIdx, masks } = views.at(of[k]) as AllocationView;
    for (let j = 0; j < nodeIdx.length; j++) {
      const i = nodeIdx[j];
      if (masks[j] === 0) return false;
      if (stamps[i] !== gen) {
        stamps[i] = gen;
        marks[i] = masks[j];
      } else if ((marks[i] & masks[j]) !== 0) return false;
      else marks[i] |= masks[j];
    }
  }
  return true;
}

/** lastCopies: the positions of `of` (ascending) but for earlier copies of a repeated view. */
function lastCopies(of: readonly number[], views: RunningViews): number[] {
  const seen = new Set<AllocationView>();
  const out: number[] = [];
  for (let k = of.length - 1; k >= 0; k--) {
    const view = views.at(of[k]) as AllocationView;
    if (seen.has(view)) continue;
    seen.add(view);
    out.push(of[k]);
  }
  return out.reverse();
}

/** orderByEnd: the candidate indexes sorted by (ends[k], running[pos[k]].id). */
function orderByEnd(running: readonly RunningJobInfo[], pos: readonly number[], ends: readonly number[]): number[] {
  const m = ends.length;
  const ids = new Array<string>(m);
  for (let k = 0; k < m; k++) ids[k] = running[pos[k]].id;
  const byId = (a: number, b: number) => compareIds(ids[a], ids[b]);
  const order = new Array<number>(m);
  if (m === 0) return order;
  // Ends by rank among the distinct ends (NaN has none: the comparator then, as before).
  distinctBuf = grown(distinctBuf, m);
  const distinct = distinctBuf.subarray(0, m);
  for (let k = 0; k < m; k++) distinct[k] = ends[k];
  distinct.sort();
  let e = 0;
  for (let k = 0; k < m; k++) if (k === 0 || distinct[k] !== distinct[e - 1]) distinct[e++] = distinct[k];
  if (Number.isNaN(distinct[e - 1])) {
    for (let k = 0; k < m; k++) order[k] = k;
    return order.sort((a, b) => ends[a] - ends[b] || byId(a, b));
  }
  const width = idPrefixKeys(ids, e * m);
  const prefix = prefixBuf;
  // Key (end rank, id prefix key, k): below e * width * m <= 2^53, so exact; one native numeric
  // sort orders by end, then id, but for ids equal over the prefix key (then k: the runs below).
  keyBuf = grown(keyBuf, m);
  const keys = keyBuf.subarray(0, m);
  for (let k = 0; k < m; k++) keys[k] = (rankOf(distinct, e, ends[k]) * width + prefix[k]) * m + k;
  keys.sort();
  for (let k = 0; k < m; k++) order[k] = keys[k] % m;
  let s = 0;
  while (s < m) {
    const group = keys[s] - order[s];
    let t = s + 1;
    while (t < m && keys[t] - order[t] === group) t++;
    if (t - s > 1) {
      const run = order.slice(s, t).sort(byId);
      for (let c = s; c < t; c++) order[c] = run[c - s];
    }
    s = t;
  }
  return order;
}

/** rankOf: the position of `x` in the first `n` (sorted, distinct) values of `sorted`. */
function rankOf(sorted: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * idPrefixKeys writes to prefixBuf, per id, a number ordered as the ids are over their first
 * characters past the prefix all share (each character as its code + 1, 0 past the end: a shorter
 * id sorts first, as strings compare), as many characters as keep span * room <= 2^53; returns the
 * span (keys are below it). Equal keys: compare the ids.
 */
function idPrefixKeys(ids: readonly string[], room: number): number {
  const m = ids.length;
  prefixBuf = grown(prefixBuf, m);
  const key = prefixBuf;
  const first = ids[0];
  let common = first.length;
  for (let k = 1; k < m && common > 0; k++) {
    const id = ids[k];
    let i = 0;
    while (i < common && i < id.length && id.charCodeAt(i) === first.charCodeAt(i)) i++;
    common = i;
  }
  let chars = 0;
  let span = 1;
  while (chars < 6 && span * 257 * room <= 2 ** 53) {
    span *= 257;
    chars++;
  }
  for (let k = 0; k < m; k++) {
    const id = ids[k];
    let v = 0;
    for (let i = common; i < common + chars; i++) {
      const c = i < id.length ? id.charCodeAt(i) + 1 : 0;
      if (c > 256) {
        // A character past one byte: no prefix keys (every tie goes to the id comparison).
        key.fill(0, 0, m);
        return 1;
      }
      v = v * 257 + c;
    }
    key[k] = v;
  }
  return span;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
