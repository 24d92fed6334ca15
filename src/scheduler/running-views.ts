/**
 * RunningViews: the cluster's allocation record of each running job, looked up once per cycle and
 * shared by the steps that read every running job (the quota ledger's guaranteed usage, the
 * preemptor's candidates, backfill's endings). Before, each of them looked every running job up
 * again, per GPU type: five string-keyed map reads per running job per cycle (≈ 15,000 at 102,400
 * GPUs), a few per cent of a cycle in profiles.
 *
 * Exactness: a running job's record is not changed by a cycle in any field these readers use
 * (project, organisation, placement, spread). Starts allocate other (queued) jobs; a preemption
 * plan that releases victims re-allocates each with the same project, placement, organisation and
 * spread; backfill's plans take records away and put the same records back. So a view read at the
 * first use is what a later lookup would return, field for field.
 */
import type { GpuType } from '../model/fleet.js';
import type { AllocationView, ClusterModel } from './cluster-model.js';
import type { RunningJobInfo } from './types.js';

const NONE: readonly number[] = [];

export class RunningViews {
  private views: (AllocationView | undefined)[] | undefined;
  private byType: Map<GpuType, number[]> | undefined;
  /** Positions of the running jobs flagged borrowed (read in the same pass as the views). */
  private borrowedAt: number[] | undefined;

  constructor(
    private readonly cluster: ClusterModel,
    readonly running: readonly RunningJobInfo[],
  ) {}

  /** at: running[i]'s allocation (undefined when it holds none). */
  at(i: number): AllocationView | undefined {
    return (this.views ?? this.lookUp())[i];
  }

  /** ofType: the positions in `running`, ascending, of the jobs holding GPUs of `gpuType`. */
  ofType(gpuType: GpuType): readonly number[] {
    if (!this.byType) {
      const views = this.views ?? this.lookUp();
      const byType = new Map<GpuType, number[]>();
      for (let i = 0; i < views.length; i++) {
        const v = views[i];
        if (!v) continue;
        const t = v.placement.gpuType;
        let list = byType.get(t);
        if (!list) {
          list = [];
          byType.set(t, list);
        }
        list.push(i);
      }
      this.byType = byType;
    }
    return this.byType.get(gpuType) ?? NONE;
  }

  /** borrowed: the positions in `running`, ascending, of the jobs flagged borrowed. */
  borrowed(): readonly number[] {
    if (!this.borrowedAt) this.lookUp();
    return this.borrowedAt ?? NONE;
  }

  private lookUp(): (AllocationView | undefined)[] {
    const views = new Array<AllocationView | undefined>(this.running.length);
    const borrowed: number[] = [];
    // One pass over the running jobs: each info object (scattered in memory) is read once.
    for (let i = 0; i < this.running.length; i++) {
      const r = this.running[i];
      views[i] = this.cluster.allocationView(r.id);
      if (r.borrowed) borrowed.push(i);
    }
    this.views = views;
    this.borrowedAt = borrowed;
    return views;
  }
}
