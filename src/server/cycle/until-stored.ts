/**
 * untilStored commits what a driver reported, and while the database is unreachable (store_unavailable)
 * tries again with backoff: a job's exit is reported once, so dropping it would leave the job running
 * forever. A transaction that failed was rolled back, so running it again is safe. A report refused by
 * the scheduler lease's fence (another replica schedules now) is dropped: the new leader records it.
 * Other errors are logged, as before. The waits do not keep a stopping process alive.
 */
import { DomainError } from '../../model/errors.js';

export async function untilStored(commit: () => Promise<void>, what: string, maxDelayMs = 5000): Promise<void> {
  for (let delay = 100; ; delay = Math.min(maxDelayMs, delay * 2)) {
    try {
      return await commit();
    } catch (err) {
      if (err instanceof DomainError && err.code === 'scheduler_lease_lost') {
        // Another replica schedules now: it reattached the job and records what its driver reports.
        console.error(`${what} not recorded by this replica: ${err.detail}`);
        return;
      }
      if (!(err instanceof DomainError && err.code === 'store_unavailable')) {
        console.error(`${what} failed:`, err);
        return;
      }
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }
}
