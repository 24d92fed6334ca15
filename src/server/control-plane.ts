/**
 * ControlPlane: the facade the API, the sovereignty modules and the composition root talk to. It
 * builds the parts from one dependencies object and delegates to them:
 *   cycle/  SchedulingState (live view), CycleRunner (one cycle in named steps), Observations
 *           (driver reports), NodeStates, holds, recovery
 *   jobs/   JobService (submit, read, list, cancel, explain, checkpoint, logs)
 * See src/server/cycle/README.md for how one job flows through them.
 */
import type { ExecutionDriver } from '../drivers/driver.js';
import type { Fleet, NodeState } from '../model/fleet.js';
import type { PendingReason } from '../model/job.js';
import type { Principal, RequestContext } from '../model/principal.js';
import type { Job, JobEvent, JobExplanation, JobSpec } from '../model/schemas.js';
import { type ClusterModel, shareMilliOn } from '../scheduler/index.js';
import type { Store } from '../store/open-store.js';
import { BudgetAlerts } from './budget-alerts.js';
import { Budgets } from './budgets.js';
import type { CycleContext } from './cycle/context.js';
import { CycleRunner } from './cycle/cycle-runner.js';
import { holdRunning } from './cycle/holds.js';
import { jobCycle } from './cycle/job-cycle.js';
import { NodeStates } from './cycle/node-states.js';
import { Observations } from './cycle/observations.js';
import { recover } from './cycle/recover.js';
import type { SchedulingState } from './cycle/scheduling-state.js';
import { stopOnDriver } from './cycle/stop.js';
import { untilStored } from './cycle/until-stored.js';
import type { BusEvent, EventBus } from './event-bus.js';
import { BillingSettings } from './invoices/billing-settings.js';
import { InvoiceService } from './invoices/invoice-service.js';
import type { JobRow } from './job-rows.js';
import { jobLogs } from './jobs/job-logs.js';
import type { JobListQuery } from './jobs/job-queries.js';
import { JobService } from './jobs/job-service.js';
import type { Metrics } from './metrics.js';
import type { NodeEvent } from './node-events.js';
import { OrgRegistryLists } from './org-registries.js';
import { DEFAULT_POLICY, type Policy } from './policy.js';
import type { ControlPlaneHooks, ResidencyGate, RunningForResidency } from './ports.js';
import { PriceBook } from './price-book.js';
import { ReservedCapacityBook } from './reserved-capacity.js';
import { SchedulingOps } from './scheduling-ops.js';
import { UsageReports } from './usage-report.js';
import { Sessions } from './workloads/sessions.js';
import type { StateDirRemovals } from './workloads/state-dirs.js';

export type { JobListQuery } from './jobs/job-queries.js';

export interface ControlPlaneDeps {
  /** The live scheduling state, built first (sovereignty services hold ports over it). */
  state: SchedulingState;
  store: Store;
  driver: ExecutionDriver;
  bus: EventBus;
  metrics: Metrics | null;
  policy?: Policy;
  /** Data residency (src/sovereignty): the same gate the state enqueues through. */
  residency?: ResidencyGate | null;
  /** Sovereignty hooks (restriction, secret delivery), composed by the composition root. */
  hooks?: ControlPlaneHooks;
  /** Milliseconds between scheduling cycles when nothing changes. */
  cycleIntervalMs?: number;
  /** Grace period given to a stopped job before it is killed; default: the policy's. */
  stopGraceSeconds?: number;
  /** Queued jobs one organisation may have at once (limits.ts); more are refused. */
  maxQueuedJobsPerOrg?: number;
  /** Deleted datasets' session state directories still to remove (workloads/state-dirs.ts), finished on recovery. */
  stateDirs?: Pick<StateDirRemovals, 'recover' | 'start' | 'stop'>;
}

/** stopGrace: the grace period a stopped job gets (the deps' override, else the policy's). */
export const stopGrace = (d: Pick<ControlPlaneDeps, 'policy' | 'stopGraceSeconds'>) =>
  d.stopGraceSeconds ?? (d.policy ?? DEFAULT_POLICY).stopGraceSeconds;

/** An in-process caller's context (no API request id: demo load, erasure). */
const ctxOf = (principal: Principal, requestId = 'internal'): RequestContext => ({ principal, requestId });

export class ControlPlane {
  readonly fleet: Fleet;
  readonly policy: Policy;
  readonly state: SchedulingState;
  readonly cluster: ClusterModel;
  /** Advance reservations and maintenance windows (scheduling-ops.ts). */
  readonly ops: SchedulingOps;
  readonly jobs: JobService;
  /** Usage reports over the metered run segments (usage-report.ts). */
  readonly usage: UsageReports;
  /** The versioned price book (price-book.ts). */
  readonly prices: PriceBook;
  /** Reserved-capacity commitments per organisation, GPU type and month (reserved-capacity.ts). */
  readonly reserved: ReservedCapacityBook;
  /** Monthly budgets: refused at admission or held by the scheduler's budget gate (budgets.ts). */
  readonly budgets: Budgets;
  /** Budget thresholds crossed and their signed webhooks (budget-alerts.ts); the leader's loop. */
  readonly budgetAlerts: BudgetAlerts;
  /** Monthly invoices and credit notes (invoices/invoice-service.ts). */
  readonly invoices: InvoiceService;
  /** Billing profiles and sites' energy factors (invoices/billing-settings.ts). */
  readonly billing: BillingSettings;
  /** Each organisation's registry allow-list, applied at submission and enqueue (org-registries.ts). */
  readonly registries: OrgRegistryLists;
  /** Sovereignty hooks (restriction, secret delivery), given at construction. */
  readonly hooks: ControlPlaneHooks;
  /** Interactive sessions: the proxy's source, opens, idle timeouts (workloads/sessions.ts). */
  readonly sessions: Sessions;
  private readonly ctx: CycleContext;
  private readonly stateDirs: Pick<StateDirRemovals, 'recover' | 'start' | 'stop'> | null;
  private readonly runner: CycleRunner;
  private readonly observations: Observations;
  private readonly nodes: NodeStates;

  constructor(d: ControlPlaneDeps) {
    this.state = d.state;
    this.fleet = d.state.fleet;
    this.cluster = d.state.cluster;
    this.policy = d.policy ?? DEFAULT_POLICY;
    this.hooks = d.hooks ?? {};
    this.stateDirs = d.stateDirs ?? null;
    const now = d.state.now;
    const residency = d.residency ?? null;
    const grace = stopGrace(d);
    const hooks = this.hooks;
    this.prices = new PriceBook(d.store, this.fleet, now);
    this.reserved = new ReservedCapacityBook(d.store, this.fleet, now);
    this.usage = new UsageReports(d.store, this.prices, now);
    this.budgets = new Budgets(d.store, this.state, this.prices, this.usage, now, this.policy.budgetAlerts.allowLoopback);
    this.budgetAlerts = new BudgetAlerts(d.store, this.budgets.figures, this.policy.budgetAlerts, now);
    this.ctx = {
      budgets: this.budgets.figures,
      state: this.state,
      store: d.store,
      driver: d.driver,
      bus: d.bus,
      metrics: d.metrics,
      policy: this.policy,
      grace,
      residency,
      hooks,
    };
    this.ops = new SchedulingOps(d.store, this.fleet, now, () => this.state.poke());
    this.ops.residency = residency;
    this.invoices = new InvoiceService(d.store, this.prices, now);
    this.billing = new BillingSettings(d.store, this.fleet, now);
    this.registries = new OrgRegistryLists(d.store, this.state, now);
    this.sessions = new Sessions({
      state: this.state,
      store: d.store,
      bus: d.bus,
      now,
      stop: (id) => stopOnDriver(this.ctx, id, grace),
    });
    this.observations = new Observations(this.ctx);
    this.nodes = new NodeStates(this.ctx);
    this.runner = new CycleRunner(this.ctx, this.ops, (o) => this.observations.observe(o), {
      cycleIntervalMs: d.cycleIntervalMs,
    });
    this.jobs = new JobService({
      store: d.store,
      fleet: this.fleet,
      cycle: jobCycle(this.ctx),
      bus: d.bus,
      metrics: d.metrics,
      grace,
      now,
      residency,
      admit: hooks.admit,
      runnable: (org, spec) => this.state.whyNotRunnable(spec, org),
      maxQueuedJobsPerOrg: d.maxQueuedJobsPerOrg ?? Number.POSITIVE_INFINITY,
      budget: (org, spec) => this.budgets.admit(org, spec),
    });
    d.driver.onObservation((o) => void untilStored(() => this.observations.observe(o), 'job observation'));
    d.driver.onNodeState?.((o) => void untilStored(() => this.nodes.observe(o), 'node state update'));
    d.driver.onCheckpoint?.((o) => void untilStored(() => this.observations.observeCheckpoint(o), 'checkpoint update'));
  }

  // ---------------------------------------------------------------- the cycle

  /**
   * recover rebuilds in-memory state from the store after a start or crash, and reattaches running jobs.
   * `attach` false: a follower replica's view — nothing reattached to a driver, nothing decided.
   */
  async recover(attach = true): Promise<{ queued: number; running: number }> {
    // The allow-lists first: recovered queued jobs are enqueued against them.
    await this.registries.load();
    const recovered = await recover(this.ctx, this.ops, this.nodes, attach);
    // The replica that drives the engines finishes erasures a crash cut off (a failure is retried next start).
    if (attach) await this.stateDirs?.recover().catch(() => 0);
    return recovered;
  }
  /** takeOver: this replica now holds the scheduler lease — rebuild from the store, reattach, schedule. */
  async takeOver(): Promise<{ queued: number; running: number }> {
    await this.runner.stop();
    this.state.reset();
    const recovered = await this.recover(true);
    this.startLoop();
    return recovered;
  }
  /** stepDown: this replica lost the scheduler lease — no more cycles (its decisions would be refused anyway). */
  stepDown(): Promise<void> {
    return this.stop();
  }
  /** The cycle's context, for the replica's event tail (src/server/replica). */
  get cycleContext(): CycleContext {
    return this.ctx;
  }
  startLoop(): void {
    this.runner.startLoop();
    this.sessions.start();
    this.budgetAlerts.start();
    this.stateDirs?.start();
  }
  async stop(): Promise<void> {
    this.sessions.stop();
    await this.budgetAlerts.stop();
    await this.stateDirs?.stop();
    return this.runner.stop();
  }
  runCycle(): Promise<void> {
    return this.runner.runCycle();
  }
  get lastCycleMs(): number {
    return this.runner.lastCycleMs;
  }
  /** wake asks for a scheduling cycle soon (a hook's answer changed, e.g. a restriction was lifted). */
  wake(): void {
    this.state.poke();
  }
  holdRunning(org: string, actor: string, reason: string, requestId?: string): Promise<string[]> {
    return holdRunning(this.ctx, org, actor, reason, requestId);
  }
  setNodeState(p: Principal, nodeId: string, state: NodeState, reason: string | undefined, requestId: string): Promise<void> {
    return this.nodes.setByOperator(ctxOf(p, requestId), nodeId, state, reason);
  }
  nodeEvents(p: Principal, nodeId: string, after: number, limit: number, requestId: string): Promise<NodeEvent[]> {
    return this.nodes.events(ctxOf(p, requestId), nodeId, after, limit);
  }
  setQuotaInMemory(project: string, gpuType: string, gpus: number): void {
    this.state.setQuotaInMemory(project, gpuType, gpus);
  }
  quotaUsage(project: string, gpuType: string): number {
    return this.cluster.usage(project, gpuType);
  }

  // ---------------------------------------------------------------- jobs (JobService)

  submitJob(p: Principal, spec: JobSpec, idempotencyKey: string | undefined, requestId: string) {
    return this.jobs.submit(ctxOf(p, requestId), spec, idempotencyKey);
  }
  getJob(p: Principal, id: string): Promise<Job> {
    return this.jobs.get(ctxOf(p), id);
  }
  listJobs(p: Principal, q: JobListQuery): Promise<{ items: Job[]; nextCursor: string | null }> {
    return this.jobs.list(ctxOf(p), q);
  }
  jobEvents(p: Principal, id: string, afterId = 0): Promise<{ events: JobEvent[]; job: JobRow }> {
    return this.jobs.events(ctxOf(p), id, afterId);
  }
  subscribeJob(id: string, fn: (e: BusEvent) => void): () => void {
    return this.jobs.subscribe(id, fn);
  }
  cancelJob(p: Principal, id: string, requestId: string): Promise<Job> {
    return this.jobs.cancel(ctxOf(p, requestId), id);
  }
  explainJob(p: Principal, id: string): Promise<JobExplanation> {
    return this.jobs.explain(ctxOf(p), id);
  }
  checkpointJob(p: Principal, id: string, body: { step?: number; label?: string }, requestId: string): Promise<JobEvent> {
    return this.jobs.checkpoint(ctxOf(p, requestId), id, body);
  }
  jobLogs(p: Principal, id: string, offset: number, maxBytes?: number, attempt?: number) {
    return jobLogs(this.ctx.store, this.ctx.driver, ctxOf(p), id, offset, maxBytes, attempt);
  }

  /** forgetJobOutput deletes what the drivers keep of these jobs (their output), now or once each has ended. */
  async forgetJobOutput(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (this.state.running.has(id) || this.state.handingOver.has(id)) this.state.forgetOnExit.add(id);
      else await this.ctx.driver.forget?.(id);
    }
  }

  // ---------------------------------------------------------------- residency

  /** reconstrainQueued re-evaluates every queued job's residency (a policy changed, an attestation expired). */
  reconstrainQueued(): void {
    this.state.reconstrainQueued();
  }
  /** announce publishes a committed job event written outside the control plane (residency flags). */
  announce(org: string, event: JobEvent): void {
    this.ctx.bus.publish({ org, event });
  }
  /** runningJobsForResidency: running jobs with their site, for re-checking after a change. */
  runningJobsForResidency(): RunningForResidency[] {
    return this.state.runningJobsForResidency();
  }

  // ---------------------------------------------------------------- views (read-only)

  queueLength(): number {
    return this.state.queue.size;
  }
  runningCount(): number {
    return this.state.running.size;
  }
  /** orgOfRunningJob: the organisation of a job that holds GPUs, or null (unknown, or not committed yet). */
  orgOfRunningJob(id: string): string | null {
    return this.state.running.get(id)?.org ?? null;
  }
  /** pendingJobs: queued jobs in submission order with the last cycle's reason (null: submitted since). */
  pendingJobs(): {
    id: string;
    org: string;
    project: string;
    gpuType: string | null;
    gpus: number;
    reason: PendingReason | null;
  }[] {
    return [...this.state.queue.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((j) => ({
        id: j.id,
        org: j.org,
        project: j.project,
        gpuType: j.gpuType,
        // GPU-equivalents: a fraction or MIG instance counts its share of one GPU.
        gpus: j.share
          ? (shareMilliOn(this.fleet, j.share, j.gpuType ?? this.fleet.gpuTypes[0] ?? '') ?? 1000) / 1000
          : j.gpusPerNode * j.nodes,
        reason: this.state.pending.get(j.id) ?? null,
      }));
  }
}
