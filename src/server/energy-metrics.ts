/**
 * Energy metrics at /metrics, from the power model (model/energy.ts) and the live allocation:
 * allocated GPUs at their busy watts, free ones at idle, per site and GPU type, in Prometheus base
 * units (watts, joules), and the energy integrated from one scrape to the next (a counter that
 * starts again at a restart). Estimates until a driver reports sampled power.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { FALLBACK_POWER, POWER_MODEL } from '../model/energy.js';
import type { Store } from '../store/open-store.js';
import type { LiveView } from './metrics.js';
import type { ProjectLabels } from './project-metrics.js';
import { type TenantEnergy, TenantEnergyTotals } from './tenant-energy.js';

export function registerEnergyMetrics(registry: Registry, view: () => LiveView | null, now: () => number = Date.now): void {
  const energy = new Counter({
    name: 'gigafab_gpu_energy_joules_total',
    help: 'GPU energy by the power model since the server started (allocated at busy watts, free at idle), per site and GPU type',
    labelNames: ['site', 'gpu_type'],
    registers: [registry],
  });
  let last = now();
  new Gauge({
    name: 'gigafab_gpu_power_watts',
    help: 'GPU power by the power model, per site, GPU type and state (allocated: busy watts; free: idle watts)',
    labelNames: ['site', 'gpu_type', 'state'],
    registers: [registry],
    collect() {
      const t = now();
      const seconds = Math.max(0, (t - last) / 1000);
      last = t;
      for (const g of view()?.gpuTotals() ?? []) {
        const p = POWER_MODEL[g.gpuType] ?? FALLBACK_POWER;
        const busy = g.allocated * p.busyWatts;
        const idle = g.free * p.idleWatts;
        this.set({ site: g.site, gpu_type: g.gpuType, state: 'allocated' }, busy);
        this.set({ site: g.site, gpu_type: g.gpuType, state: 'free' }, idle);
        // The power now stands for the interval since the last scrape: an estimate, as the model is.
        if (seconds > 0) energy.inc({ site: g.site, gpu_type: g.gpuType }, (busy + idle) * seconds);
      }
    },
  });
}

/**
 * Per-tenant energy, SCS-0414-v1 names (Sovereign Cloud Stack, "Sustainability Monitoring Data
 * Formats", draft: `sustainability_tenant_energy_kwh` and `sustainability_tenant_operational_gwp_kg`,
 * gauges), labelled like the per-project series (`org`, `project`; the standard's OpenStack
 * `project_id`/`project_name` have no counterpart here, and a project's name is tenant-written text
 * that /metrics, which anyone may read, does not publish). The kWh with each site's PUE has no SCS
 * name (SCS folds PUE into the GWP): `gigafab_tenant_facility_energy_kwh`. Values are the metered
 * totals since metering began (tenant-energy.ts: settled days summed once, the recent ones per scrape):
 * at the GPUs, measured where a driver measured them and the power model's elsewhere; the measured
 * part is `gigafab_tenant_measured_energy_kwh`. The (org, project) label sets are the per-project
 * series' own, under the same cap, the rest added into `other`.
 */
export function registerTenantEnergyMetrics(
  registry: Registry,
  opts: { store: () => Store | null; labels: ProjectLabels; now?: () => number },
): void {
  const now = opts.now ?? Date.now;
  // One read per scrape: the three gauges collect concurrently and share the one in flight.
  let inflight: Promise<TenantEnergy[] | null> | null = null;
  let totals: { store: Store; reader: TenantEnergyTotals } | undefined;
  const read = () => {
    if (!inflight) {
      const store = opts.store();
      if (store && totals?.store !== store) totals = { store, reader: new TenantEnergyTotals(store) };
      inflight = (store && totals ? totals.reader.read(now()) : Promise.resolve([]))
        .catch(() => null) // the store unreachable: the series keep their last values
        .finally(() => {
          inflight = null;
        });
    }
    return inflight;
  };
  const gauge = (name: string, help: string, pick: (e: TenantEnergy) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['org', 'project'],
      registers: [registry],
      async collect() {
        const rows = await read();
        if (rows === null) return;
        const sums = new Map<string, { org: string; project: string; v: number }>();
        for (const e of rows) {
          const l = opts.labels.of(e.org, e.project);
          const k = `${l.org}\u0000${l.project}`;
          const cur = sums.get(k) ?? { ...l, v: 0 };
          cur.v += pick(e);
          sums.set(k, cur);
        }
        this.reset();
        for (const s of sums.values()) this.set({ org: s.org, project: s.project }, s.v);
      },
    });
  gauge(
    'sustainability_tenant_energy_kwh',
    'Energy at the GPUs of the metered run time since metering began (measured where measured, else the power model), kWh, per organisation and project (SCS-0414)',
    (e) => e.itKwh,
  );
  gauge(
    'gigafab_tenant_measured_energy_kwh',
    'The part of sustainability_tenant_energy_kwh that drivers measured (the rest is the power model), kWh, per organisation and project',
    (e) => e.measuredKwh,
  );
  gauge(
    'gigafab_tenant_facility_energy_kwh',
    "sustainability_tenant_energy_kwh × each site's PUE of each month, kWh, per organisation and project",
    (e) => e.facilityKwh,
  );
  gauge(
    'sustainability_tenant_operational_gwp_kg',
    "Operational greenhouse gas emissions: the facility kWh × each site's grid factor of each month, kg CO2e, per organisation and project (SCS-0414)",
    (e) => e.co2Kg,
  );
}
