/**
 * GPU partition modes at a start: which idle GPUs a placement needs re-partitioned (whole ↔ MIG),
 * and, for whole-GPU placements on a node with GPUs in MIG mode, the node's whole-mode free GPUs
 * first, so a MIG layout is torn down only when the node has no other free GPU.
 *
 * Runs after placement (placement.ts and its fast paths stay mode-blind) and before the start is
 * allocated. Never re-partitions a GPU with an allocation on it: a placement only takes free GPUs
 * (a MIG instance joining a GPU already needs no change), and repartitionsFor checks it again.
 */
import { type GpuRepartition, partitionModeFor } from '../model/gpu-sharing.js';
import type { Placement } from '../model/job.js';
import { type ClusterModel, ClusterModelError } from './cluster-model.js';

/**
 * preferWholeModeGpus: a whole-GPU placement with, on each node that has GPUs in MIG mode, the
 * same number of free GPUs taken whole-mode first (then ascending). The same nodes and GPU counts:
 * only which free GPUs of a node, so capacity and topology are unchanged.
 */
export function preferWholeModeGpus(cluster: ClusterModel, placement: Placement): Placement {
  const first = placement.nodes[0];
  if (!first || first.milli !== undefined || first.migProfile !== undefined || !cluster.anyMigMode()) return placement;
  let changed = false;
  const nodes = placement.nodes.map((a) => {
    const i = cluster.fleet.nodeIndex.get(a.node);
    if (i === undefined || !cluster.hasMigModeGpu(i)) return a;
    const free = cluster.lowestFreeGpus(i, cluster.nodeAt(i).gpus);
    const whole = free.filter((g) => cluster.gpuPartition(i, g) === 'whole');
    const mig = free.filter((g) => cluster.gpuPartition(i, g) === 'mig');
    const gpus = [...whole, ...mig].slice(0, a.gpus.length).sort((x, y) => x - y);
    if (gpus.length !== a.gpus.length || gpus.every((g, k) => g === a.gpus[k])) return a;
    changed = true;
    return { ...a, gpus };
  });
  return changed ? { ...placement, nodes } : placement;
}

/** repartitionsFor: the re-partitions a placement needs before it starts (none when every GPU is in its mode). */
export function repartitionsFor(cluster: ClusterModel, placement: Placement): GpuRepartition[] {
  // No GPU in MIG mode anywhere: only a MIG instance can need one (the common case costs nothing).
  if (!cluster.anyMigMode() && placement.nodes[0]?.migProfile === undefined) return [];
  const out: GpuRepartition[] = [];
  for (const a of placement.nodes) {
    const i = cluster.fleet.nodeIndex.get(a.node);
    if (i === undefined) continue; // allocate refuses an unknown node
    const to = partitionModeFor(a);
    for (const gpu of a.gpus) {
      const from = cluster.gpuPartition(i, gpu);
      if (from === to) continue;
      if (!cluster.isGpuFree(a.node, gpu)) {
        throw new ClusterModelError(`GPU ${gpu} of ${a.node} holds an allocation: it cannot be re-partitioned to ${to}`);
      }
      out.push({ node: a.node, gpu, from, to, reason: 'mig_repartition' });
    }
  }
  return out;
}

/** applyRepartitions: record committed re-partitions in the model. */
export function applyRepartitions(cluster: ClusterModel, reps: readonly GpuRepartition[]): void {
  for (const r of reps) cluster.setGpuPartition(r.node, r.gpu, r.to);
}
