/**
 * The billed parts of one reserved GPU type, kept for the invoice's sweeps over time: the cover of
 * the organisation's own usage (invoice-lines.ts) and the credit for capacity lent to others.
 */

/**
 * The billed parts of a reserved type's usage, in typed arrays (24 bytes a part): part i is
 * [starts[i], ends[i]) at milli[i] milli-GPUs on line keys[key[i]] (null: unpriced time).
 */
export class ReservedParts {
  n = 0;
  starts = new Float64Array(1024);
  ends = new Float64Array(1024);
  milli = new Int32Array(1024);
  key = new Int32Array(1024);
  readonly keys: (string | null)[] = [];
  private readonly keyIndex = new Map<string | null, number>();

  push(start: number, end: number, milli: number, k: string | null): void {
    if (end <= start || milli <= 0) return;
    if (this.n === this.starts.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      const size = this.n * 2;
      this.starts = grow(this.starts, new Float64Array(size));
      this.ends = grow(this.ends, new Float64Array(size));
      this.milli = grow(this.milli, new Int32Array(size));
      this.key = grow(this.key, new Int32Array(size));
    }
    let i = this.keyIndex.get(k);
    if (i === undefined) {
      i = this.keys.length;
      this.keys.push(k);
      this.keyIndex.set(k, i);
    }
    this.starts[this.n] = start;
    this.ends[this.n] = end;
    this.milli[this.n] = milli;
    this.key[this.n] = i;
    this.n += 1;
  }
}

/**
 * lentCredit: sweeps a reserved type's own and lent parts together; between two boundaries the lent
 * GPUs in progress are credited up to the commitment's idle GPUs (`gpus` less the own usage in
 * progress). Returns the credited milli-GPU × ms per credit price key (null keys: no credit price).
 */
export function lentCredit(own: ReservedParts | undefined, lent: ReservedParts | undefined, gpus: number): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (!own || !lent || lent.n === 0) return out;
  // Boundaries of both sets as one index space: [own starts | own ends | lent starts | lent ends].
  const n1 = own.n;
  const n2 = lent.n;
  const at = (i: number): number =>
    i < n1
      ? own.starts[i]!
      : i < 2 * n1
        ? own.ends[i - n1]!
        : i < 2 * n1 + n2
          ? lent.starts[i - 2 * n1]!
          : lent.ends[i - 2 * n1 - n2]!;
  const order = new Uint32Array(2 * (n1 + n2));
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((x, y) => at(x) - at(y));
  // Keys in a fixed order (one is in effect at any instant: all lent parts then share its price).
  const keys = lent.keys.map((_, i) => i).sort((x, y) => String(lent.keys[x]).localeCompare(String(lent.keys[y])));
  const active = new Float64Array(lent.keys.length);
  const credited: bigint[] = lent.keys.map(() => 0n);
  const cap = gpus * 1000;
  let ownActive = 0;
  for (let j = 0; j < order.length; ) {
    const t = at(order[j]!);
    for (; j < order.length && at(order[j]!) === t; j++) {
      const i = order[j]!;
      if (i < n1) ownActive += own.milli[i]!;
      else if (i < 2 * n1) ownActive -= own.milli[i - n1]!;
      else if (i < 2 * n1 + n2) active[lent.key[i - 2 * n1]!]! += lent.milli[i - 2 * n1]!;
      else active[lent.key[i - 2 * n1 - n2]!]! -= lent.milli[i - 2 * n1 - n2]!;
    }
    if (j === order.length) break;
    const dt = at(order[j]!) - t;
    let left = Math.max(0, cap - ownActive);
    for (const k of keys) {
      if (left <= 0) break;
      const take = Math.min(left, active[k]!);
      if (take <= 0 || lent.keys[k] === null) continue;
      left -= take;
      credited[k] = credited[k]! + BigInt(take) * BigInt(dt);
    }
  }
  lent.keys.forEach((k, i) => {
    if (k !== null && credited[i]! > 0n) out.set(k, credited[i]!);
  });
  return out;
}
