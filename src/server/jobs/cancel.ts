/**
 * cancelJob: a queued job is cancelled at once; a running one is asked to stop (grace period,
 * then kill) and ends as `cancelled` when its driver reports the exit. One audited transaction
 * decides which, against the job's state at that moment.
 */

import { canCancelJob, enforce } from '../../model/authz.js';
import { conflict } from '../../model/errors.js';
import { TERMINAL_STATES } from '../../model/job.js';
import type { RequestContext } from '../../model/principal.js';
import type { Job } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import type { EventBus } from '../event-bus.js';
import { insertEvent } from '../job-events.js';
import type { JobRow } from '../job-rows.js';
import type { JobCycle } from './ports.js';

export interface CancelDeps {
  store: Store;
  cycle: Pick<JobCycle, 'dequeue' | 'stop'>;
  bus: EventBus;
  grace: number;
  now: () => number;
}

export async function cancelJob(d: CancelDeps, rc: RequestContext, row: JobRow): Promise<void> {
  const p = rc.principal;
  const id = String(row.id);
  enforce(canCancelJob(p, row.org_id), 'viewers cannot cancel jobs', { kind: 'job', id });
  if (TERMINAL_STATES.has(row.state as Job['state'])) throw conflict('job_finished', `job ${id} already ended (${row.state})`);
  const at = new Date(d.now()).toISOString();
  const outcome = await d.store.write(async (trx) => {
    const cur = await trx.selectFrom('jobs').select(['state', 'org_id']).where('id', '=', Number(id)).executeTakeFirstOrThrow();
    const audit = (before: string, after: string) =>
      appendAudit(trx, {
        at,
        actor: p.userId,
        org: cur.org_id,
        action: 'job.cancel',
        objectType: 'job',
        objectId: id,
        before: { state: before },
        after: { state: after },
        requestId: rc.requestId,
      });
    if (cur.state === 'queued') {
      await trx.updateTable('jobs').set({ state: 'cancelled', finished_at: at }).where('id', '=', Number(id)).execute();
      const event = await insertEvent(trx, id, at, 'cancelled', `cancelled by ${p.userId} while queued`, null);
      await audit('queued', 'cancelled');
      return { kind: 'cancelled' as const, event, org: cur.org_id };
    }
    if (cur.state === 'running') {
      const message = `cancel requested by ${p.userId}; stopping with a ${d.grace}s grace period`;
      const event = await insertEvent(trx, id, at, 'cancel-requested', message, null);
      await audit('running', 'stopping');
      return { kind: 'stopping' as const, event, org: cur.org_id };
    }
    return { kind: 'ended' as const, event: null, org: cur.org_id };
  });
  if (outcome.kind === 'ended') throw conflict('job_finished', `job ${id} already ended`);
  if (outcome.kind === 'cancelled') {
    d.cycle.dequeue(id);
    d.bus.publish({ org: outcome.org, event: outcome.event, terminalState: 'cancelled' });
  } else {
    d.bus.publish({ org: outcome.org, event: outcome.event });
    await d.cycle.stop(id, d.grace);
  }
}
