/**
 * IndexSet: a set of small non-negative integers (dense positions 0..capacity-1) as a two-level
 * bitset. add/delete/has are O(1); first/next find the lowest member in O(capacity / 1024) word
 * reads, which is one or two reads for any realistic group of nodes. Iteration order is always
 * ascending, so whatever the history of deltas, the same members come out in the same order.
 */

/** ctz returns the index of the lowest set bit of a non-zero 32-bit word. */
function ctz(word: number): number {
  return 31 - Math.clz32(word & -word);
}

/** IndexSet is a bitset over 0..capacity-1 with a summary level (one bit per non-empty word). */
export class IndexSet {
  private readonly words: Uint32Array;
  private readonly summary: Uint32Array;
  private count = 0;

  constructor(readonly capacity: number) {
    const nWords = Math.max(1, Math.ceil(capacity / 32));
    this.words = new Uint32Array(nWords);
    this.summary = new Uint32Array(Math.max(1, Math.ceil(nWords / 32)));
  }

  /** size is the number of members. */
  get size(): number {
    return this.count;
  }

  has(i: number): boolean {
    return (this.words[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  /** add inserts i; returns false if it was already present. */
  add(i: number): boolean {
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    const before = this.words[w];
    if ((before & bit) !== 0) return false;
    this.words[w] = before | bit;
    if (before === 0) this.summary[w >>> 5] |= 1 << (w & 31);
    this.count++;
    return true;
  }

  /** delete removes i; returns false if it was absent. */
  delete(i: number): boolean {
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    const before = this.words[w];
    if ((before & bit) === 0) return false;
    const after = before & ~bit;
    this.words[w] = after;
    if (after === 0) this.summary[w >>> 5] &= ~(1 << (w & 31));
    this.count--;
    return true;
  }

  /** first returns the lowest member, or -1 when empty. */
  first(): number {
    return this.count === 0 ? -1 : this.next(-1);
  }

  /** next returns the lowest member greater than `after`, or -1. */
  next(after: number): number {
    const start = after + 1;
    if (start >= this.words.length * 32) return -1;
    let w = start >>> 5;
    const head = this.words[w] & (-1 << (start & 31));
    if (head !== 0) return (w << 5) + ctz(head);
    w++;
    let s = w >>> 5;
    if (s >= this.summary.length) return -1;
    let sWord = this.summary[s] & (-1 << (w & 31));
    for (;;) {
      if (sWord !== 0) {
        const wi = (s << 5) + ctz(sWord);
        return (wi << 5) + ctz(this.words[wi]);
      }
      s++;
      if (s >= this.summary.length) return -1;
      sWord = this.summary[s];
    }
  }
}
