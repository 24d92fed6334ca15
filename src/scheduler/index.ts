/**
 * @module scheduler
 * The gigafab scheduler: a pure, deterministic library. It imports only ../model and its own
 * folder; no I/O, no clock, no unseeded randomness. See README.md.
 */
export {
  type CapacityFilter,
  ClusterModel,
  ClusterModelError,
  type GroupInfo,
  type NodeView,
  type SiteTotals,
  type UnitInfo,
} from './cluster-model.js';
export { type JobShape, validateJobFitsFleet } from './fleet-fit.js';
export { IndexSet } from './index-set.js';
export { type PlacementOutcome, type PlacementRequest, placeJob } from './placement.js';
export { type CapacityShortfall, formatCount, REASON } from './reasons.js';
export { compareJobs, SchedulerError, scheduleCycle } from './schedule-cycle.js';
export type { CycleInput, CycleResult, QuotaTable, SchedJob, StartDecision } from './types.js';
