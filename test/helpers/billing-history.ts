/**
 * A past month's billing history written straight into a test server's store: price versions and
 * closed usage records dated in the month before the current one. Prices are never set
 * retroactively through the API, and a server cannot be run a month back in time, so tests that
 * invoice a month that has ended write its history the way the server would have.
 */
import { type Kysely, sql } from 'kysely';
import { rebuildUsageDaily } from '../../src/store/migration-027-usage-daily.js';
import type { Store } from '../../src/store/open-store.js';
import { storeOpener } from './store-dialects.js';

export const dialect = () => (process.env.GIGAFAB_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite');

/** lastMonth: YYYY-MM of the calendar month (UTC) before the current one, and its start. */
export function lastMonth(now = Date.now()): { month: string; from: number } {
  const d = new Date(now);
  const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1);
  return { month: new Date(from).toISOString().slice(0, 7), from };
}

export async function withStore<T>(dataDir: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await storeOpener(dialect())(dataDir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** seedPrices: a price version in effect from the start of `from` (version after the last one). */
export async function seedPrices(store: Store, from: number, prices: { gpuType: string; class: string; cents: number }[]) {
  const last = await store.db
    .selectFrom('price_versions')
    .select('version')
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
  const version = (last?.version ?? 0) + 1;
  const at = new Date(from).toISOString();
  await store.db
    .insertInto('price_versions')
    .values({ version, effective_from: at, granularity: 'second', created_at: at, created_by: 'seed' })
    .execute();
  await store.db
    .insertInto('prices')
    .values(prices.map((p) => ({ version, gpu_type: p.gpuType, class: p.class, cents_per_gpu_hour: p.cents })))
    .execute();
}

export interface SeedSegment {
  org: string;
  project: string;
  job: number;
  start: number;
  seconds: number;
  gpus: number;
  gpuType?: string;
  site?: string;
  cls?: string;
  /** A borrowed segment's lenders (model/lenders.ts), as the start commit records them. */
  lenders?: { project: string; gpus: number }[];
  /** Energy the driver measured for the segment (usage_records.measured_joules); absent: none. */
  measuredJoules?: number;
}

/** seedUsage: closed usage records (one attempt each), in batches, and the daily rollup rebuilt from them. */
export async function seedUsage(store: Store, segs: SeedSegment[]) {
  for (let i = 0; i < segs.length; i += 500) {
    await store.db
      .insertInto('usage_records')
      .values(
        segs.slice(i, i + 500).map((s) => ({
          org_id: s.org,
          project_id: s.project,
          job_id: s.job,
          attempt: 1,
          gpu_type: s.gpuType ?? 'B200',
          site: s.site ?? 's1',
          gpus: s.gpus,
          class: s.cls ?? 'on-demand',
          started_at: new Date(s.start).toISOString(),
          ended_at: new Date(s.start + s.seconds * 1000).toISOString(),
          gpu_seconds: s.gpus * s.seconds,
          lenders: s.lenders ? JSON.stringify(s.lenders) : null,
          measured_joules: s.measuredJoules ?? null,
        })),
      )
      .execute();
  }
  await rebuildUsageDaily(store.db as unknown as Kysely<unknown>);
}

/** tamperInvoice: what someone with write access to the database does: drop the guard, rewrite the body. */
export async function tamperInvoice(store: Store, id: number, edit: (body: string) => string) {
  await sql
    .raw(dialect() === 'postgres' ? 'DROP TRIGGER invoices_no_change ON invoices' : 'DROP TRIGGER invoices_no_update')
    .execute(store.db);
  const row = await store.db.selectFrom('invoices').select('body').where('id', '=', id).executeTakeFirstOrThrow();
  await store.db
    .updateTable('invoices')
    .set({ body: edit(row.body) })
    .where('id', '=', id)
    .execute();
}

/**
 * seedInvoice: an issued invoice of `org` for last month, the way the product issues one: its usage
 * (and a price, where none was in effect) written into last month, then an operator's invoice run.
 */
export async function seedInvoice(
  server: { dataDir: string; url: string; operatorToken: string },
  org: string,
  project: string,
  gpuType: string,
  site: string,
): Promise<string> {
  const { month, from } = lastMonth();
  await withStore(server.dataDir, async (s) => {
    await seedPrices(s, from, [{ gpuType, class: 'on-demand', cents: 100 }]);
    // A job id no real job has (usage records are unique per job and attempt).
    const last = await s.db.selectFrom('usage_records').select('job_id').orderBy('job_id', 'desc').limit(1).executeTakeFirst();
    const job = Math.max(1_000_000, (last?.job_id ?? 0) + 1);
    await seedUsage(s, [{ org, project, job, start: from + 3_600_000, seconds: 600, gpus: 1, gpuType, site }]);
  });
  const headers = { authorization: `Bearer ${server.operatorToken}`, 'content-type': 'application/json' };
  const run = await fetch(`${server.url}/v1/invoices/runs`, { method: 'POST', headers, body: JSON.stringify({ month }) });
  if (run.status !== 200) throw new Error(`invoice run: ${run.status} ${await run.text()}`);
  const list = await fetch(`${server.url}/v1/invoices?org=${encodeURIComponent(org)}`, { headers });
  const body: unknown = await list.json();
  const id =
    typeof body === 'object' && body !== null && 'items' in body && Array.isArray(body.items) ? body.items[0]?.id : undefined;
  if (typeof id !== 'string') throw new Error(`no invoice of ${org}: ${JSON.stringify(body)}`);
  return id;
}
