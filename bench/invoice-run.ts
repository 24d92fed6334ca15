/**
 * Invoice run for one organisation with N usage records (default 1,000,000) in last month, on
 * SQLite: the records are written straight into a fresh store, then the real InvoiceService issues
 * the invoice (keyset pages of 5,000, one transaction with its audit record). Three months hold N
 * records each; each of the three runs invoices one of them (an issued month would issue nothing
 * again). Reports each run, the median, the peak RSS growth and the load average. With
 * `reservedGpus`, the organisation has reserved that many B200 GPUs each month (half its records
 * are B200): the run also sweeps them for coverage (issue 15).
 * `npm run bench -- invoice-run`, or `node dist/bench/invoice-run.js [records] [reservedGpus]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { PriceTimeline } from '../src/model/cost.js';
import { InvoiceService } from '../src/server/invoices/invoice-service.js';
import { openSqliteStore } from '../src/store/open-store.js';

export interface InvoiceRunBench {
  records: number;
  reservedGpus: number;
  runsSeconds: number[];
  medianSeconds: number;
  netCents: number;
  lines: number;
  rssGrowthMiB: number;
  loadAverage: number[];
}

const MONTHS = ['2026-08', '2026-09', '2026-10'];

export async function benchInvoiceRun(records = 1_000_000, reservedGpus = 0): Promise<InvoiceRunBench> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-bench-invoice-'));
  try {
    (await openSqliteStore(dir)).close();
    const raw = new SQLite(join(dir, 'gigafab.db'));
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = OFF');
    const insert = raw.prepare(
      `INSERT INTO usage_records (org_id, project_id, job_id, attempt, gpu_type, site, gpus, class, started_at, ended_at, gpu_seconds)
       VALUES (?, 'p', ?, 1, ?, 's1', ?, ?, ?, ?, ?)`,
    );
    const classes = ['on-demand', 'preemptible', 'borrowed'];
    // One month's records per run (three runs, three months), each month the same shape.
    raw.transaction(() => {
      let job = 0;
      for (const month of MONTHS) {
        const from = Date.parse(`${month}-01T00:00:00Z`);
        for (let i = 0; i < records; i++) {
          const start = from + ((i * 2_591_000) % (28 * 86_400_000));
          const seconds = 60 + (i % 7200);
          const gpus = 1 + (i % 8);
          insert.run(
            'big',
            job++,
            i % 2 ? 'B200' : 'H200',
            gpus,
            classes[i % 3],
            new Date(start).toISOString(),
            new Date(start + seconds * 1000).toISOString(),
            gpus * seconds,
          );
        }
      }
      if (reservedGpus > 0) {
        raw
          .prepare(`INSERT INTO orgs (id, name, kind, created_at) VALUES ('big', 'big', 'research', '2026-01-01T00:00:00Z')`)
          .run();
        const reserve = raw.prepare(
          `INSERT INTO reserved_capacity (org_id, gpu_type, month, gpus, cents_per_gpu_month, updated_at, updated_by)
           VALUES ('big', 'B200', ?, ?, 100000, '2026-01-01T00:00:00Z', 'bench')`,
        );
        for (const month of MONTHS) reserve.run(month, reservedGpus);
      }
    })();
    raw.close();
    const store = await openSqliteStore(dir);
    const timeline = new PriceTimeline([
      {
        version: 1,
        effectiveFrom: '2026-01-01T00:00:00.000Z',
        granularity: 'minute',
        prices: ['B200', 'H200'].flatMap((gpuType) =>
          (['on-demand', 'preemptible', 'borrowed'] as const).map((c, k) => ({
            gpuType,
            class: c,
            centsPerGpuHour: 450 - k * 100,
          })),
        ),
        createdAt: '2026-01-01T00:00:00.000Z',
        createdBy: 'bench',
      },
    ]);
    const svc = new InvoiceService(store, { timeline: async () => timeline }, () => Date.parse('2026-12-05T00:00:00Z'));
    const ctx = { principal: { userId: 'op', role: 'operator' as const, org: null }, requestId: 'bench' };
    const runsSeconds: number[] = [];
    let netCents = 0;
    let lines = 0;
    let peak = 0;
    const rss0 = process.memoryUsage().rss;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss - rss0);
    }, 20);
    for (const month of MONTHS) {
      const t0 = performance.now();
      const run = await svc.run(ctx, month);
      runsSeconds.push((performance.now() - t0) / 1000);
      const inv = await svc.get(ctx.principal, run.issued[0]!.id);
      netCents = inv.netCents;
      lines = inv.lines.length;
    }
    clearInterval(timer);
    await store.close();
    const sorted = [...runsSeconds].sort((a, b) => a - b);
    return {
      records,
      reservedGpus,
      runsSeconds: runsSeconds.map((s) => Math.round(s * 1000) / 1000),
      medianSeconds: Math.round(sorted[1]! * 1000) / 1000,
      netCents,
      lines,
      rssGrowthMiB: Math.round(peak / 2 ** 20),
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('invoice-run.js')) {
  console.log(JSON.stringify(await benchInvoiceRun(Number(process.argv[2] ?? 1_000_000), Number(process.argv[3] ?? 0)), null, 2));
}
