/**
 * Step 1 of a cycle's starts: persist them all in one store transaction (state, placement,
 * residency evidence, event, audit). A start the residency gate refuses in the transaction (a
 * policy changed since the cycle ran) stays queued; one cancelled meanwhile is skipped.
 */

import { sql, type Transaction } from 'kysely';
import { describeShare, type GpuRepartition } from '../../model/gpu-sharing.js';
import type { Placement } from '../../model/job.js';
import { type LenderShare, lendersJson } from '../../model/lenders.js';
import type { JobEvent } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import { defers } from '../../store/deferred-insert.js';
import type { Database } from '../../store/schema.js';
import { insertEvent } from '../job-events.js';
import { openSegment } from '../metering.js';
import { driverSwitches, recordGpuRepartition, repartitionMessage } from '../node-events.js';
import type { CycleContext } from './context.js';

export interface StartDecision {
  jobId: string;
  placement: Placement;
  borrowed?: boolean;
  /** A borrowed start's lenders (scheduler's StartDecision.lenders): kept on the job row and its usage segment. */
  lenders?: LenderShare[];
  /** Idle GPUs to re-partition first (scheduler's StartDecision.repartitions). */
  repartitions?: GpuRepartition[];
}

export interface CommittedStart {
  id: string;
  event: JobEvent;
  org: string;
  attempt: number;
  /** The re-partitions committed with it, for its driver to carry out before the job runs. */
  repartitions?: GpuRepartition[];
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
    const marked = await markAllRunning(trx, starts, at);
    const seen = new Set<string>();
    for (const s of starts) {
      if (seen.has(s.jobId)) continue; // one start per job and cycle
      seen.add(s.jobId);
      const res = marked
        ? marked.get(s.jobId)
        : await trx
            .updateTable('jobs')
            .set((eb) => ({
              state: 'running',
              placement: JSON.stringify(s.placement),
              started_at: at,
              borrowed: s.borrowed ? 1 : 0,
              lenders: lendersJson(s.lenders),
              attempt: eb('attempt', '+', 1),
            }))
            .where('id', '=', Number(s.jobId))
            .where('state', '=', 'queued')
            .returning(['org_id', 'project_id', 'attempt', 'priority', 'borrowed', 'lenders'])
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
          .set((eb) => ({
            state: 'queued',
            placement: null,
            started_at: null,
            borrowed: 0,
            lenders: null,
            attempt: eb('attempt', '-', 1),
          }))
          .where('id', '=', Number(s.jobId))
          .execute();
        refused.push(s.jobId);
        continue;
      }
      await openSegment(trx, s.jobId, res, s.placement, at, spec?.kind);
      for (const r of s.repartitions ?? [])
        await recordRepartition(trx, s.jobId, res.org_id, r, at, siteDriverKind(ctx, s.placement.site));
      const gpus = s.placement.nodes.reduce((a, n) => a + n.gpus.length, 0);
      const share = describeShare(s.placement.nodes[0]);
      const what = share
        ? `${share} of ${s.placement.gpuType} GPU ${s.placement.nodes[0].gpus[0]}`
        : `${gpus} ${s.placement.gpuType}`;
      const message = `scheduled on ${s.placement.nodes.length} node(s) in ${s.placement.site} (${what})${s.borrowed ? ' on borrowed capacity (preemptible)' : ''}`;
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
      const c: CommittedStart = { id: s.jobId, event, org: res.org_id, attempt: res.attempt };
      if (s.repartitions) c.repartitions = s.repartitions;
      out.push(c);
    }
    return out;
  });
  return { committed, refused };
}

type Marked = { org_id: string; project_id: string; attempt: number; priority: number; borrowed: number; lenders: string | null };

/**
 * markAllRunning: on PostgreSQL, every start's `queued → running` UPDATE of the cycle in one statement
 * (one round trip for the cycle instead of one per job; the rows come back as each UPDATE's RETURNING
 * did, a job no longer queued — cancelled meanwhile — not at all). null on SQLite, which updates
 * start by start in the loop (in-process: no round trip to save).
 */
async function markAllRunning(
  trx: Transaction<Database>,
  starts: readonly StartDecision[],
  at: string,
): Promise<Map<string, Marked> | null> {
  if (!defers(trx)) return null;
  // The first start of each job, as the loop takes it.
  const first = new Map<string, StartDecision>();
  for (const s of starts) if (!first.has(s.jobId)) first.set(s.jobId, s);
  const rows = JSON.stringify(
    [...first.values()].map((s) => ({
      id: Number(s.jobId),
      placement: JSON.stringify(s.placement),
      borrowed: s.borrowed ? 1 : 0,
      lenders: lendersJson(s.lenders),
    })),
  );
  const r = await sql<Marked & { id: number }>`
    update jobs as j set state = 'running', placement = s.placement, started_at = ${at}, borrowed = s.borrowed, lenders = s.lenders, attempt = j.attempt + 1
    from json_to_recordset(${rows}::json) as s(id bigint, placement text, borrowed integer, lenders text)
    where j.id = s.id and j.state = 'queued'
    returning j.id, j.org_id, j.project_id, j.attempt, j.priority, j.borrowed, j.lenders`.execute(trx);
  return new Map(r.rows.map((x) => [String(x.id), x]));
}

/**
 * recordRepartition: the node-level operation before a start, an idle GPU switched whole ↔ MIG: the
 * node's event (node-events.ts, with the GPU's new mode), the job's own event `gpu_repartitioned`
 * naming it, and an audit entry on the node.
 */
async function recordRepartition(
  trx: Parameters<typeof insertEvent>[0],
  jobId: string,
  org: string,
  r: GpuRepartition,
  at: string,
  driverKind: string,
): Promise<void> {
  await recordGpuRepartition(trx, r, jobId, at, driverKind);
  const message = `${repartitionMessage(r, jobId, driverKind)} (node operation ${r.reason}, see GET /v1/nodes/${r.node}/events)`;
  await insertEvent(trx, jobId, at, 'gpu_repartitioned', message, { ...r, carriedOut: driverSwitches(driverKind) });
  await appendAudit(trx, {
    at,
    actor: 'system:scheduler',
    org,
    action: 'node.repartition',
    objectType: 'node',
    objectId: r.node,
    before: { gpu: r.gpu, mode: r.from },
    after: { gpu: r.gpu, mode: r.to, reason: r.reason, forJob: jobId },
  });
}

/** siteDriverKind: the driver kind of a site in the fleet file (a site without one runs the simulated driver). */
function siteDriverKind(ctx: CycleContext, site: string): string {
  const driver = ctx.state.cluster.fleet.sites.find((x) => x.id === site)?.driver;
  const kind = typeof driver === 'object' && driver !== null && 'kind' in driver ? driver.kind : undefined;
  return typeof kind === 'string' ? kind : 'sim';
}
