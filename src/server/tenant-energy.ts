/**
 * Every (organisation, project)'s metered energy since metering began, for /metrics
 * (energy-metrics.ts): kWh at the GPUs — measured where a driver measured them (the rollup's
 * measured_kwh), the power model for the rest of the run time —, kWh with each site's PUE of each month,
 * and kg CO₂e by each site's grid factor of the month — the arithmetic of GET /v1/jobs/{id}/energy
 * (job-energy.ts), so a project's figure is what its jobs' energies add up to.
 *
 * Closed segments come from the daily usage rollup (usage_daily: exact milli-GPU × ms per day),
 * added up by the database in one GROUP BY per (org, project, site, GPU type, month): what is read
 * grows with days × projects × types, never with the usage records. As for the GPU-seconds counter
 * (metered-totals.ts), days before both today and the first day of every open segment can no longer
 * change: they are summed once and kept (re-read whole every `refreshMs`), and each scrape reads
 * only the later days' rows by the rollup's key and the open segments (their partial index), which
 * count up to `now`. What is kept is run time, not energy: the sites' factors (sites × months) are
 * read at every scrape, so a PUE the operator corrects shows at the next one.
 */
import { sql } from 'kysely';
import { gpuWatts, kwhOf, type MonthFactors, segmentEnergy } from '../model/energy.js';
import { DAY_MS } from '../model/usage-daily.js';
import type { Store } from '../store/open-store.js';

export interface TenantEnergy {
  org: string;
  project: string;
  itKwh: number;
  facilityKwh: number;
  co2Kg: number;
  /** The part of itKwh that was measured. */
  measuredKwh: number;
}

interface RunTime {
  org: string;
  project: string;
  site: string;
  gpuType: string;
  month: string;
  mms: bigint;
  measuredMms: bigint;
  measuredKwh: number;
}
type RollupRow = {
  org_id: string;
  project_id: string;
  site: string;
  gpu_type: string;
  month: string;
  mms: string;
  measured_mms: string;
  measured_kwh: number | string;
};

const dayName = (t: number) => new Date(Math.floor(t / DAY_MS) * DAY_MS).toISOString().slice(0, 10);

export class TenantEnergyTotals {
  private settled = new Map<string, RunTime>();
  private settledBefore: string | null = null;
  private settledAt = 0;

  constructor(
    private readonly store: Store,
    private readonly refreshMs = 3_600_000,
  ) {}

  private async rollup(fromDay: string | null, beforeDay: string | null): Promise<RollupRow[]> {
    const month = sql<string>`substr(day, 1, 7)`;
    if (fromDay === null) {
      let q = this.store.db.selectFrom('usage_daily').select([
        'org_id',
        'project_id',
        'site',
        'gpu_type',
        month.as('month'),
        // Text: a sum of milli-GPU × ms passes 2^53 in a large fleet's year; BigInt keeps it exact.
        sql<string>`cast(sum(run_mms) as text)`.as('mms'),
        sql<string>`cast(sum(measured_mms) as text)`.as('measured_mms'),
        sql<number>`sum(measured_kwh)`.as('measured_kwh'),
      ]);
      if (beforeDay !== null) q = q.where('day', '<', beforeDay);
      return q.groupBy(['org_id', 'project_id', 'site', 'gpu_type', month]).execute();
    }
    // A few recent days: their rows by the key's day range, added up here.
    let q = this.store.db
      .selectFrom('usage_daily')
      .select([
        'org_id',
        'project_id',
        'site',
        'gpu_type',
        month.as('month'),
        sql<string>`cast(run_mms as text)`.as('mms'),
        sql<string>`cast(measured_mms as text)`.as('measured_mms'),
        'measured_kwh',
      ])
      .where('day', '>=', fromDay);
    if (beforeDay !== null) q = q.where('day', '<', beforeDay);
    return q.execute();
  }

  /** read: every (org, project)'s energy, closed segments from the rollup, open ones up to `now`. */
  async read(now: number): Promise<TenantEnergy[]> {
    const [open, factorRows] = await Promise.all([
      this.store.db
        .selectFrom('usage_records')
        .select(['org_id', 'project_id', 'site', 'gpu_type', 'gpus', 'started_at', 'measured_joules'])
        .where('ended_at', 'is', null)
        .execute(),
      this.store.db.selectFrom('energy_factors').select(['site', 'month', 'pue', 'grid_g_co2_per_kwh']).execute(),
    ]);
    let cut = dayName(now);
    for (const r of open) if (r.started_at.slice(0, 10) < cut) cut = r.started_at.slice(0, 10);
    if (this.settledBefore === null || cut < this.settledBefore || now - this.settledAt >= this.refreshMs) {
      this.settled = new Map();
      add(this.settled, await this.rollup(null, cut));
      this.settledAt = now;
    } else if (cut > this.settledBefore) add(this.settled, await this.rollup(this.settledBefore, cut));
    this.settledBefore = cut;
    const recent = new Map<string, RunTime>();
    add(recent, await this.rollup(cut, null));

    const factors = new Map<string, MonthFactors>(
      factorRows.map((r) => [`${r.site}/${r.month}`, { pue: Number(r.pue), gridGCo2PerKwh: Number(r.grid_g_co2_per_kwh) }]),
    );
    const out = new Map<string, TenantEnergy>();
    const at = (org: string, project: string) => {
      const k = `${org}\u0000${project}`;
      let e = out.get(k);
      if (!e) {
        e = { org, project, itKwh: 0, facilityKwh: 0, co2Kg: 0, measuredKwh: 0 };
        out.set(k, e);
      }
      return e;
    };
    for (const r of [...this.settled.values(), ...recent.values()]) {
      // milli-GPU × ms of the unmeasured run time → GPU-ms, exact in BigInt down to the microsecond.
      const model = r.mms - r.measuredMms;
      const it = r.measuredKwh + kwhOf(1, Number(model / 1000n) + Number(model % 1000n) / 1000, gpuWatts(r.gpuType));
      const f = factors.get(`${r.site}/${r.month}`);
      const e = at(r.org, r.project);
      e.itKwh += it;
      e.facilityKwh += it * (f?.pue ?? 1);
      e.co2Kg += f ? (it * f.pue * f.gridGCo2PerKwh) / 1000 : 0;
      e.measuredKwh += r.measuredKwh;
    }
    for (const r of open) {
      const start = Date.parse(r.started_at);
      const x = segmentEnergy(
        { gpuType: r.gpu_type, gpus: Number(r.gpus), start, end: Math.max(now, start), measuredJoules: r.measured_joules },
        (m) => factors.get(`${r.site}/${m}`),
      );
      const e = at(r.org_id, r.project_id);
      e.itKwh += x.itKwh;
      e.facilityKwh += x.facilityKwh;
      e.co2Kg += x.co2Kg;
      e.measuredKwh += x.measuredKwh;
    }
    return [...out.values()];
  }
}

function add(into: Map<string, RunTime>, rows: RollupRow[]): void {
  for (const r of rows) {
    const k = [r.org_id, r.project_id, r.site, r.gpu_type, r.month].join('\u0000');
    const e = into.get(k);
    const measuredMms = BigInt(r.measured_mms ?? '0');
    const measuredKwh = Number(r.measured_kwh ?? 0);
    if (e) {
      e.mms += BigInt(r.mms);
      e.measuredMms += measuredMms;
      e.measuredKwh += measuredKwh;
    } else
      into.set(k, {
        org: r.org_id,
        project: r.project_id,
        site: r.site,
        gpuType: r.gpu_type,
        month: r.month,
        mms: BigInt(r.mms),
        measuredMms,
        measuredKwh,
      });
  }
}

/** tenantEnergy: one reading from scratch (a fresh reader keeps nothing). */
export const tenantEnergy = (store: Store, now: number) => new TenantEnergyTotals(store).read(now);
