/**
 * recover rebuilds the scheduling state from the store after a start or crash and reattaches the
 * running jobs to their drivers. Node states, quotas, queued and running jobs, fair-share usage,
 * reservations, checkpoints; then jobs on nodes found down are stopped (their stop was never settled).
 */
import type { NodeState } from '../../model/fleet.js';
import { parseJson } from '../../model/json.js';
import { parseLenders } from '../../model/lenders.js';
import { PlacementSchema } from '../../model/schemas.js';
import { openSpec } from '../../store/sealed-fields.js';
import { spreadGroupOf } from '../job-constraints.js';
import { loadGpuPartitions } from '../node-events.js';
import { lastCheckpoints } from '../node-failure.js';
import type { SchedulingOps } from '../scheduling-ops.js';
import { loadEndpoints } from '../workloads/endpoints.js';
import type { CycleContext } from './context.js';
import type { NodeStates } from './node-states.js';
import { recoverUsage } from './usage.js';

export async function recover(
  ctx: CycleContext,
  ops: SchedulingOps,
  nodes: NodeStates,
  /** false: a follower's view only — no driver is reattached, no decision is committed (src/server/replica). */
  attach = true,
): Promise<{ queued: number; running: number }> {
  const { state, store } = ctx;
  const db = store.db;
  for (const n of await db.selectFrom('node_states').selectAll().execute()) {
    if (state.fleet.nodeIndex.has(n.node_id)) state.cluster.setNodeState(n.node_id, n.state as NodeState);
  }
  for (const g of await loadGpuPartitions(db)) {
    const i = state.fleet.nodeIndex.get(g.node);
    // A GPU the fleet file no longer has (a node or GPU count changed) is forgotten.
    if (i !== undefined && g.gpu < state.fleet.nodes[i]!.gpus) state.cluster.setGpuPartition(g.node, g.gpu, g.mode);
  }
  for (const q of await db.selectFrom('quotas').selectAll().execute()) state.setQuotaInMemory(q.project_id, q.gpu_type, q.gpus);
  const live = await db.selectFrom('jobs').selectAll().where('state', 'in', ['queued', 'running']).orderBy('id').execute();
  const reattach = [];
  for (const row of live) {
    const spec = openSpec(store.fields, row.org_id, row.spec);
    const id = String(row.id);
    if (row.state === 'queued') {
      state.enqueue(id, row, spec);
    } else {
      const placement = parseJson(row.placement ?? 'null', PlacementSchema, `placement of running job ${id}`);
      const startedAt = Date.parse(row.started_at ?? row.created_at);
      state.cluster.allocate(id, row.project_id, placement, row.org_id, spreadGroupOf(spec));
      state.addRunning(
        id,
        row,
        spec,
        placement,
        startedAt,
        row.borrowed === 1,
        parseLenders(row.lenders, `lenders of running job ${id}`),
      );
      reattach.push({ id, spec, placement, startedAt, attempt: row.attempt });
    }
  }
  await recoverUsage(state, store, ctx.policy);
  await ops.recover();
  for (const [id, at] of await lastCheckpoints(store, [...state.running.keys()])) state.running.get(id)!.lastCheckpointAt = at;
  for (const [id, endpoint] of await loadEndpoints(db)) {
    const r = state.running.get(id);
    if (r) r.endpoint = endpoint;
  }
  if (!attach) return { queued: state.queue.size, running: state.running.size };
  await ctx.driver.reattach(reattach);
  const down = await db.selectFrom('node_states').select('node_id').where('state', '=', 'down').execute();
  for (const n of down) {
    if (state.fleet.nodeIndex.has(n.node_id)) await nodes.failJobsOnNode(n.node_id, 'found down at restart', 'system:recovery');
  }
  state.poke();
  return { queued: state.queue.size, running: state.running.size };
}
