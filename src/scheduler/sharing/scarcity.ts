/**
 * Scarce homes (ours): some tasks fit on few nodes — 8-GPU tasks with 120 cores only on the 39
 * 128-core G3 nodes of openb, tasks constrained to P100 or V100 only on those pools. A task that
 * could run almost anywhere should not take those nodes while others are as good, or the picky
 * tasks fail early, while the cluster is still far from full. Fragmentation measures miss this:
 * they look at one node at a time, and such shapes are too rare to be typical.
 *
 * homes(m): GPUs of the nodes that can hold shape m when empty (CPU, memory, GPU count, model).
 * A shape is picky when homes(m) < `share` of the cluster's GPUs; a node is a scarce home when an
 * empty node like it holds some picky shape of the workload. Static: computed once per workload.
 */
import type { ShareNodeSpec, ShareTask } from './cluster.js';

export class ScarceHomes {
  /** 1 where node n is a scarce home. */
  readonly scarce: Uint8Array;
  private readonly pickyCache = new Map<string, boolean>();
  /** The last task asked about: a task is scored on many nodes in a row (no key to build each time). */
  private lastTask: ShareTask | null = null;
  private lastPicky = false;
  private readonly totalGpus: number;

  constructor(
    private readonly nodes: readonly ShareNodeSpec[],
    tasks: readonly ShareTask[],
    private readonly share: number,
    /** The share for GPU-model-constrained shapes (never below `share`). */
    private readonly constrainedShare: number = share,
  ) {
    this.totalGpus = nodes.reduce((s, n) => s + n.gpus, 0);
    this.scarce = new Uint8Array(nodes.length);
    const seen = new Set<string>();
    for (const t of tasks) {
      if (t.gpus === 0) continue;
      const key = shapeKey(t);
      if (seen.has(key)) continue;
      seen.add(key);
      if (!this.picky(t)) continue;
      nodes.forEach((n, i) => {
        if (holds(n, t)) this.scarce[i] = 1;
      });
    }
  }

  /** picky: the task's homes are under `share` of the cluster's GPUs. */
  picky(t: ShareTask): boolean {
    if (t === this.lastTask) return this.lastPicky;
    this.lastTask = t;
    this.lastPicky = this.pickyOf(t);
    return this.lastPicky;
  }

  private pickyOf(t: ShareTask): boolean {
    if (t.gpus === 0) return false;
    const key = shapeKey(t);
    let p = this.pickyCache.get(key);
    if (p === undefined) {
      let homes = 0;
      for (const n of this.nodes) if (holds(n, t)) homes += n.gpus;
      const share = t.models && t.models.length > 0 ? Math.max(this.share, this.constrainedShare) : this.share;
      p = homes < share * this.totalGpus;
      this.pickyCache.set(key, p);
    }
    return p;
  }
}

function shapeKey(t: ShareTask): string {
  return `${t.cpuMilli}/${t.memoryMiB}/${t.gpus}/${t.gpuMilli}/${t.models?.join('|') ?? ''}`;
}

function holds(n: ShareNodeSpec, t: ShareTask): boolean {
  return (
    n.gpus >= t.gpus &&
    n.cpuMilli >= t.cpuMilli &&
    n.memoryMiB >= t.memoryMiB &&
    (!t.models || t.models.length === 0 || t.models.includes(n.model))
  );
}
