/** Prometheus metrics served at /metrics. Gauges are computed at scrape time from live state. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../store/open-store.js';
import { registerEnergyMetrics, registerTenantEnergyMetrics } from './energy-metrics.js';
import { ProjectLabels, type ProjectLiveView, type ProjectMetrics, registerProjectMetrics } from './project-metrics.js';

export interface Metrics {
  registry: Registry;
  /** The scheduler's decision alone (scheduleCycle, pure). */
  cycleSeconds: Histogram;
  /** A whole cycle that placed or preempted: the decision plus its store commit and driver hand-over. */
  cycleTotalSeconds: Histogram;
  /** The number of the newest scheduling cycle (what explanations and pending reasons cite). */
  cycleNumber: Gauge;
  jobsSubmitted: Counter;
  jobsStarted: Counter;
  jobsFinished: Counter<'state'>;
  preemptions: Counter;
  /** Per-project series (project-metrics.ts): the cycle reports its starts' waits here. */
  projects: ProjectMetrics;
}

export interface LiveView {
  queueLength(): number;
  runningCount(): number;
  gpuTotals(): { site: string; gpuType: string; total: number; allocated: number; free: number }[];
  /** Running and queued jobs with their owners, for the per-project series; absent: none. */
  projects?: ProjectLiveView;
}

export function createMetrics(
  view: () => LiveView | null,
  opts: { store?: () => Store | null; maxProjectLabelSets?: number } = {},
): Metrics {
  const registry = new Registry();
  // One cap for every per-project series: a pair has the same labels (or `other`) in all of them.
  const projectLabels = new ProjectLabels(opts.maxProjectLabelSets ?? 500);
  // The process's own: CPU, memory, heap, event-loop lag, GC, handles (process_* and nodejs_*).
  collectDefaultMetrics({ register: registry });
  const m: Metrics = {
    registry,
    cycleSeconds: new Histogram({
      name: 'gigafab_scheduler_cycle_seconds',
      help: 'Duration of one scheduling cycle',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    cycleTotalSeconds: new Histogram({
      name: 'gigafab_scheduler_cycle_total_seconds',
      help: 'Duration of one scheduling cycle that changed something: decision, store commit and driver hand-over',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    cycleNumber: new Gauge({
      name: 'gigafab_scheduler_cycle_number',
      help: 'Number of the newest scheduling cycle of this scheduler process (starts again at 1 after a restart); explanations and pending reasons cite it',
      registers: [registry],
    }),
    jobsSubmitted: new Counter({
      name: 'gigafab_jobs_submitted_total',
      help: 'Jobs accepted',
      registers: [registry],
    }),
    jobsStarted: new Counter({
      name: 'gigafab_jobs_started_total',
      help: 'Jobs started',
      registers: [registry],
    }),
    jobsFinished: new Counter({
      name: 'gigafab_jobs_finished_total',
      help: 'Jobs that reached a terminal state',
      labelNames: ['state'],
      registers: [registry],
    }),
    preemptions: new Counter({
      name: 'gigafab_preemptions_total',
      help: 'Running jobs told to stop to make room',
      registers: [registry],
    }),
    projects: registerProjectMetrics(registry, {
      view: () => view()?.projects ?? null,
      store: opts.store ?? (() => null),
      maxLabelSets: projectLabels.max,
      labels: projectLabels,
    }),
  };
  new Gauge({
    name: 'gigafab_queue_length',
    help: 'Jobs waiting to be scheduled',
    registers: [registry],
    collect() {
      this.set(view()?.queueLength() ?? 0);
    },
  });
  new Gauge({
    name: 'gigafab_jobs_running',
    help: 'Jobs running',
    registers: [registry],
    collect() {
      this.set(view()?.runningCount() ?? 0);
    },
  });
  const labelNames = ['site', 'gpu_type'] as const;
  for (const [name, key] of [
    ['gigafab_gpus_total', 'total'],
    ['gigafab_gpus_allocated', 'allocated'],
    ['gigafab_gpus_free', 'free'],
  ] as const) {
    new Gauge({
      name,
      help: `GPUs ${key} per site and GPU type`,
      labelNames,
      registers: [registry],
      collect() {
        for (const t of view()?.gpuTotals() ?? []) this.set({ site: t.site, gpu_type: t.gpuType }, t[key]);
      },
    });
  }
  registerEnergyMetrics(registry, view);
  registerTenantEnergyMetrics(registry, { store: opts.store ?? (() => null), labels: projectLabels });
  return m;
}
