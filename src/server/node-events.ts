/**
 * A node's own event log (migration 037 node_events) and its GPUs' partition modes
 * (gpu_partitions): re-partitions recorded with the start that needed them, drain/undrain/down with
 * the state change. Written inside the caller's transaction, so an event exists exactly when its
 * change was committed.
 */
import type { Kysely } from 'kysely';
import type { GpuPartitionMode, GpuRepartition } from '../model/gpu-sharing.js';
import type { Database } from '../store/schema.js';
import type { Trx } from './job-events.js';

/** NodeEvent: one entry of a node's event log, as the API shows it. */
export interface NodeEvent {
  id: number;
  at: string;
  type: string;
  reason: string | null;
  message: string;
  actor: string;
  data: Record<string, unknown> | null;
}

export interface NewNodeEvent {
  node: string;
  at: string;
  type: string;
  reason: string | null;
  message: string;
  actor: string;
  data?: Record<string, unknown>;
}

export async function insertNodeEvent(trx: Trx, e: NewNodeEvent): Promise<void> {
  await trx
    .insertInto('node_events')
    .values({
      node_id: e.node,
      at: e.at,
      type: e.type,
      reason: e.reason,
      message: e.message,
      actor: e.actor,
      data: e.data ? JSON.stringify(e.data) : null,
    })
    .execute();
}

/** Drivers that switch a GPU's MIG mode themselves before a start (the simulated one simulates it). */
const SWITCHING_DRIVERS = new Set(['local', 'sim']);

/** driverSwitches: whether the driver kind of a site carries a re-partition out (Slurm and Kubernetes do not). */
export const driverSwitches = (driverKind: string): boolean => SWITCHING_DRIVERS.has(driverKind);

/**
 * repartitionMessage: the sentence a re-partition's node and job events carry. On a site whose
 * driver does not switch MIG mode (`driverKind` slurm, kubernetes) it says so: the mode is what
 * placement counts, and the node's own MIG layout must provide it.
 */
export function repartitionMessage(r: GpuRepartition, jobId: string, driverKind = 'local'): string {
  const did =
    r.to === 'mig'
      ? `GPU ${r.gpu} of ${r.node} was idle and is re-partitioned into MIG mode for job ${jobId}`
      : `GPU ${r.gpu} of ${r.node} was idle in MIG mode and is re-partitioned back to a whole GPU for job ${jobId}`;
  if (driverSwitches(driverKind)) return did;
  const layout = driverKind === 'slurm' ? "Slurm's gres.conf" : "the GPU operator's mig-manager (nvidia.com/mig.config)";
  return `${did} — recorded for placement only: this site's ${driverKind} driver does not switch MIG mode, the node's MIG layout (${layout}) must provide it`;
}

/** recordGpuRepartition: the node event and the GPU's new mode, in the start's transaction. */
export async function recordGpuRepartition(
  trx: Trx,
  r: GpuRepartition,
  jobId: string,
  at: string,
  driverKind = 'local',
): Promise<void> {
  const row = { mode: r.to, changed_at: at, job_id: jobId };
  await trx
    .insertInto('gpu_partitions')
    .values({ node_id: r.node, gpu: r.gpu, ...row })
    .onConflict((oc) => oc.columns(['node_id', 'gpu']).doUpdateSet(row))
    .execute();
  await insertNodeEvent(trx, {
    node: r.node,
    at,
    type: 'gpu_repartitioned',
    reason: r.reason,
    message: repartitionMessage(r, jobId, driverKind),
    actor: 'system:scheduler',
    data: { gpu: r.gpu, from: r.from, to: r.to, job: jobId, carriedOut: driverSwitches(driverKind) },
  });
}

/** loadGpuPartitions: every GPU recorded in MIG mode (a GPU without a row, or `whole`, is whole). */
export async function loadGpuPartitions(db: Kysely<Database>): Promise<{ node: string; gpu: number; mode: GpuPartitionMode }[]> {
  const rows = await db.selectFrom('gpu_partitions').select(['node_id', 'gpu', 'mode']).where('mode', '=', 'mig').execute();
  return rows.map((r) => ({ node: r.node_id, gpu: r.gpu, mode: 'mig' as const }));
}

/** listNodeEvents: a node's events oldest first, `limit` after event id `after`. */
export async function listNodeEvents(db: Kysely<Database>, node: string, after: number, limit: number): Promise<NodeEvent[]> {
  const rows = await db
    .selectFrom('node_events')
    .selectAll()
    .where('node_id', '=', node)
    .where('id', '>', after)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at,
    type: r.type,
    reason: r.reason,
    message: r.message,
    actor: r.actor,
    data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null,
  }));
}
