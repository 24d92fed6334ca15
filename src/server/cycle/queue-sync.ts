/**
 * QueueSync keeps the scheduler's queue (IncrementalCycle) in step with the live queue from what
 * changed since the last cycle, so the server side of a cycle costs the changes, not the queue
 * (issue 19; before, every cycle walked the whole queue and looked every job up). Looked at each
 * cycle: the ids the queue saw set or deleted, every held job (its preemptor may have left), and the
 * last cycle's starts (one the store did not commit stays queued, but left the scheduler). A
 * change in which organisations are restricted, or a reset of the queue, syncs every id.
 */
import type { PendingReason } from '../../model/job.js';
import type { IncrementalCycle } from './incremental-cycle.js';
import { type QueueDeps, queuedForScheduler, restrictedOrgs } from './snapshot.js';

export class QueueSync {
  /** Organisations restricted at the last sync. */
  restricted = new Set<string>();
  private recheck: string[] = [];

  constructor(private readonly scheduler: IncrementalCycle) {}

  /** sync: before a cycle. */
  sync(deps: QueueDeps): void {
    const { state } = deps;
    const changed = state.queue.takeChanges();
    const restricted = restrictedOrgs(deps);
    const same = restricted.size === this.restricted.size && [...restricted].every((o) => this.restricted.has(o));
    this.restricted = restricted;
    const wanted = (id: string) => queuedForScheduler(deps, id);
    if (changed === null || !same) {
      this.scheduler.sync([...state.queue.keys(), ...this.scheduler.knownIds()], wanted);
    } else {
      this.scheduler.sync(changed, wanted);
      this.scheduler.sync([...state.holds.keys()], wanted);
      this.scheduler.sync(this.recheck, wanted);
    }
    this.recheck = [];
  }

  /**
   * holdRestricted: each queued job of an organisation restricted at the last sync waits with its
   * restriction's reason in `pending`. Read through the queue's per-organisation index: O(those
   * organisations' queued jobs), not a walk over the queue (the same reasons as one).
   */
  holdRestricted(deps: QueueDeps, pending: Map<string, PendingReason>): void {
    for (const org of this.restricted) {
      const held = deps.holdReason(org);
      if (!held) continue;
      for (const id of deps.state.queue.idsOfOrg(org)) pending.set(id, held);
    }
  }

  /** started: after a cycle, its starts (looked at again by the next sync). */
  started(ids: string[]): void {
    this.recheck = ids;
  }
}
