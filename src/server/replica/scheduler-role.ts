/**
 * SchedulerRole: leader or follower, for one server process on a shared PostgreSQL database.
 * Every replica serves the whole API; only the holder of the scheduler lease (store/scheduler-lease.ts)
 * runs scheduling cycles and owns the drivers. The lease is renewed every second (TTL 3 s, by the
 * database's clock); a follower tries to take it every 250 ms, so a dead leader is replaced within
 * ~3.25 s plus one recovery. Taking over rebuilds the view from the store and reattaches the running
 * jobs to their drivers (recover.ts); losing the lease (a renewal refused, or a fence refusing a
 * decision) stops the cycles at once. On SQLite the lease is always held: one process, as before.
 */

import type { LeaseView, SchedulerLease } from '../../store/scheduler-lease.js';
import type { ControlPlane } from '../control-plane.js';
import { EventTail } from './event-tail.js';

export interface SchedulerRoleOptions {
  /** How often the leader renews (ms). */
  renewMs?: number;
  /** How often a follower tries to take the lease (ms). */
  pollMs?: number;
  /** Runs after every takeover's recovery (restricted organisations' jobs are held again). */
  afterTakeOver?: () => Promise<void>;
  /**
   * Runs every 2 s on every replica (`leader`: whether this one schedules): state kept in memory
   * beside the scheduling state and changed through any replica (restrictions) is read again.
   */
  refresh?: (leader: boolean) => Promise<void>;
  /** Where role changes are told (default: stderr). */
  log?: (line: string) => void;
}

export class SchedulerRole {
  private leader = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private ticking: Promise<void> | null = null;
  /** A resync's step-down, awaited before a rebuild so it cannot stop the loop the rebuild restarts. */
  private steppingDown: Promise<void> = Promise.resolve();
  private readonly tail: EventTail | null;
  /** Takeovers by this process (the first start included). */
  takeovers = 0;

  constructor(
    private readonly lease: SchedulerLease,
    private readonly cp: ControlPlane,
    private readonly opts: SchedulerRoleOptions = {},
    multiReplica = true,
  ) {
    this.tail = multiReplica ? new EventTail(cp.cycleContext, () => this.leader) : null;
  }

  view(): LeaseView {
    return { ...this.lease.view(), role: this.leader ? 'leader' : 'follower' };
  }

  /** start: take the lease if it is free, recover accordingly, then keep the role current. */
  async start(): Promise<{ role: 'leader' | 'follower'; queued: number; running: number }> {
    const held = await this.lease.tick();
    const from = (await this.tail?.newest()) ?? 0;
    let recovered: { queued: number; running: number };
    if (held) {
      this.leader = true;
      this.takeovers++;
      recovered = await this.keepingLease(async () => {
        const r = await this.cp.recover(true);
        await this.opts.afterTakeOver?.();
        return r;
      });
      this.cp.startLoop();
    } else {
      recovered = await this.cp.recover(false);
    }
    this.tail?.run(from);
    this.schedule();
    return { role: held ? 'leader' : 'follower', ...recovered };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    await this.tail?.stop();
    await this.cp.stop();
    await this.lease.release().catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopped || !this.tail) return; // SQLite: the lease is held for good, nothing to renew
    this.timer = setTimeout(
      () => {
        this.ticking = this.tick()
          .catch((err: unknown) => this.log(`scheduler lease check failed: ${String(err)}`))
          .finally(() => {
            this.ticking = null;
            this.schedule();
          });
      },
      this.leader ? (this.opts.renewMs ?? 1000) : (this.opts.pollMs ?? 250),
    );
  }

  private lastRefresh = 0;

  private async tick(): Promise<void> {
    await this.checkLease();
    if (this.stopped || !this.opts.refresh || Date.now() - this.lastRefresh < 2000) return;
    this.lastRefresh = Date.now();
    await this.opts.refresh(this.leader).catch((err: unknown) => this.log(`refresh failed: ${String(err)}`));
  }

  /** checkLease renews or tries to take the lease, and takes over or steps down as its answer says. */
  private async checkLease(): Promise<void> {
    // A fence that refused a decision has already marked the lease lost.
    const heldBefore = this.leader && this.lease.isHeld;
    const held = await this.lease.tick();
    if (this.stopped) return;
    if (held && (!this.leader || !heldBefore)) {
      // A follower takes over; or a leader a fence refused finds the lease still its own (nobody took
      // it): either way, schedule from what is committed, not from a view that may be stale.
      const r = await this.recoverAsLeader();
      this.log(`took over the scheduler (fencing token ${this.lease.view().token}): ${r.queued} queued, ${r.running} running`);
    } else if (!held && this.leader) {
      this.leader = false;
      await this.cp.stepDown();
      this.log(`stepped down: the scheduler lease is held elsewhere (my fencing token ${this.lease.view().token} is stale)`);
    }
  }

  /**
   * resync: a decision's COMMIT outcome is unknown (the database failed over while it was on its way),
   * so the in-memory view may disagree with the store — a start that did commit would look queued and
   * its GPUs free. Cycles stop at once; the next lease check finds the lease still held and rebuilds
   * the view from what was committed, as a takeover does (or steps down, if another replica took it).
   */
  resync(): void {
    if (!this.leader || this.stopped) return;
    this.lease.lose();
    this.steppingDown = this.cp.stepDown().catch(() => undefined);
    this.log('a decision was cut off while committing (outcome unknown): cycles paused until the view is rebuilt from the store');
  }

  /** recoverAsLeader: the tail paused, the view rebuilt from the store and the drivers reattached, cycles on. */
  private async recoverAsLeader(): Promise<{ queued: number; running: number }> {
    await this.tail?.stop();
    await this.steppingDown;
    const from = (await this.tail?.newest()) ?? 0;
    const r = await this.keepingLease(async () => {
      const recovered = await this.cp.takeOver();
      await this.opts.afterTakeOver?.();
      return recovered;
    });
    this.leader = true;
    this.takeovers++;
    this.tail?.run(from);
    return r;
  }

  /** keepingLease renews the lease while `fn` (a recovery, which may outlast the TTL) runs. */
  private async keepingLease<T>(fn: () => Promise<T>): Promise<T> {
    const renew = setInterval(() => void this.lease.tick().catch(() => undefined), this.opts.renewMs ?? 1000);
    try {
      return await fn();
    } finally {
      clearInterval(renew);
    }
  }

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => console.error(l)))(`gigafab ${this.lease.holder}: ${line}`);
  }
}
