/** Table types of migration 016 (usage records: one row per run segment of a job). */
import type { ColumnType, Generated } from 'kysely';

export interface UsageRecordsTable {
  id: Generated<number>;
  org_id: string;
  project_id: string;
  job_id: number;
  /** The job's attempt this segment is (jobs.attempt at its start); unique with job_id. */
  attempt: number;
  gpu_type: string;
  site: string;
  gpus: number;
  /** on-demand, preemptible or borrowed (model/usage.ts). */
  class: string;
  started_at: string;
  /** null while the segment runs. */
  ended_at: string | null;
  /** gpus × (ended_at − started_at) in seconds, once closed. */
  gpu_seconds: number | null;
  /** Joules the execution engine measured for the segment (Slurm's ConsumedEnergyRaw); null: not measured (migration 031). */
  measured_joules: number | null;
  /** A borrowed segment's lenders, JSON [{project, gpus}] as the job started (model/lenders.ts); null: none (migration 034). */
  lenders: string | null;
}

/**
 * Migration 027: the daily rollup of closed run segments, per (org, project, GPU type, site, class,
 * UTC day), maintained in the transaction that closes a segment (src/server/metering.ts). Amounts are
 * exact integers in milli-GPU × ms (model/usage-daily.ts).
 */
export interface UsageDailyTable {
  org_id: string;
  project_id: string;
  gpu_type: string;
  site: string;
  class: string;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  run_mms: number;
  billed_mms: number;
  /** Closed segments that ran on the day. */
  pieces: number;
  /** Closed segments that began on the day. */
  starts: number;
  /** The earliest start of a segment whose billed time touches the day (where raw reads begin). */
  earliest_start: string;
  /** Migration 035: the part of run_mms whose energy a driver measured, and that measured energy (kWh); default 0. */
  measured_mms: ColumnType<number, number | undefined, number>;
  measured_kwh: ColumnType<number, number | undefined, number>;
}

/**
 * Migration 033: one correction of a closed run segment to the run time its driver reported
 * afterwards (src/server/usage-reconcile.ts reconcileSegment). The segment holds the corrected figures.
 */
export interface UsageCorrectionsTable {
  id: Generated<number>;
  usage_record_id: number;
  org_id: string;
  job_id: number;
  attempt: number;
  /** The segment as it stood before this correction (as metered, or an earlier correction). */
  metered_started_at: string;
  metered_ended_at: string;
  metered_gpu_seconds: number;
  /** What the driver reported (Slurm's sacct Start and End). */
  reported_started_at: string;
  reported_ended_at: string;
  reported_gpu_seconds: number;
  /** The driver's name. */
  driver: string;
  /** When the correction was applied. */
  at: string;
  /** Issued invoices (numbers, comma-separated) of months the correction touches, which it leaves unchanged; null: none. */
  invoiced: string | null;
}
