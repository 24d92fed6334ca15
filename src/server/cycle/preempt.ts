/** preempt tells each victim to stop (grace period, then kill); it is requeued once it has stopped. */
import type { JobEvent } from '../../model/schemas.js';
import type { PreemptionDecision } from '../../scheduler/index.js';
import { appendAudit } from '../../store/audit.js';
import { insertEvent } from '../job-events.js';
import type { CycleContext } from './context.js';
import { stopOnDriver } from './stop.js';

export async function preempt(ctx: CycleContext, decisions: readonly PreemptionDecision[], now: number): Promise<void> {
  const { state } = ctx;
  const at = new Date(now).toISOString();
  const fresh = decisions.filter((d) => {
    const r = state.running.get(d.victimId);
    return r && !r.stopping;
  });
  if (fresh.length === 0) return;
  const events = await ctx.store.decide(async (trx) => {
    const out: { id: string; org: string; event: JobEvent }[] = [];
    for (const d of fresh) {
      const r = state.running.get(d.victimId)!;
      const why = d.reason === 'reclaim' ? 'its owner reclaims borrowed capacity' : 'a higher priority class needs the capacity';
      const message = `preempted for job ${d.forJobId} (${why}); stopping with a ${ctx.grace}s grace period, then requeued`;
      const event = await insertEvent(trx, d.victimId, at, 'preempting', message, { forJobId: d.forJobId, reason: d.reason });
      await appendAudit(trx, {
        at,
        actor: 'system:scheduler',
        org: r.org,
        action: 'job.preempt',
        objectType: 'job',
        objectId: d.victimId,
        before: { state: 'running' },
        after: { state: 'preempting', forJobId: d.forJobId, reason: d.reason },
      });
      out.push({ id: d.victimId, org: r.org, event });
    }
    return out;
  });
  for (const d of fresh) {
    const r = state.running.get(d.victimId);
    if (r) r.stopping = { kind: 'preempt', forJobId: d.forJobId, reason: d.reason };
  }
  for (const e of events) {
    ctx.bus.publish({ org: e.org, event: e.event });
    void stopOnDriver(ctx, e.id, ctx.grace);
  }
  ctx.metrics?.preemptions.inc(events.length);
}
