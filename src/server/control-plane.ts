/**
 * ControlPlane: owns the live scheduling state (incremental cluster model, queue, quotas),
 * runs the scheduler's cycle, persists its decisions, drives the execution driver and turns its
 * observations into job state. Every state change is one store transaction with its audit record;
 * in-memory state changes only after the commit.
 */

import type { CheckpointObservation, ExecutionDriver, LogChunk, NodeStateObservation, Observation } from '../drivers/driver.js';
import { type SiteRunPolicy, whyNotRunnableAnywhere, withoutUnrunnableSites } from '../drivers/runnable.js';
import { afterStop, type HoldCause, isPreemptible, type StopCause } from '../lifecycle/index.js';
import { conflict, DomainError, forbidden, invalid, notFound } from '../model/errors.js';
import type { Fleet, NodeState } from '../model/fleet.js';
import { type PendingReason, type Placement, PRIORITY_CLASSES, TERMINAL_STATES } from '../model/job.js';
import type { Job, JobEvent, JobExplanation, JobSpec } from '../model/schemas.js';
import {
  ClusterModel,
  type CycleInput,
  chargeUsage,
  decayUsage,
  type JobExplain,
  type JobPriority,
  type PolicySettings,
  type PreemptionDecision,
  policySettings,
  type RunningJobInfo,
  type SchedJob,
  scheduleCycle,
  validateJobFitsFleet,
} from '../scheduler/index.js';
import { appendAudit } from '../store/audit.js';
import { insertReturningId } from '../store/fast-insert.js';
import type { Store } from '../store/open-store.js';
import { openEventRow, openJobRow, openSpec, sealJobColumns } from '../store/sealed-fields.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { BusEvent, EventBus } from './event-bus.js';
import { schedFields, unplaceable, unsatisfiableConstraints } from './job-constraints.js';
import { type JobRow, toJob, toJobEvent } from './job-rows.js';
import { queueFull } from './limits.js';
import type { Metrics } from './metrics.js';
import { lastCheckpoints, markNodeFailures, type NodeFailure, recordCheckpoint, settleNodeFailure } from './node-failure.js';
import { OrgCountedMap } from './org-count-map.js';
import { DEFAULT_POLICY, type Policy } from './policy.js';
import type { ControlPlaneHooks, ResidencyGate, RunningForResidency } from './ports.js';
import { isOperator, type Principal } from './principal.js';
import { SchedulingOps } from './scheduling-ops.js';

export interface ControlPlaneOptions {
  /** Milliseconds between scheduling cycles when nothing changes. */
  cycleIntervalMs?: number;
  /** Grace period given to a stopped job before it is killed. */
  stopGraceSeconds?: number;
  now?: () => number;
  policy?: Policy;
  /** Queued jobs one organisation may have at once (limits.ts); more are refused. */
  maxQueuedJobsPerOrg?: number;
  /** An organisation's registry allow-list (images from elsewhere are refused at submission); absent: any. */
  orgRegistries?: (org: string) => readonly string[] | undefined;
}

interface RunningJob {
  org: string;
  project: string;
  spec: JobSpec;
  startedAt: number;
  gpus: number;
  gpuType: string;
  priority: number;
  /** Started on capacity borrowed from other projects' idle quota: preemptible by its owners. */
  borrowed: boolean;
  /** Told to stop to make room (preemption); requeued when it has stopped. */
  stopping: StopCause | null;
  /** Epoch ms of the last checkpoint the job reported. */
  lastCheckpointAt?: number;
  /** Stopping because a node of it went down; requeued or failed once stopped. */
  nodeFailure?: NodeFailure;
}

export interface JobListQuery {
  state?: string;
  project?: string;
  label?: string;
  limit: number;
  cursor?: string;
  /** The page stops before this many bytes of items (at least one item); default: no byte bound. */
  maxPageBytes?: number;
}

const OUTCOME_STATE = {
  completed: null,
  'timed-out': 'timed-out',
  cancelled: 'cancelled',
  lost: 'failed',
} as const;

export class ControlPlane {
  readonly cluster: ClusterModel;
  private readonly queue = new OrgCountedMap<SchedJob>();
  /** Specs of queued jobs, kept so a start needs no extra read. */
  private readonly queuedSpecs = new Map<string, JobSpec>();
  private readonly running = new Map<string, RunningJob>();
  private readonly quotas = new Map<string, Map<string, number>>();
  private pending = new Map<string, PendingReason>();
  private explanations = new Map<string, JobExplain>();
  private priorities = new Map<string, JobPriority>();
  private explainedAt = 0;
  /** Fair-share usage: decayed, type-weighted GPU-seconds per project, charged every cycle. */
  private usage = new Map<string, number>();
  /**
   * Preempted jobs held back until the job they made room for has started (or left the queue):
   * otherwise the victim, requeued first, could take the freed capacity again (a livelock).
   */
  private readonly holds = new Map<string, HoldCause>();
  private usageAt = 0;
  readonly policy: Policy;
  /** The policy as the cycle's static inputs (the same conversion the simulator uses). */
  private readonly settings: PolicySettings;
  /** Jobs whose start is committed but not yet handed to the driver. */
  private readonly handingOver = new Set<string>();
  /** Jobs whose driver-side data (output) is deleted once they have ended (an erasure). */
  private readonly forgetOnExit = new Set<string>();
  /** Stop requests (with their grace) that arrived while a job was being handed over. */
  private readonly stopAfterStart = new Map<string, number>();
  private dirty = true;
  /**
   * When the last cycle started jobs (sim ms), else null: reasons built before a later start of the
   * same cycle describe the fleet before it ("6 B200 free fleet-wide"), so one more cycle must
   * rebuild them against the state that cycle left, within the explain interval.
   */
  private reasonsStaleSince: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private cycling = false;
  private stopped = false;
  private readonly cycleIntervalMs: number;
  private readonly grace: number;
  private readonly now: () => number;
  private readonly maxQueuedJobsPerOrg: number;
  private readonly orgRegistries: ControlPlaneOptions['orgRegistries'];
  lastCycleMs = 0;
  /** Sovereignty hooks (restriction, secret delivery), set by the composition root. */
  hooks: ControlPlaneHooks = {};
  /** Advance reservations and maintenance windows (scheduling-ops.ts). */
  readonly ops: SchedulingOps;
  /** Data residency (src/sovereignty): consulted by every path that queues or starts a job. */
  private residency: ResidencyGate | null = null;

  constructor(
    private readonly store: Store,
    readonly fleet: Fleet,
    private readonly driver: ExecutionDriver,
    private readonly bus: EventBus,
    private readonly metrics: Metrics | null,
    opts: ControlPlaneOptions = {},
  ) {
    this.cluster = new ClusterModel(fleet);
    this.cycleIntervalMs = opts.cycleIntervalMs ?? 250;
    this.policy = opts.policy ?? DEFAULT_POLICY;
    this.settings = policySettings(this.policy);
    this.grace = opts.stopGraceSeconds ?? this.policy.stopGraceSeconds;
    this.now = opts.now ?? (() => Date.now());
    this.maxQueuedJobsPerOrg = opts.maxQueuedJobsPerOrg ?? Number.POSITIVE_INFINITY;
    this.orgRegistries = opts.orgRegistries;
    this.ops = new SchedulingOps(
      store,
      fleet,
      () => this.now(),
      () => this.poke(),
    );
    driver.onObservation((o) => void this.observe(o));
    driver.onNodeState?.((o) => void this.observeNodeState(o).catch((err) => console.error('node state update failed:', err)));
    driver.onCheckpoint?.((o) => void this.observeCheckpoint(o).catch((err) => console.error('checkpoint update failed:', err)));
  }

  /** runtimeScale: job-run seconds per second of this clock on a site (1 for real engines). */
  private runtimeScale(site: string | undefined): number {
    return site === undefined ? 1 : (this.driver.runtimeScale?.(site) ?? 1);
  }

  /**
   * The scale a queued job's limit is read with: its site is not chosen yet, so the sites' common
   * scale when they share one (a simulated fleet), else 1 (the limit as written).
   */
  private get queuedScale(): number {
    const scales = new Set(this.fleet.sites.map((s) => this.runtimeScale(s.id)));
    return scales.size === 1 ? [...scales][0]! : 1;
  }

  // ---------------------------------------------------------------- lifecycle

  /** recover rebuilds in-memory state from the store after a start or crash, and reattaches running jobs. */
  async recover(): Promise<{ queued: number; running: number }> {
    const db = this.store.db;
    for (const n of await db.selectFrom('node_states').selectAll().execute()) {
      if (this.fleet.nodeIndex.has(n.node_id)) this.cluster.setNodeState(n.node_id, n.state as NodeState);
    }
    for (const q of await db.selectFrom('quotas').selectAll().execute()) this.setQuotaInMemory(q.project_id, q.gpu_type, q.gpus);
    const live = await db.selectFrom('jobs').selectAll().where('state', 'in', ['queued', 'running']).orderBy('id').execute();
    const reattach = [];
    for (const row of live) {
      const spec = openSpec(this.store.fields, row.org_id, row.spec);
      const id = String(row.id);
      if (row.state === 'queued') {
        this.enqueue(id, row, spec);
      } else {
        const placement = JSON.parse(row.placement ?? 'null') as Placement;
        const startedAt = Date.parse(row.started_at ?? row.created_at);
        this.cluster.allocate(id, row.project_id, placement);
        this.running.set(id, runningJob(row, spec, placement, startedAt, row.borrowed === 1));
        reattach.push({ id, spec, placement, startedAt, attempt: row.attempt });
      }
    }
    await this.recoverUsage();
    await this.ops.recover();
    for (const [id, at] of await lastCheckpoints(this.store, [...this.running.keys()]))
      this.running.get(id)!.lastCheckpointAt = at;
    await this.driver.reattach(reattach);
    // A node that went down before a crash may still hold jobs whose stop was never settled.
    const down = await db.selectFrom('node_states').select('node_id').where('state', '=', 'down').execute();
    for (const n of down) {
      if (this.fleet.nodeIndex.has(n.node_id)) await this.failJobsOnNode(n.node_id, 'found down at restart', 'system:recovery');
    }
    this.dirty = true;
    return { queued: this.queue.size, running: this.running.size };
  }

  /** recoverUsage rebuilds fair-share usage from the job history (4 half-lives back). */
  private async recoverUsage(): Promise<void> {
    const now = this.now();
    const halfLife = this.policy.fairShare.halfLifeDays * 86400;
    const since = new Date(now - 4 * halfLife * 1000).toISOString();
    const rows = await this.store.db
      .selectFrom('jobs')
      .select(['project_id', 'spec', 'placement', 'started_at', 'finished_at'])
      .where('started_at', 'is not', null)
      .where((eb) => eb.or([eb('finished_at', 'is', null), eb('finished_at', '>=', since)]))
      .execute();
    const weights = this.gpuTypeWeights();
    const usage = new Map<string, number>();
    for (const r of rows) {
      const placement = JSON.parse(r.placement ?? 'null') as Placement | null;
      if (!placement || !r.started_at) continue;
      const end = r.finished_at ? Date.parse(r.finished_at) : now;
      const seconds = Math.max(0, (end - Date.parse(r.started_at)) / 1000);
      const gpus = placement.nodes.reduce((a, n) => a + n.gpus.length, 0);
      const decay = 2 ** (-Math.max(0, now - end) / 1000 / halfLife);
      const w = weights.get(placement.gpuType) ?? 1;
      usage.set(r.project_id, (usage.get(r.project_id) ?? 0) + gpus * seconds * w * decay);
    }
    this.usage = usage;
    this.usageAt = now;
  }

  private gpuTypeWeights(): Map<string, number> {
    return new Map(Object.entries(this.policy.fairShare.gpuTypeWeights));
  }

  /** chargeUsage decays usage to `now` and charges what running jobs used since the last charge. */
  private chargeUsage(now: number): void {
    const elapsed = Math.max(0, (now - this.usageAt) / 1000);
    if (elapsed === 0) return;
    const charges = [...this.running.entries()].map(([, r]) => ({
      project: r.project,
      gpuType: r.gpuType,
      gpus: r.gpus,
      seconds: elapsed,
    }));
    this.usage = chargeUsage(
      decayUsage(this.usage, elapsed, this.policy.fairShare.halfLifeDays * 86400),
      charges,
      this.gpuTypeWeights(),
    );
    this.usageAt = now;
  }

  /** cycleInput assembles the scheduler's input from live state and the policy. */
  private cycleInput(now: number, explain: boolean): CycleInput {
    const p = this.policy;
    const settings = this.settings;
    // Unconfigured organisations and projects get share 1: equal shares among siblings by default.
    const orgShares = new Map<string, number>();
    const projectShares = new Map<string, number>();
    const share = (project: string, org: string) => {
      if (!projectShares.has(project)) projectShares.set(project, p.fairShare.projectShares[project] ?? 1);
      if (!orgShares.has(org)) orgShares.set(org, p.fairShare.orgShares[org] ?? 1);
    };
    const queue: SchedJob[] = [];
    for (const [id, j] of this.queue) {
      share(j.project, j.org);
      const hold = this.holds.get(id);
      if (hold && this.queue.has(hold.forJobId)) continue;
      if (hold) this.holds.delete(id);
      if (this.hooks.holdReason?.(j.org)) continue;
      queue.push(j);
    }
    const running: RunningJobInfo[] = [];
    for (const [id, r] of this.running) {
      share(r.project, r.org);
      running.push({
        id,
        project: r.project,
        org: r.org,
        priority: r.priority,
        gpus: r.gpus,
        startedAt: r.startedAt,
        borrowed: r.borrowed,
        preemptible: isPreemptible(r.priority, r.borrowed),
        evicting: r.stopping !== null || r.nodeFailure !== undefined,
        // In the clock's time: a simulated site at --time-scale 60 ends a job 60 times sooner.
        maxRuntimeSeconds: r.spec.maxRuntimeSeconds / this.runtimeScale(this.cluster.allocationOf(id)?.site),
        lastCheckpointAt: r.lastCheckpointAt !== undefined ? Math.max(r.lastCheckpointAt, r.startedAt) : undefined,
      });
    }
    return {
      queue,
      quotas: this.quotas,
      now,
      running,
      fairShare: settings.fairShare
        ? {
            orgShares,
            projectShares,
            usage: this.usage,
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
      capacityWindows: this.ops.capacityWindows(p.preemption.enabled),
      maintenance: this.ops.maintenanceWindows(),
    };
  }

  startLoop(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        // An attestation starting or ending changes where jobs may run even when nothing else changed.
        if (this.dirty || this.residency?.due(this.now()) || this.reasonsDue(this.now())) await this.runCycle();
      } catch (err) {
        console.error('scheduling cycle failed:', err);
      }
      // Under a stream of changes, pace cycles so scheduling takes at most ~20% of a core.
      if (!this.stopped) this.timer = setTimeout(tick, this.dirty ? Math.max(25, 4 * this.lastCycleMs) : this.cycleIntervalMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.cycling) await new Promise((r) => setTimeout(r, 5));
  }

  /** reasonsDue: the last cycle's pending reasons may predate its own starts and the explain interval has passed. */
  private reasonsDue(now: number): boolean {
    return this.reasonsStaleSince !== null && now - this.reasonsStaleSince >= this.policy.explainIntervalSeconds * 1000;
  }

  /**
   * stopOnDriver: the one way a running job is told to stop. A job still being handed to its
   * driver is stopped right after the hand-over, with the grace asked for now.
   */
  private async stopOnDriver(id: string, graceSeconds: number): Promise<void> {
    if (this.handingOver.has(id)) this.stopAfterStart.set(id, graceSeconds);
    else await this.driver.stop(id, graceSeconds);
  }

  /** poke asks for a cycle soon (something changed). */
  private poke(): void {
    this.dirty = true;
  }

  // ---------------------------------------------------------------- scheduling

  /** runCycle: one scheduler pass, its starts committed in one transaction, then handed to the driver. */
  async runCycle(): Promise<void> {
    if (this.cycling) return;
    this.cycling = true;
    this.dirty = false;
    try {
      const now = this.now();
      if (this.residency?.due(now)) await this.residency.refresh(now);
      const t0 = performance.now();
      this.chargeUsage(now);
      const explain = now - this.explainedAt >= this.policy.explainIntervalSeconds * 1000;
      const result = scheduleCycle(this.cluster, this.cycleInput(now, explain));
      this.lastCycleMs = performance.now() - t0;
      this.metrics?.cycleSeconds.observe(this.lastCycleMs / 1000);
      this.ops.noteHeld(result.windows);
      this.reasonsStaleSince = result.starts.length > 0 ? now : null;
      // Each cycle returns a fresh map the scheduler keeps no reference to: adopt it, not copy it.
      this.pending = result.pending;
      for (const [id, { forJobId: forJob }] of this.holds) {
        if (!this.queue.has(id)) {
          this.holds.delete(id); // cancelled while held
          continue;
        }
        this.pending.set(id, {
          code: 'preempting',
          message: `waiting: preempted for job ${forJob}; requeued, and considered again once job ${forJob} has started`,
        });
      }
      if (this.hooks.holdReason) {
        for (const [id, j] of this.queue) {
          const held = this.hooks.holdReason(j.org);
          if (held) this.pending.set(id, held);
        }
      }
      if (explain) {
        this.explainedAt = now;
        this.explanations = result.explain ?? new Map();
        this.priorities = result.priorities ?? new Map();
      }
      if (result.preemptions?.length) await this.preempt(result.preemptions, now);
      if (result.starts.length === 0) return;
      const borrowed = new Set(result.starts.filter((s) => s.borrowed).map((s) => s.jobId));

      const at = new Date(now).toISOString();
      const refused: string[] = [];
      let committed: { id: string; event: JobEvent; org: string; attempt: number }[] = [];
      try {
        committed = await this.store.write(async (trx) => {
          const out: { id: string; event: JobEvent; org: string; attempt: number }[] = [];
          for (const s of result.starts) {
            const placementJson = JSON.stringify(s.placement);
            const res = await trx
              .updateTable('jobs')
              .set((eb) => ({
                state: 'running',
                placement: placementJson,
                started_at: at,
                borrowed: borrowed.has(s.jobId) ? 1 : 0,
                attempt: eb('attempt', '+', 1),
              }))
              .where('id', '=', Number(s.jobId))
              .where('state', '=', 'queued')
              .returning(['org_id', 'attempt'])
              .executeTakeFirst();
            if (!res) continue; // cancelled meanwhile
            const spec = this.queuedSpecs.get(s.jobId);
            const evidence =
              !this.residency || !spec
                ? true
                : await this.residency.recordStart(trx, {
                    jobId: s.jobId,
                    org: res.org_id,
                    project: spec.project,
                    spec,
                    placement: s.placement,
                    at,
                    now,
                  });
            if (!evidence) {
              // A policy changed since the cycle ran: the job stays queued under the new rules.
              await trx
                .updateTable('jobs')
                .set((eb) => ({
                  state: 'queued',
                  placement: null,
                  started_at: null,
                  borrowed: 0,
                  attempt: eb('attempt', '-', 1),
                }))
                .where('id', '=', Number(s.jobId))
                .execute();
              refused.push(s.jobId);
              continue;
            }
            const gpus = s.placement.nodes.reduce((a, n) => a + n.gpus.length, 0);
            const message = `scheduled on ${s.placement.nodes.length} node(s) in ${s.placement.site} (${gpus} ${s.placement.gpuType})${borrowed.has(s.jobId) ? ' on borrowed capacity (preemptible)' : ''}`;
            const event = await insertEvent(trx, s.jobId, at, 'running', message, { placement: s.placement });
            await appendAudit(trx, {
              at,
              actor: 'system:scheduler',
              org: res.org_id,
              action: 'job.start',
              objectType: 'job',
              objectId: s.jobId,
              before: { state: 'queued' },
              after: { state: 'running', placement: s.placement },
            });
            out.push({ id: s.jobId, event, org: res.org_id, attempt: res.attempt });
          }
          return out;
        });
      } catch (err) {
        for (const s of result.starts) this.cluster.release(s.jobId);
        throw err;
      }
      const committedIds = new Set(committed.map((c) => c.id));
      for (const s of result.starts) if (!committedIds.has(s.jobId)) this.cluster.release(s.jobId);
      if (refused.length > 0) this.reconstrainQueued();
      for (const c of committed) {
        const spec = this.queuedSpecs.get(c.id) ?? (await this.specOf(c.id));
        this.queue.delete(c.id);
        this.queuedSpecs.delete(c.id);
        this.pending.delete(c.id);
        this.bus.publish({ org: c.org, event: c.event });
        const placement = this.cluster.allocationOf(c.id)!;
        const row = { org_id: c.org, project_id: spec.project, priority: PRIORITY_CLASSES[spec.priorityClass] };
        this.running.set(c.id, runningJob(row, spec, placement, now, borrowed.has(c.id)));
        this.handingOver.add(c.id);
        Promise.resolve(this.hooks.secretsFor?.({ id: c.id, org: c.org, spec }))
          .then(async (secrets) => {
            const logKey = await this.logKey(c.org, c.id, c.attempt, true);
            return this.driver.start({ id: c.id, spec, placement, startedAt: now, attempt: c.attempt, secrets, logKey });
          })
          .catch((err) =>
            this.observe({
              type: 'exited',
              jobId: c.id,
              at: this.now(),
              outcome: 'lost',
              exitCode: null,
              message: `driver failed to start the job: ${String(err)}`,
            }),
          )
          .finally(() => {
            this.handingOver.delete(c.id);
            const grace = this.stopAfterStart.get(c.id);
            if (grace !== undefined) {
              this.stopAfterStart.delete(c.id);
              void this.driver.stop(c.id, grace);
            }
          });
      }
      this.metrics?.jobsStarted.inc(committed.length);
    } finally {
      this.cycling = false;
    }
  }

  private async specOf(id: string): Promise<JobSpec> {
    const row = await this.store.db
      .selectFrom('jobs')
      .select(['spec', 'org_id'])
      .where('id', '=', Number(id))
      .executeTakeFirstOrThrow();
    return openSpec(this.store.fields, row.org_id, row.spec);
  }

  /** observe turns a driver observation into committed job state. */
  private async observe(o: Observation): Promise<void> {
    const at = new Date(o.at).toISOString();
    if (o.type === 'started' || o.type === 'phase') {
      const r = this.running.get(o.jobId);
      const [type, data] = o.type === 'phase' ? [o.phase, o.data ?? null] : ['started', null];
      const event = await this.store.write((trx) => insertEvent(trx, o.jobId, at, type, o.message, data));
      if (r) this.bus.publish({ org: r.org, event });
      return;
    }
    const nodeFailure = this.running.get(o.jobId)?.nodeFailure;
    if (nodeFailure && !(o.outcome === 'completed' && o.exitCode === 0)) return this.afterNodeFailure(o, nodeFailure);
    const cause = this.running.get(o.jobId)?.stopping;
    const then = cause ? afterStop(cause) : null;
    if (cause && then?.next === 'requeue' && (o.outcome === 'cancelled' || o.outcome === 'completed'))
      return this.requeue(o, cause, then.hold);
    const state = OUTCOME_STATE[o.outcome] ?? (o.exitCode === 0 ? 'succeeded' : 'failed');
    const done = await this.store.write(async (trx) => {
      const res = await trx
        .updateTable('jobs')
        .set({ state, exit_code: o.exitCode, finished_at: at })
        .where('id', '=', Number(o.jobId))
        .where('state', '=', 'running')
        .returning(['org_id'])
        .executeTakeFirst();
      if (!res) return null;
      const event = await insertEvent(trx, o.jobId, at, state, o.message, { exitCode: o.exitCode });
      await appendAudit(trx, {
        at,
        actor: `system:driver:${this.driver.name}`,
        org: res.org_id,
        action: 'job.finish',
        objectType: 'job',
        objectId: o.jobId,
        before: { state: 'running' },
        after: { state, exitCode: o.exitCode },
      });
      return { event, org: res.org_id };
    });
    this.cluster.release(o.jobId);
    this.running.delete(o.jobId);
    this.poke();
    if (this.forgetOnExit.delete(o.jobId)) await this.driver.forget?.(o.jobId);
    if (done) {
      this.bus.publish({ org: done.org, event: done.event, terminalState: state });
      this.metrics?.jobsFinished.inc({ state });
    }
  }

  /** preempt tells each victim to stop (grace period, then kill); it is requeued once it has stopped. */
  private async preempt(decisions: readonly PreemptionDecision[], now: number): Promise<void> {
    const at = new Date(now).toISOString();
    const fresh = decisions.filter((d) => {
      const r = this.running.get(d.victimId);
      return r && !r.stopping;
    });
    if (fresh.length === 0) return;
    const events = await this.store.write(async (trx) => {
      const out: { id: string; org: string; event: JobEvent }[] = [];
      for (const d of fresh) {
        const r = this.running.get(d.victimId)!;
        const why =
          d.reason === 'reclaim' ? 'its owner reclaims borrowed capacity' : 'a higher priority class needs the capacity';
        const message = `preempted for job ${d.forJobId} (${why}); stopping with a ${this.grace}s grace period, then requeued`;
        const event = await insertEvent(trx, d.victimId, at, 'preempting', message, { forJobId: d.forJobId, reason: d.reason });
        await appendAudit(trx, {
          at,
          actor: 'system:scheduler',
          org: r.org,
          action: 'job.preempt',
          objectType: 'job',
          objectId: d.victimId,
          before: { state: 'running' },
          after: { state: 'preempting', forJobId: d.forJobId, reason: d.reason },
        });
        out.push({ id: d.victimId, org: r.org, event });
      }
      return out;
    });
    for (const d of fresh) this.running.get(d.victimId)!.stopping = { kind: 'preempt', forJobId: d.forJobId, reason: d.reason };
    for (const e of events) {
      this.bus.publish({ org: e.org, event: e.event });
      void this.stopOnDriver(e.id, this.grace);
    }
    this.metrics?.preemptions.inc(events.length);
  }

  /** requeue puts a preempted job back in the queue with its history and original submission order. */
  private async requeue(o: Observation & { type: 'exited' }, cause: StopCause, hold: HoldCause | null): Promise<void> {
    const at = new Date(o.at).toISOString();
    const done = await this.store.write(async (trx) => {
      const row = await trx
        .updateTable('jobs')
        .set({ state: 'queued', placement: null, started_at: null, borrowed: 0 })
        .where('id', '=', Number(o.jobId))
        .where('state', '=', 'running')
        .returningAll()
        .executeTakeFirst();
      if (!row) return null;
      const event = await insertEvent(
        trx,
        o.jobId,
        at,
        'queued',
        cause.kind === 'preempt'
          ? `requeued after preemption for job ${cause.forJobId} (${o.message})`
          : `requeued and held: processing restricted (${cause.kind === 'restrict' ? cause.reason : cause.kind})`,
        cause.kind === 'preempt' ? { preemptedFor: cause.forJobId } : { restricted: true },
      );
      await appendAudit(trx, {
        at,
        actor: `system:driver:${this.driver.name}`,
        org: row.org_id,
        action: 'job.requeue',
        objectType: 'job',
        objectId: o.jobId,
        before: { state: 'running' },
        after: { state: 'queued' },
      });
      return { row, event };
    });
    this.cluster.release(o.jobId);
    this.running.delete(o.jobId);
    if (done) {
      const spec = openSpec(this.store.fields, done.row.org_id, done.row.spec);
      this.enqueue(o.jobId, done.row, spec);
      if (hold) this.holds.set(o.jobId, hold);
      this.bus.publish({ org: done.row.org_id, event: done.event });
    }
    this.poke();
  }

  /** explainJob: the scheduler's latest explanation of a job (refreshed every few seconds). */
  async explainJob(p: Principal, id: string): Promise<JobExplanation> {
    const row = await this.visibleJobRow(p, id);
    const e = this.explanations.get(id);
    const prio = this.priorities.get(id);
    return {
      jobId: id,
      state: row.state as Job['state'],
      pendingReason: row.state === 'queued' ? (this.pending.get(id) ?? null) : null,
      position: row.state === 'queued' ? (e?.position ?? null) : null,
      expectedStart: e?.expectedStart !== undefined && row.state === 'queued' ? new Date(e.expectedStart).toISOString() : null,
      blockedBy: row.state === 'queued' ? (e?.blockedBy ?? []) : [],
      counterfactual: row.state === 'queued' ? (e?.counterfactual ?? []) : [],
      priority: prio ? { total: prio.total, factors: { ...prio.factors } } : null,
      computedAt: this.explainedAt ? new Date(this.explainedAt).toISOString() : null,
    };
  }

  /** wake asks for a scheduling cycle soon (a hook's answer changed, e.g. a restriction was lifted). */
  wake(): void {
    this.poke();
  }

  /**
   * holdRunning stops an organisation's running jobs (grace period, then kill) and requeues them,
   * where the holdReason hook keeps them until it is lifted (GDPR restriction). Returns their ids.
   */
  async holdRunning(org: string, actor: string, reason: string, requestId?: string): Promise<string[]> {
    const ids = [...this.running].filter(([, r]) => r.org === org && !r.stopping).map(([id]) => id);
    if (ids.length === 0) return [];
    const at = new Date(this.now()).toISOString();
    const message = `processing restricted (${reason}); stopping with a ${this.grace}s grace period, then requeued and held`;
    const events = await this.store.write(async (trx) => {
      const out: JobEvent[] = [];
      for (const id of ids) {
        out.push(await insertEvent(trx, id, at, 'holding', message, null));
        await appendAudit(trx, {
          at,
          actor,
          org,
          action: 'job.hold',
          objectType: 'job',
          objectId: id,
          before: { state: 'running' },
          after: { state: 'stopping', requeue: true, reason },
          requestId,
        });
      }
      return out;
    });
    for (const id of ids) {
      const r = this.running.get(id);
      if (r) r.stopping = { kind: 'restrict', reason };
    }
    for (const [i, id] of ids.entries()) {
      this.bus.publish({ org, event: events[i]! });
      void this.stopOnDriver(id, this.grace);
    }
    return ids;
  }

  // ---------------------------------------------------------------- residency

  /** attachResidency installs the residency gate; call before recover() so recovered jobs pass through it. */
  attachResidency(gate: ResidencyGate): void {
    this.residency = gate;
    this.ops.residency = gate;
    this.reconstrainQueued();
  }

  /** enqueue: the one way a job enters the queue (submission, recovery, requeue), through the residency gate. */
  /** runPolicies: what each site's driver can run (images, host jobs, registries). */
  private runPolicies(): SiteRunPolicy[] {
    const d = this.driver;
    return d.runPolicy ? this.fleet.sites.map((s) => d.runPolicy!(s.id)) : [];
  }

  private enqueue(id: string, row: JobRow, spec: JobSpec): void {
    const job = withoutUnrunnableSites(
      toSchedJob(row, spec, this.queuedScale),
      spec,
      this.runPolicies(),
      this.orgRegistries?.(row.org_id),
    );
    this.queue.set(id, this.residency ? this.residency.constrain(job, spec, this.now()) : job);
    this.queuedSpecs.set(id, spec);
  }

  /** reconstrainQueued re-evaluates every queued job's residency (a policy changed, an attestation expired). */
  reconstrainQueued(): void {
    if (!this.residency) return;
    const now = this.now();
    for (const [id, j] of this.queue) {
      const spec = this.queuedSpecs.get(id);
      if (spec) this.queue.set(id, this.residency.constrain(j, spec, now));
    }
    this.poke();
  }

  /** announce publishes a committed job event written outside the control plane (residency flags). */
  announce(org: string, event: JobEvent): void {
    this.bus.publish({ org, event });
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

  // ---------------------------------------------------------------- quotas and nodes

  setQuotaInMemory(project: string, gpuType: string, gpus: number): void {
    const m = this.quotas.get(project) ?? new Map<string, number>();
    m.set(gpuType, gpus);
    this.quotas.set(project, m);
    this.poke();
  }

  quotaUsage(project: string, gpuType: string): number {
    return this.cluster.usage(project, gpuType);
  }

  async setNodeState(p: Principal, nodeId: string, state: NodeState, reason: string | undefined, requestId: string) {
    if (!isOperator(p)) throw forbidden('only platform operators can drain or undrain nodes');
    if (!this.fleet.nodeIndex.has(nodeId)) throw notFound('node', nodeId);
    const before = this.cluster.nodeState(nodeId);
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      await trx
        .insertInto('node_states')
        .values({ node_id: nodeId, state, reason: reason ?? null, updated_at: at })
        .onConflict((oc) => oc.column('node_id').doUpdateSet({ state, reason: reason ?? null, updated_at: at }))
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: null,
        action: state === 'up' ? 'node.undrain' : `node.${state === 'draining' ? 'drain' : 'down'}`,
        objectType: 'node',
        objectId: nodeId,
        before: { state: before },
        after: { state, reason: reason ?? null },
        requestId,
      });
    });
    this.cluster.setNodeState(nodeId, state);
    this.poke();
    if (state === 'down') await this.failJobsOnNode(nodeId, reason ?? `marked down by ${p.userId}`, p.userId);
  }

  /**
   * failJobsOnNode stops every running job on a node that went down; once stopped, each is
   * requeued or failed per its spec's onNodeFailure (see afterNodeFailure).
   */
  private async failJobsOnNode(nodeId: string, why: string, actor: string): Promise<void> {
    const jobs = [];
    for (const id of this.cluster.nodeView(nodeId).jobs) {
      const r = this.running.get(id);
      if (r && !r.nodeFailure) jobs.push({ id, org: r.org, spec: r.spec });
    }
    const marked = await markNodeFailures(this.store, jobs, nodeId, why, actor, new Date(this.now()).toISOString());
    for (const m of marked) {
      const r = this.running.get(m.id);
      if (r) r.nodeFailure = m.failure;
      this.bus.publish({ org: m.org, event: m.event });
      void this.stopOnDriver(m.id, 0);
    }
  }

  /** afterNodeFailure settles a job stopped because its node went down: requeued or failed. */
  private async afterNodeFailure(o: Observation & { type: 'exited' }, f: NodeFailure): Promise<void> {
    const done = await settleNodeFailure(
      this.store,
      o.jobId,
      f,
      o.exitCode,
      new Date(o.at).toISOString(),
      `system:driver:${this.driver.name}`,
    );
    this.cluster.release(o.jobId);
    this.running.delete(o.jobId);
    if (done?.state === 'queued') {
      const spec = openSpec(this.store.fields, done.row.org_id, done.row.spec);
      this.enqueue(o.jobId, done.row, spec);
      this.bus.publish({ org: done.row.org_id, event: done.event });
    } else if (done) {
      this.bus.publish({ org: done.row.org_id, event: done.event, terminalState: 'failed' });
      this.metrics?.jobsFinished.inc({ state: 'failed' });
    }
    this.poke();
  }

  /** observeCheckpoint records a checkpoint the job reported through its execution engine. */
  private async observeCheckpoint(o: CheckpointObservation): Promise<void> {
    const r = this.running.get(o.jobId);
    if (!r) return;
    const body = { ...(o.step !== undefined ? { step: o.step } : {}), ...(o.label ? { label: o.label } : {}) };
    const at = new Date(o.at).toISOString();
    const event = await recordCheckpoint(this.store, { id: o.jobId, org: r.org }, body, `system:driver:${this.driver.name}`, at);
    r.lastCheckpointAt = o.at;
    this.bus.publish({ org: r.org, event });
  }

  /** checkpointJob records a checkpoint of a running job (its owner's org reports it). */
  async checkpointJob(p: Principal, id: string, body: { step?: number; label?: string }, requestId: string): Promise<JobEvent> {
    const row = await this.visibleJobRow(p, id);
    if (isOperator(p) || p.role === 'viewer') throw forbidden("only members of the job's organisation report its checkpoints");
    const r = this.running.get(id);
    if (row.state !== 'running' || !r)
      throw conflict('job_not_running', `job ${id} is ${row.state}; only a running job checkpoints`);
    const now = this.now();
    const event = await recordCheckpoint(
      this.store,
      { id, org: row.org_id },
      body,
      p.userId,
      new Date(now).toISOString(),
      requestId,
    );
    r.lastCheckpointAt = now;
    this.bus.publish({ org: row.org_id, event });
    return event;
  }

  // ---------------------------------------------------------------- jobs

  async submitJob(
    p: Principal,
    spec: JobSpec,
    idempotencyKey: string | undefined,
    requestId: string,
  ): Promise<{ job: Job; created: boolean }> {
    if (isOperator(p)) throw forbidden('platform operators do not run tenant work; submit as a member of the organisation');
    if (p.role === 'viewer') throw forbidden('viewers cannot submit jobs');
    const project = await this.projectOwner(spec.project);
    if (!project || project.org_id !== p.org) throw notFound('project', spec.project);
    if (idempotencyKey) {
      const prior = await this.findIdempotent(p.userId, idempotencyKey);
      if (prior) return this.replay(prior, spec);
    }
    // One organisation cannot fill the queue (and the scheduler's memory) for everyone.
    const queued = this.queue.countOf(project.org_id);
    if (queued >= this.maxQueuedJobsPerOrg) throw queueFull(project.org_id, queued);
    await this.hooks.admit?.(project.org_id, spec);
    const gpuType = spec.gpuType === 'any' ? null : spec.gpuType;
    const never = validateJobFitsFleet(this.fleet, {
      gpuType,
      gpusPerNode: spec.gpusPerNode,
      nodes: spec.nodes,
    });
    if (never) throw unplaceable(never);
    const unfit = unsatisfiableConstraints(this.fleet, spec);
    if (unfit) throw invalid('job_constraints_unsatisfiable', unfit.message, unfit.errors);
    this.residency?.admit(project.org_id, project.id, spec, this.now());
    const notRunnable = whyNotRunnableAnywhere(spec, this.runPolicies(), this.orgRegistries?.(project.org_id));
    if (notRunnable) throw invalid(notRunnable.code, notRunnable.message);

    const at = new Date(this.now()).toISOString();
    const priority = PRIORITY_CLASSES[spec.priorityClass];
    await this.store.fields.ready(project.org_id);
    let row: JobRow;
    try {
      row = await this.store.write(async (trx) => {
        const values = {
          org_id: project.org_id,
          project_id: project.id,
          state: 'queued',
          priority,
          placement: null,
          exit_code: null,
          submitted_by: p.userId,
          idempotency_key: idempotencyKey ?? null,
          created_at: at,
          started_at: null,
          finished_at: null,
          borrowed: 0,
          attempt: 0,
        };
        const id = await insertReturningId(trx, 'jobs', {
          ...values,
          ...sealJobColumns(this.store.fields, project.org_id, spec),
        });
        const inserted: JobRow = {
          ...values,
          name: spec.name,
          spec: JSON.stringify(spec),
          labels: JSON.stringify(spec.labels),
          id,
        };
        const gpus = spec.nodes * spec.gpusPerNode;
        await insertEvent(
          trx,
          String(inserted.id),
          at,
          'queued',
          `submitted: ${spec.nodes}×${spec.gpusPerNode} ${spec.gpuType} (${gpus} GPUs)`,
          null,
        );
        await appendAudit(trx, {
          at,
          actor: p.userId,
          org: project.org_id,
          action: 'job.submit',
          objectType: 'job',
          objectId: String(inserted.id),
          after: { state: 'queued', project: project.id, gpus, gpuType: spec.gpuType },
          requestId,
        });
        return inserted;
      });
    } catch (err) {
      // Two concurrent retries with one key: the unique index lets exactly one in.
      if (idempotencyKey && /UNIQUE|duplicate/i.test(String(err))) {
        const prior = await this.findIdempotent(p.userId, idempotencyKey);
        if (prior) return this.replay(prior, spec);
      }
      throw err;
    }
    this.enqueue(String(row.id), row, spec);
    this.metrics?.jobsSubmitted.inc();
    this.poke();
    return { job: toJob(row, null), created: true };
  }

  /** Projects never change owner, so their owner is cached after the first read. */
  private readonly projectOrgs = new Map<string, { id: string; org_id: string }>();
  private async projectOwner(id: string) {
    const hit = this.projectOrgs.get(id);
    if (hit) return hit;
    const row = await this.store.db.selectFrom('projects').select(['id', 'org_id']).where('id', '=', id).executeTakeFirst();
    if (row) this.projectOrgs.set(id, row);
    return row;
  }

  private async findIdempotent(userId: string, key: string) {
    const row = await this.store.db
      .selectFrom('jobs')
      .selectAll()
      .where('submitted_by', '=', userId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return row && openJobRow(this.store.fields, row);
  }

  private replay(prior: JobRow, spec: JobSpec): { job: Job; created: boolean } {
    if (prior.spec !== JSON.stringify(spec)) {
      throw conflict('idempotency_key_reused', 'this Idempotency-Key was already used for a different job spec');
    }
    return { job: toJob(prior, this.pending.get(String(prior.id)) ?? null), created: false };
  }

  async getJob(p: Principal, id: string): Promise<Job> {
    return toJob(await this.visibleJobRow(p, id), this.pending.get(id) ?? null);
  }

  private async visibleJobRow(p: Principal, id: string): Promise<JobRow> {
    // Canonical decimals only: Number() would read `0x10` or `1e1` as another job's id.
    const n = /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : 0;
    const row =
      Number.isSafeInteger(n) && n > 0
        ? await this.store.db.selectFrom('jobs').selectAll().where('id', '=', n).executeTakeFirst()
        : undefined;
    if (!row || (!isOperator(p) && row.org_id !== p.org)) throw notFound('job', id);
    return openJobRow(this.store.fields, row);
  }

  async listJobs(p: Principal, q: JobListQuery): Promise<{ items: Job[]; nextCursor: string | null }> {
    let before = q.cursor !== undefined ? decodeCursor(q.cursor) : null;
    let label: [string, string] | null = null;
    if (q.label) {
      const [k, v] = q.label.split('=', 2);
      if (!k || v === undefined) throw invalid('invalid_label_filter', 'label filter must look like key=value');
      label = [k, v];
    }
    // Rows are read in batches and the page closes at its byte bound, so a page of large specs never
    // holds more than about maxPageBytes in memory nor becomes one giant string.
    const maxBytes = q.maxPageBytes ?? Number.POSITIVE_INFINITY;
    const items: Job[] = [];
    let bytes = 0;
    let more = false;
    for (;;) {
      const want = Math.min(q.limit - items.length + 1, 200);
      let query = this.store.db.selectFrom('jobs').selectAll().orderBy('id', 'desc').limit(want);
      if (!isOperator(p)) query = query.where('org_id', '=', p.org ?? '');
      if (q.state) query = query.where('state', '=', q.state);
      if (q.project) query = query.where('project_id', '=', q.project);
      if (before !== null) query = query.where('id', '<', before);
      const rows = (await query.execute()).map((r) => openJobRow(this.store.fields, r));
      for (const r of rows) {
        if (items.length === q.limit) {
          more = true;
          break;
        }
        before = r.id;
        // Labels are few per job and filtered here (a label index comes with PostgreSQL).
        if (label && (JSON.parse(r.labels) as Record<string, string>)[label[0]] !== label[1]) continue;
        const job = toJob(r, this.pending.get(String(r.id)) ?? null);
        const size = Number.isFinite(maxBytes) ? Buffer.byteLength(JSON.stringify(job)) + 1 : 0;
        if (items.length > 0 && bytes + size > maxBytes) {
          more = true;
          break;
        }
        items.push(job);
        bytes += size;
      }
      if (more || rows.length < want) break;
    }
    const last = items.at(-1);
    return { items, nextCursor: more && last ? encodeCursor(last.id) : null };
  }

  async jobEvents(p: Principal, id: string, afterId = 0): Promise<{ events: JobEvent[]; job: JobRow }> {
    const job = await this.visibleJobRow(p, id);
    const rows = await this.store.db
      .selectFrom('job_events')
      .selectAll()
      .where('job_id', '=', Number(id))
      .where('id', '>', afterId)
      .orderBy('id')
      .execute();
    return { events: rows.map((r) => toJobEvent(openEventRow(this.store.fields, job.org_id, r))), job };
  }

  subscribeJob(id: string, fn: (e: BusEvent) => void): () => void {
    return this.bus.subscribeJob(id, fn);
  }

  async cancelJob(p: Principal, id: string, requestId: string): Promise<Job> {
    const row = await this.visibleJobRow(p, id);
    if (p.role === 'viewer') throw forbidden('viewers cannot cancel jobs');
    if (TERMINAL_STATES.has(row.state as Job['state'])) {
      throw conflict('job_finished', `job ${id} already ended (${row.state})`);
    }
    const at = new Date(this.now()).toISOString();
    const outcome = await this.store.write(async (trx) => {
      const cur = await trx.selectFrom('jobs').select(['state', 'org_id']).where('id', '=', Number(id)).executeTakeFirstOrThrow();
      if (cur.state === 'queued') {
        await trx.updateTable('jobs').set({ state: 'cancelled', finished_at: at }).where('id', '=', Number(id)).execute();
        const event = await insertEvent(trx, id, at, 'cancelled', `cancelled by ${p.userId} while queued`, null);
        await appendAudit(trx, {
          at,
          actor: p.userId,
          org: cur.org_id,
          action: 'job.cancel',
          objectType: 'job',
          objectId: id,
          before: { state: 'queued' },
          after: { state: 'cancelled' },
          requestId,
        });
        return { kind: 'cancelled' as const, event, org: cur.org_id };
      }
      if (cur.state === 'running') {
        const event = await insertEvent(
          trx,
          id,
          at,
          'cancel-requested',
          `cancel requested by ${p.userId}; stopping with a ${this.grace}s grace period`,
          null,
        );
        await appendAudit(trx, {
          at,
          actor: p.userId,
          org: cur.org_id,
          action: 'job.cancel',
          objectType: 'job',
          objectId: id,
          before: { state: 'running' },
          after: { state: 'stopping' },
          requestId,
        });
        return { kind: 'stopping' as const, event, org: cur.org_id };
      }
      return { kind: 'ended' as const, event: null, org: cur.org_id };
    });
    if (outcome.kind === 'ended') throw conflict('job_finished', `job ${id} already ended`);
    if (outcome.kind === 'cancelled') {
      this.queue.delete(id);
      this.queuedSpecs.delete(id);
      this.pending.delete(id);
      this.poke();
      this.bus.publish({ org: outcome.org, event: outcome.event, terminalState: 'cancelled' });
    } else {
      this.bus.publish({ org: outcome.org, event: outcome.event });
      await this.stopOnDriver(id, this.grace);
    }
    return this.getJob(p, id);
  }

  // ---------------------------------------------------------------- views

  /**
   * observeNodeState applies a node state the execution engine reports (Slurm down/drain). An
   * operator's drain stays in force: an engine saying "up" does not undo it.
   */
  private async observeNodeState(o: NodeStateObservation): Promise<void> {
    if (!this.fleet.nodeIndex.has(o.node)) return;
    const before = this.cluster.nodeState(o.node);
    if (before === o.state) return;
    const operatorDrain = await this.store.db
      .selectFrom('node_states')
      .select(['state', 'reason'])
      .where('node_id', '=', o.node)
      .executeTakeFirst();
    if (o.state === 'up' && operatorDrain?.state === 'draining' && !operatorDrain.reason?.startsWith('engine:')) return;
    const at = new Date(o.at).toISOString();
    const reason = `engine: ${o.reason}`;
    await this.store.write(async (trx) => {
      await trx
        .insertInto('node_states')
        .values({ node_id: o.node, state: o.state, reason, updated_at: at })
        .onConflict((oc) => oc.column('node_id').doUpdateSet({ state: o.state, reason, updated_at: at }))
        .execute();
      await appendAudit(trx, {
        at,
        actor: `system:driver:${this.driver.name}`,
        org: null,
        action: `node.${o.state}`,
        objectType: 'node',
        objectId: o.node,
        before: { state: before },
        after: { state: o.state, reason },
      });
    });
    this.cluster.setNodeState(o.node, o.state);
    this.poke();
    if (o.state === 'down') await this.failJobsOnNode(o.node, reason, `system:driver:${this.driver.name}`);
  }

  /** forgetJobOutput deletes what the drivers keep of these jobs (their output), now or once each has ended. */
  async forgetJobOutput(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (this.running.has(id) || this.handingOver.has(id)) this.forgetOnExit.add(id);
      else await this.driver.forget?.(id);
    }
  }

  /**
   * jobLogs reads a job's output from the driver that runs it (null: no log for this job): of its
   * current attempt, or of an earlier one. An attempt the job never made is 404.
   */
  async jobLogs(
    p: Principal,
    id: string,
    offset: number,
    maxBytes?: number,
    attempt?: number,
  ): Promise<{ chunk: LogChunk | null; state: string; attempt: number }> {
    const row = await this.visibleJobRow(p, id);
    const current = row.attempt;
    if (attempt !== undefined && (attempt < 1 || attempt > current)) {
      throw new DomainError(
        'not_found',
        'attempt_not_found',
        `job ${id} has no attempt ${attempt}: it was started ${current} time${current === 1 ? '' : 's'}`,
      );
    }
    const k = attempt ?? current;
    if (!this.driver.logs || k === 0) return { chunk: null, state: row.state, attempt: k };
    const logKey = await this.logKey(row.org_id, id, k, false);
    if (this.store.fields.sealing && !logKey) return { chunk: null, state: row.state, attempt: k }; // erased
    return { chunk: await this.driver.logs(id, offset, maxBytes, k, logKey), state: row.state, attempt: k };
  }

  /**
   * logKey: the key one attempt's output is sealed with on the site's disk, derived from the org's
   * data key (nothing stored: erasing the org's keys makes the output unreadable). undefined without
   * sealing; for a start (`starting`) of an erased org it refuses rather than write output in clear.
   */
  private async logKey(org: string, id: string, attempt: number, starting: boolean): Promise<Buffer | undefined> {
    const f = this.store.fields;
    if (!f.sealing) return undefined;
    const derive = () => f.deriveKey(org, 'job.output', `job ${id} attempt ${attempt}`);
    let key: Buffer | null;
    try {
      key = derive(); // null once erased (ready would make the erased org a new key)
    } catch {
      await f.ready(org); // not loaded yet (an org whose rows predate sealing)
      key = derive();
    }
    if (!key && starting) throw new Error(`organisation ${org} was erased: its job output cannot be sealed`);
    return key ?? undefined;
  }

  queueLength(): number {
    return this.queue.size;
  }
  runningCount(): number {
    return this.running.size;
  }

  // ---------------------------------------------------------------- console views (read-only)

  /** orgOfRunningJob: the organisation of a job that holds GPUs, or null (unknown, or not committed yet). */
  orgOfRunningJob(id: string): string | null {
    return this.running.get(id)?.org ?? null;
  }

  /**
   * pendingJobs lists queued jobs in submission order with the reason from the last cycle
   * (null for jobs submitted since), for the operator's queue view.
   */
  pendingJobs(): {
    id: string;
    org: string;
    project: string;
    gpuType: string | null;
    gpus: number;
    reason: PendingReason | null;
  }[] {
    return [...this.queue.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((j) => ({
        id: j.id,
        org: j.org,
        project: j.project,
        gpuType: j.gpuType,
        gpus: j.gpusPerNode * j.nodes,
        reason: this.pending.get(j.id) ?? null,
      }));
  }
}

async function insertEvent(
  trx: Parameters<Parameters<Store['write']>[0]>[0],
  jobId: string,
  at: string,
  type: string,
  message: string,
  data: Record<string, unknown> | null,
): Promise<JobEvent> {
  const values = { job_id: Number(jobId), at, type, message, data: data ? JSON.stringify(data) : null };
  const id = await insertReturningId(trx, 'job_events', values);
  return toJobEvent({ ...values, id });
}

function runningJob(
  row: { org_id: string; project_id: string; priority: number },
  spec: JobSpec,
  placement: Placement,
  startedAt: number,
  borrowed: boolean,
): RunningJob {
  const gpus = placement.nodes.reduce((a, n) => a + n.gpus.length, 0);
  return {
    org: row.org_id,
    project: row.project_id,
    spec,
    startedAt,
    gpus,
    gpuType: placement.gpuType,
    priority: row.priority,
    borrowed,
    stopping: null,
  };
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
