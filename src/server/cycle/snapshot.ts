/** snapshot: the scheduler's input for one cycle, read from the live state and the policy. */
import { isPreemptible } from '../../lifecycle/index.js';
import type { PendingReason } from '../../model/job.js';
import type { CycleInput, PolicySettings, RunningJobInfo, SchedJob } from '../../scheduler/index.js';
import type { Policy } from '../policy.js';
import type { SchedulingOps } from '../scheduling-ops.js';
import type { SchedulingState } from './scheduling-state.js';

export interface SnapshotDeps {
  state: SchedulingState;
  policy: Policy;
  settings: PolicySettings;
  ops: SchedulingOps;
  /** Why an organisation's queued jobs must not start now (restriction), or null. */
  holdReason: (org: string) => PendingReason | null;
}

/** snapshot assembles the scheduler's input; held jobs (preempted, restricted) stay out of its queue. */
export function snapshot(d: SnapshotDeps, now: number, explain: boolean): CycleInput {
  const { state, policy: p, settings } = d;
  // Unconfigured organisations and projects get share 1: equal shares among siblings by default.
  const orgShares = new Map<string, number>();
  const projectShares = new Map<string, number>();
  const share = (project: string, org: string) => {
    if (!projectShares.has(project)) projectShares.set(project, p.fairShare.projectShares[project] ?? 1);
    if (!orgShares.has(org)) orgShares.set(org, p.fairShare.orgShares[org] ?? 1);
  };
  const queue: SchedJob[] = [];
  for (const [id, j] of state.queue) {
    share(j.project, j.org);
    const hold = state.holds.get(id);
    if (hold && state.queue.has(hold.forJobId)) continue;
    if (hold) state.holds.delete(id);
    if (d.holdReason(j.org)) continue;
    queue.push(j);
  }
  const running: RunningJobInfo[] = [];
  for (const [id, r] of state.running) {
    share(r.project, r.org);
    running.push({
      id,
      project: r.project,
      org: r.org,
      priority: r.priority,
      gpus: r.gpus,
      startedAt: r.startedAt,
      borrowed: r.borrowed,
      lenders: r.lenders,
      preemptible: isPreemptible(r.priority, r.borrowed),
      evicting: r.stopping !== null,
      // In the clock's time: a simulated site at --time-scale 60 ends a job 60 times sooner.
      maxRuntimeSeconds: r.spec.maxRuntimeSeconds / state.runtimeScale(state.cluster.allocationOf(id)?.site),
      lastCheckpointAt: r.lastCheckpointAt !== undefined ? Math.max(r.lastCheckpointAt, r.startedAt) : undefined,
    });
  }
  return {
    queue,
    quotas: state.quotas,
    now,
    running,
    fairShare: settings.fairShare
      ? {
          orgShares,
          projectShares,
          usage: state.usage,
          weights: settings.fairShare.weights,
          gpuTypeWeights: settings.fairShare.gpuTypeWeights,
          maxAgeSeconds: settings.fairShare.maxAgeSeconds,
        }
      : undefined,
    borrowing: settings.borrowing,
    preemption: settings.preemption,
    backfill: settings.backfill,
    explain,
    // Idle reserved GPUs are lent to preemptible work only where preemption can take them back.
    capacityWindows: d.ops.capacityWindows(p.preemption.enabled),
    maintenance: d.ops.maintenanceWindows(),
  };
}
