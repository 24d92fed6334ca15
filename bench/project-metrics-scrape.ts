/**
 * What the per-project series cost a /metrics scrape: the GPU-seconds counter sums the daily
 * rollup per (org, project) and reads the open segments at every scrape (project-metrics.ts). A
 * fresh SQLite store gets a rollup of P projects × 6 (GPU type, site, class) combinations × D days
 * (default 24 projects × 365 days = 52,560 rows; the 10,000,000-record usage bench has 157,680)
 * and 1,000 open segments; then 10 scrapes of a registry holding only the per-project series
 * are timed: the first (it sums the settled days once, metered-totals.ts) and the median of the
 * other nine. `node dist/bench/project-metrics-scrape.js [projects] [days]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Insertable } from 'kysely';
import { Registry } from 'prom-client';
import { registerProjectMetrics } from '../src/server/project-metrics.js';
import { openSqliteStore } from '../src/store/open-store.js';
import type { Database } from '../src/store/schema.js';

const projects = Number(process.argv[2] ?? 24);
const days = Number(process.argv[3] ?? 365);
const dir = mkdtempSync(join(tmpdir(), 'gigafab-bench-pm-'));
const store = await openSqliteStore(dir);
const combos = ['B200', 'H200', 'RTX-PRO-6000'].flatMap((t) => ['on-demand', 'preemptible'].map((c) => [t, c] as const));
const day0 = Date.parse('2025-12-01T00:00:00Z');
const rows: Insertable<Database['usage_daily']>[] = [];
for (let p = 0; p < projects; p++)
  for (const [gpuType, cls] of combos)
    for (let d = 0; d < days; d++)
      rows.push({
        org_id: `org-${p % 8}`,
        project_id: `p-${p}`,
        gpu_type: gpuType,
        site: 's1',
        class: cls,
        day: new Date(day0 + d * 86_400_000).toISOString().slice(0, 10),
        run_mms: 3_600_000_000,
        billed_mms: 3_600_000_000,
        pieces: 1,
        starts: 1,
        earliest_start: new Date(day0 + d * 86_400_000).toISOString(),
      });
for (let i = 0; i < rows.length; i += 2000) {
  await store.db
    .insertInto('usage_daily')
    .values(rows.slice(i, i + 2000))
    .execute();
}
const open = Array.from({ length: 1000 }, (_, i) => ({
  org_id: `org-${i % 8}`,
  project_id: `p-${i % projects}`,
  job_id: 1_000_000 + i,
  attempt: 1,
  gpu_type: 'B200',
  site: 's1',
  gpus: 8,
  class: 'on-demand',
  started_at: new Date(Date.now() - 3_600_000).toISOString(),
}));
for (let i = 0; i < open.length; i += 500)
  await store.db
    .insertInto('usage_records')
    .values(open.slice(i, i + 500))
    .execute();

const registry = new Registry();
registerProjectMetrics(registry, { view: () => null, store: () => store, maxLabelSets: 500 });
const runs: number[] = [];
for (let i = 0; i < 10; i++) {
  const t = performance.now();
  await registry.metrics();
  runs.push(Math.round((performance.now() - t) * 10) / 10);
}
// The first scrape sums the settled days once; the later ones read today's rollup rows and the open segments.
const later = runs.slice(1);
const median = [...later].sort((a, b) => a - b)[Math.floor(later.length / 2)];
console.log(
  JSON.stringify({
    rollupRows: rows.length,
    openSegments: open.length,
    firstScrapeMs: runs[0],
    laterRunsMs: later,
    laterMedianMs: median,
    loadAverage: loadavg(),
  }),
);
await store.close();
rmSync(dir, { recursive: true, force: true });
