/**
 * OrgCountedMap: a Map of jobs that also keeps how many entries each organisation has, so a per-org
 * limit costs O(1) per submission instead of a scan of the queue.
 */
export class OrgCountedMap<V extends { org: string }> extends Map<string, V> {
  private readonly counts = new Map<string, number>();

  override set(key: string, value: V): this {
    const prior = super.get(key);
    if (prior) this.bump(prior.org, -1);
    this.bump(value.org, 1);
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    const prior = super.get(key);
    if (!prior) return false;
    this.bump(prior.org, -1);
    return super.delete(key);
  }

  override clear(): void {
    this.counts.clear();
    super.clear();
  }

  /** Organisations with entries. */
  orgs(): IterableIterator<string> {
    return this.counts.keys();
  }

  countOf(org: string): number {
    return this.counts.get(org) ?? 0;
  }

  private bump(org: string, by: number): void {
    const n = (this.counts.get(org) ?? 0) + by;
    if (n > 0) this.counts.set(org, n);
    else this.counts.delete(org);
  }
}
