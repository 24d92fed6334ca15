/**
 * TailMap: a Map whose first entries are stored when the cycle builds it and whose tail is computed
 * on demand. A cycle over 50,000 queued jobs then pays only for the head of per-job maps
 * (explanations, priority factors), while every job still has its entry when asked. A read of one
 * tail key (`job explain`, one console page) computes that entry alone, through a key -> index
 * lookup built once and shared by the maps over the same keys; iterating or counting inserts the
 * whole tail. Entries are computed from values captured at the end of the cycle (compute must depend
 * on nothing that changes later), so the map reads exactly as if it had been filled eagerly, in the
 * same insertion order, and an entry read before it is inserted is the same object afterwards.
 */
export class TailMap<V> extends Map<string, V> {
  private tail: { keys: Keys; from: number; compute: (i: number) => V } | undefined;
  /** Tail entries computed by single reads, reused when the tail is inserted. */
  private early: Map<string, V> | undefined;

  /**
   * fillLater registers keys[from..] to be inserted, in order, with compute(i) as key i's value,
   * once something reads beyond the entries set so far. Call once, after setting the head. `keys`
   * may be a function returning them (called on first need, always returning the same array), for
   * a cycle that does not know its order until someone reads it.
   */
  fillLater(keys: Keys, from: number, compute: (i: number) => V): void {
    if (typeof keys === 'function' || from < keys.length) this.tail = { keys, from, compute };
  }

  /** materialise inserts the tail (once). */
  private materialise(): void {
    const t = this.tail;
    if (!t) return;
    this.tail = undefined;
    const early = this.early;
    this.early = undefined;
    const keys = keysOf(t.keys);
    for (let i = t.from; i < keys.length; i++) {
      const key = keys[i];
      super.set(key, early?.get(key) ?? t.compute(i));
    }
  }

  override get(key: string): V | undefined {
    const v = super.get(key);
    if (v !== undefined || !this.tail) return v;
    if (super.has(key)) return v; // a head entry whose value is undefined
    const t = this.tail;
    const i = tailIndex(keysOf(t.keys), t.from).get(key);
    if (i === undefined || i < t.from) return undefined;
    this.early ??= new Map();
    let e = this.early.get(key);
    if (e === undefined) {
      e = t.compute(i);
      this.early.set(key, e);
    }
    return e;
  }

  override has(key: string): boolean {
    if (super.has(key)) return true;
    const t = this.tail;
    const i = t === undefined ? undefined : tailIndex(keysOf(t.keys), t.from).get(key);
    return t !== undefined && i !== undefined && i >= t.from;
  }

  override get size(): number {
    this.materialise();
    return super.size;
  }

  override set(key: string, value: V): this {
    this.materialise();
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    this.materialise();
    return super.delete(key);
  }

  override clear(): void {
    this.tail = undefined;
    super.clear();
  }

  override forEach(fn: (value: V, key: string, map: Map<string, V>) => void, thisArg?: unknown): void {
    this.materialise();
    super.forEach(fn, thisArg);
  }

  override entries(): MapIterator<[string, V]> {
    this.materialise();
    return super.entries();
  }

  override keys(): MapIterator<string> {
    this.materialise();
    return super.keys();
  }

  override values(): MapIterator<V> {
    this.materialise();
    return super.values();
  }

  override [Symbol.iterator](): MapIterator<[string, V]> {
    this.materialise();
    return super[Symbol.iterator]();
  }
}

/** Keys: the tail's keys, or a function that returns them (the same array on every call). */
type Keys = readonly string[] | (() => readonly string[]);

function keysOf(keys: Keys): readonly string[] {
  return typeof keys === 'function' ? keys() : keys;
}

/** Key -> last index of keys[from..], per keys array (one cycle's explain and priorities share it). */
const indexes = new WeakMap<readonly string[], { from: number; index: Map<string, number> }>();

function tailIndex(keys: readonly string[], from: number): Map<string, number> {
  const known = indexes.get(keys);
  if (known && known.from <= from) return known.index;
  const index = new Map<string, number>();
  // A key repeated in the tail keeps its last index: eager insertion would keep its last value.
  for (let i = from; i < keys.length; i++) index.set(keys[i], i);
  indexes.set(keys, { from, index });
  return index;
}
