/**
 * ClusterModel: the scheduler's incremental view of who holds which GPU.
 *
 * Built once from the fleet and then updated by deltas (allocate, release, setNodeState); it is
 * never rebuilt per cycle. Alongside the raw state (a free-GPU bitmask per node) it maintains the
 * indexes placement needs, each updated in O(1) or O(GPUs of the node) per delta:
 *
 * - groups: one per (site, GPU type); per group, buckets of *up* nodes keyed by free-GPU count;
 * - units: one per scalable unit; per unit, the set of fully free up nodes;
 * - usage: GPU-equivalents held per project per GPU type (quota accounting; kept in milli-GPU);
 * - totals per group (total, allocated, free on up nodes) for metrics and reasons;
 * - shared GPUs (fractions and MIG instances, model/gpu-sharing.ts): per GPU the milli-GPU used, the
 *   one organisation allowed on it, its mode (time-sliced or MIG) and MIG slices used; per (org,
 *   group) the set of its partly used GPUs. A shared GPU is out of the free mask, so whole-GPU
 *   placement never sees it and counts it allocated; it is free again when its last share leaves.
 * - partition mode per GPU (whole or MIG, model/gpu-sharing.ts GpuPartitionMode): node state that
 *   outlives the jobs (a GPU stays in MIG mode after its last instance leaves) and changes only
 *   through setGpuPartition; per group the set of GPUs in MIG mode.
 *
 * Pure: no I/O, no clock. Iteration orders are by dense node index, so identical delta histories
 * give identical answers and placements are reproducible.
 */

import type { Fleet, FleetNode, GpuType, NodeState } from '../model/fleet.js';
import { type GpuPartitionMode, MILLI_PER_GPU, migProfileMilli, migProfileOf } from '../model/gpu-sharing.js';
import type { Placement } from '../model/job.js';
import { spreadLabelKey } from '../model/spread.js';
import { AllocationJournal } from './allocation-journal.js';
import { IndexSet } from './index-set.js';
import type { SpreadDomain } from './types.js';

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
  /** The organisation the job belongs to (shared GPUs never mix organisations). */
  readonly org: string;
  readonly placement: Placement;
  readonly nodeIdx: readonly number[];
  /** Whole GPUs taken per node (a shared allocation has 0: its GPU is held by the share layer). */
  readonly masks: readonly number[];
  /** Milli-GPU counted for quotas. */
  readonly milli: number;
  readonly share?: ShareRecord;
  /** The spread group (replicas of one service) the job belongs to, if any. */
  spread?: string;
  /** Its GPUs are set aside (setAside) until restore. */
  aside: boolean;
}

/** AllocationView: who holds an allocation, where (also as node indexes and GPU masks), and its spread group. */
export interface AllocationView extends WholeHold {
  readonly project: string;
  readonly org: string;
  readonly placement: Placement;
  readonly spread?: string;
}

/** WholeHold: where an allocation holds whole GPUs: node indexes and a GPU bitmask per node. */
export interface WholeHold {
  readonly nodeIdx: readonly number[];
  readonly masks: readonly number[];
}

/** TakenAway: an allocation released by takeAway, to be restored by putBack. */
export interface TakenAway {
  readonly jobId: string;
  readonly rec: AllocationRecord;
}

/** ShareRecord: one share (fraction or MIG instance) of one GPU. */
interface ShareRecord {
  /** Absolute GPU index (gpuBase of the node + GPU index). */
  readonly abs: number;
  readonly mode: ShareMode;
  readonly milli: number;
  readonly migProfile?: string;
  readonly computeSlices: number;
  readonly memorySlices: number;
}

/** How a GPU is shared: not at all, time-sliced (fractions), or MIG instances. */
export type ShareMode = 'none' | 'time-slice' | 'mig';
const SHARE_MODES: readonly ShareMode[] = ['none', 'time-slice', 'mig'];

/** GpuShareView: the share state of one GPU (for placement, the API and the console). */
export interface GpuShareView {
  mode: ShareMode;
  /** Milli-GPU used by shares (0 when not shared). */
  usedMilli: number;
  /** The organisation whose shares hold the GPU, if any. */
  org?: string;
  /** Jobs holding shares. */
  jobs: number;
  migComputeSlices: number;
  migMemorySlices: number;
  /** MIG instances per profile. */
  migInstances: Record<string, number>;
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
  /** Node -> ids of the jobs on it, in allocation order (undefined or empty: none; emptied sets are kept). */
  private readonly nodeJobs: (Set<string> | undefined)[];
  private readonly groupStates: GroupState[] = [];
  private readonly unitStates: UnitState[] = [];
  private readonly groupsByType = new Map<GpuType, GroupState[]>();
  private readonly allocations = new Map<string, AllocationRecord>();
  /** Milli-GPU held per project per GPU type. */
  private readonly usageByProject = new Map<string, Map<GpuType, number>>();
  /** First absolute GPU index of each node. */
  private readonly gpuBase: Int32Array;
  /** Per absolute GPU: share mode code, milli used, job count, org id (-1 none), MIG slices used. */
  private readonly shareMode: Uint8Array;
  private readonly shareMilli: Uint16Array;
  private readonly shareJobs: Uint8Array;
  private readonly shareOrg: Int32Array;
  private readonly migCompute: Uint8Array;
  private readonly migMemory: Uint8Array;
  /** MIG instances per profile of a GPU (sparse: only GPUs holding some). */
  private readonly migInstances = new Map<number, Map<string, number>>();
  /** org id -> group -> absolute indexes of the org's partly used GPUs. */
  private readonly sharedByOrg = new Map<number, Map<number, Set<number>>>();
  private readonly orgIds = new Map<string, number>();
  private readonly orgNames: string[] = [];
  /** org \0 spread group -> node index -> allocations of the group on it (spreadNodes). */
  private readonly spreadByGroup = new Map<string, Map<number, number>>();
  /** Nodes hidden from the placement indexes for one placement attempt (maskNodes). */
  private readonly masked: Uint8Array;
  /** Per absolute GPU: 1 when in MIG mode (setGpuPartition); per node, how many of its GPUs are. */
  private readonly migMode: Uint8Array;
  private readonly migModeCount: Uint8Array;
  private migModeTotal = 0;
  /** group -> absolute indexes of its GPUs in MIG mode. */
  private readonly migModeByGroup = new Map<number, Set<number>>();

  constructor(fleet: Fleet) {
    this.fleet = fleet;
    this.nodes = fleet.nodes;
    const n = fleet.nodes.length;
    this.fullMask = new Uint32Array(n);
    this.masked = new Uint8Array(n);
    this.freeMask = new Uint32Array(n);
    this.freeCount = new Uint8Array(n);
    this.stateCode = new Uint8Array(n);
    this.nodeGroup = new Int32Array(n);
    this.nodeLocal = new Int32Array(n);
    this.nodeUnit = new Int32Array(n);
    this.nodeUnitLocal = new Int32Array(n);
    this.nodeJobs = new Array<Set<string> | undefined>(n);
    this.gpuBase = new Int32Array(n + 1);
    let gpuCount = 0;
    for (const node of fleet.nodes) {
      this.gpuBase[node.index] = gpuCount;
      gpuCount += Math.max(0, node.gpus);
    }
    this.gpuBase[n] = gpuCount;
    this.shareMode = new Uint8Array(gpuCount);
    this.shareMilli = new Uint16Array(gpuCount);
    this.shareJobs = new Uint8Array(gpuCount);
    this.shareOrg = new Int32Array(gpuCount).fill(-1);
    this.migCompute = new Uint8Array(gpuCount);
    this.migMemory = new Uint8Array(gpuCount);
    this.migMode = new Uint8Array(gpuCount);
    this.migModeCount = new Uint8Array(n);

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
   * scheduler itself never places work on them. `spread`: the job's spread group (replicas of one
   * service), counted per node for spreadNodes; re-allocations pass it back (spreadOf).
   */
  allocate(jobId: string, project: string, placement: Placement, org: string = project, spread?: string): void {
    if (this.allocations.has(jobId)) throw new ClusterModelError(`job ${jobId} already has an allocation`);
    if (placement.nodes.length === 0) throw new ClusterModelError(`job ${jobId}: placement has no nodes`);
    const first = placement.nodes[0];
    if (first.milli !== undefined || first.migProfile !== undefined) this.allocateShare(jobId, project, placement, org);
    else this.allocateWhole(jobId, project, placement, org);
    if (this.journals.length > 0) this.noteAllocated(jobId);
    if (spread === undefined) return;
    const rec = this.allocations.get(jobId);
    if (!rec) return;
    rec.spread = spread;
    const key = `${org}\u0000${spread}`;
    let byNode = this.spreadByGroup.get(key);
    if (!byNode) {
      byNode = new Map();
      this.spreadByGroup.set(key, byNode);
    }
    for (const i of rec.nodeIdx) byNode.set(i, (byNode.get(i) ?? 0) + 1);
  }

  private allocateWhole(jobId: string, project: string, placement: Placement, org: string): void {
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
    const gpus = this.takeGpus(jobId, nodeIdx, masks);
    this.addUsage(project, placement.gpuType, gpus * MILLI_PER_GPU);
    this.allocations.set(jobId, { project, org, placement, nodeIdx, masks, milli: gpus * MILLI_PER_GPU, aside: false });
  }

  /**
   * allocateShare: a fraction or MIG instance of one GPU. The GPU must be free (it leaves the free
   * mask and takes the job's mode and organisation) or already shared in the same mode by the same
   * organisation with room left: never two organisations on one GPU, never over 1000 milli, MIG
   * instances only within the type's slices and per-profile instance counts.
   */
  private allocateShare(jobId: string, project: string, placement: Placement, org: string): void {
    if (placement.nodes.length !== 1 || placement.nodes[0].gpus.length !== 1) {
      throw new ClusterModelError(`job ${jobId}: a GPU share is on one GPU of one node`);
    }
    const alloc = placement.nodes[0];
    const i = this.fleet.nodeIndex.get(alloc.node);
    if (i === undefined) throw new ClusterModelError(`job ${jobId}: unknown node ${alloc.node}`);
    const node = this.nodes[i];
    if (node.site !== placement.site || node.gpuType !== placement.gpuType) {
      throw new ClusterModelError(`job ${jobId}: node ${node.id} is ${node.gpuType} in ${node.site}`);
    }
    const gpu = alloc.gpus[0];
    if (!Number.isInteger(gpu) || gpu < 0 || gpu >= node.gpus)
      throw new ClusterModelError(`job ${jobId}: node ${node.id} has no GPU ${gpu}`);
    const share = this.shareRecord(jobId, node, i, gpu, alloc.milli, alloc.migProfile);
    const why = this.shareRefusal(share, this.orgId(org));
    if (why) throw new ClusterModelError(`job ${jobId}: GPU ${gpu} of ${node.id} ${why}`);
    const a = share.abs;
    const orgId = this.orgId(org);
    if (this.shareJobs[a] === 0) {
      // A free GPU becomes shared: out of the free mask and into the org's partly used set.
      const bit = 1 << gpu;
      this.detach(i);
      this.freeMask[i] = (this.freeMask[i] & ~bit) >>> 0;
      this.freeCount[i] -= 1;
      this.groupStates[this.nodeGroup[i]].allocated += 1;
      this.attach(i);
      this.shareMode[a] = SHARE_MODES.indexOf(share.mode);
      this.shareOrg[a] = orgId;
      this.sharedSet(orgId, this.nodeGroup[i]).add(a);
    }
    this.shareJobs[a] += 1;
    this.shareMilli[a] += share.milli;
    if (share.mode === 'mig' && share.migProfile) {
      this.migCompute[a] += share.computeSlices;
      this.migMemory[a] += share.memorySlices;
      let counts = this.migInstances.get(a);
      if (!counts) {
        counts = new Map();
        this.migInstances.set(a, counts);
      }
      counts.set(share.migProfile, (counts.get(share.migProfile) ?? 0) + 1);
    }
    let jobs = this.nodeJobs[i];
    if (!jobs) {
      jobs = new Set();
      this.nodeJobs[i] = jobs;
    }
    jobs.add(jobId);
    this.addUsage(project, placement.gpuType, share.milli);
    this.allocations.set(jobId, { project, org, placement, nodeIdx: [i], masks: [0], milli: share.milli, share, aside: false });
  }

  /** shareRecord: what a share asks of its GPU (milli, mode, MIG slices), checked against the fleet's layout. */
  private shareRecord(
    jobId: string,
    node: FleetNode,
    i: number,
    gpu: number,
    milli: number | undefined,
    migProfile: string | undefined,
  ): ShareRecord {
    const abs = this.gpuBase[i] + gpu;
    if (migProfile !== undefined) {
      const found = migProfileOf(this.fleet, node.gpuType, migProfile);
      if (!found) throw new ClusterModelError(`job ${jobId}: ${node.gpuType} has no MIG profile ${migProfile}`);
      const { layout, profile } = found;
      return {
        abs,
        mode: 'mig',
        milli: migProfileMilli(layout, profile),
        migProfile,
        computeSlices: profile.computeSlices,
        memorySlices: profile.memorySlices,
      };
    }
    if (milli === undefined || !Number.isInteger(milli) || milli < 1 || milli >= MILLI_PER_GPU) {
      throw new ClusterModelError(`job ${jobId}: a GPU fraction is 1..999 milli-GPU, not ${String(milli)}`);
    }
    return { abs, mode: 'time-slice', milli, computeSlices: 0, memorySlices: 0 };
  }

  /** shareRefusal: why the share cannot go on its GPU for org `orgId`, or null. */
  private shareRefusal(share: ShareRecord, orgId: number): string | null {
    const a = share.abs;
    if (this.shareJobs[a] === 0) {
      const i = this.nodeOfGpu(a);
      if ((this.freeMask[i] & (1 << (a - this.gpuBase[i]))) === 0) return 'is not free';
      return this.migRefusal(share, a, i);
    }
    if (this.shareOrg[a] !== orgId) return 'is shared by another organisation';
    if (SHARE_MODES[this.shareMode[a]] !== share.mode) return `is in ${SHARE_MODES[this.shareMode[a]]} mode`;
    if (share.mode === 'time-slice') {
      return this.shareMilli[a] + share.milli > MILLI_PER_GPU ? `has ${MILLI_PER_GPU - this.shareMilli[a]} milli free` : null;
    }
    return this.migRefusal(share, a, this.nodeOfGpu(a));
  }

  private migRefusal(share: ShareRecord, a: number, i: number): string | null {
    if (share.mode !== 'mig' || !share.migProfile) return null;
    const found = migProfileOf(this.fleet, this.nodes[i].gpuType, share.migProfile);
    if (!found) return `has no MIG profile ${share.migProfile}`;
    const { layout, profile } = found;
    if (this.migCompute[a] + share.computeSlices > layout.computeSlices) return 'has too few MIG compute slices left';
    if (this.migMemory[a] + share.memorySlices > layout.memorySlices) return 'has too few MIG memory slices left';
    if ((this.migInstances.get(a)?.get(share.migProfile) ?? 0) >= profile.maxInstances) {
      return `holds ${profile.maxInstances} ${share.migProfile} instances already`;
    }
    return null;
  }

  /** canShare: whether a share (milli or MIG profile) of org `org` fits GPU `gpu` of node `i` now. */
  canShare(i: number, gpu: number, org: string, milli: number | undefined, migProfile: string | undefined): boolean {
    const node = this.nodes[i];
    let share: ShareRecord;
    try {
      share = this.shareRecord('probe', node, i, gpu, milli, migProfile);
    } catch {
      return false;
    }
    const orgId = this.orgIds.get(org) ?? -2;
    return this.shareRefusal(share, orgId) === null;
  }

  /** sharedGpusOf: absolute indexes of the org's partly used GPUs in group `g` (do not change the set). */
  sharedGpusOf(org: string, g: number): ReadonlySet<number> {
    const id = this.orgIds.get(org);
    return (id === undefined ? undefined : this.sharedByOrg.get(id)?.get(g)) ?? EMPTY_SET;
  }

  /** gpuOfAbs: (node index, GPU index) of an absolute GPU index. */
  gpuOfAbs(a: number): { node: number; gpu: number } {
    const i = this.nodeOfGpu(a);
    return { node: i, gpu: a - this.gpuBase[i] };
  }

  /** shareMilliFree: milli-GPU a shared GPU has left (1000 for a GPU no share holds). */
  shareMilliFree(a: number): number {
    return MILLI_PER_GPU - this.shareMilli[a];
  }

  /** gpuShare: the share state of GPU `gpu` of a node. */
  gpuShare(nodeId: string, gpu: number): GpuShareView {
    const i = this.nodeIndexOrThrow(nodeId);
    const a = this.gpuBase[i] + gpu;
    const org = this.shareOrg[a];
    const view: GpuShareView = {
      mode: SHARE_MODES[this.shareMode[a]],
      usedMilli: this.shareMilli[a],
      jobs: this.shareJobs[a],
      migComputeSlices: this.migCompute[a],
      migMemorySlices: this.migMemory[a],
      migInstances: Object.fromEntries(this.migInstances.get(a) ?? []),
    };
    if (org >= 0) view.org = this.orgNames[org];
    return view;
  }

  /** milliOf: the milli-GPU `jobId` holds (0 if none). */
  milliOf(jobId: string): number {
    return this.allocations.get(jobId)?.milli ?? 0;
  }

  /** release frees every GPU held by `jobId`. Idempotent: unknown or released jobs are ignored. */
  release(jobId: string): void {
    const rec = this.allocations.get(jobId);
    if (!rec) return;
    this.allocations.delete(jobId);
    if (rec.spread !== undefined) this.forgetSpread(rec.org, rec.spread, rec.nodeIdx);
    if (rec.share) {
      this.releaseShare(jobId, rec, rec.share);
      return;
    }
    const gpus = this.freeWholeGpus(rec);
    // An emptied set stays (reads treat it as none): takeAway / putBack churn (backfill plans take
    // hundreds of jobs away and back per cycle) then allocates no Set per node each time.
    for (const i of rec.nodeIdx) this.nodeJobs[i]?.delete(jobId);
    this.addUsage(rec.project, rec.placement.gpuType, -gpus * MILLI_PER_GPU);
  }

  /** freeWholeGpus frees a whole-GPU record's GPUs in the placement indexes; returns how many. */
  private freeWholeGpus(rec: AllocationRecord): number {
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
    }
    return gpus;
  }

  private forgetSpread(org: string, spread: string, nodeIdx: readonly number[]): void {
    const key = `${org}\u0000${spread}`;
    const byNode = this.spreadByGroup.get(key);
    if (!byNode) return;
    for (const i of nodeIdx) {
      const left = (byNode.get(i) ?? 1) - 1;
      if (left > 0) byNode.set(i, left);
      else byNode.delete(i);
    }
    if (byNode.size === 0) this.spreadByGroup.delete(key);
  }

  /**
   * takeAway releases `jobId` and returns what it held, for putBack: the "release, look, restore"
   * pattern of backfill's plans without re-validating and re-indexing the placement on the way
   * back. Undefined when it holds nothing.
   */
  takeAway(jobId: string): TakenAway | undefined {
    const rec = this.allocations.get(jobId);
    if (!rec) return undefined;
    this.release(jobId);
    return { jobId, rec };
  }

  /**
   * putBack re-allocates what takeAway took, exactly as allocate(jobId, project, placement, org,
   * spread) would (same record, same index updates, same order of allocations), reusing its node
   * indexes and masks. Throws if a GPU of it was taken meanwhile.
   */
  putBack(t: TakenAway): void {
    const { jobId, rec } = t;
    if (rec.share || this.allocations.has(jobId)) {
      this.allocate(jobId, rec.project, rec.placement, rec.org, rec.spread);
      return;
    }
    for (let k = 0; k < rec.nodeIdx.length; k++) {
      const i = rec.nodeIdx[k];
      if ((this.freeMask[i] & rec.masks[k]) >>> 0 !== rec.masks[k])
        throw new ClusterModelError(`job ${jobId}: a GPU of ${this.nodes[i].id} was taken before it was put back`);
    }
    const gpus = this.takeGpus(jobId, rec.nodeIdx, rec.masks);
    this.addUsage(rec.project, rec.placement.gpuType, gpus * MILLI_PER_GPU);
    this.allocations.set(jobId, rec);
    if (this.journals.length > 0) this.noteAllocated(jobId);
    if (rec.spread !== undefined) this.countSpread(rec.org, rec.spread, rec.nodeIdx);
  }

  /** countSpread counts an allocation of `org`'s spread group on each of its nodes (undone by forgetSpread). */
  private countSpread(org: string, spread: string, nodeIdx: readonly number[]): void {
    const key = `${org}\u0000${spread}`;
    let byNode = this.spreadByGroup.get(key);
    if (!byNode) {
      byNode = new Map();
      this.spreadByGroup.set(key, byNode);
    }
    for (const i of nodeIdx) byNode.set(i, (byNode.get(i) ?? 0) + 1);
  }

  /**
   * setAside: takeAway for a plan undone at once (backfill's plans): frees the job's whole GPUs in
   * the placement indexes, usage and spread counts as release does, in the same order of index and
   * usage updates, but keeps its record and its place in the allocation order and the node job
   * lists, so restore re-inserts nothing (release / putBack move the id to the end of both). Until
   * restore the job still reads as allocated by id: only readers of the free state (placement,
   * fits, free counts, isGpuFree) and allocate / release of other ids may run meanwhile. Shares go
   * through takeAway. Undefined when it holds nothing or is set aside already.
   */
  setAside(jobId: string): TakenAway | undefined {
    const rec = this.allocations.get(jobId);
    if (!rec || rec.aside) return undefined;
    if (rec.share) return this.takeAway(jobId);
    rec.aside = true;
    if (rec.spread !== undefined) this.forgetSpread(rec.org, rec.spread, rec.nodeIdx);
    const gpus = this.freeWholeGpus(rec);
    this.addUsage(rec.project, rec.placement.gpuType, -gpus * MILLI_PER_GPU);
    return { jobId, rec };
  }

  /**
   * restore undoes setAside (the same state as putBack, except that the id keeps its place in the
   * allocation order and the node job lists). Throws if a GPU of it was taken meanwhile.
   */
  restore(t: TakenAway): void {
    const rec = t.rec;
    if (!rec.aside) {
      this.putBack(t);
      return;
    }
    let gpus = 0;
    for (let k = 0; k < rec.nodeIdx.length; k++) {
      const i = rec.nodeIdx[k];
      if ((this.freeMask[i] & rec.masks[k]) >>> 0 !== rec.masks[k])
        throw new ClusterModelError(`job ${t.jobId}: a GPU of ${this.nodes[i].id} was taken before it was restored`);
    }
    for (let k = 0; k < rec.nodeIdx.length; k++) {
      const i = rec.nodeIdx[k];
      const taken = popcount(rec.masks[k]);
      gpus += taken;
      this.detach(i);
      this.freeMask[i] = (this.freeMask[i] & ~rec.masks[k]) >>> 0;
      this.freeCount[i] -= taken;
      this.groupStates[this.nodeGroup[i]].allocated += taken;
      this.attach(i);
    }
    rec.aside = false;
    this.addUsage(rec.project, rec.placement.gpuType, gpus * MILLI_PER_GPU);
    if (rec.spread !== undefined) this.countSpread(rec.org, rec.spread, rec.nodeIdx);
  }

  /** freeMaskOf: the free GPUs of node `i` as a bitmask (bit g: isGpuFree(node, g)). */
  freeMaskOf(i: number): number {
    return this.freeMask[i];
  }

  /**
   * discard: a set-aside job is not restored but released for good: drops its record and its place
   * in the node job lists (its GPUs, usage and spread counts were freed by setAside). The state is
   * then what takeAway left. No-op for a job takeAway released (a share).
   */
  discard(t: TakenAway): void {
    const rec = t.rec;
    if (!rec.aside) return;
    rec.aside = false;
    this.allocations.delete(t.jobId);
    for (const i of rec.nodeIdx) this.nodeJobs[i]?.delete(t.jobId);
  }

  /**
   * heldAsFree tells whether what `t` held is exactly the free part, now, of the whole-GPU
   * placement given as node indexes and GPU bitmasks (`nodeIdx`, `masks`, in placement order):
   * node by node, the nodes without a free GPU among `masks` left out. When it is, allocating that
   * free part (the placement's nodes filtered to their free GPUs, as Backfill.hold does) would
   * allocate the same GPUs in the same node order as `putBack(t)` restores.
   */
  heldAsFree(t: TakenAway, nodeIdx: readonly number[], masks: readonly number[]): boolean {
    const rec = t.rec;
    if (rec.share) return false;
    let j = 0;
    for (let k = 0; k < nodeIdx.length; k++) {
      const free = (this.freeMask[nodeIdx[k]] & masks[k]) >>> 0;
      if (free === 0) continue;
      if (j >= rec.nodeIdx.length || rec.nodeIdx[j] !== nodeIdx[k] || rec.masks[j] >>> 0 !== free) return false;
      j++;
    }
    return j === rec.nodeIdx.length;
  }

  /** spreadOf: the spread group `jobId` was allocated with, if any (re-allocations pass it back). */
  spreadOf(jobId: string): string | undefined {
    return this.allocations.get(jobId)?.spread;
  }

  /**
   * spreadNodes: the nodes (dense indexes, ascending) holding an allocation of `org`'s spread group
   * `spread`: a running replica of the service, or one placed earlier in this cycle.
   */
  spreadNodes(org: string, spread: string): number[] {
    const byNode = this.spreadByGroup.get(`${org}\u0000${spread}`);
    return byNode ? [...byNode.keys()].sort((a, b) => a - b) : [];
  }

  /**
   * domainNodes: every node (dense indexes, ascending) sharing a `domain` — the node itself, its
   * scalable unit, its site or its value of a node label — with one of `nodes` (a spread group's
   * failure domains).
   */
  domainNodes(nodes: readonly number[], domain: SpreadDomain): number[] {
    if (domain === 'node' || nodes.length === 0) return [...nodes];
    const index = this.domainIndex(domain);
    const keys = new Set(nodes.map((i) => this.domainKey(i, domain)));
    const out: number[] = [];
    for (const k of keys) {
      const members = index.get(k);
      // A node without the label is a domain of its own (its key names it; see domainKey).
      if (members) out.push(...members);
      else out.push(Number(k.slice(UNLABELLED.length)));
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * domainKey: node `i`'s domain under `domain` — its unit, its site, its value of the label (a node
   * without the label: a key of its own, never shared) or, for `node`, the node.
   */
  domainKey(i: number, domain: SpreadDomain): string {
    const n = this.nodes[i]!;
    if (domain === 'unit') return n.unit;
    if (domain === 'site') return n.site;
    const key = spreadLabelKey(domain);
    const value = key === undefined ? undefined : n.labels[key];
    return value === undefined ? `${UNLABELLED}${i}` : value;
  }

  /** Nodes per scalable unit, per site and per value of each label spread over, built on first use (the fleet's nodes do not change). */
  private readonly domains = new Map<Exclude<SpreadDomain, 'node'>, Map<string, number[]>>();

  private domainIndex(domain: Exclude<SpreadDomain, 'node'>): Map<string, number[]> {
    let index = this.domains.get(domain);
    if (!index) {
      index = new Map();
      for (const n of this.nodes) {
        const k = this.domainKey(n.index, domain);
        if (k.startsWith(UNLABELLED)) continue;
        let list = index.get(k);
        if (!list) {
          list = [];
          index.set(k, list);
        }
        list.push(n.index);
      }
      this.domains.set(domain, index);
    }
    return index;
  }

  /** takeGpus marks `masks[k]` of node `nodeIdx[k]` taken by `jobId` (indexes kept exact); the GPUs taken. */
  private takeGpus(jobId: string, nodeIdx: ArrayLike<number>, masks: ArrayLike<number>): number {
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
    return gpus;
  }

  /**
   * maskNodes hides nodes from the placement indexes (buckets, fully free sets, free counts) for one
   * placement attempt: placement then never picks them. unmaskNodes restores them exactly; the
   * caller must unmask before the cycle goes on (allocations on masked nodes are accepted).
   */
  maskNodes(nodes: readonly number[]): void {
    for (const i of nodes) {
      if (this.masked[i] === 1) continue;
      this.detach(i);
      this.masked[i] = 1;
    }
  }

  /** isMasked: node `i` is hidden by maskNodes (share placement skips it too). */
  isMasked(i: number): boolean {
    return this.masked[i] === 1;
  }

  /** unmaskNodes undoes maskNodes. */
  unmaskNodes(nodes: readonly number[]): void {
    for (const i of nodes) {
      if (this.masked[i] === 0) continue;
      this.masked[i] = 0;
      this.attach(i);
    }
  }

  private releaseShare(jobId: string, rec: AllocationRecord, share: ShareRecord): void {
    const a = share.abs;
    const i = rec.nodeIdx[0];
    this.shareJobs[a] -= 1;
    this.shareMilli[a] -= share.milli;
    if (share.mode === 'mig' && share.migProfile) {
      this.migCompute[a] -= share.computeSlices;
      this.migMemory[a] -= share.memorySlices;
      const counts = this.migInstances.get(a);
      const left = (counts?.get(share.migProfile) ?? 1) - 1;
      if (left > 0) counts?.set(share.migProfile, left);
      else counts?.delete(share.migProfile);
      if (counts && counts.size === 0) this.migInstances.delete(a);
    }
    if (this.shareJobs[a] === 0) {
      // The last share left: the GPU is whole and free again.
      this.sharedByOrg.get(this.shareOrg[a])?.get(this.nodeGroup[i])?.delete(a);
      this.shareMode[a] = 0;
      this.shareOrg[a] = -1;
      this.shareMilli[a] = 0;
      const bit = 1 << (a - this.gpuBase[i]);
      this.detach(i);
      this.freeMask[i] = (this.freeMask[i] | bit) >>> 0;
      this.freeCount[i] += 1;
      this.groupStates[this.nodeGroup[i]].allocated -= 1;
      this.attach(i);
    }
    this.nodeJobs[i]?.delete(jobId);
    this.addUsage(rec.project, rec.placement.gpuType, -share.milli);
  }

  /**
   * setGpuPartition records GPU `gpu` of a node as in MIG mode or whole (a re-partition committed,
   * or the state loaded at start). It changes no allocation: the caller re-partitions idle GPUs only.
   */
  setGpuPartition(nodeId: string, gpu: number, mode: GpuPartitionMode): void {
    const i = this.nodeIndexOrThrow(nodeId);
    if (!Number.isInteger(gpu) || gpu < 0 || gpu >= this.nodes[i].gpus) {
      throw new ClusterModelError(`node ${nodeId} has no GPU ${gpu}`);
    }
    const a = this.gpuBase[i] + gpu;
    const code = mode === 'mig' ? 1 : 0;
    if (this.migMode[a] === code) return;
    this.migMode[a] = code;
    const g = this.nodeGroup[i];
    let set = this.migModeByGroup.get(g);
    if (!set) {
      set = new Set();
      this.migModeByGroup.set(g, set);
    }
    if (code === 1) {
      set.add(a);
      this.migModeCount[i] += 1;
      this.migModeTotal += 1;
    } else {
      set.delete(a);
      this.migModeCount[i] -= 1;
      this.migModeTotal -= 1;
    }
  }

  /** anyMigMode: whether any GPU of the fleet is in MIG mode (O(1): whole-GPU starts skip the mode checks without). */
  anyMigMode(): boolean {
    return this.migModeTotal > 0;
  }

  /** gpuPartition: the partition mode of GPU `gpu` of node `i` (dense index). */
  gpuPartition(i: number, gpu: number): GpuPartitionMode {
    return this.migMode[this.gpuBase[i] + gpu] === 1 ? 'mig' : 'whole';
  }

  /** migModeGpus: the GPUs of node `nodeId` in MIG mode, ascending (none for an unknown node). */
  migModeGpus(nodeId: string): number[] {
    const i = this.fleet.nodeIndex.get(nodeId);
    if (i === undefined || this.migModeCount[i] === 0) return [];
    const out: number[] = [];
    for (let g = 0; g < this.nodes[i].gpus; g++) if (this.migMode[this.gpuBase[i] + g] === 1) out.push(g);
    return out;
  }

  /** hasMigModeGpu: whether any GPU of node `i` is in MIG mode (O(1); the whole-GPU path's quick check). */
  hasMigModeGpu(i: number): boolean {
    return this.migModeCount[i] > 0;
  }

  /** migModeGpusOfGroup: absolute indexes of group `g`'s GPUs in MIG mode (do not change the set). */
  migModeGpusOfGroup(g: number): ReadonlySet<number> {
    return this.migModeByGroup.get(g) ?? EMPTY_SET;
  }

  /** isFreeAbs: whether absolute GPU `a` is free (no whole allocation, no share). */
  isFreeAbs(a: number): boolean {
    const i = this.nodeOfGpu(a);
    return (this.freeMask[i] & (1 << (a - this.gpuBase[i]))) !== 0;
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

  /** jobsOnNode: the ids of the jobs (and phantoms) holding GPUs of node `nodeId` (none for an unknown node). */
  jobsOnNode(nodeId: string): string[] {
    const i = this.fleet.nodeIndex.get(nodeId);
    return i === undefined ? [] : [...(this.nodeJobs[i] ?? [])];
  }

  /** allocationOf returns the placement held by `jobId`, if any. */
  allocationOf(jobId: string): Placement | undefined {
    return this.allocations.get(jobId)?.placement;
  }

  /** allocationView: project, organisation, placement and spread group of `jobId`, in one lookup. */
  allocationView(jobId: string): AllocationView | undefined {
    return this.allocations.get(jobId);
  }

  /** orgOf returns the organisation `jobId` was allocated for (re-allocations pass it back), if it holds GPUs. */
  orgOf(jobId: string): string | undefined {
    return this.allocations.get(jobId)?.org;
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

  /**
   * wholeHold: the node indexes and GPU bitmasks `jobId` holds (the record's own arrays, read-only;
   * masks are 0 for a share), or undefined. For hot loops that must not allocate.
   */
  wholeHold(jobId: string): WholeHold | undefined {
    return this.allocations.get(jobId);
  }

  /**
   * addWholeGpus adds, per node index, the whole GPUs `jobId` holds (shares count none) to `into`:
   * what releasing it would free on each node. No-op when it holds nothing.
   */
  addWholeGpus(jobId: string, into: Map<number, number>): void {
    const rec = this.allocations.get(jobId);
    if (!rec) return;
    for (let k = 0; k < rec.nodeIdx.length; k++) {
      const n = popcount(rec.masks[k]);
      if (n > 0) into.set(rec.nodeIdx[k], (into.get(rec.nodeIdx[k]) ?? 0) + n);
    }
  }

  /** allocatedJobs lists the ids of all jobs holding GPUs, in allocation order. */
  allocatedJobs(): string[] {
    return [...this.allocations.keys()];
  }

  /** Open journals of the ids given an allocation (openJournal). */
  private readonly journals: AllocationJournal[] = [];

  /** openJournal: a journal of the ids given an allocation from now on (allocate, putBack), until closed. */
  openJournal(): AllocationJournal {
    const journal = new AllocationJournal();
    this.journals.push(journal);
    return journal;
  }

  /** closeJournal stops recording into `journal`. */
  closeJournal(journal: AllocationJournal): void {
    const k = this.journals.indexOf(journal);
    if (k >= 0) this.journals.splice(k, 1);
  }

  private noteAllocated(jobId: string): void {
    for (const journal of this.journals) journal.note(jobId);
  }

  /** anyAllocated: whether some job holding GPUs satisfies `test` (allocatedJobs().some, without the copy). */
  anyAllocated(test: (id: string) => boolean): boolean {
    for (const id of this.allocations.keys()) if (test(id)) return true;
    return false;
  }

  /** usage returns the GPU-equivalents of `gpuType` held by `project`'s jobs (a 250-milli share is 0.25). */
  usage(project: string, gpuType: GpuType): number {
    return (this.usageByProject.get(project)?.get(gpuType) ?? 0) / MILLI_PER_GPU;
  }

  /** projectUsage lists (project, GPU-equivalents held) for every project holding GPUs of `gpuType`. */
  projectUsage(gpuType: GpuType): [string, number][] {
    const out: [string, number][] = [];
    for (const [project, byType] of this.usageByProject) {
      const n = byType.get(gpuType);
      if (n !== undefined && n > 0) out.push([project, n / MILLI_PER_GPU]);
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

  /** groupOf returns the dense (site, GPU type) group id of a node. */
  groupOf(i: number): number {
    return this.nodeGroup[i];
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

  /** isPlaceable tells whether node `i` may get new work now: up and not masked (maskNodes). */
  isPlaceable(i: number): boolean {
    return this.stateCode[i] === UP && this.masked[i] === 0;
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
    this.verifyMigModes();
    const usage = new Map<string, number>();
    const allocatedPerGroup = new Array<number>(this.groupStates.length).fill(0);
    const seen = new Uint32Array(this.nodes.length);
    const shares: AllocationRecord[] = [];
    for (const [jobId, rec] of this.allocations) {
      for (let k = 0; k < rec.nodeIdx.length; k++) {
        const i = rec.nodeIdx[k];
        if ((seen[i] & rec.masks[k]) !== 0) throw new ClusterModelError(`GPU held twice on node ${i}`);
        seen[i] |= rec.masks[k];
        if (!this.nodeJobs[i]?.has(jobId)) throw new ClusterModelError(`node ${i} misses job ${jobId}`);
        allocatedPerGroup[this.nodeGroup[i]] += popcount(rec.masks[k]);
      }
      if (rec.share) shares.push(rec);
      const key = `${rec.project}\u0000${rec.placement.gpuType}`;
      usage.set(key, (usage.get(key) ?? 0) + rec.milli);
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
      if ((this.usageByProject.get(project)?.get(type) ?? 0) !== n) throw new ClusterModelError(`usage of ${key} missing`);
    }
    this.verifyShares(shares, seen, allocatedPerGroup);
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

  /** verifyShares recomputes the share layer (milli, jobs, org, MIG slices) and marks shared GPUs as held. */
  /** verifyMigModes: the per-node counts, the total and the per-group sets match the per-GPU modes. */
  private verifyMigModes(): void {
    let total = 0;
    for (let i = 0; i < this.nodes.length; i++) {
      let count = 0;
      for (let a = this.gpuBase[i]; a < this.gpuBase[i + 1]; a++) {
        if (this.migMode[a] !== 1) continue;
        count++;
        if (!this.migModeByGroup.get(this.nodeGroup[i])?.has(a))
          throw new ClusterModelError(`MIG GPU ${a} missing from its group`);
      }
      if (count !== this.migModeCount[i])
        throw new ClusterModelError(`node ${i}: MIG-mode count ${this.migModeCount[i]} != ${count}`);
      total += count;
    }
    let inSets = 0;
    for (const set of this.migModeByGroup.values()) inSets += set.size;
    if (total !== this.migModeTotal || inSets !== total)
      throw new ClusterModelError(`MIG-mode total ${this.migModeTotal} != ${total}`);
  }

  private verifyShares(shares: readonly AllocationRecord[], seen: Uint32Array, allocatedPerGroup: number[]): void {
    const milli = new Map<number, number>();
    const jobs = new Map<number, number>();
    for (const rec of shares) {
      const s = rec.share;
      if (!s) continue;
      milli.set(s.abs, (milli.get(s.abs) ?? 0) + s.milli);
      jobs.set(s.abs, (jobs.get(s.abs) ?? 0) + 1);
    }
    for (let a = 0; a < this.shareJobs.length; a++) {
      const n = jobs.get(a) ?? 0;
      if (n !== this.shareJobs[a] || (milli.get(a) ?? 0) !== this.shareMilli[a]) {
        throw new ClusterModelError(`share state of GPU ${a} is stale`);
      }
      if (this.shareMilli[a] > MILLI_PER_GPU) throw new ClusterModelError(`GPU ${a} is over ${MILLI_PER_GPU} milli`);
      if (n === 0) {
        if (this.shareOrg[a] !== -1 || this.shareMode[a] !== 0) throw new ClusterModelError(`idle GPU ${a} keeps a share`);
        continue;
      }
      const { node: i, gpu } = this.gpuOfAbs(a);
      seen[i] |= 1 << gpu;
      allocatedPerGroup[this.nodeGroup[i]] += 1;
      if (!this.sharedByOrg.get(this.shareOrg[a])?.get(this.nodeGroup[i])?.has(a)) {
        throw new ClusterModelError(`shared GPU ${a} is missing from its org's set`);
      }
    }
  }

  // ---------------------------------------------------------------- internals

  private orgId(org: string): number {
    let id = this.orgIds.get(org);
    if (id === undefined) {
      id = this.orgNames.length;
      this.orgIds.set(org, id);
      this.orgNames.push(org);
    }
    return id;
  }

  private sharedSet(orgId: number, g: number): Set<number> {
    let byGroup = this.sharedByOrg.get(orgId);
    if (!byGroup) {
      byGroup = new Map();
      this.sharedByOrg.set(orgId, byGroup);
    }
    let set = byGroup.get(g);
    if (!set) {
      set = new Set();
      byGroup.set(g, set);
    }
    return set;
  }

  /** nodeOfGpu: the node holding absolute GPU `a` (binary search over gpuBase). */
  private nodeOfGpu(a: number): number {
    let lo = 0;
    let hi = this.nodes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.gpuBase[mid] <= a) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private nodeIndexOrThrow(nodeId: string): number {
    const i = this.fleet.nodeIndex.get(nodeId);
    if (i === undefined) throw new ClusterModelError(`unknown node ${nodeId}`);
    return i;
  }

  /** detach removes node i from the placement indexes (no-op unless up). */
  private detach(i: number): void {
    if (this.stateCode[i] !== UP || this.masked[i] === 1) return;
    const g = this.groupStates[this.nodeGroup[i]];
    const free = this.freeCount[i];
    g.buckets[free].delete(this.nodeLocal[i]);
    g.freeUp -= free;
    if (free === this.nodes[i].gpus) this.unitStates[this.nodeUnit[i]].fullyFree.delete(this.nodeUnitLocal[i]);
  }

  /** attach adds node i to the placement indexes (no-op unless up). */
  private attach(i: number): void {
    if (this.stateCode[i] !== UP || this.masked[i] === 1) return;
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
/** The domain key of a node without the label a group spreads over (followed by its index): no label value starts with NUL. */
const UNLABELLED = '\u0000node:';
const EMPTY_SET: ReadonlySet<number> = new Set();

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
