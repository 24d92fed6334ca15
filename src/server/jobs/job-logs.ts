/**
 * jobLogs reads a job's output from the driver that runs it (null: no log for this job): of its
 * current attempt, or of an earlier one. An attempt the job never made is 404.
 */
import type { ExecutionDriver, LogChunk } from '../../drivers/driver.js';
import { DomainError } from '../../model/errors.js';
import type { RequestContext } from '../../model/principal.js';
import type { Store } from '../../store/open-store.js';
import { logKey } from '../cycle/log-key.js';
import { visibleJobRow } from './job-queries.js';

export async function jobLogs(
  store: Store,
  driver: Pick<ExecutionDriver, 'logs'>,
  rc: RequestContext,
  id: string,
  offset: number,
  maxBytes?: number,
  attempt?: number,
): Promise<{ chunk: LogChunk | null; state: string; attempt: number }> {
  const row = await visibleJobRow(store, rc.principal, id);
  const current = row.attempt;
  if (attempt !== undefined && (attempt < 1 || attempt > current)) {
    throw new DomainError(
      'not_found',
      'attempt_not_found',
      `job ${id} has no attempt ${attempt}: it was started ${current} time${current === 1 ? '' : 's'}`,
    );
  }
  const k = attempt ?? current;
  if (!driver.logs || k === 0) return { chunk: null, state: row.state, attempt: k };
  const key = await logKey(store, row.org_id, id, k, false);
  if (store.fields.sealing && !key) return { chunk: null, state: row.state, attempt: k }; // erased
  return { chunk: await driver.logs(id, offset, maxBytes, k, key), state: row.state, attempt: k };
}
