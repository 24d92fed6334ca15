/**
 * State directories of deleted datasets: deleting a dataset a session kept its state in also removes
 * the directory a driver made for that state (the `local` driver's `<datasetRoot>/<id>`, notebooks and
 * all). The deletion's transaction records the removal as pending (dataset_state_removals); `finish`
 * asks the drivers for it and, once they did, drops the pending row and appends the outcome as its own
 * audit record (`dataset.state-removed`) in one transaction. A removal that failed (audited as
 * `dataset.state-removal-failed`), or that a crash cut off, stays pending and is finished by `recover`
 * at the next start; removing is idempotent.
 */
import type { ExecutionDriver } from '../../drivers/driver.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';

export const STATE_DIRS_ACTOR = 'system:state-dirs';

export interface StateDirsDeps {
  store: Store;
  driver: Pick<ExecutionDriver, 'removeDatasetState'>;
  now: () => number;
  /** Where a failed removal is told (it stays pending); default console.error. */
  onError?: (message: string) => void;
}

export class StateDirRemovals {
  constructor(private readonly d: StateDirsDeps) {}

  /** finish: removes a pending dataset's state directory; false when it failed (it stays pending). */
  async finish(datasetId: string): Promise<boolean> {
    const { store } = this.d;
    const row = await store.db
      .selectFrom('dataset_state_removals')
      .selectAll()
      .where('dataset_id', '=', datasetId)
      .executeTakeFirst();
    if (!row) return true;
    let removed: boolean;
    try {
      removed = (await this.d.driver.removeDatasetState?.(datasetId)) ?? false;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      (this.d.onError ?? console.error)(
        `dataset ${datasetId}: its state directory was not removed (retried at the next start): ${why}`,
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
            after: { directory: 'not removed', error: code, retry: 'at the next start' },
          }),
        )
        .catch(() => {});
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

  /** recover: finishes every removal still pending (a crash or a failure since the deletion). */
  async recover(): Promise<number> {
    const rows = await this.d.store.db
      .selectFrom('dataset_state_removals')
      .select('dataset_id')
      .orderBy('requested_at')
      .execute();
    let left = 0;
    for (const r of rows) if (!(await this.finish(r.dataset_id))) left++;
    return left;
  }
}
