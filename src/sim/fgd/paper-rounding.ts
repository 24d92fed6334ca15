/**
 * The FGD authors' analysis rounds with Python's `round` (experiments/analysis of their simulator):
 * round half to even on the exact binary value. JavaScript's Math.round goes half up, and
 * `x * 100` can itself round, so the paper's bucketing is rebuilt here rather than approximated.
 */

/** pyRound0: Python's round(x): the nearest integer, an exact half to the even one. */
export function pyRound0(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d === 0.5) return f % 2 === 0 ? f : f + 1;
  return Math.round(x);
}

/**
 * pyRound2: Python's round(x, 2). A double is exactly halfway between two hundredths only when it is
 * an odd multiple of 1/8 (x = (2n+1)/200 with a power-of-two denominator); then half to even.
 * Otherwise the nearest hundredth of the exact value, which toFixed computes (exactly, per ECMA-262).
 */
export function pyRound2(x: number): number {
  const eighths = x * 8; // exact: a power of two
  if (Number.isInteger(eighths) && eighths % 2 !== 0) {
    const lo = Math.floor(x * 100);
    return (lo % 2 === 0 ? lo : lo + 1) / 100;
  }
  return Number(x.toFixed(2));
}

/**
 * PaperBuckets: the authors' per-run curve. Each sample is (arrived %, allocated %), both computed
 * as milli / GPUs / 10 as they do; arrived rounded to an integer bucket, allocated to 2 decimals; a
 * bucket's value is the mean of its samples rounded to 2 decimals, and a bucket without samples
 * takes the samples of the buckets within ±1 of it.
 */
export class PaperBuckets {
  private readonly sum: Float64Array;
  private readonly cnt: Int32Array;

  constructor(
    private readonly gpus: number,
    private readonly maxBucket: number,
  ) {
    this.sum = new Float64Array(maxBucket + 2);
    this.cnt = new Int32Array(maxBucket + 2);
  }

  /** bucketOf: the arrived % bucket of `arrivedMilli`. */
  bucketOf(arrivedMilli: number): number {
    return pyRound0(arrivedMilli / this.gpus / 10);
  }

  add(arrivedMilli: number, usedMilli: number): void {
    const k = this.bucketOf(arrivedMilli);
    if (k > this.maxBucket + 1) return;
    this.sum[k] += pyRound2(usedMilli / this.gpus / 10);
    this.cnt[k]++;
  }

  /** allocated: the bucket's allocated %, or null when no sample lies within ±1 of it. */
  allocated(k: number): number | null {
    if (this.cnt[k] > 0) return pyRound2(this.sum[k] / this.cnt[k]);
    let s = 0;
    let n = 0;
    for (let j = Math.max(0, k - 1); j <= Math.min(this.maxBucket + 1, k + 1); j++) {
      s += this.sum[j];
      n += this.cnt[j];
    }
    return n > 0 ? pyRound2(s / n) : null;
  }
}
