/**
 * 027_usage_daily: the daily rollup of closed run segments (schema-usage.ts, model/usage-daily.ts),
 * so that a usage report over whole days reads one row per (org, project, GPU type, site, class,
 * day) instead of every segment. From here on metering's close path adds each segment in the
 * transaction that closes it; this migration backfills every segment already closed. Also a partial
 * index on the open segments, which every report reads raw.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import { dailyPieces, granularityTimeline, utcDayName } from '../model/usage-daily.js';

interface Acc {
  org_id: string;
  project_id: string;
  gpu_type: string;
  site: string;
  class: string;
  day: string;
  run_mms: number;
  billed_mms: number;
  pieces: number;
  starts: number;
  earliest_start: string;
  measured_mms?: number;
  measured_kwh?: number;
}

/**
 * rebuildUsageDaily: the rollup recomputed from every closed segment (the migration's backfill;
 * also for stores whose usage_records were written around metering, as the benches and some tests do).
 * `energy`: also the measured energy columns of migration 035 (false only for this migration, before them).
 */
export async function rebuildUsageDaily(
  db: Kysely<unknown>,
  opts: { energy: boolean } = { energy: true },
): Promise<{ segments: number; rows: number }> {
  const versions = await sql<{ version: number; effective_from: string; granularity: string }>`
    SELECT version, effective_from, granularity FROM price_versions`.execute(db);
  const timeline = granularityTimeline(versions.rows);
  const acc = new Map<string, Acc>();
  let segments = 0;
  for (let after = 0; ; ) {
    const batch = await sql<{
      id: number;
      org_id: string;
      project_id: string;
      gpu_type: string;
      site: string;
      class: string;
      gpus: number;
      started_at: string;
      ended_at: string;
      measured_joules: number | null;
    }>`SELECT id, org_id, project_id, gpu_type, site, class, gpus, started_at, ended_at,
         ${sql.raw(opts.energy ? 'measured_joules' : 'NULL AS measured_joules')} FROM usage_records
       WHERE id > ${after} AND ended_at IS NOT NULL ORDER BY id LIMIT 10000`.execute(db);
    for (const r of batch.rows) {
      const start = Date.parse(r.started_at);
      const end = Date.parse(r.ended_at);
      const joules = r.measured_joules === null ? null : Number(r.measured_joules);
      for (const p of dailyPieces(Number(r.gpus), start, end, timeline.billedEnd(start, end), joules)) {
        const day = utcDayName(p.day);
        const k = `${r.org_id}\u0000${r.project_id}\u0000${r.gpu_type}\u0000${r.site}\u0000${r.class}\u0000${day}`;
        const a = acc.get(k);
        if (!a) {
          acc.set(k, {
            org_id: r.org_id,
            project_id: r.project_id,
            gpu_type: r.gpu_type,
            site: r.site,
            class: r.class,
            day,
            run_mms: p.runMms,
            billed_mms: p.billedMms,
            pieces: p.pieces,
            starts: p.starts,
            earliest_start: r.started_at,
            ...(opts.energy ? { measured_mms: p.measuredMms, measured_kwh: p.measuredKwh } : {}),
          });
        } else {
          a.run_mms += p.runMms;
          a.billed_mms += p.billedMms;
          a.pieces += p.pieces;
          a.starts += p.starts;
          if (opts.energy) {
            a.measured_mms = (a.measured_mms ?? 0) + p.measuredMms;
            a.measured_kwh = (a.measured_kwh ?? 0) + p.measuredKwh;
          }
          if (r.started_at < a.earliest_start) a.earliest_start = r.started_at;
          if (!Number.isSafeInteger(a.billed_mms)) throw new Error(`usage rollup: the sum for ${k} is not exact in a double`);
        }
      }
      segments++;
    }
    if (batch.rows.length < 10000) break;
    after = Number(batch.rows[batch.rows.length - 1]!.id);
  }
  await sql`DELETE FROM usage_daily`.execute(db);
  const rows = [...acc.values()];
  const dbAny = db as Kysely<{ usage_daily: Acc }>;
  for (let i = 0; i < rows.length; i += 500)
    await dbAny
      .insertInto('usage_daily')
      .values(rows.slice(i, i + 500))
      .execute();
  return { segments, rows: rows.length };
}

export const migration027UsageDaily: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('usage_daily')
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('project_id', 'text', (c) => c.notNull())
      .addColumn('gpu_type', 'text', (c) => c.notNull())
      .addColumn('site', 'text', (c) => c.notNull())
      .addColumn('class', 'text', (c) => c.notNull())
      .addColumn('day', 'text', (c) => c.notNull())
      .addColumn('run_mms', 'bigint', (c) => c.notNull())
      .addColumn('billed_mms', 'bigint', (c) => c.notNull())
      .addColumn('pieces', 'integer', (c) => c.notNull())
      .addColumn('starts', 'integer', (c) => c.notNull())
      .addColumn('earliest_start', 'text', (c) => c.notNull())
      // Whole-fleet reports read a range of days; the key is also metering's upsert target.
      .addPrimaryKeyConstraint('usage_daily_pk', ['day', 'org_id', 'project_id', 'gpu_type', 'site', 'class'])
      .execute();
    await db.schema.createIndex('usage_daily_org').on('usage_daily').columns(['org_id', 'day']).execute();
    await db.schema.createIndex('usage_daily_project').on('usage_daily').columns(['project_id', 'day']).execute();
    // Every report reads the running segments raw; there are few of them among millions.
    await sql`CREATE INDEX usage_records_open ON usage_records (id) WHERE ended_at IS NULL`.execute(db);
    // The measured energy columns come with migration 035, which rebuilds the rollup with them.
    await rebuildUsageDaily(db, { energy: false });
  },
};
