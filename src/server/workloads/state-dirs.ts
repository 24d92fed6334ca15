/**
 * State directories of deleted datasets: deleting a dataset a session kept its state in also removes
 * the directory a driver made for that state (the `local` driver's `<datasetRoot>/<id>`, notebooks and
 * all). The deletion's transaction records the removal as pending (dataset_state_removals); `finish`
 * asks the drivers for it and, once they did, drops the pending row and appends the outcome as its own
 * audit record (`dataset.state-removed`) in one transaction. A removal that failed (audited as
 * `dataset.state-removal-failed`), or that a crash cut off, stays pending: the replica that drives the
 * engines retries every pending removal at its start (`recover`), when a job ends while one is pending,
 * and once a minute (`start`);
 * removing is idempotent. Erasing an organisation asks for the removal of every state directory its
 * sessions ever had (erasure.ts); one whose session is still stopping waits until the session ended,
 * so a process that is being killed cannot write into a directory already counted as removed.
 */
import type { ExecutionDriver } from '../../drivers/driver.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import type { EventBus } from '../event-bus.js';
import { holderOf } from './state-claims.js';

export const STATE_DIRS_ACTOR = 'system:state-dirs';

export interface StateDirsDeps {
  store: Store;
  driver: Pick<ExecutionDriver, 'removeDatasetState'>;
  now: () => number;
  /** Where a failed removal is told (it stays pending); default console.error. */
  onError?: (message: string) => void;
  /** How often pending removals are retried while the loop runs (default 60 s). */
  retryMs?: number;
  /** Job ends: a removal waiting for a session to end is retried when a job ends. */
  bus?: Pick<EventBus, 'subscribeAll'>;
}

export class StateDirRemovals {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private unsubscribe: (() => void) | undefined;
  /** A removal may be pending (one was left undone in this process, or at its start). */
  private waiting = true;
  private again = false;

  constructor(private readonly d: StateDirsDeps) {}

  /** start: retries pending removals periodically (the replica that drives the engines only). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.retry(), this.d.retryMs ?? 60_000);
    this.timer.unref();
    this.unsubscribe = this.d.bus?.subscribeAll((e) => {
      if (e.terminalState && this.waiting) void this.retry();
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.running;
  }

  /** retry: one pass over the pending removals, never two at once; asked again during one, one more. */
  private retry(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.recover()
      .catch(() => 0)
      .finally(() => {
        this.running = undefined;
        if (this.again && this.timer) {
          this.again = false;
          void this.retry();
        }
      });
    return this.running;
  }

  /** finish: removes a pending dataset's state directory; false when it failed (it stays pending). */
  async finish(datasetId: string): Promise<boolean> {
    const { store } = this.d;
    const row = await store.db
      .selectFrom('dataset_state_removals')
      .selectAll()
      .where('dataset_id', '=', datasetId)
      .executeTakeFirst();
    if (!row) return true;
    // A session that has not ended still uses it (an erasure stops it first): removed once it ended.
    if (await holderOf(store.db, datasetId)) {
      this.waiting = true;
      return false;
    }
    let removed: boolean;
    try {
      removed = (await this.d.driver.removeDatasetState?.(datasetId)) ?? false;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      (this.d.onError ?? console.error)(
        `dataset ${datasetId}: its state directory was not removed (retried within a minute): ${why}`,
      );
      // Audited without the message: it names paths inside the directory, which are the tenant's.
      const code = (err as NodeJS.ErrnoException | null)?.code ?? 'error';
      await store
        .write((trx) =>
          appendAudit(trx, {
            at: new Date(this.d.now()).toISOString(),
            actor: STATE_DIRS_ACTOR,
            org: row.org_id,
            action: 'dataset.state-removal-failed',
            objectType: 'dataset',
            objectId: datasetId,
            after: { directory: 'not removed', error: code, retry: 'every minute and at the next start' },
          }),
        )
        .catch(() => {});
      this.waiting = true;
      return false;
    }
    const at = new Date(this.d.now()).toISOString();
    await store.write(async (trx) => {
      const gone = await trx.deleteFrom('dataset_state_removals').where('dataset_id', '=', datasetId).executeTakeFirst();
      // Another finish (a restart racing a retry) recorded it already.
      if (Number(gone.numDeletedRows) === 0) return;
      await appendAudit(trx, {
        at,
        actor: STATE_DIRS_ACTOR,
        org: row.org_id,
        action: 'dataset.state-removed',
        objectType: 'dataset',
        objectId: datasetId,
        after: { directory: removed ? 'removed' : 'left to the site (no driver stages datasets)', requestedAt: row.requested_at },
      });
    });
    return true;
  }

  /** recover: finishes every removal still pending (a crash or a failure since the deletion); returns those left. */
  async recover(): Promise<number> {
    const rows = await this.d.store.db
      .selectFrom('dataset_state_removals')
      .select('dataset_id')
      .orderBy('requested_at')
      .execute();
    let left = 0;
    for (const r of rows) if (!(await this.finish(r.dataset_id))) left++;
    if (left === 0) this.waiting = false;
    return left;
  }
}
