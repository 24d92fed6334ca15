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

/**
 * snapshot assembles the scheduler's input but its queue (the scheduler keeps its own, synced from
 * the queue's changes: `queuedForScheduler`). Shares come from the queue's per-organisation and
 * per-project counts and the running jobs: no walk over the queue.
 */
export function snapshot(d: SnapshotDeps, now: number, explain: boolean): Omit<CycleInput, 'queue'> {
  const { state, policy: p, settings } = d;
  // Unconfigured organisations and projects get share 1: equal shares among siblings by default.
  const orgShares = new Map<string, number>();
  const projectShares = new Map<string, number>();
  const shareOrg = (org: string) => {
    if (!orgShares.has(org)) orgShares.set(org, p.fairShare.orgShares[org] ?? 1);
  };
  const shareProject = (project: string) => {
    if (!projectShares.has(project)) projectShares.set(project, p.fairShare.projectShares[project] ?? 1);
  };
  for (const org of state.queue.orgs()) shareOrg(org);
  for (const project of state.queue.projects()) shareProject(project);
  const running: RunningJobInfo[] = [];
  for (const [id, r] of state.running) {
    shareOrg(r.org);
    shareProject(r.project);
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

/** What deciding a queued job's place in the scheduler's queue reads. */
export interface QueueDeps {
  state: Pick<SchedulingState, 'queue' | 'holds'>;
  holdReason: SnapshotDeps['holdReason'];
}

/**
 * queuedForScheduler: the job the scheduler should queue under `id` now, or undefined: not queued,
 * held back for its preemptor (a hold whose preemptor left the queue is dropped here), or its
 * organisation's processing restricted.
 */
export function queuedForScheduler(d: QueueDeps, id: string): SchedJob | undefined {
  const { state } = d;
  const j = state.queue.get(id);
  if (!j) return undefined;
  const hold = state.holds.get(id);
  if (hold && state.queue.has(hold.forJobId)) return undefined;
  if (hold) state.holds.delete(id);
  if (d.holdReason(j.org)) return undefined;
  return j;
}

/** restrictedOrgs: organisations with queued jobs whose processing is restricted now. */
export function restrictedOrgs(d: QueueDeps): Set<string> {
  const out = new Set<string>();
  for (const org of d.state.queue.orgs()) if (d.holdReason(org)) out.add(org);
  return out;
}
