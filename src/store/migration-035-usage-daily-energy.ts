/**
 * 035_usage_daily_energy: the daily usage rollup (migration 027) learns each day's measured energy —
 * `measured_mms`, the part of run_mms whose energy a driver measured (usage_records.measured_joules,
 * migration 031), and `measured_kwh`, that energy spread evenly over each segment's run — so usage
 * reports and the tenant energy series count measured kWh where measured and the power model for the
 * rest without reading the records (model/usage-daily.ts dailyPieces, model/energy.ts rollupKwh).
 * Metering's close and usage-reconcile.ts maintain them from here on; this migration backfills them by
 * rebuilding the rollup from the closed segments, on SQLite and PostgreSQL alike.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import { rebuildUsageDaily } from './migration-027-usage-daily.js';

export const migration035UsageDailyEnergy: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    await sql`ALTER TABLE usage_daily ADD COLUMN measured_mms bigint NOT NULL DEFAULT 0`.execute(db);
    await sql`ALTER TABLE usage_daily ADD COLUMN measured_kwh ${sql.raw(pg ? 'double precision' : 'real')} NOT NULL DEFAULT 0`.execute(
      db,
    );
    const measured = await sql<{ n: number | string }>`
      SELECT count(*) AS n FROM usage_records WHERE measured_joules IS NOT NULL AND ended_at IS NOT NULL`.execute(db);
    // Only a store with measured segments has anything to backfill.
    if (Number(measured.rows[0]?.n ?? 0) > 0) await rebuildUsageDaily(db);
  },
};
