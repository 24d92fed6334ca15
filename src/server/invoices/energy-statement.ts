/**
 * An organisation's yearly energy statement (EnEfG-style reporting): the kWh of its run segments
 * inside the year (the current year up to now) at the GPUs and with each site's PUE, the CO₂ by each
 * site's grid factor, the resulting PUE and the renewable share where the sites declared one, per
 * site. A segment's kWh at the GPUs are what its driver measured where it measured them (spread over
 * its run, so the part inside the year), the power model elsewhere; `measuredKwh` says how much of them
 * was measured. Its admins and members read their own; operators any.
 */
import { canSeeOrg, enforce } from '../../model/authz.js';
import { type EnergyStatement, type MonthFactors, POWER_MODEL_NAME, round6, segmentEnergy } from '../../model/energy.js';
import { invalid, notFound } from '../../model/errors.js';
import type { Principal } from '../../model/principal.js';
import type { Store } from '../../store/open-store.js';

const BATCH = 5000;

export async function energyStatement(
  store: Store,
  p: Principal,
  org: string,
  year: string,
  now: number,
): Promise<EnergyStatement> {
  enforce(canSeeOrg(p, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
  if (!(await store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst())) throw notFound('org', org);
  if (!/^\d{4}$/.test(year)) {
    throw invalid('invalid_year', `year is a calendar year such as 2026, not ${year}`, [
      { path: 'year', message: 'four digits' },
    ]);
  }
  const from = Date.UTC(Number(year), 0, 1);
  if (from > now) {
    throw invalid('year_not_begun', `${year} has not begun: a statement covers a year up to now at most`, [
      { path: 'year', message: 'a year that has begun' },
    ]);
  }
  const to = Math.min(Date.UTC(Number(year) + 1, 0, 1), now);
  const rows = await store.db.selectFrom('energy_factors').selectAll().where('month', 'like', `${year}-%`).execute();
  const factors = new Map<string, MonthFactors>(
    rows.map((r) => [
      `${r.site}/${r.month}`,
      { pue: r.pue, gridGCo2PerKwh: r.grid_g_co2_per_kwh, renewableShare: r.renewable_share },
    ]),
  );
  const keys = ['itKwh', 'facilityKwh', 'co2Kg', 'declaredKwh', 'renewableKwh', 'measuredKwh'] as const;
  type Acc = Record<(typeof keys)[number], number>;
  const zero = (): Acc => ({ itKwh: 0, facilityKwh: 0, co2Kg: 0, declaredKwh: 0, renewableKwh: 0, measuredKwh: 0 });
  const sites = new Map<string, Acc>();
  const missing = new Set<string>();
  const add = (s: {
    site: string;
    gpu_type: string;
    gpus: number;
    started_at: string;
    ended_at: string | null;
    measured_joules: number | null;
  }) => {
    const start = Date.parse(s.started_at);
    const end = s.ended_at ? Date.parse(s.ended_at) : now;
    if (Math.min(to, end) <= Math.max(from, start)) return;
    const months = new Set<string>();
    const e = segmentEnergy(
      { gpuType: s.gpu_type, gpus: s.gpus, start, end, measuredJoules: s.measured_joules },
      (m) => factors.get(`${s.site}/${m}`),
      months,
      { from, to },
    );
    for (const m of months) missing.add(`${s.site}/${m}`);
    const acc = sites.get(s.site) ?? zero();
    for (const k of keys) acc[k] += e[k];
    sites.set(s.site, acc);
  };
  const columns = ['id', 'site', 'gpu_type', 'gpus', 'started_at', 'ended_at', 'measured_joules'] as const;
  const fromIso = new Date(from).toISOString();
  const toIso = new Date(to).toISOString();
  for (const r of await store.db
    .selectFrom('usage_records')
    .select(columns)
    .where('org_id', '=', org)
    .where('ended_at', 'is', null)
    .execute()) {
    add(r);
  }
  // Keyset pages on the (org_id, ended_at) index, as an invoice run reads them.
  for (let after: [string, number] = [fromIso, Number.MAX_SAFE_INTEGER]; ; ) {
    const page = await store.db
      .selectFrom('usage_records')
      .select(columns)
      .where('org_id', '=', org)
      .where((eb) => eb(eb.refTuple('ended_at', 'id'), '>', eb.tuple(after[0], after[1])))
      .where('started_at', '<', toIso)
      .orderBy('ended_at')
      .orderBy('id')
      .limit(BATCH)
      .execute();
    for (const r of page) add(r);
    if (page.length < BATCH) break;
    const last = page[page.length - 1]!;
    after = [last.ended_at ?? fromIso, last.id];
  }
  const total = zero();
  for (const acc of sites.values()) for (const k of keys) total[k] += acc[k];
  return {
    org,
    year,
    period: { from: fromIso, to: toIso },
    itKwh: round6(total.itKwh),
    facilityKwh: round6(total.facilityKwh),
    co2Kg: round6(total.co2Kg),
    pue: total.itKwh > 0 ? Math.round((total.facilityKwh / total.itKwh) * 1000) / 1000 : null,
    renewableShare: total.declaredKwh > 0 ? Math.round((total.renewableKwh / total.declaredKwh) * 1000) / 1000 : null,
    measuredKwh: round6(total.measuredKwh),
    bySite: [...sites]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([site, a]) => ({
        site,
        itKwh: round6(a.itKwh),
        facilityKwh: round6(a.facilityKwh),
        co2Kg: round6(a.co2Kg),
        measuredKwh: round6(a.measuredKwh),
      })),
    monthsWithoutFactors: [...missing].sort(),
    powerModel: POWER_MODEL_NAME,
  };
}
