/**
 * A job's energy: each of its run segments (attempts) at the power model's watts for its GPU type,
 * the site's PUE and grid factor of each month it ran in; a running segment counts up to now.
 * Whoever may read the job may read its energy (the job service decides). Where the driver measured a
 * segment's energy (Slurm's sacct, nvidia-smi samples, the simulated utilisation) that figure is the
 * segment's itKwh (`measuredKwh`); the power model's own figure is shown beside it (`modelKwh`).
 */
import {
  gpuWatts,
  type JobEnergy,
  kwhOf,
  type MonthFactors,
  POWER_MODEL_NAME,
  round6,
  segmentEnergy,
} from '../../model/energy.js';
import type { Store } from '../../store/open-store.js';

export async function jobEnergy(store: Store, jobId: string, now: number): Promise<JobEnergy> {
  const segs = await store.db
    .selectFrom('usage_records')
    .selectAll()
    .where('job_id', '=', Number(jobId))
    .orderBy('attempt')
    .execute();
  const sites = [...new Set(segs.map((s) => s.site))];
  const rows = sites.length ? await store.db.selectFrom('energy_factors').selectAll().where('site', 'in', sites).execute() : [];
  const factors = new Map<string, MonthFactors>(
    rows.map((r) => [`${r.site}/${r.month}`, { pue: r.pue, gridGCo2PerKwh: r.grid_g_co2_per_kwh }]),
  );
  const missing = new Set<string>();
  const total = { itKwh: 0, facilityKwh: 0, co2Kg: 0, measuredKwh: 0, measuredSegments: 0, modelKwh: 0 };
  const segments = segs.map((s) => {
    const months = new Set<string>();
    const start = Date.parse(s.started_at);
    const end = s.ended_at ? Date.parse(s.ended_at) : now;
    const joules = s.measured_joules === null || s.measured_joules === undefined ? null : Number(s.measured_joules);
    const e = segmentEnergy(
      { gpuType: s.gpu_type, gpus: s.gpus, start, end, measuredJoules: joules },
      (m) => factors.get(`${s.site}/${m}`),
      months,
    );
    const model = kwhOf(s.gpus, Math.max(0, end - start), gpuWatts(s.gpu_type));
    total.modelKwh += model;
    for (const m of months) missing.add(`${s.site}/${m}`);
    total.itKwh += e.itKwh;
    total.facilityKwh += e.facilityKwh;
    total.co2Kg += e.co2Kg;
    const measured = joules === null ? null : joules / 3.6e6;
    if (measured !== null) {
      total.measuredKwh += measured;
      total.measuredSegments++;
    }
    return {
      attempt: s.attempt,
      gpuType: s.gpu_type,
      site: s.site,
      gpus: s.gpus,
      startedAt: s.started_at,
      endedAt: s.ended_at,
      itKwh: round6(e.itKwh),
      facilityKwh: round6(e.facilityKwh),
      co2Kg: round6(e.co2Kg),
      measuredKwh: measured === null ? null : round6(measured),
      modelKwh: round6(model),
    };
  });
  return {
    jobId,
    itKwh: round6(total.itKwh),
    facilityKwh: round6(total.facilityKwh),
    co2Kg: round6(total.co2Kg),
    segments,
    measuredKwh: total.measuredSegments > 0 ? round6(total.measuredKwh) : null,
    measuredSegments: total.measuredSegments,
    modelKwh: round6(total.modelKwh),
    monthsWithoutFactors: [...missing].sort(),
    powerModel: POWER_MODEL_NAME,
  };
}
