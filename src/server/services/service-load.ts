/**
 * ServiceLoad: what the proxy tells about a service's traffic — requests in flight per replica,
 * requests held in the cold-start queue, the last request's time — and the request statistics
 * `gigafab service show` and /metrics report (requests, errors, latency percentiles over a window).
 * In memory: a restart starts from no traffic, which the autoscaler reads as "keep the minimum".
 */
import type { LoadObservation } from '../../model/service.js';

/** Latencies kept per service for the percentiles (the newest; older ones drop out). */
const LATENCY_SAMPLES = 2048;
/** Requests per second are counted over this window. */
const RATE_WINDOW_MS = 10_000;
/** Request times kept before the old ones are dropped (a busy service, nobody reading its stats). */
const RECENT_PRUNE_AT = 4096;

export interface ServiceStats {
  requests: number;
  errors: number;
  requestsPerSecond: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  inFlight: number;
  queued: number;
}

interface PerService {
  inFlight: Map<string, number>;
  queued: number;
  lastRequestAt: number | null;
  requests: number;
  errors: number;
  latencies: number[];
  recent: number[];
  /** recent's length at which the times outside the window are dropped. */
  pruneAt: number;
}

export class ServiceLoad {
  private readonly services = new Map<string, PerService>();
  constructor(private readonly now: () => number) {}

  private of(service: string): PerService {
    let s = this.services.get(service);
    if (!s) {
      s = {
        inFlight: new Map(),
        queued: 0,
        lastRequestAt: null,
        requests: 0,
        errors: 0,
        latencies: [],
        recent: [],
        pruneAt: RECENT_PRUNE_AT,
      };
      this.services.set(service, s);
    }
    return s;
  }

  /** requestStarted: a request went to `replica` (a job id). */
  requestStarted(service: string, replica: string): void {
    const s = this.of(service);
    const at = this.now();
    s.inFlight.set(replica, (s.inFlight.get(replica) ?? 0) + 1);
    s.lastRequestAt = at;
    s.recent.push(at);
    // Bounded without a stats() call: the times outside the window go now and then, not per request.
    // (amortised: the next pass waits until the list has doubled again).
    if (s.recent.length >= s.pruneAt) {
      s.recent = s.recent.filter((t) => t > at - RATE_WINDOW_MS);
      s.pruneAt = Math.max(RECENT_PRUNE_AT, 2 * s.recent.length);
    }
  }

  /** requestEnded: that request ended, after `latencyMs`, as an error (5xx or no answer) or not. */
  requestEnded(service: string, replica: string, latencyMs: number, error: boolean): void {
    const s = this.of(service);
    const n = (s.inFlight.get(replica) ?? 1) - 1;
    if (n > 0) s.inFlight.set(replica, n);
    else s.inFlight.delete(replica);
    s.requests++;
    if (error) s.errors++;
    // A ring of the newest LATENCY_SAMPLES (the percentiles sort a copy; order does not matter).
    if (s.latencies.length < LATENCY_SAMPLES) s.latencies.push(latencyMs);
    else s.latencies[s.requests % LATENCY_SAMPLES] = latencyMs;
  }

  /** queuedChanged: a request entered (+1) or left (-1) the cold-start queue. */
  queuedChanged(service: string, delta: number): void {
    const s = this.of(service);
    s.queued = Math.max(0, s.queued + delta);
    if (delta > 0) s.lastRequestAt = this.now();
  }

  inFlightOf(service: string, replica: string): number {
    return this.services.get(service)?.inFlight.get(replica) ?? 0;
  }

  observe(service: string): LoadObservation {
    const s = this.services.get(service);
    if (!s) return { inFlight: 0, queued: 0, lastRequestAt: null };
    let inFlight = 0;
    for (const n of s.inFlight.values()) inFlight += n;
    return { inFlight, queued: s.queued, lastRequestAt: s.lastRequestAt };
  }

  stats(service: string): ServiceStats {
    const s = this.services.get(service);
    const load = this.observe(service);
    if (!s) return { requests: 0, errors: 0, requestsPerSecond: 0, latencyP50Ms: null, latencyP99Ms: null, ...load };
    const since = this.now() - RATE_WINDOW_MS;
    s.recent = s.recent.filter((t) => t > since);
    const sorted = [...s.latencies].sort((a, b) => a - b);
    const pct = (q: number) =>
      sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null) : null;
    return {
      requests: s.requests,
      errors: s.errors,
      requestsPerSecond: s.recent.length / (RATE_WINDOW_MS / 1000),
      latencyP50Ms: pct(0.5),
      latencyP99Ms: pct(0.99),
      inFlight: load.inFlight,
      queued: load.queued,
    };
  }

  forget(service: string): void {
    this.services.delete(service);
  }
}
