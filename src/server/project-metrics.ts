/**
 * Per-project metrics at /metrics, labelled `org` and `project`: GPUs allocated and jobs queued now
 * (from the live scheduling state), GPU-seconds run (a counter from the metered usage: the daily
 * rollup of closed segments plus the open ones up to the scrape, metered-totals.ts, so it is the
 * figure GET /v1/usage adds up and survives restarts), and the wait from submission to a job's first start (a histogram,
 * observed as the cycle commits the start).
 *
 * Cardinality is bounded: at most `maxLabelSets` (org, project) pairs get their own series; a pair
 * keeps its series once it has one (counters stay monotonic), and every later pair is added into
 * the series `org="other",project="other"`. The cap is `metrics.maxProjectLabelSets` in the limits
 * file (limits.ts; default 500).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Store } from '../store/open-store.js';
import { MeteredTotals } from './metered-totals.js';

export const OTHER = 'other';

export interface ProjectLiveView {
  /** Running jobs with their owner and GPUs (GPU-equivalents). */
  running(): Iterable<{ org: string; project: string; gpus: number }>;
  /** Queued jobs with their owner. */
  queued(): Iterable<{ org: string; project: string }>;
}

/** A job whose start was just committed: its owner, attempt, and when it was submitted (epoch ms). */
export interface StartedJob {
  org: string;
  project: string;
  attempt: number;
  submittedAt: number;
}

export interface ProjectMetrics {
  /** observeStarts: the waits of first attempts started at `now` (later attempts waited after a run). */
  observeStarts(started: readonly StartedJob[], now: number): void;
}

/** ProjectLabels: sticky (org, project) → label set, at most `max` of their own, the rest `other`. */
export class ProjectLabels {
  private readonly own = new Map<string, { org: string; project: string }>();
  private readonly other = { org: OTHER, project: OTHER } as const;

  constructor(readonly max: number) {}

  of(org: string, project: string): { org: string; project: string } {
    const key = `${org}\u0000${project}`;
    const have = this.own.get(key);
    if (have) return have;
    if (this.own.size >= this.max) return this.other;
    const labels = { org, project };
    this.own.set(key, labels);
    return labels;
  }

  /** size: label sets of their own given out (the `other` one not counted). */
  get size(): number {
    return this.own.size;
  }
}

const labelNames = ['org', 'project'] as const;
const sumBy = <T>(items: Iterable<T>, labels: ProjectLabels, pick: (t: T) => [string, string, number]) => {
  const sums = new Map<string, { org: string; project: string; v: number }>();
  for (const t of items) {
    const [org, project, v] = pick(t);
    const l = labels.of(org, project);
    const k = `${l.org}\u0000${l.project}`;
    const cur = sums.get(k) ?? { ...l, v: 0 };
    cur.v += v;
    sums.set(k, cur);
  }
  return sums.values();
};

export function registerProjectMetrics(
  registry: Registry,
  opts: {
    view: () => ProjectLiveView | null;
    store: () => Store | null;
    maxLabelSets: number;
    /** The label sets to share with other per-project series (the tenant energy ones); default: its own. */
    labels?: ProjectLabels;
    now?: () => number;
  },
): ProjectMetrics {
  const labels = opts.labels ?? new ProjectLabels(opts.maxLabelSets);
  const now = opts.now ?? Date.now;
  new Gauge({
    name: 'gigafab_project_gpus_allocated',
    help: 'GPUs (GPU-equivalents) allocated to running jobs, per organisation and project',
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      const v = opts.view();
      for (const s of sumBy(v?.running() ?? [], labels, (r) => [r.org, r.project, r.gpus]))
        this.set({ org: s.org, project: s.project }, s.v);
    },
  });
  new Gauge({
    name: 'gigafab_project_jobs_queued',
    help: 'Jobs waiting to be scheduled, per organisation and project',
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      const v = opts.view();
      for (const s of sumBy(v?.queued() ?? [], labels, (q) => [q.org, q.project, 1]))
        this.set({ org: s.org, project: s.project }, s.v);
    },
  });
  // The counter follows the metered total; it only ever adds what the total grew by since the last scrape.
  const reported = new Map<string, number>();
  let metered: { store: Store; totals: MeteredTotals } | undefined;
  new Counter({
    name: 'gigafab_project_gpu_seconds_total',
    help: 'GPU-seconds run, as metered (closed segments and open ones up to the scrape), per organisation and project',
    labelNames,
    registers: [registry],
    async collect() {
      const store = opts.store();
      if (!store) return;
      if (metered?.store !== store) metered = { store, totals: new MeteredTotals(store) };
      let totals: Awaited<ReturnType<MeteredTotals['read']>>;
      try {
        totals = await metered.totals.read(now());
      } catch {
        return; // the store unreachable: the series keep their last values, the rest of /metrics still answers
      }
      for (const s of sumBy(totals, labels, (t) => [t.org, t.project, t.seconds])) {
        const k = `${s.org}\u0000${s.project}`;
        const grew = s.v - (reported.get(k) ?? 0);
        if (grew > 0 || !reported.has(k)) {
          this.inc({ org: s.org, project: s.project }, Math.max(0, grew));
          reported.set(k, Math.max(s.v, reported.get(k) ?? 0));
        }
      }
    },
  });
  const waits = new Histogram({
    name: 'gigafab_project_job_wait_seconds',
    help: "Time from a job's submission to its first start, per organisation and project",
    labelNames,
    buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400],
    registers: [registry],
  });
  return {
    observeStarts(started, at) {
      for (const s of started) {
        if (s.attempt !== 1) continue;
        const l = labels.of(s.org, s.project);
        waits.observe({ org: l.org, project: l.project }, Math.max(0, (at - s.submittedAt) / 1000));
      }
    },
  };
}
