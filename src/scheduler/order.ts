/**
 * Queue ordering in linear time. A comparator sort of 50,000 jobs costs ~800,000 comparator calls
 * per cycle; this module sorts by the same key (score descending, then seq ascending, then id) with
 * an LSD radix sort over the IEEE-754 bits of score and seq, and sorts only runs of exact ties by id.
 * The result is the unique order that comparator defines, so callers get identical decisions.
 */

/** Below this length a comparator sort is cheaper than radix passes. */
const RADIX_MIN = 512;
/** Digits of a 64-bit key (hi, lo words): 11, 11 and 10 bits of each word, low first; 2,048 buckets stay in L1. */
const DIGITS: readonly { hi: boolean; shift: number; mask: number }[] = [
  { hi: false, shift: 0, mask: 0x7ff },
  { hi: false, shift: 11, mask: 0x7ff },
  { hi: false, shift: 22, mask: 0x3ff },
  { hi: true, shift: 0, mask: 0x7ff },
  { hi: true, shift: 11, mask: 0x7ff },
  { hi: true, shift: 22, mask: 0x3ff },
];

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** Index of the high 32-bit word of a float64 in u32 (platform endianness). */
const HI = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

/**
 * sortableBits writes, for each x, two words (hi, lo) whose unsigned order is x's numeric order
 * (ascending): negative numbers have every bit flipped, others only the sign bit. -0 counts as 0.
 */
function sortableBits(xs: Float64Array, hi: Uint32Array, lo: Uint32Array): void {
  for (let i = 0; i < xs.length; i++) {
    f64[0] = xs[i] === 0 ? 0 : xs[i];
    const h = u32[HI];
    const l = u32[LO];
    if (h >>> 31 === 1) {
      hi[i] = ~h >>> 0;
      lo[i] = ~l >>> 0;
    } else {
      hi[i] = (h | 0x80000000) >>> 0;
      lo[i] = l;
    }
  }
}

/** radixPass stably sorts `from` into `to` by one digit of (hi, lo); false (nothing written) if all are equal. */
function radixPass(
  from: Uint32Array,
  to: Uint32Array,
  hi: Uint32Array,
  lo: Uint32Array,
  digit: { hi: boolean; shift: number; mask: number },
  counts: Uint32Array,
): boolean {
  const words = digit.hi ? hi : lo;
  const { shift, mask } = digit;
  const n = from.length;
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[(words[from[i]] >>> shift) & mask]++;
  // One bucket holding everything: this digit does not reorder; skip the scatter.
  if (counts[(words[from[0]] >>> shift) & mask] === n) return false;
  let sum = 0;
  for (let b = 0; b <= mask; b++) {
    const c = counts[b];
    counts[b] = sum;
    sum += c;
  }
  for (let i = 0; i < n; i++) {
    const k = from[i];
    to[counts[(words[k] >>> shift) & mask]++] = k;
  }
  return true;
}

const compareIds = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * orderIndexes returns 0..n-1 ordered by scores descending, then seqs ascending, then ids ascending:
 * exactly `idx.sort((a, b) => scores[b] - scores[a] || seqs[a] - seqs[b] || compareIds(ids[a], ids[b]))`
 * for non-NaN inputs, in O(n) (plus a sort of each run of equal score and seq).
 */
export function orderIndexes(scores: Float64Array, seqs: Float64Array, ids: readonly string[]): Uint32Array {
  const n = scores.length;
  let idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  if (n < RADIX_MIN) {
    return idx.sort((a, b) => scores[b] - scores[a] || seqs[a] - seqs[b] || compareIds(ids[a], ids[b]));
  }
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const counts = new Uint32Array(2048);
  let tmp = new Uint32Array(n);
  // LSD: least significant key first (seq ascending), then score descending (sort -score ascending).
  // A queue usually arrives in submission order: then it is already sorted by seq.
  let bySeq = true;
  for (let i = 1; i < n && bySeq; i++) bySeq = seqs[i - 1] <= seqs[i];
  const negated = new Float64Array(n);
  for (let i = 0; i < n; i++) negated[i] = -scores[i];
  for (const key of bySeq ? [negated] : [seqs, negated]) {
    sortableBits(key, hi, lo);
    for (const digit of DIGITS) {
      if (radixPass(idx, tmp, hi, lo, digit, counts)) [idx, tmp] = [tmp, idx];
    }
  }
  // Equal score and seq: order by id (rare: seqs are normally unique).
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && scores[idx[i]] === scores[idx[start]] && seqs[idx[i]] === seqs[idx[start]]) continue;
    if (i - start > 1) idx.subarray(start, i).sort((a, b) => compareIds(ids[a], ids[b]));
    start = i;
  }
  return idx;
}
