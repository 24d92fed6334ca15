/** Table types of migration 007 (scheduling operations). */
import type { Generated } from 'kysely';

export interface ReservationsTable {
  id: string;
  org_id: string;
  gpu_type: string;
  /** GPUs reserved: nodes x gpus_per_node. */
  gpus: number;
  gpus_per_node: number;
  nodes: number;
  site: string | null;
  start_at: string;
  end_at: string;
  note: string | null;
  created_by: string;
  created_at: string;
}

export interface MaintenanceWindowsTable {
  id: string;
  site: string | null;
  /** JSON array of node ids, or null for every node of `site`. */
  nodes: string | null;
  start_at: string;
  end_at: string;
  reason: string;
  created_by: string;
  created_at: string;
}

export interface JobCheckpointsTable {
  id: Generated<number>;
  job_id: number;
  at: string;
  step: number | null;
  label: string | null;
}
