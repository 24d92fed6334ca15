/**
 * EventTail: how one replica learns what the others committed. Every replica polls the job_events
 * table (every 200 ms) past the last event it saw; write transactions commit one after another under
 * the store's advisory lock, so event ids grow in commit order and a cursor misses nothing.
 *
 * For each new event it (1) publishes it to this process's live streams (SSE) unless this process
 * published it itself, and (2) brings the job into this process's view: the leader enqueues a job
 * submitted on a follower, drops one cancelled there from its queue and stops a running one whose
 * cancel was asked for there; a follower mirrors the leader's starts and ends (queue, GPUs held), so
 * its listings, queue limits and fleet views stay close to the leader's.
 *
 * Quotas are not job events: they are re-read every 2 s, so one set through any replica binds the leader.
 *
 * Polling, not LISTEN/NOTIFY: it needs no extra connection per replica, survives a failover of the
 * database without re-subscribing, and the store already orders the ids. Latency: ≤ 200 ms + one query.
 */
import { partitionModeFor } from '../../model/gpu-sharing.js';
import { TERMINAL_STATES } from '../../model/job.js';
import { parseJson } from '../../model/json.js';
import { parseLenders } from '../../model/lenders.js';
import { PlacementSchema } from '../../model/schemas.js';
import { openEventRow, openSpec } from '../../store/sealed-fields.js';
import type { CycleContext } from '../cycle/context.js';
import { stopOnDriver } from '../cycle/stop.js';
import { spreadGroupOf } from '../job-constraints.js';
import type { JobRow } from '../job-rows.js';
import { toJobEvent } from '../job-rows.js';

type EventRow = Parameters<typeof toJobEvent>[0];

/** Quotas (set on any replica, and not job events) are re-read every this many polls (2 s). */
const QUOTA_EVERY = 10;

export class EventTail {
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private polling: Promise<void> | null = null;
  private polls = 0;

  constructor(
    private readonly ctx: CycleContext,
    /** Whether this process holds the scheduler lease now. */
    private readonly isLeader: () => boolean,
    private readonly intervalMs = 200,
  ) {}

  /** newest: the id of the newest committed event (read before a recovery, tailed from after it). */
  async newest(): Promise<number> {
    const last = await this.ctx.store.db
      .selectFrom('job_events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return Number(last?.id ?? 0);
  }

  /**
   * run tails from event `from` on. Read `from` with newest() before recovering the view: what commits
   * between that read and the end of the recovery is seen twice, which the view takes in its stride.
   */
  run(from: number): void {
    this.cursor = from;
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.polling = this.poll()
        .catch((err: unknown) => console.error('replica event tail failed:', err))
        .finally(() => {
          this.polling = null;
          if (!this.stopped) this.timer = setTimeout(loop, this.intervalMs);
        });
    };
    this.timer = setTimeout(loop, this.intervalMs);
  }

  /** stop ends the tail once its current poll is done (a takeover pauses it while it recovers). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }

  /** poll takes one batch of new events (at most 1000) into this process's view and streams. */
  async poll(): Promise<void> {
    if (++this.polls % QUOTA_EVERY === 0) await this.refreshQuotas();
    const { db } = this.ctx.store;
    const rows = await db.selectFrom('job_events').selectAll().where('id', '>', this.cursor).orderBy('id').limit(1000).execute();
    if (rows.length === 0) return;
    this.cursor = rows.at(-1)!.id;
    const ids = [...new Set(rows.map((r) => r.job_id))];
    const jobs = new Map((await db.selectFrom('jobs').selectAll().where('id', 'in', ids).execute()).map((j) => [j.id, j]));
    // An organisation this replica has not served yet: its data key (sealed specs, event text) from the store.
    for (const org of new Set([...jobs.values()].map((j) => j.org_id)))
      await this.ctx.store.fields.ready(org).catch(() => undefined);
    const leader = this.isLeader();
    const changed: [JobRow, EventRow[]][] = [];
    for (const job of jobs.values()) {
      const foreign = rows.filter((r) => r.job_id === job.id && !this.ctx.bus.wasPublished(r.id));
      if (foreign.length > 0) changed.push([job, foreign]);
    }
    if (leader) for (const [job, foreign] of changed) this.leaderSees(job, foreign);
    else {
      // Ends first: GPUs a job freed may be held by a job started later in the same batch.
      for (const [job] of changed) this.followerDrops(job);
      for (const [job] of changed) this.followerAdds(job);
    }
    for (const r of rows) this.publish(r, jobs.get(r.job_id));
  }

  /** refreshQuotas: a quota set through another replica reaches this one's scheduling state. */
  private async refreshQuotas(): Promise<void> {
    const { state } = this.ctx;
    for (const q of await this.ctx.store.db.selectFrom('quotas').selectAll().execute()) {
      if (state.quotas.get(q.project_id)?.get(q.gpu_type) !== q.gpus) state.setQuotaInMemory(q.project_id, q.gpu_type, q.gpus);
    }
  }

  private publish(r: EventRow, job: JobRow | undefined): void {
    if (!job || this.ctx.bus.wasPublished(r.id)) return;
    const event = toJobEvent(openEventRow(this.ctx.store.fields, job.org_id, r));
    const terminal = TERMINAL_STATES.has(r.type as never) && r.type === job.state ? r.type : undefined;
    this.ctx.bus.publish({ org: job.org_id, event, ...(terminal ? { terminalState: terminal } : {}) });
  }

  /** The leader decides starts and ends itself; from elsewhere come submissions and cancels. */
  private leaderSees(job: JobRow, events: readonly EventRow[]): void {
    const { state } = this.ctx;
    const id = String(job.id);
    if (job.state === 'queued' && !state.queue.has(id) && !state.running.has(id) && !state.handingOver.has(id)) {
      state.enqueue(id, job, openSpec(this.ctx.store.fields, job.org_id, job.spec));
      state.poke();
    } else if (TERMINAL_STATES.has(job.state as never) && state.queue.has(id)) {
      state.dequeue(id);
      state.poke();
    } else if (
      job.state === 'running' &&
      // Being handed over: stopOnDriver keeps the stop until the driver has the job.
      (state.running.has(id) || state.handingOver.has(id)) &&
      events.some((e) => e.type === 'cancel-requested')
    ) {
      void stopOnDriver(this.ctx, id, this.ctx.grace);
    }
  }

  /** A follower mirrors the job's committed state — first what it no longer is (running, queued)... */
  private followerDrops(job: JobRow): void {
    const { state } = this.ctx;
    const id = String(job.id);
    if (job.state !== 'running' && state.running.has(id)) state.removeRunning(id);
    if (job.state !== 'queued' && state.queue.has(id)) state.dequeue(id);
  }

  /** ...then what it is now: queued, or holding GPUs (a view only: a clash, if the view lags, is left out). */
  private followerAdds(job: JobRow): void {
    const { state } = this.ctx;
    const id = String(job.id);
    const spec = () => openSpec(this.ctx.store.fields, job.org_id, job.spec);
    if (job.state === 'queued' && !state.queue.has(id)) state.enqueue(id, job, spec());
    if (job.state === 'running' && !state.running.has(id) && job.placement) {
      const placement = parseJson(job.placement, PlacementSchema, `placement of running job ${id}`);
      try {
        state.cluster.allocate(id, job.project_id, placement, job.org_id, spreadGroupOf(spec()));
      } catch {
        return;
      }
      // A running job's GPUs are in the mode it needs (the leader re-partitioned them if they were not).
      for (const a of placement.nodes) for (const g of a.gpus) state.cluster.setGpuPartition(a.node, g, partitionModeFor(a));
      const lenders = parseLenders(job.lenders, `lenders of running job ${id}`);
      state.addRunning(id, job, spec(), placement, Date.parse(job.started_at ?? job.created_at), job.borrowed === 1, lenders);
    }
  }
}
