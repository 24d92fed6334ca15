/**
 * placeShare: where a fraction or MIG instance of one GPU goes, on one GPU type.
 *
 *   1. the organisation's own partly used GPUs (same mode, room left) in allowed groups of sites
 *      that allow sharing: the tightest fit (best-fit.ts tightestFit, FGD's best-fit GPU, shared with sharing/), so
 *      shares pack onto few GPUs and whole GPUs stay whole;
 *   2. a MIG instance: else an idle GPU already in MIG mode (no re-partition needed), on the node
 *      with the fewest free GPUs (best fit), then the lowest GPU;
 *   3. else a free GPU, chosen by the whole-GPU placement for one GPU (placement.ts best fit: the
 *      node with the fewest free GPUs), which keeps fully free nodes for whole-node jobs; on that
 *      node a free GPU already in the mode the share needs, if any. A GPU in the other mode is
 *      re-partitioned (idle, so safe): partition.ts repartitionsFor adds that to the start.
 *
 * Never a GPU another organisation holds a share of (the ClusterModel refuses it too), never a node
 * masked for the attempt (a spread group's nodes, ClusterModel.maskNodes). Reads the ClusterModel,
 * never changes it.
 */
import type { Fleet, GpuType } from '../model/fleet.js';
import { migProfileMilli, migProfileOf, siteAllowsSharing } from '../model/gpu-sharing.js';
import type { PendingReason, Placement } from '../model/job.js';
import { tightestFit } from './best-fit.js';
import type { ClusterModel, GroupInfo } from './cluster-model.js';
import type { PlacementConstraints } from './constraints.js';
import { placeJob } from './placement.js';
import { REASON } from './reasons.js';
import type { SchedJob, SchedShare } from './types.js';

/** ShareOutcome: a placement, or why there is none. */
export type ShareOutcome = { ok: true; placement: Placement } | { ok: false; reason: PendingReason };

const sharingSites = new WeakMap<Fleet, ReadonlySet<string>>();

/** sitesAllowingSharing: the fleet's sites with gpuSharing on (cached per fleet). */
export function sitesAllowingSharing(fleet: Fleet): ReadonlySet<string> {
  let set = sharingSites.get(fleet);
  if (!set) {
    set = new Set(fleet.sites.filter(siteAllowsSharing).map((s) => s.id));
    sharingSites.set(fleet, set);
  }
  return set;
}

/** shareMilliOn: the milli-GPU a share counts for on a GPU type, or undefined (a MIG profile the type lacks). */
export function shareMilliOn(fleet: Fleet, share: SchedShare, gpuType: GpuType): number | undefined {
  if (share.migProfile === undefined) return share.milli;
  const found = migProfileOf(fleet, gpuType, share.migProfile);
  return found ? migProfileMilli(found.layout, found.profile) : undefined;
}

/** describe: "250 milli-GPU" / "room for a MIG 1g.23gb instance", for reasons. */
function describe(share: SchedShare): string {
  return share.migProfile !== undefined ? `room for a MIG ${share.migProfile} instance` : `${share.milli} milli-GPU`;
}

/** placeShare: see the module comment. `job.share` must be set. */
export function placeShare(
  cluster: ClusterModel,
  job: SchedJob,
  gpuType: GpuType,
  constraints: PlacementConstraints | undefined,
  /** GPUs a share must not join (a backfill reservation counts on them coming free). */
  reserved?: (node: string, gpu: number) => boolean,
): ShareOutcome {
  const share = job.share;
  if (!share) throw new Error(`job ${job.id} asks for no GPU share`);
  const allowedSites = sitesAllowingSharing(cluster.fleet);
  const groups: GroupInfo[] = [];
  const refused: string[] = [];
  for (const g of cluster.groupsOfType(gpuType)) {
    if (constraints && !constraints.allows(g)) continue;
    if (allowedSites.has(g.site)) groups.push(g);
    else refused.push(g.site);
  }
  if (groups.length === 0) return { ok: false, reason: REASON.sharingNotAllowed(gpuType, refused) };
  const milli = shareMilliOn(cluster.fleet, share, gpuType);
  if (milli === undefined) {
    return { ok: false, reason: REASON.unsatisfiable(`${gpuType} has no MIG profile ${share.migProfile}`, { gpuType }) };
  }
  // 1. The org's partly used GPUs, tightest first (ascending GPU index breaks ties: reproducible).
  const candidates: number[] = [];
  for (const g of groups) {
    for (const a of cluster.sharedGpusOf(job.org, g.id)) {
      const { node, gpu } = cluster.gpuOfAbs(a);
      if (!cluster.isUp(node) || cluster.isMasked(node) || reserved?.(cluster.nodeAt(node).id, gpu)) continue;
      if (cluster.canShare(node, gpu, job.org, share.milli, share.migProfile)) candidates.push(a);
    }
  }
  if (candidates.length > 0) {
    candidates.sort((x, y) => x - y);
    const k = tightestFit(candidates.length, (i) => cluster.shareMilliFree(candidates[i]), milli);
    if (k >= 0) {
      const { node, gpu } = cluster.gpuOfAbs(candidates[k]);
      return { ok: true, placement: sharePlacement(cluster, gpuType, node, gpu, share, milli) };
    }
  }
  // 2. A MIG instance: an idle GPU already in MIG mode.
  if (share.migProfile !== undefined) {
    const idle = idleMigModeGpu(cluster, groups, reserved);
    if (idle) return { ok: true, placement: sharePlacement(cluster, gpuType, idle.node, idle.gpu, share, milli) };
  }
  // 3. A free GPU: the whole-GPU best fit for one GPU, in the sharing sites only.
  const ids = new Set(groups.map((g) => g.id));
  const fresh = placeJob(cluster, {
    gpuType,
    gpusPerNode: 1,
    nodes: 1,
    constraints: { allows: (g) => ids.has(g.id), singleUnit: false },
  });
  if (!fresh.ok) {
    return {
      ok: false,
      reason: REASON.noShareCapacity(gpuType, job.org, describe(share), [...new Set(groups.map((g) => g.site))]),
    };
  }
  const alloc = fresh.placement.nodes[0];
  const i = cluster.fleet.nodeIndex.get(alloc.node) ?? -1;
  const mode = share.migProfile !== undefined ? 'mig' : 'whole';
  const gpu = cluster.hasMigModeGpu(i) ? freeGpuInMode(cluster, i, mode, alloc.gpus[0], reserved) : alloc.gpus[0];
  return { ok: true, placement: sharePlacement(cluster, gpuType, i, gpu, share, milli) };
}

/** idleMigModeGpu: the free, up GPU in MIG mode of the groups on the node with the fewest free GPUs (then the lowest). */
function idleMigModeGpu(
  cluster: ClusterModel,
  groups: readonly GroupInfo[],
  reserved: ((node: string, gpu: number) => boolean) | undefined,
): { node: number; gpu: number } | undefined {
  let best: { node: number; gpu: number; abs: number; free: number } | undefined;
  for (const g of groups) {
    for (const a of cluster.migModeGpusOfGroup(g.id)) {
      if (!cluster.isFreeAbs(a)) continue;
      const { node, gpu } = cluster.gpuOfAbs(a);
      if (!cluster.isPlaceable(node) || reserved?.(cluster.nodeAt(node).id, gpu)) continue;
      const free = cluster.freeCountOf(node);
      if (!best || free < best.free || (free === best.free && a < best.abs)) best = { node, gpu, abs: a, free };
    }
  }
  return best && { node: best.node, gpu: best.gpu };
}

/** freeGpuInMode: the lowest free GPU of node `i` already in `mode` (not reserved), else `fallback`. */
function freeGpuInMode(
  cluster: ClusterModel,
  i: number,
  mode: 'whole' | 'mig',
  fallback: number,
  reserved: ((node: string, gpu: number) => boolean) | undefined,
): number {
  const id = cluster.nodeAt(i).id;
  for (const g of cluster.lowestFreeGpus(i, cluster.nodeAt(i).gpus)) {
    if (cluster.gpuPartition(i, g) === mode && !reserved?.(id, g)) return g;
  }
  return fallback;
}

function sharePlacement(
  cluster: ClusterModel,
  gpuType: GpuType,
  i: number,
  gpu: number,
  share: SchedShare,
  milli: number,
): Placement {
  const node = cluster.nodeAt(i);
  const alloc: Placement['nodes'][number] = { node: node.id, gpus: [gpu], milli };
  if (share.migProfile !== undefined) alloc.migProfile = share.migProfile;
  if (share.memoryMiB !== undefined) alloc.memoryMiB = share.memoryMiB;
  return { site: node.site, gpuType, nodes: [alloc] };
}
