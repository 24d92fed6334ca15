/**
 * The scheduler's input and output types. The scheduler is pure and deterministic:
 * it reads these values (and the incremental ClusterModel the caller keeps up to date)
 * and returns decisions. No I/O, no clock, no unseeded randomness.
 */
import type { GpuType } from '../model/fleet.js';
import type { GpuRepartition } from '../model/gpu-sharing.js';
import type { PendingReason, Placement } from '../model/job.js';
import type { LenderShare } from '../model/lenders.js';
import type { SpreadDomain } from '../model/spread.js';

/** SchedJob is what the scheduler needs to know about a queued job. */
export interface SchedJob {
  id: string;
  /** Submission order; unique and increasing. Ties in priority are broken by it. */
  seq: number;
  org: string;
  project: string;
  /** null: any GPU type the fleet has. */
  gpuType: GpuType | null;
  gpusPerNode: number;
  /** Node count; >1 makes the job a gang (all nodes start together or none). */
  nodes: number;
  /** Numeric priority (from the priority class); higher first. */
  priority: number;
  /** Epoch milliseconds. */
  submittedAt: number;
  /** Wall-clock limit in seconds (used for backfill planning). */
  maxRuntimeSeconds: number;
  /** Placement constraints (all optional): only these sites. */
  requiredSites?: readonly string[];
  /** Never these sites. */
  forbiddenSites?: readonly string[];
  /** Only sites holding every one of these certifications (SiteSpec.certifications). */
  requiredCertifications?: readonly string[];
  /** Only nodes with these labels (evaluated per site x GPU type group: every node must match). */
  nodeLabels?: Readonly<Record<string, string>>;
  /** A gang must fit in one scalable unit (leaf switch), or wait. */
  requireSingleUnit?: boolean;
  /** Prefer one scalable unit (the default for whole-node gangs; kept for explicitness). */
  preferSingleUnit?: boolean;
  /** May run on a capacity window's idle GPUs where the window lends them (evicted when the owner needs them). */
  preemptible?: boolean;
  /**
   * Part of ONE GPU (gpusPerNode and nodes are 1): a time-sliced fraction (`milli`, 1..999, with an
   * optional GPU memory limit) or a MIG instance (`migProfile`, a profile of the GPU type's layout).
   * Never on a GPU another organisation holds a share of; counts milli / 1000 GPU-equivalents.
   */
  share?: SchedShare;
  /**
   * Spread across nodes (replicas of one service): avoid nodes that hold a running or just-placed
   * job of the same `group` of the same organisation (ClusterModel.spreadNodes). `required`: wait
   * with reason `spread` rather than share a node; `preferred`: share one when no other node fits.
   * `name` is what the pending sentence calls the group (the service id). Whole-GPU jobs only.
   */
  spread?: SchedSpread;
  /**
   * Data residency (computed by src/sovereignty from policies and data classes): only these sites,
   * possibly none for now. `reason` is the pending sentence when it leaves no site of the job's
   * GPU type; `rule` the id of the narrowing rule.
   */
  residency?: {
    readonly allowedSites: readonly string[];
    readonly reason: string;
    readonly rule: string | null;
    /** Why the other sites are excluded (named when the allowed sites lack the job's GPU type). */
    readonly excluded?: string;
    /** The excluded sites, each with the rule that keeps the job out (waiting reasons count their capacity). */
    readonly excludedSites?: readonly ResidencyExclusion[];
  };
}

/** SchedSpread: a job's spread group and how strictly its members avoid sharing a node. */
export interface SchedSpread {
  readonly group: string;
  readonly mode: 'preferred' | 'required';
  readonly name?: string;
  /**
   * The failure domain members keep apart in (default `node`): `unit` keeps them off every node of a
   * scalable unit (rack / leaf-switch group) that holds one, `site` off every node of such a site,
   * `label:<key>` off every node whose label `key` has the value of such a node.
   */
  readonly over?: SpreadDomain;
}

/** SpreadDomain: what a spread group's members are kept apart by (model/spread.ts). */
export type { SpreadDomain } from '../model/spread.js';

/** SchedShare: what part of one GPU a job asks for (see SchedJob.share). */
export type SchedShare =
  | { readonly milli: number; readonly memoryMiB?: number; readonly migProfile?: undefined }
  | { readonly migProfile: string; readonly milli?: undefined; readonly memoryMiB?: undefined };

/** ResidencyExclusion: a site a job may not use, the rule that excludes it, and why (a sentence). */
export interface ResidencyExclusion {
  readonly site: string;
  readonly rule: string;
  readonly reason: string;
  /** Only dated rules exclude it (an attestation lapsed or not yet valid): a renewal lets the job in. */
  readonly renewable?: boolean;
}

/** Quotas: project -> GPU type -> guaranteed GPUs. A missing entry means no quota (0). */
export type QuotaTable = ReadonlyMap<string, ReadonlyMap<GpuType, number>>;

/** Per project, per GPU type GPU counts (borrowing and lending limits). */
export type LimitTable = ReadonlyMap<string, ReadonlyMap<GpuType, number>>;

/** PriorityWeights: Slurm-style multifactor weights; each factor is in [0, 1]. */
export interface PriorityWeights {
  fairShare: number;
  age: number;
  priorityClass: number;
  size: number;
}

/**
 * FairShareInput turns on multifactor priority with hierarchical fair share (Slurm semantics).
 * Shares are relative weights: an org's share is normalised over all orgs, a project's share over
 * the projects of its org. `usage` is decayed, GPU-type-weighted GPU-seconds per project (see
 * decayUsage / accrueUsage); the caller keeps it between cycles.
 */
export interface FairShareInput {
  orgShares: ReadonlyMap<string, number>;
  projectShares: ReadonlyMap<string, number>;
  usage: ReadonlyMap<string, number>;
  weights: PriorityWeights;
  /** Billing weight per GPU type (default 1): used by accrueUsage and by the size factor. */
  gpuTypeWeights?: ReadonlyMap<GpuType, number>;
  /** project -> org. Missing projects take the org of their jobs (queue, then running). */
  projectOrgs?: ReadonlyMap<string, string>;
  /** Age at which the age factor reaches 1. Default 7 days (Slurm PriorityMaxAge). */
  maxAgeSeconds?: number;
}

/**
 * BorrowingInput turns on Kueue-style cohort borrowing: every project in the quota table lends its
 * idle guaranteed quota (capped by its lending limit) to one cohort, and a project may exceed its
 * own quota from that pool (capped by its borrowing limit). Missing limits mean unlimited.
 */
export interface BorrowingInput {
  enabled: boolean;
  borrowingLimit?: LimitTable;
  lendingLimit?: LimitTable;
}

/** RunningJobInfo describes a running job to the preemption step. Its GPUs come from the cluster. */
export interface RunningJobInfo {
  id: string;
  project: string;
  org: string;
  /** Numeric priority class of the job. */
  priority: number;
  /** GPUs held (informational; the cluster's allocation is authoritative). */
  gpus: number;
  /** Epoch milliseconds. */
  startedAt: number;
  /** Epoch milliseconds of the last checkpoint; work since then is lost on eviction. */
  lastCheckpointAt?: number;
  /** Started on borrowed quota (StartDecision.borrowed). */
  borrowed: boolean;
  /** Whose idle lent quota the borrowed start was attributed to (StartDecision.lenders). */
  lenders?: readonly LenderShare[];
  /** false: never evict this job. */
  preemptible: boolean;
  /** Already told to drain by an earlier cycle's preemption: its GPUs count as coming free. */
  evicting?: boolean;
  /** Wall-clock limit; the job is expected to end by startedAt + maxRuntimeSeconds (backfill). */
  maxRuntimeSeconds?: number;
}

/**
 * BackfillInput turns on EASY backfill with reservations: the first `reservations` capacity-blocked
 * jobs in queue order (gangs only unless `gangsOnly` is false) reserve the GPUs they will get when
 * running jobs reach their expected ends; lower jobs start now only if they end before the
 * reservation or do not touch the reserved GPUs.
 */
export interface BackfillInput {
  enabled: boolean;
  /** How many blocked jobs get a reservation per cycle. Default 1. */
  reservations?: number;
  /** Only gangs (nodes > 1) get reservations. Default true. */
  gangsOnly?: boolean;
}

/**
 * CapacityWindow: an advance reservation of `nodes` x `gpusPerNode` GPUs of `gpuType` for `org`
 * from `start` to `end` (epoch ms). Before the window, its GPUs are held like a backfill
 * reservation (other jobs use them only if they end by `start`); during it, only the org's jobs
 * use them. The org's own jobs may always use its windows.
 */
export interface CapacityWindow {
  id: string;
  org: string;
  gpuType: GpuType;
  gpusPerNode: number;
  nodes: number;
  start: number;
  end: number;
  /** Only in this site (default: any site; a multi-node window is a gang, so it lives in one site). */
  site?: string;
  /** Only in these sites (the owning organisation's residency policy, now); empty: nowhere for now. */
  allowedSites?: readonly string[];
  /**
   * Lend the idle GPUs to preemptible jobs (SchedJob.preemptible) until the org needs them: the
   * org's jobs then evict them through preemption (lower class), which the caller must enable.
   */
  lendToPreemptible?: boolean;
}

/**
 * MaintenanceWindow: `nodes` are out of service from `start` to `end` (epoch ms). Backfill keeps
 * every job whose wall-clock limit would reach into the window off them (a job ending by `start`
 * may still use them); during the window nothing starts on them. Running jobs are not touched.
 */
export interface MaintenanceWindow {
  id: string;
  nodes: readonly string[];
  start: number;
  end: number;
}

/** Reservation: GPUs held back for a blocked job that is expected to start at `start`. */
export interface Reservation {
  jobId: string;
  /** Expected start, epoch milliseconds. */
  start: number;
  placement: Placement;
  /** Running jobs whose ends free the reserved GPUs (at most 20). */
  blockedBy: string[];
}

/** JobExplain: where a queued job stands (returned when CycleInput.explain is true). */
export interface JobExplain {
  /** 1-based position in this cycle's order. */
  position: number;
  /** Epoch ms: now for starts, the reservation time for reserved jobs. */
  expectedStart?: number;
  /** Jobs it waits for: running jobs (reserved job, preemptor) or reservation holders. */
  blockedBy?: string[];
  /** What would let it start now, e.g. "would start now with 2 nodes instead of 4". */
  counterfactual?: string[];
}

/** PreemptionInput turns on preemption with a bounded blast radius. */
export interface PreemptionInput {
  enabled: boolean;
  /** Victim GPUs per GPU the preemptor needs, at most. Default 2. */
  maxEvictedGpusPerRequestedGpu?: number;
  /** Jobs younger than this are never evicted. Default 600. */
  minRuntimeSeconds?: number;
}

/** CycleInput is everything a cycle reads besides the cluster model. */
export interface CycleInput {
  /** Queued jobs, in any order; the scheduler orders them. */
  queue: readonly SchedJob[];
  quotas: QuotaTable;
  /** Logical time of the cycle, epoch milliseconds, supplied by the caller. */
  now: number;
  /** Multifactor priority with fair share; absent: order by priority class, then seq. */
  fairShare?: FairShareInput;
  /** Cohort borrowing; absent or disabled: quotas are hard limits. */
  borrowing?: BorrowingInput;
  /** Running jobs (needed by preemption). */
  running?: readonly RunningJobInfo[];
  /** Preemption; absent or disabled: nothing is evicted. */
  preemption?: PreemptionInput;
  /** EASY backfill with reservations; absent or disabled: no head-of-line reservations (v1). */
  backfill?: BackfillInput;
  /** Return CycleResult.explain (position, expected start, blockers, counterfactuals). */
  explain?: boolean;
  /** Advance reservations (capacity windows) for orgs; ended windows are ignored. */
  capacityWindows?: readonly CapacityWindow[];
  /** Maintenance windows (ended ones are ignored); held by backfill like reservations. */
  maintenance?: readonly MaintenanceWindow[];
  /** Monthly budgets: a job starts only if its estimate fits what is left of every budget over it. */
  budgets?: BudgetInput;
}

/** BudgetLimit: what is left of one monthly budget (an organisation's or a project's) this cycle. */
export interface BudgetLimit {
  scope: 'org' | 'project';
  /** The organisation's or the project's id. */
  id: string;
  /** The hard cap in EUR cents for the month. */
  capCents: number;
  /**
   * The cap less what was spent this month and what the running jobs would cost for the rest of
   * their time limits (may be negative after a lowered cap). Queued jobs are not counted: the gate
   * debits them as it admits them.
   */
  remainingCents: number;
  /** The month, YYYY-MM (for the pending sentence). */
  month: string;
}

/**
 * BudgetInput gates admissions on money: in queue order, a job starts (or preempts) only if its
 * estimated cost fits what is left of its organisation's and its project's budgets, and each start
 * debits both, so no cycle commits more than a cap allows. A job without a cost counts 0.
 */
export interface BudgetInput {
  orgs: ReadonlyMap<string, BudgetLimit>;
  projects: ReadonlyMap<string, BudgetLimit>;
  /** Queued job id -> its estimate in EUR cents (time limit x GPUs x price in effect). */
  costs: ReadonlyMap<string, number>;
}

/** StartDecision: start this job with this placement. */
export interface StartDecision {
  jobId: string;
  placement: Placement;
  /** true: the job runs on quota borrowed from the cohort and may be reclaimed (preempted). */
  borrowed?: boolean;
  /** A borrowed start's lenders: whose idle lent quota it runs on (borrowing.ts); absent: none (the pool). */
  lenders?: LenderShare[];
  /**
   * Idle GPUs of the placement to re-partition before the job runs (whole → MIG for a MIG
   * instance, MIG → whole for whole-GPU or time-sliced work): node-level operations the caller
   * records as their own node events, reason `mig_repartition` (partition.ts). Absent: none.
   */
  repartitions?: GpuRepartition[];
}

/** PreemptionDecision: evict `victimId` so that `forJobId` can start once its GPUs are free. */
export interface PreemptionDecision {
  victimId: string;
  forJobId: string;
  /** reclaim: the victim borrowed quota the preemptor is guaranteed; priority: lower class. */
  reason: 'reclaim' | 'priority';
}

/** PriorityFactors: each multifactor component in [0, 1], before weighting. */
export interface PriorityFactors {
  fairShare: number;
  age: number;
  priorityClass: number;
  size: number;
}

/** JobPriority is a job's multifactor priority: the weighted sum and its factors. */
export interface JobPriority {
  total: number;
  factors: PriorityFactors;
}

/** CycleResult is the cycle's output: jobs to start and a reason for every job left queued. */
export interface CycleResult {
  starts: StartDecision[];
  pending: Map<string, PendingReason>;
  /**
   * considered: queued jobs; equivalenceHits: jobs visited that reused their class's failure;
   * unscanned: jobs never visited because every class they belong to had failed (stop scanning,
   * incremental scheduler only): each has its class's reason, as a visit would have given it.
   */
  stats: { considered: number; started: number; equivalenceHits: number; unscanned?: number };
  /** Evictions decided this cycle (only when preemption is enabled). */
  preemptions?: PreemptionDecision[];
  /** Multifactor priority of every queued job (only when fairShare is given). */
  priorities?: Map<string, JobPriority>;
  /** Reservations made this cycle (only when backfill is enabled). */
  reservations?: Reservation[];
  /** Capacity windows held this cycle (jobId is the window id); a window that cannot be placed is absent. */
  windows?: Reservation[];
  /** Per queued job: position, expected start, blockers, counterfactuals (only when explain). */
  explain?: Map<string, JobExplain>;
}
