/**
 * @module scheduler
 * The gigafab scheduler: a pure, deterministic library. It imports only ../model and its own
 * folder; no I/O, no clock, no unseeded randomness. See README.md.
 */

export { Backfill, RESERVED_PROJECT } from './backfill.js';
export { CohortLedger, type QuotaVerdict } from './borrowing.js';
export { BudgetGate } from './budget-gate.js';
export {
  type CapacityFilter,
  ClusterModel,
  ClusterModelError,
  type GpuShareView,
  type GroupInfo,
  type NodeView,
  type SiteTotals,
  type UnitInfo,
} from './cluster-model.js';
export { constraintsFor, constraintsReason, hasConstraints, type PlacementConstraints } from './constraints.js';
export { type JobShape, validateJobFitsFleet } from './fleet-fit.js';
export {
  type IncrementalCycleResult,
  type IncrementalInput,
  type IncrementalOptions,
  IncrementalScheduler,
  type JobExplanation,
  type OrderingPath,
} from './incremental.js';
export { IndexSet } from './index-set.js';
export { type PlacementOutcome, type PlacementRequest, placeJob } from './placement.js';
export { type PolicySettings, policySettings } from './policy-input.js';
export { type PreemptionPlan, Preemptor } from './preemption.js';
export {
  chargeUsage,
  DEFAULT_HALF_LIFE_SECONDS,
  DEFAULT_MAX_AGE_SECONDS,
  decayUsage,
  jobPriority,
  type PriorityContext,
  priorityContext,
  type UsageCharge,
} from './priority.js';
export { type CapacityShortfall, formatCount, preemptingReason, REASON, reservedReason } from './reasons.js';
export { compareJobs, SchedulerError, scheduleCycle } from './schedule-cycle.js';
export { placeShare, type ShareOutcome, shareMilliOn, sitesAllowingSharing } from './share-placement.js';
export type {
  BackfillInput,
  BorrowingInput,
  BudgetInput,
  BudgetLimit,
  CapacityWindow,
  CycleInput,
  CycleResult,
  FairShareInput,
  JobExplain,
  JobPriority,
  LimitTable,
  MaintenanceWindow,
  PreemptionDecision,
  PreemptionInput,
  PriorityFactors,
  PriorityWeights,
  QuotaTable,
  Reservation,
  RunningJobInfo,
  SchedJob,
  SchedShare,
  SchedSpread,
  StartDecision,
} from './types.js';
