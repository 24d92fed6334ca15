/**
 * Every (organisation, project)'s metered energy since metering began, for /metrics
 * (energy-metrics.ts): kWh at the GPUs by the power model, kWh with each site's PUE of each month,
 * and kg CO₂e by each site's grid factor of the month — the arithmetic of GET /v1/jobs/{id}/energy
 * (job-energy.ts), so a project's figure is what its jobs' energies add up to.
 *
 * Closed segments come from the daily usage rollup (usage_daily: exact milli-GPU × ms per day),
 * added up by the database in one GROUP BY per (org, project, site, GPU type, month): the number of
 * rows read grows with days × projects × types, never with the usage records. Open segments (few,
 * on their partial index) count up to `now`; the energy factors (sites × months) are read whole.
 * Factors are applied here, not cached, so a PUE the operator corrects shows at the next scrape.
 */
import { sql } from 'kysely';
import { gpuWatts, kwhOf, type MonthFactors, segmentEnergy } from '../model/energy.js';
import type { Store } from '../store/open-store.js';

export interface TenantEnergy {
  org: string;
  project: string;
  itKwh: number;
  facilityKwh: number;
  co2Kg: number;
}

export async function tenantEnergy(store: Store, now: number): Promise<TenantEnergy[]> {
  const [closed, open, factorRows] = await Promise.all([
    store.db
      .selectFrom('usage_daily')
      .select([
        'org_id',
        'project_id',
        'site',
        'gpu_type',
        sql<string>`substr(day, 1, 7)`.as('month'),
        // Text: a sum of milli-GPU × ms passes 2^53 in a large fleet's year; BigInt below keeps it exact.
        sql<string>`cast(sum(run_mms) as text)`.as('mms'),
      ])
      .groupBy(['org_id', 'project_id', 'site', 'gpu_type', sql`substr(day, 1, 7)`])
      .execute(),
    store.db
      .selectFrom('usage_records')
      .select(['org_id', 'project_id', 'site', 'gpu_type', 'gpus', 'started_at'])
      .where('ended_at', 'is', null)
      .execute(),
    store.db.selectFrom('energy_factors').select(['site', 'month', 'pue', 'grid_g_co2_per_kwh']).execute(),
  ]);
  const factors = new Map<string, MonthFactors>(
    factorRows.map((r) => [`${r.site}/${r.month}`, { pue: Number(r.pue), gridGCo2PerKwh: Number(r.grid_g_co2_per_kwh) }]),
  );
  const out = new Map<string, TenantEnergy>();
  const at = (org: string, project: string) => {
    const k = `${org}\u0000${project}`;
    let e = out.get(k);
    if (!e) {
      e = { org, project, itKwh: 0, facilityKwh: 0, co2Kg: 0 };
      out.set(k, e);
    }
    return e;
  };
  for (const r of closed) {
    // milli-GPU × ms → GPU-ms, exact in BigInt down to the microsecond.
    const gpuMs = Number(BigInt(r.mms) / 1000n) + Number(BigInt(r.mms) % 1000n) / 1000;
    const it = kwhOf(1, gpuMs, gpuWatts(r.gpu_type));
    const f = factors.get(`${r.site}/${r.month}`);
    const e = at(r.org_id, r.project_id);
    e.itKwh += it;
    e.facilityKwh += it * (f?.pue ?? 1);
    e.co2Kg += f ? (it * f.pue * f.gridGCo2PerKwh) / 1000 : 0;
  }
  for (const r of open) {
    const x = segmentEnergy(
      {
        gpuType: r.gpu_type,
        gpus: Number(r.gpus),
        start: Date.parse(r.started_at),
        end: Math.max(now, Date.parse(r.started_at)),
      },
      (m) => factors.get(`${r.site}/${m}`),
    );
    const e = at(r.org_id, r.project_id);
    e.itKwh += x.itKwh;
    e.facilityKwh += x.facilityKwh;
    e.co2Kg += x.co2Kg;
  }
  return [...out.values()];
}
