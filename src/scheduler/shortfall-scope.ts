/**
 * The honest side of a capacity shortfall: placement counts only the (site, GPU type) groups a
 * job's constraints and residency allow, so its "free" numbers cover those sites alone. This names
 * them, and measures what each residency-excluded site has right now, for scopedShortfall.
 */
import type { GpuType } from '../model/fleet.js';
import type { PendingReason } from '../model/job.js';
import type { ClusterModel, GroupInfo } from './cluster-model.js';
import type { PlacementConstraints } from './constraints.js';
import { type CapacityShortfall, type ExcludedCapacity, REASON, scopedShortfall } from './reasons.js';
import type { SchedJob } from './types.js';

/** shortfallReason: the capacity or topology reason of a failed placement, scoped to where the job may run. */
export function shortfallReason(
  cluster: ClusterModel,
  job: SchedJob,
  constraints: PlacementConstraints | undefined,
  s: CapacityShortfall,
  topology: boolean,
): PendingReason {
  if (!constraints) return topology ? REASON.topology(s) : REASON.insufficientCapacity(s);
  const sites: string[] = [];
  let fits = false;
  for (const g of cluster.groupsOfType(s.gpuType)) {
    if (!constraints.allows(g)) continue;
    if (!sites.includes(g.site)) sites.push(g.site);
    fits ||= largeEnough(g, job);
  }
  const excluded = job.residency ? excludedCapacity(cluster, job, s.gpuType) : [];
  return scopedShortfall(s, topology, { sites, by: job.residency ? 'residency' : 'constraints', fits }, excluded);
}

/** largeEnough: the group, idle, could hold the job's shape (a gang lives in one site). */
function largeEnough(g: GroupInfo, job: SchedJob): boolean {
  return g.maxGpus >= job.gpusPerNode && g.nodes.length >= job.nodes;
}

/** excludedCapacity: each residency-excluded site with nodes of the type, its free GPUs and whether it is large enough. */
export function excludedCapacity(cluster: ClusterModel, job: SchedJob, gpuType: GpuType): ExcludedCapacity[] {
  const out: ExcludedCapacity[] = [];
  for (const e of job.residency?.excludedSites ?? []) {
    let free = 0;
    let fits = false;
    let present = false;
    for (const g of cluster.groupsOfType(gpuType)) {
      if (g.site !== e.site) continue;
      present = true;
      free += cluster.groupFreeGpus(g.id);
      fits ||= largeEnough(g, job);
    }
    if (present) out.push({ site: e.site, rule: e.rule, reason: e.reason, free, fits, renewable: e.renewable === true });
  }
  return out;
}
