/**
 * GPU fragmentation as defined by FGD (Weng et al., USENIX ATC '23, section "Quantifying GPU
 * fragmentation"): a node's free GPU capacity is fragmented *for a task* when that task cannot use
 * it; the node's fragmentation is the expectation over the target workload's task distribution,
 * F_n(M) = sum_m p_m F_n(m).
 *
 * F_n(m), for a node with free milli-GPU list g_1..g_k, free CPU c and GPU model x:
 * - m asks no GPU (CPU-only task): all free GPU capacity (such a task uses none of it);
 * - m cannot run on the node at all (model not allowed, too little CPU, fewer than m.gpus GPUs
 *   with >= m.gpuMilli free): all free GPU capacity;
 * - otherwise: the free capacity of the GPUs that individually have less than m.gpuMilli free
 *   (m cannot use those GPUs even though it fits elsewhere on the node).
 *
 * The target distribution M is the set of "typical" task shapes (CPU, GPU count, milli-GPU, model
 * constraint) that together cover 95 % of the workload's tasks by count, CPU-only tasks included,
 * with popularity renormalised to 1 (the paper's FGD section; the
 * 95 % threshold is the authors' simulator configuration, `podPopularityThreshold: 95`).
 * Memory is not a dimension of FGD's fragmentation measure (the authors' simulator omits it).
 */
import { MILLI, type ShareTask, type SharingCluster } from './cluster.js';

export interface TypicalTask {
  cpuMilli: number;
  gpus: number;
  gpuMilli: number;
  models: readonly string[] | null;
  /** Popularity p_m (sums to 1 over the typical set). */
  weight: number;
}

function modelsKey(m: readonly string[] | null): string {
  return m && m.length > 0 ? m.join('|') : '';
}

/**
 * typicalTasks: task shapes by decreasing count (ties: larger CPU, then milli-GPU, then GPU count,
 * then model string first, as the authors' sort), taken until they cover `coverage` of all tasks,
 * weights renormalised over the kept shapes.
 */
export function typicalTasks(tasks: readonly ShareTask[], coverage = 0.95): TypicalTask[] {
  const counts = new Map<string, { t: TypicalTask; n: number; mk: string }>();
  for (const t of tasks) {
    const mk = t.gpus > 0 ? modelsKey(t.models) : '';
    const key = `${t.cpuMilli}/${t.gpus}/${t.gpuMilli}/${mk}`;
    const e = counts.get(key);
    if (e) e.n++;
    else
      counts.set(key, {
        t: { cpuMilli: t.cpuMilli, gpus: t.gpus, gpuMilli: t.gpuMilli, models: mk ? mk.split('|') : null, weight: 0 },
        n: 1,
        mk,
      });
  }
  const all = [...counts.values()].sort(
    (a, b) =>
      b.n - a.n ||
      b.t.cpuMilli - a.t.cpuMilli ||
      b.t.gpuMilli - a.t.gpuMilli ||
      b.t.gpus - a.t.gpus ||
      (a.mk < b.mk ? 1 : a.mk > b.mk ? -1 : 0),
  );
  const total = tasks.length;
  const out: TypicalTask[] = [];
  let cum = 0;
  for (const e of all) {
    if (cum >= coverage * total) break;
    cum += e.n;
    out.push({ ...e.t, weight: e.n });
  }
  for (const t of out) t.weight /= cum;
  return out;
}

/**
 * FragmentationModel: the typical set prepared for fast evaluation on a cluster (per GPU model, is
 * each typical shape allowed there).
 */
export class FragmentationModel {
  readonly typical: readonly TypicalTask[];
  private readonly cpu: Float64Array;
  private readonly gpus: Int32Array;
  private readonly milli: Int32Array;
  private readonly weight: Float64Array;
  private readonly allowedByModel = new Map<string, Uint8Array>();

  constructor(typical: readonly TypicalTask[]) {
    this.typical = typical;
    const k = typical.length;
    this.cpu = new Float64Array(k);
    this.gpus = new Int32Array(k);
    this.milli = new Int32Array(k);
    this.weight = new Float64Array(k);
    typical.forEach((t, i) => {
      this.cpu[i] = t.cpuMilli;
      this.gpus[i] = t.gpus;
      this.milli[i] = t.gpuMilli;
      this.weight[i] = t.weight;
    });
  }

  private allowed(model: string): Uint8Array {
    let a = this.allowedByModel.get(model);
    if (!a) {
      a = new Uint8Array(this.typical.length);
      this.typical.forEach((t, i) => {
        a![i] = !t.models || t.models.length === 0 || t.models.includes(model) ? 1 : 0;
      });
      this.allowedByModel.set(model, a);
    }
    return a;
  }

  /**
   * fragOf: F_n(M) in milli-GPU for a node state given as free CPU, GPU model and free milli-GPU
   * per GPU (gpuFree[from..to)).
   */
  fragOf(cpuLeft: number, model: string, gpuFree: ArrayLike<number>, from: number, to: number): number {
    let total = 0;
    for (let a = from; a < to; a++) total += gpuFree[a];
    if (total === 0) return 0;
    const allowed = this.allowed(model);
    let f = 0;
    for (let i = 0; i < this.weight.length; i++) {
      const m = this.milli[i];
      if (m === 0 || allowed[i] === 0 || cpuLeft < this.cpu[i]) {
        f += this.weight[i] * total;
        continue;
      }
      let ok = 0;
      let small = 0;
      for (let a = from; a < to; a++) {
        const g = gpuFree[a];
        if (g >= m) ok++;
        else small += g;
      }
      f += this.weight[i] * (ok >= this.gpus[i] ? small : total);
    }
    return f;
  }

  /**
   * copiesFragOf (ours, not in the paper): free GPU capacity that stays unused if the node is
   * filled with copies of each typical task, in expectation over the typical set. FGD's F_n(m)
   * asks "can one m still run here"; this asks "how much of the free capacity can m's copies
   * actually consume", so it also sees CPU that runs out before the GPUs do (8 free GPUs behind 12
   * free cores are not 8 usable GPUs for 11-core tasks) and fraction leftovers (600 free milli
   * take one 470 task and strand 130). Copies of m = min(floor(free CPU / m.cpu), sum over GPUs
   * of floor(free / m.gpuMilli) for a fraction, or floor(fully free GPUs / m.gpus) for whole
   * GPUs); F'_n(m) = total free - copies x m's milli-GPU; all free capacity where m cannot run.
   */
  copiesFragOf(cpuLeft: number, model: string, gpuFree: ArrayLike<number>, from: number, to: number): number {
    let total = 0;
    for (let a = from; a < to; a++) total += gpuFree[a];
    if (total === 0) return 0;
    const allowed = this.allowed(model);
    let f = 0;
    for (let i = 0; i < this.weight.length; i++) {
      const m = this.milli[i];
      if (m === 0 || allowed[i] === 0) {
        f += this.weight[i] * total;
        continue;
      }
      const byCpu = this.cpu[i] > 0 ? Math.floor(cpuLeft / this.cpu[i]) : Number.POSITIVE_INFINITY;
      let byGpu = 0;
      if (m < MILLI) {
        for (let a = from; a < to; a++) byGpu += Math.floor(gpuFree[a] / m);
      } else {
        let whole = 0;
        for (let a = from; a < to; a++) if (gpuFree[a] === MILLI) whole++;
        byGpu = Math.floor(whole / this.gpus[i]);
      }
      f += this.weight[i] * (total - Math.min(byCpu, byGpu) * this.gpus[i] * m);
    }
    return f;
  }

  /** nodeFrag: F_n(M) of node n of the cluster as it is. */
  nodeFrag(c: SharingCluster, n: number): number {
    return this.fragOf(c.cpuFree[n], c.nodes[n].model, c.gpuFree, c.gpuStart[n], c.gpuStart[n + 1]);
  }

  /**
   * fragAfter: F_n(M) of node n if task t were placed on the given GPU indexes of it (the cluster is
   * not changed).
   */
  fragAfter(c: SharingCluster, n: number, t: ShareTask, gpus: readonly number[], scratch: Int32Array): number {
    const from = c.gpuStart[n];
    const k = c.gpuCount[n];
    for (let g = 0; g < k; g++) scratch[g] = c.gpuFree[from + g];
    for (const g of gpus) scratch[g] -= t.gpuMilli;
    return this.fragOf(c.cpuFree[n] - t.cpuMilli, c.nodes[n].model, scratch, 0, k);
  }

  /** clusterFrag: sum of F_n(M) over all nodes, milli-GPU. */
  clusterFrag(c: SharingCluster): number {
    let s = 0;
    for (let n = 0; n < c.size; n++) s += this.nodeFrag(c, n);
    return s;
  }
}

export { MILLI };
