/**
 * Energy metrics at /metrics, from the power model (model/energy.ts) and the live allocation:
 * allocated GPUs at their busy watts, free ones at idle, per site and GPU type, in Prometheus base
 * units (watts, joules), and the energy integrated from one scrape to the next (a counter that
 * starts again at a restart). Estimates until a driver reports sampled power.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { FALLBACK_POWER, POWER_MODEL } from '../model/energy.js';
import type { LiveView } from './metrics.js';

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
