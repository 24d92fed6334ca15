/** Least in-flight upstream choice (ties: the one used longest ago, so equal load spreads round-robin). */
import type { Upstream } from '../../model/workloads.js';

const key = (u: Upstream) => `${u.jobId}@${u.host}:${u.port}`;

export class Balancer {
  private readonly inFlight = new Map<string, number>();
  private readonly lastPick = new Map<string, number>();
  private picks = 0;

  /** pick: the upstream with the fewest requests in flight, not one of `exclude` (null: none left). */
  pick(upstreams: readonly Upstream[], exclude: ReadonlySet<string> = new Set()): Upstream | null {
    let best: Upstream | null = null;
    let bestLoad = Number.POSITIVE_INFINITY;
    let bestLast = Number.POSITIVE_INFINITY;
    for (const u of upstreams) {
      const k = key(u);
      if (exclude.has(k)) continue;
      const load = this.inFlight.get(k) ?? 0;
      const last = this.lastPick.get(k) ?? -1;
      if (load < bestLoad || (load === bestLoad && last < bestLast)) [best, bestLoad, bestLast] = [u, load, last];
    }
    if (best) this.lastPick.set(key(best), ++this.picks);
    return best;
  }

  started(u: Upstream): void {
    this.inFlight.set(key(u), (this.inFlight.get(key(u)) ?? 0) + 1);
  }

  ended(u: Upstream): void {
    const n = (this.inFlight.get(key(u)) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(key(u));
    else this.inFlight.set(key(u), n);
  }

  static key = key;
}
