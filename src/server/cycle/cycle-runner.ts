/**
 * CycleRunner: runs scheduling cycles. One cycle, in named steps (see README.md):
 *   1. schedule      snapshot → the incremental scheduler (pure; incremental-cycle.ts), fair-share usage charged first
 *   2. reasons       adopt the cycle's pending reasons, plus holds (preempted, restricted)
 *   3. preempt       victims' stops persisted (one transaction), then sent to the driver
 *   4. persist       every start in one store transaction with its audit record
 *   5. hand back     starts the transaction did not commit free their GPUs again
 *   6. driver calls  committed starts enter the running set and go to their drivers
 *   7. publish       the committed events reach subscribers
 * In-memory state changes only after the commit it depends on.
 */
import type { Observation } from '../../drivers/driver.js';
import { DomainError } from '../../model/errors.js';
import type { SchedulingCycle } from '../../model/job.js';
import { PRIORITY_CLASSES } from '../../model/job.js';
import {
  type ClusterModel,
  type CycleResult,
  type IncrementalCycleResult,
  type PolicySettings,
  policySettings,
} from '../../scheduler/index.js';
import { openSpec } from '../../store/sealed-fields.js';
import type { SchedulingOps } from '../scheduling-ops.js';
import { type CommittedStart, persistStarts } from './commit-starts.js';
import type { CycleContext } from './context.js';
import { handOver } from './hand-over.js';
import { IncrementalCycle } from './incremental-cycle.js';
import { preempt } from './preempt.js';
import { QueueSync } from './queue-sync.js';
import { snapshot } from './snapshot.js';
import { chargeRunning } from './usage.js';

export interface CycleRunnerOptions {
  /** Milliseconds between scheduling cycles when nothing changes. */
  cycleIntervalMs?: number;
}

export class CycleRunner {
  lastCycleMs = 0;
  private readonly settings: PolicySettings;
  /** The scheduler, kept between cycles (incremental-cycle.ts). */
  private readonly scheduler = new IncrementalCycle();
  private readonly cycleIntervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private cycling = false;
  private stopped = false;
  /** The loop waits its idle interval (nothing changed at its last tick). */
  private idle = false;
  private lastCycleEnd = 0;
  private tick: (() => Promise<void>) | null = null;
  private listening = false;
  /**
   * The last cycle started jobs: its pending reasons may count GPUs its own later starts took, so
   * the next cycle runs at once (25 ms; not after the idle interval) to rebuild them. One such cycle
   * follows each cycle that started jobs; a stream of changes is paced as before.
   */
  private reasonsBehind = false;
  /** Keeps the scheduler's queue in step with the live one from what changed (queue-sync.ts). */
  private readonly queueSync = new QueueSync(this.scheduler);

  constructor(
    private readonly ctx: CycleContext,
    private readonly ops: SchedulingOps,
    /** Where a failed hand-over is reported (the observations). */
    private readonly report: (o: Observation) => Promise<void>,
    opts: CycleRunnerOptions = {},
  ) {
    this.settings = policySettings(ctx.policy);
    this.cycleIntervalMs = opts.cycleIntervalMs ?? 250;
  }

  /** startLoop runs cycles until stop(); it may start again after a stop (a follower taking over again). */
  startLoop(): void {
    const { state } = this.ctx;
    this.stopped = false;
    const tick = async () => {
      this.idle = false;
      if (this.stopped) return;
      try {
        const now = state.now();
        // An attestation starting or ending changes where jobs may run even when nothing else changed.
        if (
          state.dirty ||
          this.reasonsBehind ||
          this.ctx.residency?.due(now) ||
          this.ctx.budgets?.due(now) ||
          this.reasonsDue(now)
        ) {
          await this.runCycle();
        }
      } catch (err) {
        // The database away (a failover): one line, not a stack, at every cycle until it is back.
        if (err instanceof DomainError && err.code === 'store_unavailable')
          console.error(`scheduling cycle failed: ${err.detail}`);
        else console.error('scheduling cycle failed:', err);
      }
      this.lastCycleEnd = performance.now();
      if (this.stopped) return;
      // Under a stream of changes, pace cycles so scheduling takes at most ~20% of a core.
      // Stale reasons wait the least pace, not four times the cycle that made them stale: after a
      // fill that cycle is the longest of all (a 6,866-start fill paced the refresh 3.3 s away).
      const soon = state.dirty ? this.pace() : this.reasonsBehind ? 25 : null;
      this.idle = soon === null;
      this.timer = setTimeout(tick, soon ?? this.cycleIntervalMs);
    };
    this.tick = tick;
    // A change while the loop waits its idle interval (a submission, an exit) is scheduled at once,
    // paced as under load: an idle fleet starts a new job without waiting out the interval.
    if (!this.listening) {
      this.listening = true;
      state.onPoke(() => {
        if (!this.idle || this.stopped || !this.tick) return;
        this.idle = false;
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(this.tick, Math.max(0, this.lastCycleEnd + this.pace() - performance.now()));
      });
    }
    this.timer = setTimeout(tick, 0);
  }

  /** observeTotal: a cycle that changed something, timed with its commit (what the store adds to a cycle). */
  private observeTotal(t0: number): void {
    this.ctx.metrics?.cycleTotalSeconds.observe((performance.now() - t0) / 1000);
  }

  /** pace: the least time between the end of one cycle and the next while changes keep coming. */
  private pace(): number {
    return Math.max(25, 4 * this.lastCycleMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.cycling) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * reasonsDue: the explain interval has passed and either the reasons or explanations may predate
   * the last cycle's starts, or the explanations predate the newest reasons (a cycle that did not
   * explain: without this an idle fleet would keep serving them, marked stale, until the next change).
   */
  private reasonsDue(now: number): boolean {
    const { state, policy } = this.ctx;
    const interval = policy.explainIntervalSeconds * 1000;
    const since = state.reasonsStaleSince;
    if (since !== null && now - since >= interval) return true;
    return state.explainedCycle !== state.reasonsCycle && now - state.explainedAt >= interval;
  }

  /** runCycle: one scheduler pass, its starts committed in one transaction, then handed to the driver. */
  async runCycle(): Promise<void> {
    if (this.cycling) return;
    this.cycling = true;
    this.ctx.state.dirty = false;
    const t0 = performance.now();
    try {
      const now = this.ctx.state.now();
      const { result, explain } = await this.schedule(now);
      this.adoptReasons(result, now, explain);
      if (result.preemptions?.length) await preempt(this.ctx, result.preemptions, now);
      if (result.starts.length === 0) {
        if (result.preemptions?.length) this.observeTotal(t0);
        return;
      }
      const committed = await this.persist(result, now);
      this.observeWaits(committed, now);
      const started = await this.adoptStarts(committed, result, now);
      this.publish(started);
      this.ctx.metrics?.jobsStarted.inc(started.length);
      this.observeTotal(t0);
    } finally {
      this.cycling = false;
    }
  }

  /** Step 1: the scheduler's decisions for this cycle (pure; timed for the metrics). */
  private async schedule(now: number): Promise<{ result: IncrementalCycleResult; explain: boolean }> {
    const { ctx } = this;
    if (ctx.residency?.due(now)) await ctx.residency.refresh(now);
    // What needs the store is read first; the rest runs on the snapshot's queue with nothing awaited.
    const budgets = await ctx.budgets?.prepareCycle(now);
    const t0 = performance.now();
    chargeRunning(ctx.state, ctx.policy, now);
    const explain = now - ctx.state.explainedAt >= ctx.policy.explainIntervalSeconds * 1000;
    const deps = {
      state: ctx.state,
      policy: ctx.policy,
      settings: this.settings,
      ops: this.ops,
      holdReason: (org: string) => ctx.hooks.holdReason?.(org) ?? null,
    };
    const input = snapshot(deps, now, explain);
    this.queueSync.sync(deps);
    if (budgets) input.budgets = budgets(this.scheduler.byOwner(ctx.state.queue));
    const result = this.scheduler.cycle(ctx.state.cluster, input);
    // A start that is not committed (cancelled meanwhile, refused, a failed write) stays queued in the
    // state but left the scheduler: the next cycle looks at every start again.
    this.queueSync.started(result.starts.map((s) => s.jobId));
    this.lastCycleMs = performance.now() - t0;
    ctx.metrics?.cycleSeconds.observe(this.lastCycleMs / 1000);
    return { result, explain };
  }

  /** Step 2: the cycle's pending reasons, with held jobs saying why they are held. */
  private adoptReasons(result: IncrementalCycleResult, now: number, explain: boolean): void {
    const { state, hooks } = this.ctx;
    // Which cycle the reasons (and, when rebuilt, the explanations) describe: readers cite it.
    const term = state.term?.();
    const cycle: SchedulingCycle = { number: result.cycle, ...(term !== undefined ? { term } : {}), startedAt: now };
    state.reasonsCycle = cycle;
    this.ctx.metrics?.cycleNumber.set(result.cycle);
    this.ops.noteHeld(result.windows);
    // Stale until a cycle that starts nothing also rebuilds the explanations: a quick cycle after the
    // fill (a submission) refreshes the reasons but not the explanations, which keep their older cycle.
    this.reasonsBehind = result.starts.length > 0;
    if (result.starts.length > 0) state.reasonsStaleSince = now;
    else if (explain) state.reasonsStaleSince = null;
    // Each cycle returns a fresh map the scheduler keeps no reference to: adopt it, not copy it.
    state.pending = result.pending;
    for (const [id, { forJobId: forJob }] of state.holds) {
      if (!state.queue.has(id)) {
        state.holds.delete(id); // cancelled while held
        continue;
      }
      state.pending.set(id, {
        code: 'preempting',
        message: `waiting: preempted for job ${forJob}; requeued, and considered again once job ${forJob} has started`,
      });
    }
    // Restricted organisations' jobs (the set was computed by this cycle's sync, nothing awaited since).
    const holdReason = hooks.holdReason;
    if (holdReason && this.queueSync.restricted.size > 0)
      this.queueSync.holdRestricted({ state, holdReason: (org) => holdReason(org) ?? null }, state.pending);
    if (explain) {
      state.explainedAt = now;
      state.explainedCycle = cycle;
      state.explanations = result.explain ?? new Map();
      state.priorities = result.priorities ?? new Map();
    }
  }

  /** Steps 4 and 5: persist every start in one transaction; what it did not commit is handed back. */
  private async persist(result: IncrementalCycleResult, now: number): Promise<CommittedStart[]> {
    const { state } = this.ctx;
    // Counted as handed over from before the commit: a cancel answered between the commit and the
    // hand-over (one group commit answers both, the cancel's caller may resume first) found the job
    // neither running nor being handed over, told the driver to stop a job it did not have yet, and
    // the job then ran on. Now that stop waits for the hand-over (stop.ts).
    for (const s of result.starts) state.handingOver.add(s.jobId);
    let persisted: Awaited<ReturnType<typeof persistStarts>>;
    try {
      persisted = await persistStarts(this.ctx, result.starts, now);
    } catch (err) {
      for (const s of result.starts) {
        uncommit(state.cluster, s);
        notHandedOver(state, s.jobId);
      }
      throw err;
    }
    const committedIds = new Set(persisted.committed.map((c) => c.id));
    for (const s of result.starts) {
      if (committedIds.has(s.jobId)) continue;
      uncommit(state.cluster, s);
      notHandedOver(state, s.jobId);
    }
    if (persisted.refused.length > 0) state.reconstrainQueued();
    return persisted.committed;
  }

  /** Step 6: committed starts leave the queue, hold their GPUs and go to their drivers. */
  private async adoptStarts(committed: CommittedStart[], result: IncrementalCycleResult, now: number): Promise<CommittedStart[]> {
    const { state } = this.ctx;
    const borrowed = new Map(result.starts.filter((s) => s.borrowed).map((s) => [s.jobId, s.lenders]));
    let handed = 0;
    try {
      for (const c of committed) {
        const spec = state.queuedSpecs.get(c.id) ?? (await this.specOf(c.id));
        state.dequeue(c.id);
        const placement = state.cluster.allocationOf(c.id)!;
        const row = { org_id: c.org, project_id: spec.project, priority: PRIORITY_CLASSES[spec.priorityClass] };
        state.addRunning(c.id, row, spec, placement, now, borrowed.has(c.id), borrowed.get(c.id));
        handOver(this.ctx, c, spec, now, this.report);
        handed++;
      }
    } finally {
      // A failure before its hand-over (its spec unreadable) leaves no job waiting for one.
      for (const c of committed.slice(handed)) notHandedOver(state, c.id);
    }
    return committed;
  }

  /** The per-project wait histogram: each start's submission time, read while the job is still queued. */
  private observeWaits(committed: readonly CommittedStart[], now: number): void {
    const { metrics, state } = this.ctx;
    if (!metrics) return;
    const started = committed.flatMap((c) => {
      const q = state.queue.get(c.id);
      return q ? [{ org: q.org, project: q.project, attempt: c.attempt, submittedAt: q.submittedAt }] : [];
    });
    metrics.projects.observeStarts(started, now);
  }

  /** Step 7: subscribers learn of the starts. */
  private publish(started: CommittedStart[]): void {
    for (const c of started) this.ctx.bus.publish({ org: c.org, event: c.event });
  }

  private async specOf(id: string) {
    const { store } = this.ctx;
    const row = await store.db
      .selectFrom('jobs')
      .select(['spec', 'org_id'])
      .where('id', '=', Number(id))
      .executeTakeFirstOrThrow();
    return openSpec(store.fields, row.org_id, row.spec);
  }
}

/**
 * uncommit: a start the store did not commit gives back its GPUs and, where its GPU is idle again,
 * the partition mode it had (the re-partition was never recorded, so it never happened).
 */
/** notHandedOver: a start that will not reach its driver waits for no hand-over (nor sends a stop after it). */
function notHandedOver(state: CycleContext['state'], id: string): void {
  state.handingOver.delete(id);
  state.stopAfterStart.delete(id);
}

function uncommit(cluster: ClusterModel, s: CycleResult['starts'][number]): void {
  cluster.release(s.jobId);
  for (const r of [...(s.repartitions ?? [])].reverse()) {
    if (cluster.isGpuFree(r.node, r.gpu)) cluster.setGpuPartition(r.node, r.gpu, r.from);
  }
}
