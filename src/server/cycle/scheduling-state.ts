/**
 * SchedulingState: the control plane's live, in-memory view (cluster allocations, queue, running
 * jobs, quotas, fair-share usage, holds, the last cycle's reasons). Built from the store at
 * recover (recover.ts); changed only after the store transaction that records a change commits.
 * It owns no I/O: the cycle runner, the observations and the job service read and update it.
 */

import type { ExecutionDriver } from '../../drivers/driver.js';
import { type NotRunnable, type SiteRunPolicy, whyNotRunnableAnywhere, withoutUnrunnableSites } from '../../drivers/runnable.js';
import type { HoldCause, StopCause } from '../../lifecycle/index.js';
import type { Fleet } from '../../model/fleet.js';
import { placementGpuEquivalents } from '../../model/gpu-sharing.js';
import type { PendingReason, Placement, SchedulingCycle } from '../../model/job.js';
import type { LenderShare } from '../../model/lenders.js';
import type { JobSpec } from '../../model/schemas.js';
import type { Endpoint } from '../../model/workloads.js';
import { ClusterModel, type JobExplain, type JobPriority, type SchedJob } from '../../scheduler/index.js';
import { schedFields } from '../job-constraints.js';
import type { JobRow } from '../job-rows.js';
import type { QuotaBook, ResidencyGate, RunningForResidency } from '../ports.js';
import { QueueMap } from './queue-map.js';

/** ClusterView: what readers outside the cycle (API routes, fleet history) may see of the cluster. */
export type ClusterView = Pick<
  ClusterModel,
  'nodeView' | 'nodeState' | 'siteTotals' | 'allocatedJobs' | 'allocationOf' | 'migModeGpus'
>;

export interface RunningJob {
  org: string;
  project: string;
  spec: JobSpec;
  startedAt: number;
  gpus: number;
  gpuType: string;
  priority: number;
  /** Started on capacity borrowed from other projects' idle quota: preemptible by its owners. */
  borrowed: boolean;
  /** Whose idle lent quota a borrowed start was attributed to (the scheduler's ledger reads it). */
  lenders?: readonly LenderShare[];
  /**
   * Why it is being stopped (cancel is not recorded here: it ends with the driver's outcome); what
   * follows once it has stopped is the lifecycle's exitDecision(cause, exit). A node failure
   * replaces any other cause (the node is gone either way).
   */
  stopping: StopCause | null;
  /** Epoch ms of the last checkpoint the job reported. */
  lastCheckpointAt?: number;
  /** A session's or service's endpoint once its driver reported it (workloads/endpoints.ts). */
  endpoint?: Endpoint;
}

export class SchedulingState implements QuotaBook {
  readonly cluster: ClusterModel;
  readonly queue = new QueueMap();
  /** Specs of queued jobs, kept so a start needs no extra read. */
  readonly queuedSpecs = new Map<string, JobSpec>();
  readonly running = new Map<string, RunningJob>();
  readonly quotas = new Map<string, Map<string, number>>();
  pending = new Map<string, PendingReason>();
  /** The cycle that built `pending` (the newest cycle); null before the first. */
  reasonsCycle: SchedulingCycle | null = null;
  explanations = new Map<string, JobExplain>();
  priorities = new Map<string, JobPriority>();
  explainedAt = 0;
  /**
   * The cycle that built `explanations` and `priorities`: they are rebuilt only every
   * `explainIntervalSeconds`, so this may be older than `reasonsCycle`; null before the first.
   */
  explainedCycle: SchedulingCycle | null = null;
  /** Fair-share usage: decayed, type-weighted GPU-seconds per project, charged every cycle. */
  usage = new Map<string, number>();
  usageAt = 0;
  /**
   * Preempted jobs held back until the job they made room for has started (or left the queue):
   * otherwise the victim, requeued first, could take the freed capacity again (a livelock).
   */
  readonly holds = new Map<string, HoldCause>();
  /** Jobs whose start is committed but not yet handed to the driver. */
  readonly handingOver = new Set<string>();
  /** Jobs whose driver-side data (output) is deleted once they have ended (an erasure). */
  readonly forgetOnExit = new Set<string>();
  /** Stop requests (with their grace) that arrived while a job was being handed over. */
  readonly stopAfterStart = new Map<string, number>();
  /** Something changed: the next tick runs a cycle. */
  dirty = true;
  /**
   * When the last cycle that started jobs ran (sim ms), until a cycle that starts nothing rebuilds
   * the explanations too (then null): reasons built before a later start of the same cycle describe
   * the fleet before it ("6 B200 free fleet-wide"), so one more cycle must rebuild them against the
   * state that cycle left, within the explain interval.
   */
  reasonsStaleSince: number | null = null;

  constructor(
    readonly fleet: Fleet,
    private readonly driver: Pick<ExecutionDriver, 'runtimeScale' | 'runPolicy'>,
    private readonly residency: ResidencyGate | null,
    readonly now: () => number,
    /** The scheduler lease's fencing token (several replicas on PostgreSQL); absent: one process, no term. */
    readonly term?: () => number,
  ) {
    this.cluster = new ClusterModel(fleet);
    const runPolicy = driver.runPolicy?.bind(driver);
    this.runPolicies = runPolicy ? fleet.sites.map((s) => runPolicy(s.id)) : [];
  }

  /** What each site's driver can run (images, host jobs, registries); empty when the driver does not say (sim). */
  readonly runPolicies: readonly SiteRunPolicy[];

  /** Each organisation's registry allow-list (org-registries.ts keeps it); absent: no restriction of its own. */
  readonly orgRegistries = new Map<string, readonly string[]>();

  /** whyNotRunnable: null when some site can run `org`'s job as its spec asks, else the refusal (submission). */
  whyNotRunnable(spec: JobSpec, org: string): NotRunnable | null {
    return whyNotRunnableAnywhere(spec, this.runPolicies, this.orgRegistries.get(org));
  }

  private readonly pokeListeners: (() => void)[] = [];

  /** onPoke: `fn` hears every poke (the cycle runner, to end an idle wait early). */
  onPoke(fn: () => void): void {
    this.pokeListeners.push(fn);
  }

  /** poke asks for a cycle soon (something changed). */
  poke(): void {
    this.dirty = true;
    for (const fn of this.pokeListeners) fn();
  }

  /** runtimeScale: job-run seconds per second of this clock on a site (1 for real engines). */
  runtimeScale(site: string | undefined): number {
    return site === undefined ? 1 : (this.driver.runtimeScale?.(site) ?? 1);
  }

  /**
   * The scale a queued job's limit is read with: its site is not chosen yet, so the sites' common
   * scale when they share one (a simulated fleet), else 1 (the limit as written).
   */
  get queuedScale(): number {
    const scales = new Set(this.fleet.sites.map((s) => this.runtimeScale(s.id)));
    return scales.size === 1 ? [...scales][0]! : 1;
  }

  /** enqueue: the one way a job enters the queue (submission, recovery, requeue), through the residency gate. */
  enqueue(id: string, row: JobRow, spec: JobSpec): void {
    // Sites whose driver cannot run the job as asked (an image where only host jobs run) never get it.
    const job = withoutUnrunnableSites(
      toSchedJob(row, spec, this.queuedScale),
      spec,
      this.runPolicies,
      this.orgRegistries.get(row.org_id),
    );
    this.queue.set(id, this.residency ? this.residency.constrain(job, spec, this.now()) : job);
    this.queuedSpecs.set(id, spec);
  }

  /**
   * reset empties the live view so that recover() can rebuild it from the store: a follower that
   * takes the scheduler over (src/server/replica) trusts only what is committed.
   */
  reset(): void {
    for (const id of this.cluster.allocatedJobs()) this.cluster.release(id);
    for (const m of [this.queue, this.queuedSpecs, this.running, this.quotas, this.holds, this.stopAfterStart]) m.clear();
    this.handingOver.clear();
    this.forgetOnExit.clear();
    this.pending = new Map();
    this.explanations = new Map();
    this.priorities = new Map();
    this.explainedAt = 0;
    this.reasonsCycle = null;
    this.explainedCycle = null;
    this.reasonsStaleSince = null;
    this.dirty = true;
  }

  /** dequeue: a job left the queue (started, cancelled). */
  dequeue(id: string): void {
    this.queue.delete(id);
    this.queuedSpecs.delete(id);
    this.pending.delete(id);
  }

  /**
   * reconstrainQueued re-evaluates every queued job's residency (a policy changed, an attestation
   * expired) and its organisation's registry list (a tightened list keeps it off sites at once; sites
   * a looser list would free stay excluded until the job is queued anew: a requeue or a restart).
   */
  reconstrainQueued(): void {
    const now = this.now();
    for (const [id, j] of this.queue) {
      const spec = this.queuedSpecs.get(id);
      if (!spec) continue;
      const runnable = withoutUnrunnableSites(j, spec, this.runPolicies, this.orgRegistries.get(j.org));
      this.queue.set(id, this.residency ? this.residency.constrain(runnable, spec, now) : runnable);
    }
    this.poke();
  }

  quotaUsage(project: string, gpuType: string): number {
    return this.cluster.usage(project, gpuType);
  }

  setQuotaInMemory(project: string, gpuType: string, gpus: number): void {
    const m = this.quotas.get(project) ?? new Map<string, number>();
    m.set(gpuType, gpus);
    this.quotas.set(project, m);
    this.poke();
  }

  /** addRunning: a started job holds its GPUs (a committed start, or one found running at recovery). */
  addRunning(
    id: string,
    row: RunningRow,
    spec: JobSpec,
    placement: Placement,
    startedAt: number,
    borrowed: boolean,
    lenders?: readonly LenderShare[],
  ): void {
    this.running.set(id, {
      org: row.org_id,
      project: row.project_id,
      spec,
      startedAt,
      gpus: placementGpuEquivalents(placement),
      gpuType: placement.gpuType,
      priority: row.priority,
      borrowed,
      ...(lenders && lenders.length > 0 ? { lenders } : {}),
      stopping: null,
    });
  }

  /** runningJobsForResidency: running jobs with their site, for re-checking after a change. */
  runningJobsForResidency(): RunningForResidency[] {
    const out: RunningForResidency[] = [];
    for (const [id, r] of this.running) {
      const site = this.cluster.allocationOf(id)?.site;
      if (site) out.push({ id, org: r.org, project: r.project, spec: r.spec, site });
    }
    return out;
  }

  /** removeRunning: a started job has stopped; its GPUs are free again. */
  removeRunning(id: string): void {
    this.cluster.release(id);
    this.running.delete(id);
  }
}

export interface RunningRow {
  org_id: string;
  project_id: string;
  priority: number;
}

/** toSchedJob: a queued job for the scheduler; its limit in the clock's time (`scale`, see runtimeScale). */
function toSchedJob(row: JobRow, spec: JobSpec, scale: number): SchedJob {
  return {
    id: String(row.id),
    seq: row.id,
    org: row.org_id,
    project: row.project_id,
    gpuType: spec.gpuType === 'any' ? null : spec.gpuType,
    gpusPerNode: spec.gpusPerNode,
    nodes: spec.nodes,
    priority: row.priority,
    submittedAt: Date.parse(row.created_at),
    maxRuntimeSeconds: spec.maxRuntimeSeconds / scale,
    ...schedFields(spec),
  };
}
