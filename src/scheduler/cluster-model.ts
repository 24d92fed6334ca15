/**
 * ClusterModel: the scheduler's incremental view of who holds which GPU.
 *
 * Built once from the fleet and then updated by deltas (allocate, release, setNodeState); it is
 * never rebuilt per cycle. Alongside the raw state (a free-GPU bitmask per node) it maintains the
 * indexes placement needs, each updated in O(1) or O(GPUs of the node) per delta:
 *
 * - groups: one per (site, GPU type); per group, buckets of *up* nodes keyed by free-GPU count;
 * - units: one per scalable unit; per unit, the set of fully free up nodes;
 * - usage: GPUs held per project per GPU type (quota accounting);
 * - totals per group (total, allocated, free on up nodes) for metrics and reasons.
 *
 * Pure: no I/O, no clock. Iteration orders are by dense node index, so identical delta histories
 * give identical answers and placements are reproducible.
 */
import type { Fleet, FleetNode, GpuType, NodeState } from '../model/fleet.js';
import type { Placement } from '../model/job.js';
import { IndexSet } from './index-set.js';

/** ClusterModelError reports a delta that does not match the model (unknown node, GPU taken, ...). */
export class ClusterModelError extends Error {
  override name = 'ClusterModelError';
}

/** GroupInfo describes one (site, GPU type) group of nodes; `id` is a dense index. */
export interface GroupInfo {
  readonly id: number;
  readonly site: string;
  readonly gpuType: GpuType;
  /** GPUs per node when every node of the group has the same count, else 0. */
  readonly uniformGpus: number;
  /** Largest GPU count of any node in the group. */
  readonly maxGpus: number;
  /** Dense unit ids of this group's scalable units, in fleet order. */
  readonly units: readonly number[];
  /** Global node indexes of the group's nodes, ascending. */
  readonly nodes: readonly number[];
}

/** UnitInfo describes one scalable unit (leaf-switch group); `id` is a dense index. */
export interface UnitInfo {
  readonly id: number;
  readonly name: string;
  readonly group: number;
  /** Global node indexes of the unit's nodes, ascending. */
  readonly nodes: readonly number[];
}

/** CapacityFilter narrows capacity totals to one site and/or GPU type. */
export interface CapacityFilter {
  site?: string;
  gpuType?: GpuType;
}

/** NodeView is the externally visible state of one node. */
export interface NodeView {
  state: NodeState;
  /** Free GPU indexes, ascending. */
  freeGpus: number[];
  /** Ids of jobs holding GPUs on the node, sorted. */
  jobs: string[];
}

/** SiteTotals is one (site, GPU type) row of capacity totals, for metrics. */
export interface SiteTotals {
  site: string;
  gpuType: GpuType;
  nodes: number;
  upNodes: number;
  total: number;
  allocated: number;
  /** Free GPUs on up nodes (schedulable). */
  free: number;
}

interface GroupState extends GroupInfo {
  /** buckets[f]: group-local positions of up nodes with exactly f free GPUs. */
  readonly buckets: IndexSet[];
  total: number;
  allocated: number;
  freeUp: number;
  upNodes: number;
}

interface UnitState extends UnitInfo {
  /** Unit-local positions of fully free up nodes. */
  readonly fullyFree: IndexSet;
}

interface AllocationRecord {
  readonly project: string;
  readonly placement: Placement;
  readonly nodeIdx: readonly number[];
  readonly masks: readonly number[];
}

const STATE_CODES: readonly NodeState[] = ['up', 'draining', 'down'];
const UP = 0;

/** ClusterModel is the incremental allocation state of a fleet; see the module comment. */
export class ClusterModel {
  readonly fleet: Fleet;
  private readonly nodes: readonly FleetNode[];
  private readonly fullMask: Uint32Array;
  private readonly freeMask: Uint32Array;
  private readonly freeCount: Uint8Array;
  private readonly stateCode: Uint8Array;
  private readonly nodeGroup: Int32Array;
  private readonly nodeLocal: Int32Array;
  private readonly nodeUnit: Int32Array;
  private readonly nodeUnitLocal: Int32Array;
  private readonly nodeJobs: (Set<string> | undefined)[];
  private readonly groupStates: GroupState[] = [];
  private readonly unitStates: UnitState[] = [];
  private readonly groupsByType = new Map<GpuType, GroupState[]>();
  private readonly allocations = new Map<string, AllocationRecord>();
  private readonly usageByProject = new Map<string, Map<GpuType, number>>();

  constructor(fleet: Fleet) {
    this.fleet = fleet;
    this.nodes = fleet.nodes;
    const n = fleet.nodes.length;
    this.fullMask = new Uint32Array(n);
    this.freeMask = new Uint32Array(n);
    this.freeCount = new Uint8Array(n);
    this.stateCode = new Uint8Array(n);
    this.nodeGroup = new Int32Array(n);
    this.nodeLocal = new Int32Array(n);
    this.nodeUnit = new Int32Array(n);
    this.nodeUnitLocal = new Int32Array(n);
    this.nodeJobs = new Array<Set<string> | undefined>(n);

    // Pass 1: membership of groups and units, in fleet order.
    const groupKey = new Map<string, number>();
    const unitKey = new Map<string, number>();
    const groupNodes: number[][] = [];
    const groupUnits: number[][] = [];
    const unitNodes: number[][] = [];
    const unitMeta: { name: string; group: number }[] = [];
    for (const node of fleet.nodes) {
      if (node.index !== this.nodeIndexOrThrow(node.id)) {
        throw new ClusterModelError(`fleet node ${node.id}: index ${node.index} does not match nodeIndex`);
      }
      if (!Number.isInteger(node.gpus) || node.gpus < 1 || node.gpus > 32) {
        throw new ClusterModelError(`node ${node.id}: ${node.gpus} GPUs is outside 1..32`);
      }
      const gk = `${node.site}\u0000${node.gpuType}`;
      let g = groupKey.get(gk);
      if (g === undefined) {
        g = groupNodes.length;
        groupKey.set(gk, g);
        groupNodes.push([]);
        groupUnits.push([]);
      }
      const uk = `${g}\u0000${node.unit}`;
      let u = unitKey.get(uk);
      if (u === undefined) {
        u = unitNodes.length;
        unitKey.set(uk, u);
        unitNodes.push([]);
        unitMeta.push({ name: node.unit, group: g });
        groupUnits[g].push(u);
      }
      const i = node.index;
      this.nodeGroup[i] = g;
      this.nodeLocal[i] = groupNodes[g].length;
      groupNodes[g].push(i);
      this.nodeUnit[i] = u;
      this.nodeUnitLocal[i] = unitNodes[u].length;
      unitNodes[u].push(i);
      const mask = node.gpus === 32 ? 0xffffffff : (1 << node.gpus) - 1;
      this.fullMask[i] = mask;
      this.freeMask[i] = mask;
      this.freeCount[i] = node.gpus;
    }

    // Pass 2: group and unit states; every node starts up and fully free.
    for (let g = 0; g < groupNodes.length; g++) {
      const members = groupNodes[g];
      const first = this.nodes[members[0]];
      let maxGpus = 0;
      let uniform = first.gpus;
      let total = 0;
      for (const i of members) {
        const gpus = this.nodes[i].gpus;
        maxGpus = Math.max(maxGpus, gpus);
        if (gpus !== uniform) uniform = 0;
        total += gpus;
      }
      const buckets: IndexSet[] = [];
      for (let f = 0; f <= maxGpus; f++) buckets.push(new IndexSet(members.length));
      const state: GroupState = {
        id: g,
        site: first.site,
        gpuType: first.gpuType,
        uniformGpus: uniform,
        maxGpus,
        units: groupUnits[g],
        nodes: members,
        buckets,
        total,
        allocated: 0,
        freeUp: 0,
        upNodes: 0,
      };
      this.groupStates.push(state);
      const list = this.groupsByType.get(first.gpuType);
      if (list) list.push(state);
      else this.groupsByType.set(first.gpuType, [state]);
    }
    for (let u = 0; u < unitNodes.length; u++) {
      this.unitStates.push({
        id: u,
        name: unitMeta[u].name,
        group: unitMeta[u].group,
        nodes: unitNodes[u],
        fullyFree: new IndexSet(unitNodes[u].length),
      });
    }
    for (let i = 0; i < n; i++) {
      this.groupStates[this.nodeGroup[i]].upNodes++;
      this.attach(i);
    }
  }

  // ---------------------------------------------------------------- deltas

  /**
   * allocate records that `jobId` (of `project`) holds the GPUs of `placement`. Validates the whole
   * placement first and changes nothing if any part is wrong: unknown node, node of another site or
   * GPU type, GPU index out of range, GPU already taken, node listed twice, job already placed.
   * Nodes that are draining or down are accepted (restoring running jobs at startup); the
   * scheduler itself never places work on them.
   */
  allocate(jobId: string, project: string, placement: Placement): void {
    if (this.allocations.has(jobId)) throw new ClusterModelError(`job ${jobId} already has an allocation`);
    if (placement.nodes.length === 0) throw new ClusterModelError(`job ${jobId}: placement has no nodes`);
    const nodeIdx: number[] = [];
    const masks: number[] = [];
    const seen = new Set<number>();
    for (const alloc of placement.nodes) {
      const i = this.fleet.nodeIndex.get(alloc.node);
      if (i === undefined) throw new ClusterModelError(`job ${jobId}: unknown node ${alloc.node}`);
      if (seen.has(i)) throw new ClusterModelError(`job ${jobId}: node ${alloc.node} listed twice`);
      seen.add(i);
      const node = this.nodes[i];
      if (node.site !== placement.site || node.gpuType !== placement.gpuType) {
        throw new ClusterModelError(
          `job ${jobId}: node ${node.id} is ${node.gpuType} in ${node.site}, placement says ${placement.gpuType} in ${placement.site}`,
        );
      }
      if (alloc.gpus.length === 0) throw new ClusterModelError(`job ${jobId}: no GPUs on node ${node.id}`);
      let mask = 0;
      for (const gpu of alloc.gpus) {
        if (!Number.isInteger(gpu) || gpu < 0 || gpu >= node.gpus) {
          throw new ClusterModelError(`job ${jobId}: node ${node.id} has no GPU ${gpu}`);
        }
        const bit = 1 << gpu;
        if ((mask & bit) !== 0) throw new ClusterModelError(`job ${jobId}: GPU ${gpu} of ${node.id} listed twice`);
        if ((this.freeMask[i] & bit) === 0) {
          throw new ClusterModelError(`job ${jobId}: GPU ${gpu} of ${node.id} is already allocated`);
        }
        mask |= bit;
      }
      nodeIdx.push(i);
      masks.push(mask >>> 0);
    }
    let gpus = 0;
    for (let k = 0; k < nodeIdx.length; k++) {
      const i = nodeIdx[k];
      const taken = popcount(masks[k]);
      gpus += taken;
      this.detach(i);
      this.freeMask[i] = (this.freeMask[i] & ~masks[k]) >>> 0;
      this.freeCount[i] -= taken;
      this.groupStates[this.nodeGroup[i]].allocated += taken;
      this.attach(i);
      let jobs = this.nodeJobs[i];
      if (!jobs) {
        jobs = new Set();
        this.nodeJobs[i] = jobs;
      }
      jobs.add(jobId);
    }
    this.addUsage(project, placement.gpuType, gpus);
    this.allocations.set(jobId, { project, placement, nodeIdx, masks });
  }

  /** release frees every GPU held by `jobId`. Idempotent: unknown or released jobs are ignored. */
  release(jobId: string): void {
    const rec = this.allocations.get(jobId);
    if (!rec) return;
    this.allocations.delete(jobId);
    let gpus = 0;
    for (let k = 0; k < rec.nodeIdx.length; k++) {
      const i = rec.nodeIdx[k];
      const freed = popcount(rec.masks[k]);
      gpus += freed;
      this.detach(i);
      this.freeMask[i] = (this.freeMask[i] | rec.masks[k]) >>> 0;
      this.freeCount[i] += freed;
      this.groupStates[this.nodeGroup[i]].allocated -= freed;
      this.attach(i);
      const jobs = this.nodeJobs[i];
      jobs?.delete(jobId);
      if (jobs && jobs.size === 0) this.nodeJobs[i] = undefined;
    }
    this.addUsage(rec.project, rec.placement.gpuType, -gpus);
  }

  /**
   * setNodeState changes a node's schedulability. Draining and down nodes leave the placement
   * indexes (they get no new work); their running allocations stay until released.
   */
  setNodeState(nodeId: string, state: NodeState): void {
    const i = this.nodeIndexOrThrow(nodeId);
    const code = STATE_CODES.indexOf(state);
    if (code < 0) throw new ClusterModelError(`node ${nodeId}: unknown state ${String(state)}`);
    if (code === this.stateCode[i]) return;
    const group = this.groupStates[this.nodeGroup[i]];
    this.detach(i);
    if (this.stateCode[i] === UP) group.upNodes--;
    this.stateCode[i] = code;
    if (code === UP) group.upNodes++;
    this.attach(i);
  }

  // ---------------------------------------------------------------- queries

  /** nodeState returns the node's state; throws for unknown nodes. */
  nodeState(nodeId: string): NodeState {
    return STATE_CODES[this.stateCode[this.nodeIndexOrThrow(nodeId)]];
  }

  /** allocationOf returns the placement held by `jobId`, if any. */
  allocationOf(jobId: string): Placement | undefined {
    return this.allocations.get(jobId)?.placement;
  }

  /** projectOf returns the project `jobId` was allocated for, if it holds GPUs. */
  projectOf(jobId: string): string | undefined {
    return this.allocations.get(jobId)?.project;
  }

  /** isGpuFree tells whether GPU `gpu` of node `nodeId` is free (whatever the node's state). */
  isGpuFree(nodeId: string, gpu: number): boolean {
    return (this.freeMask[this.nodeIndexOrThrow(nodeId)] & (1 << gpu)) !== 0;
  }

  /** hasAllocation tells whether `jobId` holds GPUs. */
  hasAllocation(jobId: string): boolean {
    return this.allocations.has(jobId);
  }

  /** allocatedJobs lists the ids of all jobs holding GPUs, in allocation order. */
  allocatedJobs(): string[] {
    return [...this.allocations.keys()];
  }

  /** usage returns the GPUs of `gpuType` held by `project`'s jobs. */
  usage(project: string, gpuType: GpuType): number {
    return this.usageByProject.get(project)?.get(gpuType) ?? 0;
  }

  /** projectUsage lists (project, GPUs held) for every project holding GPUs of `gpuType`. */
  projectUsage(gpuType: GpuType): [string, number][] {
    const out: [string, number][] = [];
    for (const [project, byType] of this.usageByProject) {
      const n = byType.get(gpuType);
      if (n !== undefined && n > 0) out.push([project, n]);
    }
    return out;
  }

  /** freeGpus counts free GPUs on up nodes (schedulable capacity), optionally per site/GPU type. */
  freeGpus(filter?: CapacityFilter): number {
    let sum = 0;
    for (const g of this.groupStates) if (matches(g, filter)) sum += g.freeUp;
    return sum;
  }

  /** allocatedGpus counts allocated GPUs on all nodes whatever their state. */
  allocatedGpus(filter?: CapacityFilter): number {
    let sum = 0;
    for (const g of this.groupStates) if (matches(g, filter)) sum += g.allocated;
    return sum;
  }

  /** nodeView returns a node's state, free GPU indexes and job ids; throws for unknown nodes. */
  nodeView(nodeId: string): NodeView {
    const i = this.nodeIndexOrThrow(nodeId);
    return {
      state: STATE_CODES[this.stateCode[i]],
      freeGpus: maskToIndexes(this.freeMask[i], this.nodes[i].gpus),
      jobs: [...(this.nodeJobs[i] ?? [])].sort(),
    };
  }

  /** siteTotals returns one row per (site, GPU type), in fleet order. */
  siteTotals(): SiteTotals[] {
    return this.groupStates.map((g) => ({
      site: g.site,
      gpuType: g.gpuType,
      nodes: g.nodes.length,
      upNodes: g.upNodes,
      total: g.total,
      allocated: g.allocated,
      free: g.freeUp,
    }));
  }

  // ------------------------------------------- placement index (read by rankers)

  /** groupsOfType returns the (site, GPU type) groups of `gpuType`, in fleet order. */
  groupsOfType(gpuType: GpuType): readonly GroupInfo[] {
    return this.groupsByType.get(gpuType) ?? EMPTY;
  }

  /** unit returns a scalable unit's description. */
  unit(u: number): UnitInfo {
    return this.unitStates[u];
  }

  /** groupFreeGpus counts free GPUs on the group's up nodes. */
  groupFreeGpus(g: number): number {
    return this.groupStates[g].freeUp;
  }

  /** nodesWithFree counts the group's up nodes that have exactly `free` free GPUs. */
  nodesWithFree(g: number, free: number): number {
    const b = this.groupStates[g].buckets[free];
    return b ? b.size : 0;
  }

  /**
   * nextNodeWithFree returns the lowest global node index greater than `after` among the group's up
   * nodes with exactly `free` free GPUs, or -1. Pass -1 to start.
   */
  nextNodeWithFree(g: number, free: number, after: number): number {
    const group = this.groupStates[g];
    const b = group.buckets[free];
    if (!b) return -1;
    const local = b.next(after < 0 ? -1 : this.nodeLocal[after]);
    return local < 0 ? -1 : group.nodes[local];
  }

  /** unitFullyFreeNodes counts the fully free up nodes of a unit. */
  unitFullyFreeNodes(u: number): number {
    return this.unitStates[u].fullyFree.size;
  }

  /** nextFullyFreeNode returns the next fully free up node of a unit after `after` (-1 to start), or -1. */
  nextFullyFreeNode(u: number, after: number): number {
    const unit = this.unitStates[u];
    const local = unit.fullyFree.next(after < 0 ? -1 : this.nodeUnitLocal[after]);
    return local < 0 ? -1 : unit.nodes[local];
  }

  /** unitOfNode returns the dense unit id of a node. */
  unitOfNode(i: number): number {
    return this.nodeUnit[i];
  }

  /** nodeAt returns the fleet node with dense index `i`. */
  nodeAt(i: number): FleetNode {
    return this.nodes[i];
  }

  /** freeCountOf returns the free GPU count of node `i` (whatever its state). */
  freeCountOf(i: number): number {
    return this.freeCount[i];
  }

  /** isUp tells whether node `i` is up. */
  isUp(i: number): boolean {
    return this.stateCode[i] === UP;
  }

  /** lowestFreeGpus returns the `count` lowest free GPU indexes of node `i`. */
  lowestFreeGpus(i: number, count: number): number[] {
    const out: number[] = [];
    let mask = this.freeMask[i];
    while (mask !== 0 && out.length < count) {
      const low = mask & -mask;
      out.push(31 - Math.clz32(low));
      mask = (mask & ~low) >>> 0;
    }
    return out;
  }

  /**
   * verifyIndexes recomputes every index from the raw state and throws if any differs. O(nodes);
   * meant for tests and debugging, never for the hot path.
   */
  verifyIndexes(): void {
    const usage = new Map<string, number>();
    const allocatedPerGroup = new Array<number>(this.groupStates.length).fill(0);
    const seen = new Uint32Array(this.nodes.length);
    for (const [jobId, rec] of this.allocations) {
      let gpus = 0;
      for (let k = 0; k < rec.nodeIdx.length; k++) {
        const i = rec.nodeIdx[k];
        if ((seen[i] & rec.masks[k]) !== 0) throw new ClusterModelError(`GPU held twice on node ${i}`);
        seen[i] |= rec.masks[k];
        if (!this.nodeJobs[i]?.has(jobId)) throw new ClusterModelError(`node ${i} misses job ${jobId}`);
        gpus += popcount(rec.masks[k]);
        allocatedPerGroup[this.nodeGroup[i]] += popcount(rec.masks[k]);
      }
      const key = `${rec.project}\u0000${rec.placement.gpuType}`;
      usage.set(key, (usage.get(key) ?? 0) + gpus);
    }
    for (const [project, byType] of this.usageByProject) {
      for (const [type, n] of byType) {
        if ((usage.get(`${project}\u0000${type}`) ?? 0) !== n) {
          throw new ClusterModelError(`usage of ${project}/${type} is ${n}, recomputed differently`);
        }
      }
    }
    for (const [key, n] of usage) {
      const [project, type] = key.split('\u0000');
      if (this.usage(project, type) !== n) throw new ClusterModelError(`usage of ${key} missing`);
    }
    for (let i = 0; i < this.nodes.length; i++) {
      const free = (this.fullMask[i] & ~seen[i]) >>> 0;
      if (free !== this.freeMask[i]) throw new ClusterModelError(`free mask of node ${i} is stale`);
      if (popcount(free) !== this.freeCount[i]) throw new ClusterModelError(`free count of node ${i} is stale`);
      const g = this.groupStates[this.nodeGroup[i]];
      const up = this.stateCode[i] === UP;
      for (let f = 0; f < g.buckets.length; f++) {
        const want = up && f === this.freeCount[i];
        if (g.buckets[f].has(this.nodeLocal[i]) !== want) throw new ClusterModelError(`bucket of node ${i} is stale`);
      }
      const unit = this.unitStates[this.nodeUnit[i]];
      const fully = up && this.freeCount[i] === this.nodes[i].gpus;
      if (unit.fullyFree.has(this.nodeUnitLocal[i]) !== fully) {
        throw new ClusterModelError(`unit index of node ${i} is stale`);
      }
    }
    for (const g of this.groupStates) {
      let freeUp = 0;
      let upNodes = 0;
      let sizes = 0;
      for (const i of g.nodes) {
        if (this.stateCode[i] === UP) {
          freeUp += this.freeCount[i];
          upNodes++;
        }
      }
      for (const b of g.buckets) sizes += b.size;
      if (freeUp !== g.freeUp || upNodes !== g.upNodes || sizes !== upNodes) {
        throw new ClusterModelError(`totals of group ${g.site}/${g.gpuType} are stale`);
      }
      if (allocatedPerGroup[g.id] !== g.allocated) throw new ClusterModelError(`allocated of group ${g.id} stale`);
    }
  }

  // ---------------------------------------------------------------- internals

  private nodeIndexOrThrow(nodeId: string): number {
    const i = this.fleet.nodeIndex.get(nodeId);
    if (i === undefined) throw new ClusterModelError(`unknown node ${nodeId}`);
    return i;
  }

  /** detach removes node i from the placement indexes (no-op unless up). */
  private detach(i: number): void {
    if (this.stateCode[i] !== UP) return;
    const g = this.groupStates[this.nodeGroup[i]];
    const free = this.freeCount[i];
    g.buckets[free].delete(this.nodeLocal[i]);
    g.freeUp -= free;
    if (free === this.nodes[i].gpus) this.unitStates[this.nodeUnit[i]].fullyFree.delete(this.nodeUnitLocal[i]);
  }

  /** attach adds node i to the placement indexes (no-op unless up). */
  private attach(i: number): void {
    if (this.stateCode[i] !== UP) return;
    const g = this.groupStates[this.nodeGroup[i]];
    const free = this.freeCount[i];
    g.buckets[free].add(this.nodeLocal[i]);
    g.freeUp += free;
    if (free === this.nodes[i].gpus) this.unitStates[this.nodeUnit[i]].fullyFree.add(this.nodeUnitLocal[i]);
  }

  private addUsage(project: string, gpuType: GpuType, delta: number): void {
    let byType = this.usageByProject.get(project);
    if (!byType) {
      byType = new Map();
      this.usageByProject.set(project, byType);
    }
    const next = (byType.get(gpuType) ?? 0) + delta;
    if (next === 0) {
      byType.delete(gpuType);
      if (byType.size === 0) this.usageByProject.delete(project);
    } else {
      byType.set(gpuType, next);
    }
  }
}

const EMPTY: readonly GroupInfo[] = [];

function matches(g: GroupState, filter: CapacityFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.site !== undefined && filter.site !== g.site) return false;
  if (filter.gpuType !== undefined && filter.gpuType !== g.gpuType) return false;
  return true;
}

function popcount(x: number): number {
  let v = x >>> 0;
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

function maskToIndexes(mask: number, gpus: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < gpus; b++) if ((mask & (1 << b)) !== 0) out.push(b);
  return out;
}
