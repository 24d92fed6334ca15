/**
 * Energy and CO₂: a power model per GPU type (idle and busy watts), a site's PUE and grid factor per
 * calendar month as the operator sets them, and the arithmetic from metered GPU time to kWh and kg
 * CO₂e. Measured where measured: a run segment whose driver reported its energy (Slurm's sacct, the
 * local driver's nvidia-smi samples, the simulated driver at a job's utilisation) counts that figure,
 * spread evenly over its run time; the power model at full utilisation counts only where none was
 * measured. Allocated-but-idle GPUs belong to the job that holds them.
 */
import { z } from '@hono/zod-openapi';

export interface GpuPower {
  idleWatts: number;
  busyWatts: number;
}

/**
 * Busy watts: the vendor's maximum board power / TDP per GPU (NVIDIA datasheets: DGX B200, H200
 * SXM, H100 SXM, A100 SXM, L40S, L4, RTX PRO 6000 Blackwell Server Edition). Idle watts: an
 * estimate of about a tenth of that (nvidia-smi shows some 60–75 W for an idle H100 SXM), to be
 * replaced by sampled figures where a driver samples power.
 */
export const POWER_MODEL: Readonly<Record<string, GpuPower>> = {
  B200: { idleWatts: 140, busyWatts: 1000 },
  GB200: { idleWatts: 150, busyWatts: 1200 },
  H200: { idleWatts: 75, busyWatts: 700 },
  H100: { idleWatts: 70, busyWatts: 700 },
  A100: { idleWatts: 50, busyWatts: 400 },
  L40S: { idleWatts: 35, busyWatts: 350 },
  L4: { idleWatts: 16, busyWatts: 72 },
  'RTX-PRO-6000': { idleWatts: 60, busyWatts: 600 },
};
/** A type the table does not know: an H100-class GPU. */
export const FALLBACK_POWER: GpuPower = { idleWatts: 70, busyWatts: 700 };
export const POWER_MODEL_NAME = 'gigafab-power-model-v1 (vendor max board power at full utilisation; src/model/energy.ts)';

/** gpuWatts: a GPU's draw at a utilisation in [0, 1] (linear between idle and busy). */
export function gpuWatts(gpuType: string, utilisation = 1): number {
  const p = POWER_MODEL[gpuType] ?? FALLBACK_POWER;
  const u = Math.min(1, Math.max(0, utilisation));
  return p.idleWatts + (p.busyWatts - p.idleWatts) * u;
}

/** kwhOf: energy of `gpus` GPUs drawing `watts` each for `ms` milliseconds. */
export const kwhOf = (gpus: number, ms: number, watts: number) => (gpus * ms * watts) / 3.6e9;

/** round6: energy figures to the watt-hour's thousandth (kWh with 6 decimals). */
export const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** A run segment as the energy arithmetic reads it; measuredJoules null or absent: not measured. */
export interface EnergySegment {
  gpuType: string;
  gpus: number;
  start: number;
  end: number;
  measuredJoules?: number | null;
}

/**
 * partKwh: the IT energy of `ms` milliseconds of a segment — its measured joules spread evenly over
 * its run (end − start), or the power model at full utilisation where it has none. `measured` says which.
 */
export function partKwh(seg: EnergySegment, ms: number): { kwh: number; measured: boolean } {
  const j = seg.measuredJoules;
  if (j !== null && j !== undefined && seg.end > seg.start)
    return { kwh: ((j / 3.6e6) * ms) / (seg.end - seg.start), measured: true };
  return { kwh: kwhOf(seg.gpus, ms, gpuWatts(seg.gpuType)), measured: false };
}

/**
 * rollupKwh: the IT energy of a sum of run time in milli-GPU × ms (the daily rollup's run_mms) of
 * which `measuredMms` was measured at `measuredKwh`: the measured kWh plus the model for the rest.
 */
export function rollupKwh(gpuType: string, runMms: number, measuredMms: number, measuredKwh: number): number {
  return measuredKwh + kwhOf(1, Math.max(0, runMms - measuredMms) / 1000, gpuWatts(gpuType));
}

export const EnergyFactorsInputSchema = z
  .strictObject({
    site: z.string().min(1).max(63).openapi({ description: 'A site of the fleet', example: 'muc1' }),
    month: z.string().max(16).openapi({ description: 'Calendar month (UTC), YYYY-MM', example: '2026-11' }),
    pue: z.number().min(1).max(3).openapi({ description: 'Power usage effectiveness of the site that month', example: 1.2 }),
    gridGCo2PerKwh: z.number().min(0).max(2000).openapi({ description: 'Grid emission factor, g CO₂e per kWh', example: 380 }),
    renewableShare: z.number().min(0).max(1).optional().openapi({ description: 'Share of renewable energy, 0–1', example: 0.6 }),
    source: z
      .string()
      .min(3)
      .max(300)
      .openapi({ description: 'Where the figures come from', example: 'UBA 2025 Strommix; site meter' }),
  })
  .openapi('EnergyFactorsInput');

export const EnergyFactorsSchema = z
  .object({
    site: z.string(),
    month: z.string(),
    pue: z.number(),
    gridGCo2PerKwh: z.number(),
    renewableShare: z.number().nullable(),
    source: z.string(),
    updatedAt: z.string(),
  })
  .openapi('EnergyFactors');
export type EnergyFactors = z.infer<typeof EnergyFactorsSchema>;
export type EnergyFactorsInput = z.infer<typeof EnergyFactorsInputSchema>;

/** A site's factors for one month, as energy arithmetic reads them. */
export interface MonthFactors {
  pue: number;
  gridGCo2PerKwh: number;
  /** The share of renewable energy the site declares for the month (null: none declared). */
  renewableShare?: number | null;
}

export interface EnergyFigures {
  itKwh: number;
  facilityKwh: number;
  co2Kg: number;
  /** Facility kWh in months whose site declared a renewable share, and the renewable part of them. */
  declaredKwh: number;
  renewableKwh: number;
  /** The part of itKwh that was measured (the rest is the power model's). */
  measuredKwh: number;
}

/**
 * segmentEnergy: a run segment's energy, split at UTC month boundaries so each part takes its
 * month's PUE and grid factor (none set: PUE 1, no CO₂; `missing` names those months).
 */
export function segmentEnergy(
  seg: EnergySegment,
  factors: (month: string) => MonthFactors | undefined,
  missing?: Set<string>,
  /** Count only the part of the segment inside [from, to) (a measurement still spreads over the whole run). */
  within?: { from: number; to: number },
): EnergyFigures {
  const out = { itKwh: 0, facilityKwh: 0, co2Kg: 0, declaredKwh: 0, renewableKwh: 0, measuredKwh: 0 };
  const last = Math.min(seg.end, within?.to ?? seg.end);
  for (let a = Math.max(seg.start, within?.from ?? seg.start); a < last; ) {
    const d = new Date(a);
    const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    const b = Math.min(last, next);
    const month = d.toISOString().slice(0, 7);
    const f = factors(month);
    if (!f) missing?.add(month);
    const { kwh: it, measured } = partKwh(seg, b - a);
    out.itKwh += it;
    if (measured) out.measuredKwh += it;
    out.facilityKwh += it * (f?.pue ?? 1);
    out.co2Kg += f ? (it * f.pue * f.gridGCo2PerKwh) / 1000 : 0;
    if (f && f.renewableShare !== null && f.renewableShare !== undefined) {
      out.declaredKwh += it * f.pue;
      out.renewableKwh += it * f.pue * f.renewableShare;
    }
    a = b;
  }
  return out;
}

const Figures = {
  itKwh: z.number().openapi({ description: 'GPU energy, kWh: measured where measured, the power model elsewhere' }),
  facilityKwh: z.number().openapi({ description: "itKwh × the site's PUE of each month" }),
  co2Kg: z.number().openapi({ description: "facilityKwh × the site's grid factor of each month, kg CO₂e" }),
};

export const JobEnergySchema = z
  .object({
    jobId: z.string(),
    ...Figures,
    segments: z.array(
      z.object({
        attempt: z.number().int(),
        gpuType: z.string(),
        site: z.string(),
        gpus: z.number().int(),
        startedAt: z.string(),
        endedAt: z.string().nullable().openapi({ description: 'null: still running (counted up to now)' }),
        ...Figures,
        measuredKwh: z.number().nullable().openapi({
          description:
            "kWh the driver measured for the segment (Slurm's ConsumedEnergyRaw, nvidia-smi samples on local, the simulated utilisation); itKwh is this figure. null: not measured (itKwh is the power model's)",
        }),
        modelKwh: z
          .number()
          .openapi({ description: "The power model's kWh for the segment at full utilisation, for comparison" }),
      }),
    ),
    measuredKwh: z.number().nullable().openapi({
      description: 'The part of itKwh that was measured: the measured segments added up (null: none measured)',
    }),
    modelKwh: z.number().openapi({ description: "The power model's kWh for every segment, for comparison with itKwh" }),
    measuredSegments: z.number().int().openapi({ description: 'How many of the segments have a measurement' }),
    monthsWithoutFactors: z.array(z.string()).openapi({ description: 'site/month pairs with no factors set: PUE 1, no CO₂' }),
    powerModel: z.string(),
  })
  .openapi('JobEnergy');
export type JobEnergy = z.infer<typeof JobEnergySchema>;

export const EnergyStatementSchema = z
  .object({
    org: z.string(),
    year: z.string(),
    period: z.object({
      from: z.string(),
      to: z.string().openapi({ description: 'The end of the year, or now for the current one' }),
    }),
    ...Figures,
    pue: z.number().nullable().openapi({ description: 'facilityKwh / itKwh (null: no energy)' }),
    renewableShare: z
      .number()
      .nullable()
      .openapi({ description: 'Renewable share of the facility kWh where the site declared one (null: none declared)' }),
    measuredKwh: z.number().openapi({ description: 'The part of itKwh that was measured (the rest is the power model)' }),
    bySite: z.array(z.object({ site: z.string(), ...Figures, measuredKwh: z.number() })),
    monthsWithoutFactors: z.array(z.string()),
    powerModel: z.string(),
  })
  .openapi('EnergyStatement');
export type EnergyStatement = z.infer<typeof EnergyStatementSchema>;
