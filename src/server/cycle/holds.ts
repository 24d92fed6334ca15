/**
 * holdRunning stops an organisation's running jobs (grace period, then kill) and requeues them,
 * where the holdReason hook keeps them until it is lifted (GDPR restriction). Returns their ids.
 */
import type { JobEvent } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import { insertEvent } from '../job-events.js';
import type { CycleContext } from './context.js';
import { stopOnDriver } from './stop.js';

export async function holdRunning(
  ctx: Pick<CycleContext, 'state' | 'store' | 'driver' | 'bus' | 'grace'>,
  org: string,
  actor: string,
  reason: string,
  requestId?: string,
): Promise<string[]> {
  const { state } = ctx;
  const ids = [...state.running].filter(([, r]) => r.org === org && !r.stopping).map(([id]) => id);
  if (ids.length === 0) return [];
  const at = new Date(state.now()).toISOString();
  const message = `processing restricted (${reason}); stopping with a ${ctx.grace}s grace period, then requeued and held`;
  const events = await ctx.store.write(async (trx) => {
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
    const r = state.running.get(id);
    if (r) r.stopping = { kind: 'restrict', reason };
  }
  for (const [i, id] of ids.entries()) {
    ctx.bus.publish({ org, event: events[i]! });
    void stopOnDriver(ctx, id, ctx.grace);
  }
  return ids;
}
