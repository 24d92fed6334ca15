/**
 * Placement: where does one job shape go, on one GPU type? Three stages, in this order:
 *
 *   1. capacity filter  - keep the (site, GPU type) groups with enough eligible up nodes
 *                         (O(GPUs per node) per group, from the free-count buckets);
 *   2. rankers          - score a plan per surviving group without touching nodes:
 *                           wholeNodeRanker  (gpusPerNode == node size): fewest scalable units,
 *                                            then the tightest unit (fully-free counts per unit);
 *                           bestFitRanker    (partial nodes): least GPUs left over on chosen nodes;
 *   3. select + bind    - take the best score (ties: fleet order of groups) and enumerate the
 *                         actual nodes and the lowest free GPU indexes on each.
 *
 * If no group survives stage 1 the result is a CapacityShortfall, flagged as topology when the
 * eligible nodes exist but only across sites. Reads the ClusterModel, never changes it.
 */
import type { GpuType } from '../model/fleet.js';
import type { NodeAllocation, Placement } from '../model/job.js';
import type { ClusterModel, GroupInfo } from './cluster-model.js';
import type { PlacementConstraints } from './constraints.js';
import type { CapacityShortfall } from './reasons.js';

/** PlacementRequest is a job shape on one concrete GPU type, with optional constraints. */
export interface PlacementRequest {
  gpuType: GpuType;
  gpusPerNode: number;
  nodes: number;
  /** Only groups it allows; singleUnit: the whole job in one scalable unit. */
  constraints?: PlacementConstraints;
}

/** PlacementOutcome: a placement, or the shortfall that explains why there is none. */
export type PlacementOutcome =
  | { ok: true; placement: Placement }
  | { ok: false; shortfall: CapacityShortfall; topology: boolean };

/** RankedPlan is one group's candidate plan; lower score wins, compared element by element. */
interface RankedPlan {
  group: GroupInfo;
  score: readonly [number, number, number];
  bind(): number[];
}

/** isWholeNode: the request takes whole nodes of a group whose nodes all have the same size. */
function isWholeNode(group: GroupInfo, req: PlacementRequest): boolean {
  return group.uniformGpus !== 0 && req.gpusPerNode === group.uniformGpus;
}

/** eligibleNodes counts the group's up nodes with at least `gpus` free GPUs. */
function eligibleNodes(cluster: ClusterModel, group: GroupInfo, gpus: number): number {
  let n = 0;
  for (let f = gpus; f <= group.maxGpus; f++) n += cluster.nodesWithFree(group.id, f);
  return n;
}

/** unitsByFullyFree lists the group's units that have fully free nodes, fewest first (ties: unit order). */
function unitsByFullyFree(cluster: ClusterModel, group: GroupInfo): { unit: number; free: number }[] {
  const out: { unit: number; free: number }[] = [];
  for (const unit of group.units) {
    const free = cluster.unitFullyFreeNodes(unit);
    if (free > 0) out.push({ unit, free });
  }
  return out.sort((a, b) => a.free - b.free || a.unit - b.unit);
}

/**
 * wholeNodeRanker plans a whole-node job over scalable units: a single unit if one has enough
 * fully free nodes (the tightest such unit), else the fewest units (largest first) with the last
 * one again the tightest that covers the remainder. Score: [units used, nodes left free in the
 * last unit, 0].
 */
function wholeNodeRanker(cluster: ClusterModel, group: GroupInfo, req: PlacementRequest): RankedPlan {
  // The common case in one pass, without the sorted lists: the tightest unit that covers the job
  // alone (fewest fully free nodes, then lowest index: the first such in unitsByFullyFree's order).
  let tight = -1;
  let tightFree = 0;
  for (const unit of group.units) {
    const free = cluster.unitFullyFreeNodes(unit);
    if (!(free > 0 && free >= req.nodes)) continue;
    if (tight < 0 || free < tightFree || (free === tightFree && unit < tight)) {
      tight = unit;
      tightFree = free;
    }
  }
  if (tight >= 0) return unitsPlan(cluster, group, [{ unit: tight, count: req.nodes }], tightFree - req.nodes);
  // No unit covers it: fill with the largest units while the remainder exceeds every unit.
  const ascending = unitsByFullyFree(cluster, group);
  const descending = [...ascending].sort((a, b) => b.free - a.free || a.unit - b.unit);
  const takes: { unit: number; count: number }[] = [];
  let remaining = req.nodes;
  const used = new Set<number>();
  for (const u of descending) {
    if (u.free >= remaining) break;
    takes.push({ unit: u.unit, count: u.free });
    used.add(u.unit);
    remaining -= u.free;
  }
  // The last unit: the tightest one (not used yet) that covers the remainder.
  let last = ascending.find((u) => u.free >= remaining && !used.has(u.unit));
  if (!last) last = descending.find((u) => !used.has(u.unit));
  if (!last) throw new Error('wholeNodeRanker called without capacity');
  takes.push({ unit: last.unit, count: remaining });
  return unitsPlan(cluster, group, takes, last.free - remaining);
}

/** unitsPlan: wholeNodeRanker's plan taking `count` fully free nodes of each unit in `takes`. */
function unitsPlan(
  cluster: ClusterModel,
  group: GroupInfo,
  takes: readonly { unit: number; count: number }[],
  slack: number,
): RankedPlan {
  return {
    group,
    score: [0, takes.length, slack],
    bind: () => {
      const out: number[] = [];
      for (const t of takes) {
        let node = -1;
        for (let k = 0; k < t.count; k++) {
          node = cluster.nextFullyFreeNode(t.unit, node);
          out.push(node);
        }
      }
      return out;
    },
  };
}

/**
 * bestFitRanker plans a partial-node job: nodes with the fewest free GPUs that still fit. Among
 * fully free nodes of a uniform group it prefers units that are already partly used, so whole
 * units stay free for gangs. Score: [1, GPUs left free on the chosen nodes, 0].
 */
function bestFitRanker(cluster: ClusterModel, group: GroupInfo, req: PlacementRequest): RankedPlan {
  let remaining = req.nodes;
  let waste = 0;
  for (let f = req.gpusPerNode; f <= group.maxGpus && remaining > 0; f++) {
    const take = Math.min(remaining, cluster.nodesWithFree(group.id, f));
    waste += take * (f - req.gpusPerNode);
    remaining -= take;
  }
  return {
    group,
    score: [1, waste, 0],
    bind: () => {
      const out: number[] = [];
      for (let f = req.gpusPerNode; f <= group.maxGpus && out.length < req.nodes; f++) {
        if (f === group.uniformGpus) {
          for (const u of unitsByFullyFree(cluster, group)) {
            let node = -1;
            while (out.length < req.nodes) {
              node = cluster.nextFullyFreeNode(u.unit, node);
              if (node < 0) break;
              out.push(node);
            }
          }
        } else {
          let node = -1;
          while (out.length < req.nodes) {
            node = cluster.nextNodeWithFree(group.id, f, node);
            if (node < 0) break;
            out.push(node);
          }
        }
      }
      return out;
    },
  };
}

/**
 * singleUnitRanker plans a job that must stay in one scalable unit: the unit with the fewest
 * eligible nodes that still has enough (tightest), best fit per node inside it. Scans the nodes of
 * the group's units, O(nodes of the group): only jobs that require a single unit pay for it.
 * Score: [0, GPUs left free on the chosen nodes, unit slack].
 */
function singleUnitRanker(cluster: ClusterModel, group: GroupInfo, req: PlacementRequest): RankedPlan | undefined {
  let bestUnit: { nodes: number[]; slack: number } | undefined;
  for (const u of group.units) {
    const eligible: number[] = [];
    for (const i of cluster.unit(u).nodes) {
      if (cluster.isPlaceable(i) && cluster.freeCountOf(i) >= req.gpusPerNode) eligible.push(i);
    }
    if (eligible.length < req.nodes) continue;
    const slack = eligible.length - req.nodes;
    if (!bestUnit || slack < bestUnit.slack) bestUnit = { nodes: eligible, slack };
  }
  if (!bestUnit) return undefined;
  const chosen = [...bestUnit.nodes].sort((a, b) => cluster.freeCountOf(a) - cluster.freeCountOf(b) || a - b).slice(0, req.nodes);
  let waste = 0;
  for (const i of chosen) waste += cluster.freeCountOf(i) - req.gpusPerNode;
  return { group, score: [0, waste, bestUnit.slack], bind: () => chosen };
}

function better(a: RankedPlan, b: RankedPlan): boolean {
  for (let k = 0; k < 3; k++) if (a.score[k] !== b.score[k]) return a.score[k] < b.score[k];
  return false;
}

/** shortfall summarises why no group could take the request. */
function shortfall(cluster: ClusterModel, groups: readonly GroupInfo[], req: PlacementRequest): PlacementOutcome {
  let freeFleetWide = 0;
  let bestSite = '';
  let bestSiteNodes = 0;
  let eligible = 0;
  let largestFreeOnNode = 0;
  let wholeNodes = groups.length > 0;
  for (const g of groups) {
    freeFleetWide += cluster.groupFreeGpus(g.id);
    const n = eligibleNodes(cluster, g, req.gpusPerNode);
    eligible += n;
    if (n > bestSiteNodes) {
      bestSiteNodes = n;
      bestSite = g.site;
    }
    for (let f = g.maxGpus; f > largestFreeOnNode; f--) {
      if (cluster.nodesWithFree(g.id, f) > 0) {
        largestFreeOnNode = f;
        break;
      }
    }
    if (!isWholeNode(g, req)) wholeNodes = false;
  }
  return {
    ok: false,
    topology: req.nodes > 1 && eligible >= req.nodes,
    shortfall: {
      gpuType: req.gpuType,
      gpusPerNode: req.gpusPerNode,
      nodes: req.nodes,
      wholeNodes,
      freeFleetWide,
      bestSite,
      bestSiteNodes,
      eligibleNodes: eligible,
      largestFreeOnNode,
    },
  };
}

/**
 * fits tells whether placeJob(cluster, req) would succeed, without ranking or binding: callers
 * that only test `.ok` (preemption's remove-until-fits loop, backfill's "would it fit without the
 * reservations") pay for stage 1 alone. Exact: outside a single-unit constraint a ranker always
 * returns a plan for a group that passes stage 1 (bestFitRanker always; wholeNodeRanker because
 * the group's eligible nodes are its fully free up nodes, which are exactly its units' fully free
 * sets), so placeJob fails only when no group passes; single-unit requests run their ranker.
 *
 * `extra` (node index -> GPUs) counts GPUs held by allocations that the caller imagines released
 * (backfill's phantom holds) as free on their nodes, without touching the cluster: a node then
 * becomes eligible when its free count reaches gpusPerNode with them. Not for single-unit requests
 * (their ranker reads the nodes themselves): the caller must release those allocations for real.
 */
export function fits(cluster: ClusterModel, req: PlacementRequest, extra?: ReadonlyMap<number, number>): boolean {
  const c = req.constraints;
  if (extra && c?.singleUnit) throw new Error('fits: extra GPUs cannot be counted for a single-unit request');
  for (const group of cluster.groupsOfType(req.gpuType)) {
    if (c && !c.allows(group)) continue;
    if (req.gpusPerNode > group.maxGpus) continue;
    let eligible = eligibleNodes(cluster, group, req.gpusPerNode);
    if (extra) eligible += newlyEligible(cluster, group, req.gpusPerNode, extra);
    if (eligible < req.nodes) continue;
    if (c?.singleUnit && !singleUnitRanker(cluster, group, req)) continue;
    return true;
  }
  return false;
}

/** newlyEligible: the group's placeable nodes that reach `gpus` free only with their `extra` GPUs. */
function newlyEligible(cluster: ClusterModel, group: GroupInfo, gpus: number, extra: ReadonlyMap<number, number>): number {
  let n = 0;
  // forEach, not for-of: the iterator makes an object per entry.
  extra.forEach((held, i) => {
    if (cluster.groupOf(i) !== group.id || !cluster.isPlaceable(i)) return;
    const free = cluster.freeCountOf(i);
    if (free < gpus && free + held >= gpus) n++;
  });
  return n;
}

/**
 * FreeOverlay answers fits(cluster, req, extra) while whole allocations are added to and taken
 * from the imagined release set one at a time, in O(nodes of that allocation) each and
 * O(groups of the type) per question: preemption's remove-until-fits and add-back search runs on
 * it instead of releasing and re-allocating its candidates. The cluster must not change while the
 * overlay is in use. Not for single-unit requests, nor for shares (releasing a share frees its GPU
 * only when it is the last one): the caller checks (isWhole) and releases for real then.
 */
export class FreeOverlay {
  /**
   * Node index -> GPUs the imagined releases free on it. Made on the first change: most plans of a
   * cycle stop before they imagine any release (~700 overlays per cycle at 102,400 GPUs).
   */
  private extra: Map<number, number> | undefined;
  /** Group id -> its placeable nodes that reach gpusPerNode free only with their extra GPUs (made with `extra`). */
  private gained: Map<number, number> | undefined;

  constructor(
    private readonly cluster: ClusterModel,
    private readonly req: PlacementRequest,
  ) {
    if (req.constraints?.singleUnit) throw new Error('FreeOverlay: not for a single-unit request');
  }

  /** add imagines `jobId` released. */
  add(jobId: string): void {
    this.change(jobId, 1);
  }

  /** remove undoes add. */
  remove(jobId: string): void {
    this.change(jobId, -1);
  }

  private change(jobId: string, sign: number): void {
    const hold = this.cluster.wholeHold(jobId);
    if (!hold) return;
    const g = this.req.gpusPerNode;
    this.extra ??= new Map();
    this.gained ??= new Map();
    const extra = this.extra;
    const gained = this.gained;
    // Read in place (no per-victim map): an allocation lists each node once.
    for (let k = 0; k < hold.nodeIdx.length; k++) {
      const i = hold.nodeIdx[k];
      const n = bitCount(hold.masks[k]);
      if (n === 0) continue;
      const before = extra.get(i) ?? 0;
      const after = before + sign * n;
      if (after === 0) extra.delete(i);
      else extra.set(i, after);
      if (!this.cluster.isPlaceable(i)) continue;
      const free = this.cluster.freeCountOf(i);
      if (free >= g) continue; // eligible with or without the extra GPUs
      const was = free + before >= g;
      const now = free + after >= g;
      if (was === now) continue;
      const group = this.cluster.groupOf(i);
      gained.set(group, (gained.get(group) ?? 0) + (now ? 1 : -1));
    }
  }

  /** fits: fits(cluster, req, extra) for the allocations imagined released now. */
  fits(): boolean {
    const c = this.req.constraints;
    for (const group of this.cluster.groupsOfType(this.req.gpuType)) {
      if (c && !c.allows(group)) continue;
      if (this.req.gpusPerNode > group.maxGpus) continue;
      if (eligibleNodes(this.cluster, group, this.req.gpusPerNode) + (this.gained?.get(group.id) ?? 0) >= this.req.nodes)
        return true;
    }
    return false;
  }
}

/** bitCount: set bits of a 32-bit mask. */
function bitCount(x: number): number {
  let v = x >>> 0;
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/**
 * placeJob finds the best placement for `req` in the current cluster state (see module comment).
 * Does not allocate; the caller binds the result with cluster.allocate.
 */
export function placeJob(cluster: ClusterModel, req: PlacementRequest): PlacementOutcome {
  const c = req.constraints;
  const all = cluster.groupsOfType(req.gpuType);
  const groups = c ? all.filter((g) => c.allows(g)) : all;
  let best: RankedPlan | undefined;
  for (const group of groups) {
    // Stage 1: capacity filter.
    if (req.gpusPerNode > group.maxGpus) continue;
    if (eligibleNodes(cluster, group, req.gpusPerNode) < req.nodes) continue;
    // Stage 2: rank.
    let plan: RankedPlan | undefined;
    if (c?.singleUnit) plan = singleUnitRanker(cluster, group, req);
    else plan = isWholeNode(group, req) ? wholeNodeRanker(cluster, group, req) : bestFitRanker(cluster, group, req);
    if (!plan) continue;
    if (!best || better(plan, best)) best = plan;
  }
  if (!best) return shortfall(cluster, groups, req);
  // Stage 3: bind nodes and GPU indexes.
  const nodes: NodeAllocation[] = best.bind().map((i) => ({
    node: cluster.nodeAt(i).id,
    gpus: cluster.lowestFreeGpus(i, req.gpusPerNode),
  }));
  return { ok: true, placement: { site: best.group.site, gpuType: req.gpuType, nodes } };
}
