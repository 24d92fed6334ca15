/**
 * RunningByType: the running jobs that hold GPUs, per GPU type, in the order given, each with its
 * allocation. Backfill's endings and preemption's candidates each read the running set per GPU
 * type; one pass (one allocation lookup per running job) serves both instead of one per reader and
 * type. Built on first use: running jobs' allocations do not change during a cycle (whatever a
 * plan takes away it puts back before returning, with the same project, organisation, placement
 * and spread group), so any moment of the cycle reads the same.
 */
import type { GpuType } from '../model/fleet.js';
import type { AllocationView, ClusterModel } from './cluster-model.js';
import type { RunningJobInfo } from './types.js';

/** RunningHeld: a running job and its allocation. */
export interface RunningHeld {
  readonly info: RunningJobInfo;
  readonly held: AllocationView;
}

const NONE: readonly RunningHeld[] = [];

export class RunningByType {
  private byType: Map<GpuType, RunningHeld[]> | undefined;

  constructor(
    private readonly cluster: ClusterModel,
    private readonly running: readonly RunningJobInfo[],
  ) {}

  /** of: the running jobs holding `gpuType` GPUs, in the order given (duplicates kept). */
  of(gpuType: GpuType): readonly RunningHeld[] {
    if (!this.byType) {
      const byType = new Map<GpuType, RunningHeld[]>();
      for (const info of this.running) {
        const held = this.cluster.allocationView(info.id);
        if (!held) continue;
        let list = byType.get(held.placement.gpuType);
        if (!list) {
          list = [];
          byType.set(held.placement.gpuType, list);
        }
        list.push({ info, held });
      }
      this.byType = byType;
    }
    return this.byType.get(gpuType) ?? NONE;
  }
}
