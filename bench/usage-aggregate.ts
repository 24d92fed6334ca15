/**
 * GET /v1/usage over N usage records (default 10,000,000), on SQLite, through the HTTP route of a
 * real `gigafab server`. The records are written straight into the store (8 organisations, 3
 * projects each, 3 GPU types, 2 sites, 3 classes, 1–8 GPUs, 1 min–8 h each, spread over the 12
 * months Dec 2025–Nov 2026, about a sixth across a midnight, the last 1,000 still running), then the
 * daily rollup is built by migration 027's backfill (timed: what an upgrade costs). Three reports,
 * each timed 3 times (median): a tenant's month grouped by project, GPU type and day; the operator's
 * whole fleet for a month grouped by organisation; the whole fleet for the year grouped by day.
 * Then the first two again with org-3 holding reserved capacity of the fleet's two types for the
 * month (coverage: issue 15).
 * Then, for comparison, the same three once each from the raw records alone (the path before the
 * rollup), in-process. Reports the server's peak RSS (VmHWM) and the load average.
 * `npm run bench -- usage-aggregate`, or `node dist/bench/usage-aggregate.js [records]`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { PriceTimeline } from '../src/model/cost.js';
import type { UsageGroup } from '../src/model/usage.js';
import { UsageAggregate } from '../src/server/usage-aggregate.js';
import { readUsageRaw } from '../src/server/usage-read.js';
import { rebuildUsageDaily } from '../src/store/migration-027-usage-daily.js';
import { openSqliteStore } from '../src/store/open-store.js';
import { api, startTestServer } from '../test/helpers/server.js';
import { tenantToken } from '../test/helpers/tenants.js';

const ORGS = Array.from({ length: 8 }, (_, i) => `org-${i}`);
const TYPES = ['B200', 'H200', 'RTX-PRO-6000'];
const CLASSES = ['on-demand', 'preemptible', 'borrowed'] as const;
const YEAR_FROM = Date.parse('2025-12-01T00:00:00Z');
const YEAR_TO = Date.parse('2026-12-01T00:00:00Z');
const OPEN = 1000;

export interface UsageQueryTiming {
  query: string;
  path: string;
  rows: number;
  runsMs: number[];
  medianMs: number;
  rawMs?: number;
}

export interface UsageAggregateBench {
  records: number;
  fillSeconds: number;
  rollupBuildSeconds: number;
  rollupRows: number;
  queries: UsageQueryTiming[];
  serverPeakRssMiB: number;
  loadAverage: number[];
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function fill(dbFile: string, records: number): void {
  const raw = new SQLite(dbFile);
  raw.pragma('journal_mode = OFF');
  raw.pragma('synchronous = OFF');
  raw.pragma('cache_size = -1000000');
  // Bulk load: the table's own indexes (as the migrations made them, their SQL kept verbatim) are
  // dropped for the load and made again after it, which sorts once instead of 10,000,000 inserts.
  const indexes = raw
    .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records' AND sql IS NOT NULL`)
    .all() as { name: string; sql: string }[];
  for (const ix of indexes) raw.exec(`DROP INDEX ${ix.name}`);
  const insert = raw.prepare(
    `INSERT INTO usage_records (org_id, project_id, job_id, attempt, gpu_type, site, gpus, class, started_at, ended_at, gpu_seconds)
     VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const span = YEAR_TO - YEAR_FROM - 8 * 3_600_000;
  raw.transaction(() => {
    for (let i = 0; i < records; i++) {
      const org = i % 8;
      // The other dimensions from a multiplicative hash of i: every combination occurs.
      const h = Math.imul(i, 2_654_435_761) >>> 0;
      const start = YEAR_FROM + Math.floor((i / records) * span) + ((i * 7919) % 600_000);
      const seconds = 60 + ((i * 104_729) % 28_740);
      const gpus = 1 + ((i >> 3) % 8);
      const open = i >= records - OPEN;
      insert.run(
        ORGS[org],
        `o${org}-p${(h >>> 3) % 3}`,
        i + 1,
        TYPES[(h >>> 7) % 3]!,
        (h >>> 11) % 2 ? 's2' : 's1',
        gpus,
        CLASSES[(h >>> 13) % 3]!,
        new Date(start).toISOString(),
        open ? null : new Date(start + seconds * 1000).toISOString(),
        open ? null : gpus * seconds,
      );
    }
    // A price book in effect all year: per minute, every type and class priced.
    raw
      .prepare(
        `INSERT INTO price_versions (version, effective_from, granularity, created_at, created_by) VALUES (1, ?, 'minute', ?, 'bench')`,
      )
      .run('2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z');
    const price = raw.prepare('INSERT INTO prices (version, gpu_type, class, cents_per_gpu_hour) VALUES (1, ?, ?, ?)');
    for (const t of TYPES) {
      for (const [k, c] of CLASSES.entries()) price.run(t, c, 450 - k * 100);
    }
  })();
  for (const ix of indexes) raw.exec(ix.sql);
  raw.pragma('journal_mode = WAL');
  raw.close();
}

export async function benchUsageAggregate(records = 10_000_000): Promise<UsageAggregateBench> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-bench-usage-'));
  try {
    // The organisations, projects and a tenant token, made the product's way.
    let server = await startTestServer({ dataDir: dir, timeScale: 1 });
    let op = api(server.url, server.operatorToken);
    for (const [k, org] of ORGS.entries()) {
      await op('POST', '/v1/orgs', { id: org, name: org, kind: 'research' });
      for (let p = 0; p < 3; p++) await op('POST', `/v1/orgs/${org}/projects`, { id: `o${k}-p${p}` });
    }
    const tenant = await tenantToken(op, 'org-3', { name: 'Analyst', role: 'viewer' });
    await server.stop();

    let t0 = performance.now();
    fill(join(dir, 'gigafab.db'), records);
    const fillSeconds = (performance.now() - t0) / 1000;
    const store = await openSqliteStore(dir);
    t0 = performance.now();
    const built = await rebuildUsageDaily(store.db as unknown as Kysely<unknown>);
    const rollupBuildSeconds = (performance.now() - t0) / 1000;
    await store.close();

    server = await startTestServer({ dataDir: dir, timeScale: 1 });
    op = api(server.url, server.operatorToken);
    const me = api(server.url, tenant);
    const queries = [
      {
        query: "tenant's month by project, GPU type, day",
        call: me,
        path: '/v1/usage?from=2026-11-01&to=2026-12-01&groupBy=project,gpuType,day',
      },
      { query: 'whole fleet, month, by organisation', call: op, path: '/v1/usage?from=2026-11-01&to=2026-12-01&groupBy=org' },
      { query: 'whole fleet, year, by day', call: op, path: '/v1/usage?from=2025-12-01&to=2026-12-01&groupBy=day' },
      {
        query: 'whole fleet, month, by org, off midnight',
        call: op,
        path: '/v1/usage?from=2026-10-31T12:00:00Z&to=2026-11-30T12:00:00Z&groupBy=org',
      },
    ];
    const timings: UsageQueryTiming[] = [];
    for (const q of queries) {
      const runsMs: number[] = [];
      let rows = 0;
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const r = await q.call('GET', q.path);
        runsMs.push(round(performance.now() - t));
        if (r.status !== 200) throw new Error(`${q.path}: ${r.status} ${JSON.stringify(r.body)}`);
        rows = r.body.items.length;
      }
      timings.push({ query: q.query, path: q.path, rows, runsMs, medianMs: median(runsMs) });
    }
    // Reserved capacity: org-3 commits 64 GPUs of each fleet type (B200, RTX-PRO-6000) for November;
    // its reports then cover its usage by the invoice's sweep (raw reads of org-3's records of those
    // types in the month), the rest stays on the rollup.
    for (const gpuType of ['B200', 'RTX-PRO-6000']) {
      const r = await op('PUT', '/v1/reserved-capacity', {
        org: 'org-3',
        gpuType,
        month: '2026-11',
        gpus: 64,
        centsPerGpuMonth: 100_000,
      });
      if (r.status !== 200) throw new Error(`reserved capacity ${gpuType}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    for (const q of queries.slice(0, 2)) {
      const runsMs: number[] = [];
      let rows = 0;
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const r = await q.call('GET', q.path);
        runsMs.push(round(performance.now() - t));
        if (r.status !== 200 || !r.body.reservedCapacity) throw new Error(`${q.path}: ${r.status}, no coverage`);
        rows = r.body.items.length;
      }
      timings.push({ query: `${q.query}, org-3 reserved`, path: q.path, rows, runsMs, medianMs: median(runsMs) });
    }
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
    const serverPeakRssMiB = Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    await server.stop();

    // The same reports from the raw records alone, in-process (the path before the rollup), once each.
    if (process.env.GIGAFAB_BENCH_USAGE_RAW !== '0') {
      const raw = await openSqliteStore(dir);
      const prices = new PriceTimeline([
        {
          version: 1,
          effectiveFrom: '2025-01-01T00:00:00.000Z',
          granularity: 'minute',
          prices: TYPES.flatMap((gpuType) => CLASSES.map((c, k) => ({ gpuType, class: c, centsPerGpuHour: 450 - k * 100 }))),
          createdAt: '2025-01-01T00:00:00.000Z',
          createdBy: 'bench',
        },
      ]);
      const now = Date.now();
      for (const t of timings.filter((x) => !x.query.endsWith('reserved'))) {
        const u = new URL(t.path, 'http://x');
        const from = Date.parse(u.searchParams.get('from')!);
        const to = Date.parse(u.searchParams.get('to')!);
        const groupBy = u.searchParams.get('groupBy')!.split(',') as UsageGroup[];
        const only = t.query.startsWith('tenant') ? { org: 'org-3' } : {};
        const t1 = performance.now();
        const agg = new UsageAggregate(groupBy, from, to, prices);
        await readUsageRaw(raw.db, agg, from, to, now, only);
        agg.report();
        t.rawMs = round(performance.now() - t1);
      }
      await raw.close();
    }
    return {
      records,
      fillSeconds: round(fillSeconds),
      rollupBuildSeconds: round(rollupBuildSeconds),
      rollupRows: built.rows,
      queries: timings,
      serverPeakRssMiB,
      loadAverage: loadavg().map((l) => round(l, 2)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('usage-aggregate.js')) {
  console.log(JSON.stringify(await benchUsageAggregate(Number(process.argv[2] ?? 10_000_000)), null, 2));
}
