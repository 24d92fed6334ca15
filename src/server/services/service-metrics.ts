/**
 * Service metrics in /metrics, per organisation and project (not per service: the label sets stay
 * bounded by the tenancy, however many services a project makes). Computed at scrape time from
 * the replica loop's view and the proxy's counters (service-load.ts); per-service figures are in
 * `GET /v1/services/{id}` (`traffic`) and `gigafab service show`.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ServiceStats } from './service-load.js';

export interface ServiceMetricsView {
  /** The live services with their owner and what they are doing now. */
  services(): { org: string; project: string; stats: ServiceStats; desired: number; ready: number; replicas: number }[];
}

const labelNames = ['org', 'project'] as const;

export function registerServiceMetrics(registry: Registry, view: ServiceMetricsView): void {
  const gauge = (name: string, help: string, pick: (s: ReturnType<ServiceMetricsView['services']>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        const sums = new Map<string, { org: string; project: string; v: number }>();
        for (const s of view.services()) {
          const k = `${s.org}\u0000${s.project}`;
          const cur = sums.get(k) ?? { org: s.org, project: s.project, v: 0 };
          cur.v += pick(s);
          sums.set(k, cur);
        }
        for (const { org, project, v } of sums.values()) this.set({ org, project }, v);
      },
    });
  gauge('gigafab_service_requests', 'Requests proxied to services since the control plane started', (s) => s.stats.requests);
  gauge('gigafab_service_errors', 'Proxied service requests answered 5xx or not at all', (s) => s.stats.errors);
  gauge(
    'gigafab_service_requests_per_second',
    'Service requests per second over the last 10 s',
    (s) => s.stats.requestsPerSecond,
  );
  gauge('gigafab_service_in_flight', 'Service requests in flight', (s) => s.stats.inFlight);
  gauge('gigafab_service_cold_start_queued', 'Service requests held in a cold-start queue', (s) => s.stats.queued);
  gauge('gigafab_service_replicas_desired', 'Replicas the services want', (s) => s.desired);
  gauge('gigafab_service_replicas_ready', 'Ready replicas', (s) => s.ready);
  // The slowest service of the project: a sum of percentiles would mean nothing.
  const worst = (pick: (s: ServiceStats) => number | null) =>
    function collect(this: Gauge<'org' | 'project'>) {
      this.reset();
      const max = new Map<string, { org: string; project: string; v: number }>();
      for (const s of view.services()) {
        const v = pick(s.stats);
        if (v === null) continue;
        const k = `${s.org}\u0000${s.project}`;
        const cur = max.get(k);
        if (!cur || v > cur.v) max.set(k, { org: s.org, project: s.project, v });
      }
      for (const { org, project, v } of max.values()) this.set({ org, project }, v / 1000);
    };
  new Gauge({
    name: 'gigafab_service_latency_p50_seconds',
    help: 'Median latency of proxied requests (the slowest service of the project)',
    labelNames,
    registers: [registry],
    collect: worst((s) => s.latencyP50Ms),
  });
  new Gauge({
    name: 'gigafab_service_latency_p99_seconds',
    help: '99th percentile latency of proxied requests (the slowest service of the project)',
    labelNames,
    registers: [registry],
    collect: worst((s) => s.latencyP99Ms),
  });
}
