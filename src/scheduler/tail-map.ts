/**
 * TailMap: a Map whose first entries are stored when the cycle builds it and whose tail is computed
 * the first time anyone reads past the head. A cycle over 50,000 queued jobs then pays only for the
 * head of per-job maps (explanations, priority factors), while every job still has its entry when
 * asked. The tail is computed from values captured at the end of the cycle (compute must depend on
 * nothing that changes later), so the map reads exactly as if it had been filled eagerly, in the
 * same insertion order.
 */
export class TailMap<V> extends Map<string, V> {
  private tail: { keys: readonly string[]; from: number; compute: (i: number) => V } | undefined;

  /**
   * fillLater registers keys[from..] to be inserted, in order, with compute(i) as key i's value,
   * once something reads beyond the entries set so far. Call once, after setting the head.
   */
  fillLater(keys: readonly string[], from: number, compute: (i: number) => V): void {
    if (from < keys.length) this.tail = { keys, from, compute };
  }

  /** materialise inserts the tail (once). */
  private materialise(): void {
    const t = this.tail;
    if (!t) return;
    this.tail = undefined;
    for (let i = t.from; i < t.keys.length; i++) super.set(t.keys[i], t.compute(i));
  }

  override get(key: string): V | undefined {
    const v = super.get(key);
    if (v !== undefined || !this.tail) return v;
    this.materialise();
    return super.get(key);
  }

  override has(key: string): boolean {
    if (super.has(key)) return true;
    this.materialise();
    return super.has(key);
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
