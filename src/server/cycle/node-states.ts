/**
 * Node states: an operator's drain/down/up and what an execution engine reports (Slurm down/drain),
 * each recorded with its source (a typed column, migration 015). A node that goes down stops every
 * job on it; each is requeued or failed per its spec once stopped (observations.ts).
 */
import type { NodeStateObservation } from '../../drivers/driver.js';
import { enforce, operatorOnly } from '../../model/authz.js';
import { notFound } from '../../model/errors.js';
import type { NodeState } from '../../model/fleet.js';
import type { RequestContext } from '../../model/principal.js';
import { appendAudit } from '../../store/audit.js';
import type { NodeStateSource } from '../../store/schema.js';
import { insertNodeEvent, listNodeEvents, type NodeEvent } from '../node-events.js';
import { markNodeFailures } from '../node-failure.js';
import { type CycleContext, driverActor } from './context.js';
import { stopOnDriver } from './stop.js';

interface NodeStateChange {
  node: string;
  state: NodeState;
  reason: string | null;
  source: NodeStateSource;
  actor: string;
  action: string;
  at: string;
  requestId?: string;
}

export class NodeStates {
  constructor(private readonly ctx: CycleContext) {}

  /** setByOperator: an operator drains, marks down or returns a node to service. */
  async setByOperator(rc: RequestContext, nodeId: string, state: NodeState, reason: string | undefined): Promise<void> {
    const p = rc.principal;
    enforce(operatorOnly(p), 'only platform operators can drain or undrain nodes');
    if (!this.ctx.state.fleet.nodeIndex.has(nodeId)) throw notFound('node', nodeId);
    const action = state === 'up' ? 'node.undrain' : `node.${state === 'draining' ? 'drain' : 'down'}`;
    const at = new Date(this.ctx.state.now()).toISOString();
    await this.apply({
      node: nodeId,
      state,
      reason: reason ?? null,
      source: 'operator',
      actor: p.userId,
      action,
      at,
      requestId: rc.requestId,
    });
    if (state === 'down') await this.failJobsOnNode(nodeId, reason ?? `marked down by ${p.userId}`, p.userId);
  }

  /** events: a node's event log (re-partitions, state changes), oldest first; operators only. */
  async events(rc: RequestContext, nodeId: string, after: number, limit: number): Promise<NodeEvent[]> {
    enforce(operatorOnly(rc.principal), "only platform operators can read a node's events");
    if (!this.ctx.state.fleet.nodeIndex.has(nodeId)) throw notFound('node', nodeId);
    return listNodeEvents(this.ctx.store.db, nodeId, after, limit);
  }

  /** observe applies what the engine reports; an operator's drain stays in force when the engine says "up". */
  async observe(o: NodeStateObservation): Promise<void> {
    const { ctx } = this;
    if (!ctx.state.fleet.nodeIndex.has(o.node)) return;
    if (ctx.state.cluster.nodeState(o.node) === o.state) return;
    const prior = await ctx.store.db
      .selectFrom('node_states')
      .select(['state', 'source'])
      .where('node_id', '=', o.node)
      .executeTakeFirst();
    if (o.state === 'up' && prior?.state === 'draining' && prior.source === 'operator') return;
    const reason = `engine: ${o.reason}`;
    const actor = driverActor(ctx);
    const at = new Date(o.at).toISOString();
    await this.apply({ node: o.node, state: o.state, reason, source: 'engine', actor, action: `node.${o.state}`, at });
    if (o.state === 'down') await this.failJobsOnNode(o.node, reason, actor);
  }

  private async apply(c: NodeStateChange): Promise<void> {
    const { state: live } = this.ctx;
    const before = live.cluster.nodeState(c.node);
    const row = { state: c.state, reason: c.reason, source: c.source, updated_at: c.at };
    await this.ctx.store.write(async (trx) => {
      await trx
        .insertInto('node_states')
        .values({ node_id: c.node, ...row })
        .onConflict((oc) => oc.column('node_id').doUpdateSet(row))
        .execute();
      await appendAudit(trx, {
        at: c.at,
        actor: c.actor,
        org: null,
        action: c.action,
        objectType: 'node',
        objectId: c.node,
        before: { state: before },
        after: { state: c.state, reason: c.reason },
        ...(c.requestId !== undefined ? { requestId: c.requestId } : {}),
      });
      await insertNodeEvent(trx, {
        node: c.node,
        at: c.at,
        type: 'state_changed',
        reason: c.reason,
        message: `${c.node}: ${before} → ${c.state} (${c.source}${c.reason ? `: ${c.reason}` : ''})`,
        actor: c.actor,
        data: { from: before, to: c.state, source: c.source },
      });
    });
    live.cluster.setNodeState(c.node, c.state);
    live.poke();
  }

  /**
   * failJobsOnNode stops every running job on a node that went down; once stopped, each is
   * requeued or failed per its spec's onNodeFailure (observations.ts).
   */
  async failJobsOnNode(nodeId: string, why: string, actor: string): Promise<void> {
    const { ctx } = this;
    const jobs = [];
    for (const id of ctx.state.cluster.nodeView(nodeId).jobs) {
      const r = ctx.state.running.get(id);
      if (r && r.stopping?.kind !== 'node-failure') jobs.push({ id, org: r.org, spec: r.spec });
    }
    const marked = await markNodeFailures(ctx.store, jobs, nodeId, why, actor, new Date(ctx.state.now()).toISOString());
    for (const m of marked) {
      const r = ctx.state.running.get(m.id);
      if (r) r.stopping = { kind: 'node-failure', node: nodeId, why, onNodeFailure: m.failure.policy };
      ctx.bus.publish({ org: m.org, event: m.event });
      void stopOnDriver(ctx, m.id, 0);
    }
  }
}
