/** Table types of migration 016 (usage records: one row per run segment of a job). */
import type { Generated } from 'kysely';

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
}
