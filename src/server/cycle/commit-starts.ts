/**
 * Step 1 of a cycle's starts: persist them all in one store transaction (state, placement,
 * residency evidence, event, audit). A start the residency gate refuses in the transaction (a
 * policy changed since the cycle ran) stays queued; one cancelled meanwhile is skipped.
 */
import type { Placement } from '../../model/job.js';
import type { JobEvent } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import { insertEvent } from '../job-events.js';
import { openSegment } from '../metering.js';
import type { CycleContext } from './context.js';

export interface StartDecision {
  jobId: string;
  placement: Placement;
  borrowed?: boolean;
}

export interface CommittedStart {
  id: string;
  event: JobEvent;
  org: string;
  attempt: number;
}

export interface PersistedStarts {
  committed: CommittedStart[];
  /** Refused by the residency gate inside the transaction: handed back to the queue. */
  refused: string[];
}

export async function persistStarts(ctx: CycleContext, starts: readonly StartDecision[], now: number): Promise<PersistedStarts> {
  const at = new Date(now).toISOString();
  const refused: string[] = [];
  const committed = await ctx.store.decide(async (trx) => {
    const out: CommittedStart[] = [];
    for (const s of starts) {
      const res = await trx
        .updateTable('jobs')
        .set((eb) => ({
          state: 'running',
          placement: JSON.stringify(s.placement),
          started_at: at,
          borrowed: s.borrowed ? 1 : 0,
          attempt: eb('attempt', '+', 1),
        }))
        .where('id', '=', Number(s.jobId))
        .where('state', '=', 'queued')
        .returning(['org_id', 'attempt'])
        .executeTakeFirst();
      if (!res) continue; // cancelled meanwhile
      const spec = ctx.state.queuedSpecs.get(s.jobId);
      const evidence =
        !ctx.residency || !spec
          ? true
          : await ctx.residency.recordStart(trx, {
              jobId: s.jobId,
              org: res.org_id,
              project: spec.project,
              spec,
              placement: s.placement,
              at,
              now,
            });
      if (!evidence) {
        await trx
          .updateTable('jobs')
          .set((eb) => ({ state: 'queued', placement: null, started_at: null, borrowed: 0, attempt: eb('attempt', '-', 1) }))
          .where('id', '=', Number(s.jobId))
          .execute();
        refused.push(s.jobId);
        continue;
      }
      await openSegment(trx, s.jobId, s.placement, at);
      const gpus = s.placement.nodes.reduce((a, n) => a + n.gpus.length, 0);
      const message = `scheduled on ${s.placement.nodes.length} node(s) in ${s.placement.site} (${gpus} ${s.placement.gpuType})${s.borrowed ? ' on borrowed capacity (preemptible)' : ''}`;
      const event = await insertEvent(trx, s.jobId, at, 'running', message, { placement: s.placement });
      await appendAudit(trx, {
        at,
        actor: 'system:scheduler',
        org: res.org_id,
        action: 'job.start',
        objectType: 'job',
        objectId: s.jobId,
        before: { state: 'queued' },
        after: { state: 'running', placement: s.placement },
      });
      out.push({ id: s.jobId, event, org: res.org_id, attempt: res.attempt });
    }
    return out;
  });
  return { committed, refused };
}
