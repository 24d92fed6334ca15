/** Table types of migration 037 (GPU partition modes and the node event log). */
import type { Generated } from 'kysely';

export interface GpuPartitionsTable {
  node_id: string;
  gpu: number;
  /** `mig` | `whole` (model/gpu-sharing.ts GpuPartitionMode). */
  mode: string;
  changed_at: string;
  /** The job whose start needed the change, if any. */
  job_id: string | null;
}

export interface NodeEventsTable {
  id: Generated<number>;
  node_id: string;
  at: string;
  /** `gpu_repartitioned`, `drained`, `undrained`, `down`, … */
  type: string;
  reason: string | null;
  message: string;
  actor: string;
  /** JSON details (a re-partition: gpu, from, to, job). */
  data: string | null;
}
