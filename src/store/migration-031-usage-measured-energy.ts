/**
 * 031_usage_measured_energy: usage_records.measured_joules, the energy an execution engine measured
 * for the run segment (Slurm's ConsumedEnergyRaw where the cluster has an energy plugin), written
 * with the segment's close; null where nothing was measured. The power model's figure stays the one
 * invoices and statements count; this one is shown beside it (GET /v1/jobs/{id}/energy).
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration031UsageMeasuredEnergy: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    await sql`ALTER TABLE usage_records ADD COLUMN measured_joules ${sql.raw(pg ? 'double precision' : 'real')}`.execute(db);
  },
};
