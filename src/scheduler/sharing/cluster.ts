/**
 * SharingCluster: nodes with CPU (milli-cores), memory (MiB) and GPUs of one model, each GPU with a
 * fractional capacity of 1000 milli-GPU. Tasks ask for CPU, memory and either whole GPUs or a
 * fraction (< 1000 milli) of ONE GPU. Placement-only (tasks are added, never removed), which is
 * what the FGD experiment needs and what a "what fits now" check in production needs.
 *
 * Tenancy: in production a fractional GPU is a MIG slice or a time-sliced GPU and is never shared
 * across tenants. A task may carry `tenant`; a GPU that holds a fraction of tenant A only takes
 * further fractions of tenant A (whole-GPU tasks only take fully free GPUs anyway). Traces without
 * tenants (Alibaba openb) leave it unset, which is one tenant.
 *
 * Pure and deterministic: typed arrays, no I/O, no clock, no randomness.
 */

export { tightestFit } from '../best-fit.js';

export const MILLI = 1000;

export interface ShareNodeSpec {
  name: string;
  cpuMilli: number;
  memoryMiB: number;
  gpus: number;
  /** GPU model, e.g. `V100M16`; '' for a CPU-only node. */
  model: string;
}

export interface ShareTask {
  id: string;
  cpuMilli: number;
  memoryMiB: number;
  /** Number of GPUs (0 = CPU-only). A fractional task has gpus 1 and gpuMilli < 1000. */
  gpus: number;
  /** Milli-GPU per GPU: 1000 for whole GPUs, 1..999 for a fraction of one GPU, 0 for CPU-only. */
  gpuMilli: number;
  /** Allowed GPU models (GPU-model constraint); null or empty = any model. */
  models: readonly string[] | null;
  /** Tenant key; fractions of different tenants never share a GPU. Undefined = the one tenant. */
  tenant?: string;
}

/** Where a task went: node index and GPU indexes within the node. */
export interface SharePlacement {
  node: number;
  gpus: number[];
}

/** isFractional: a task that takes part of one GPU. */
export function isFractional(t: ShareTask): boolean {
  return t.gpus === 1 && t.gpuMilli > 0 && t.gpuMilli < MILLI;
}

/** taskGpuMilli: total milli-GPU a task asks for. */
export function taskGpuMilli(t: ShareTask): number {
  return t.gpus * t.gpuMilli;
}

/** validateTask returns a sentence saying why a task is malformed, or null. */
export function validateTask(t: ShareTask): string | null {
  if (!(t.cpuMilli >= 0) || !(t.memoryMiB >= 0)) return `task ${t.id}: CPU and memory must be >= 0`;
  if (!Number.isInteger(t.gpus) || t.gpus < 0) return `task ${t.id}: GPU count must be a whole number >= 0`;
  if (t.gpus === 0 && t.gpuMilli !== 0) return `task ${t.id}: a CPU-only task has gpuMilli 0`;
  if (t.gpus > 0 && !(Number.isInteger(t.gpuMilli) && t.gpuMilli >= 1 && t.gpuMilli <= MILLI))
    return `task ${t.id}: gpuMilli must be 1..1000`;
  if (t.gpus > 1 && t.gpuMilli !== MILLI) return `task ${t.id}: a fraction (< 1000 milli) is of one GPU only`;
  return null;
}

export class SharingCluster {
  readonly nodes: readonly ShareNodeSpec[];
  /** Free CPU milli per node. */
  readonly cpuFree: Float64Array;
  readonly memFree: Float64Array;
  /** Free milli-GPU of GPU g of node n at gpuFree[gpuStart[n] + g]. */
  readonly gpuFree: Int32Array;
  readonly gpuStart: Int32Array;
  readonly gpuCount: Int32Array;
  /** Tenant id (index in `tenants`) holding fractions on a GPU, -1 if none. */
  readonly gpuTenant: Int32Array;
  /** Number of GPU tasks per node per "affinity" kind (Clustering policy), keyed by kind string. */
  readonly kinds: Map<string, number>[];
  /** Bumped on every change of a node, so scorers can cache per node state. */
  readonly version: Int32Array;
  readonly totalGpuMilli: number;
  usedGpuMilli = 0;
  private readonly tenantIds = new Map<string, number>();

  constructor(nodes: readonly ShareNodeSpec[]) {
    this.nodes = nodes;
    const n = nodes.length;
    this.cpuFree = new Float64Array(n);
    this.version = new Int32Array(n);
    this.memFree = new Float64Array(n);
    this.gpuStart = new Int32Array(n + 1);
    this.gpuCount = new Int32Array(n);
    let g = 0;
    for (let i = 0; i < n; i++) {
      this.cpuFree[i] = nodes[i].cpuMilli;
      this.memFree[i] = nodes[i].memoryMiB;
      this.gpuStart[i] = g;
      this.gpuCount[i] = nodes[i].gpus;
      g += nodes[i].gpus;
    }
    this.gpuStart[n] = g;
    this.gpuFree = new Int32Array(g).fill(MILLI);
    this.gpuTenant = new Int32Array(g).fill(-1);
    this.kinds = nodes.map(() => new Map<string, number>());
    this.totalGpuMilli = g * MILLI;
  }

  get size(): number {
    return this.nodes.length;
  }

  tenantId(t: ShareTask): number {
    if (t.tenant === undefined) return 0;
    let id = this.tenantIds.get(t.tenant);
    if (id === undefined) {
      id = this.tenantIds.size + 1;
      this.tenantIds.set(t.tenant, id);
    }
    return id;
  }

  /** modelAllowed: the node's GPU model satisfies the task's GPU-model constraint. */
  modelAllowed(t: ShareTask, node: number): boolean {
    if (t.gpus === 0 || !t.models || t.models.length === 0) return true;
    return t.models.includes(this.nodes[node].model);
  }

  /** gpuUsable: GPU (absolute index) can take one GPU's share of task t. */
  gpuUsable(t: ShareTask, abs: number, tenant: number): boolean {
    const free = this.gpuFree[abs];
    if (free < t.gpuMilli) return false;
    if (t.gpuMilli < MILLI && free < MILLI && this.gpuTenant[abs] !== tenant) return false;
    return true;
  }

  /** fits: CPU, memory, model and GPU capacity all allow the task on the node. */
  fits(t: ShareTask, node: number): boolean {
    if (this.cpuFree[node] < t.cpuMilli || this.memFree[node] < t.memoryMiB) return false;
    if (t.gpus === 0) return true;
    if (t.gpus > this.gpuCount[node] || !this.modelAllowed(t, node)) return false;
    const tenant = this.tenantId(t);
    let ok = 0;
    for (let a = this.gpuStart[node], e = this.gpuStart[node + 1]; a < e; a++) {
      if (this.gpuUsable(t, a, tenant) && ++ok >= t.gpus) return true;
    }
    return false;
  }

  /**
   * exclusiveGpus: the first `t.gpus` fully free GPUs of the node in index order (the open-gpu-share
   * rule the FGD simulator uses for whole-GPU tasks), or null.
   */
  exclusiveGpus(t: ShareTask, node: number): number[] | null {
    const out: number[] = [];
    for (let g = 0; g < this.gpuCount[node] && out.length < t.gpus; g++) {
      if (this.gpuFree[this.gpuStart[node] + g] === MILLI) out.push(g);
    }
    return out.length === t.gpus ? out : null;
  }

  /** fractionGpus: GPU indexes of the node that can take the fractional task t. */
  fractionGpus(t: ShareTask, node: number): number[] {
    const tenant = this.tenantId(t);
    const out: number[] = [];
    for (let g = 0; g < this.gpuCount[node]; g++) if (this.gpuUsable(t, this.gpuStart[node] + g, tenant)) out.push(g);
    return out;
  }

  /** gpuLeft: total free milli-GPU on the node. */
  gpuLeft(node: number): number {
    let s = 0;
    for (let a = this.gpuStart[node], e = this.gpuStart[node + 1]; a < e; a++) s += this.gpuFree[a];
    return s;
  }

  fullyFreeGpus(node: number): number {
    let s = 0;
    for (let a = this.gpuStart[node], e = this.gpuStart[node + 1]; a < e; a++) if (this.gpuFree[a] === MILLI) s++;
    return s;
  }

  /** place applies a placement; throws if it does not fit (callers choose among feasible ones). */
  place(t: ShareTask, p: SharePlacement): void {
    const n = p.node;
    if (this.cpuFree[n] < t.cpuMilli || this.memFree[n] < t.memoryMiB)
      throw new Error(`task ${t.id}: no CPU/memory on node ${n}`);
    if (p.gpus.length !== t.gpus) throw new Error(`task ${t.id}: needs ${t.gpus} GPU indexes, got ${p.gpus.length}`);
    const tenant = this.tenantId(t);
    for (const g of p.gpus) {
      if (g < 0 || g >= this.gpuCount[n] || !this.gpuUsable(t, this.gpuStart[n] + g, tenant)) {
        throw new Error(`task ${t.id}: GPU ${g} of node ${n} cannot take ${t.gpuMilli} milli`);
      }
    }
    this.cpuFree[n] -= t.cpuMilli;
    this.memFree[n] -= t.memoryMiB;
    for (const g of p.gpus) {
      const a = this.gpuStart[n] + g;
      this.gpuFree[a] -= t.gpuMilli;
      if (t.gpuMilli < MILLI) this.gpuTenant[a] = tenant;
    }
    this.usedGpuMilli += taskGpuMilli(t);
    this.version[n]++;
    const kind = taskKind(t);
    if (kind !== null) this.kinds[n].set(kind, (this.kinds[n].get(kind) ?? 0) + 1);
  }
}

/** taskKind: the GPU-request kind used by the Clustering policy (null for CPU-only tasks). */
export function taskKind(t: ShareTask): string | null {
  if (t.gpus === 0) return null;
  return isFractional(t) ? 'share-gpu' : `${t.gpus}-gpu`;
}
