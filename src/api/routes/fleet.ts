/** Fleet summary, nodes, drain/undrain, audit log. */
import { createRoute, z } from '@hono/zod-openapi';
import { enforce, operatorOnly } from '../../model/authz.js';
import type { NodeState } from '../../model/fleet.js';
import { FleetSummarySchema, NodeEventSchema, NodeSchema } from '../../model/schemas.js';
import { decodeCursor, encodeCursor } from '../../server/cursor.js';
import { json, newRouter, type Services } from '../context.js';
import { NodeStateChangeSchema, page } from '../http-schemas.js';
import { commonProblems } from '../problems.js';

const NodeParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'muc1-b200-0001' }),
});
const fromCursor = (c: string | undefined) => (c === undefined ? 0 : decodeCursor(c));

/** nodeBody: the i-th fleet node as the API shows it (NodeSchema): its facts and its live state. */
export function nodeBody(fleet: Services['cp']['fleet'], cluster: Services['cluster'], i: number) {
  const n = fleet.nodes[i]!;
  const v = cluster.nodeView(n.id);
  return {
    id: n.id,
    site: n.site,
    unit: n.unit,
    nodeType: n.nodeType,
    gpuType: n.gpuType,
    gpus: n.gpus,
    state: v.state,
    freeGpus: v.freeGpus,
    jobs: v.jobs,
    migGpus: cluster.migModeGpus(n.id),
  };
}

export function fleetRoutes({ cp, cluster }: Services) {
  const r = newRouter();
  const fleet = cp.fleet;

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/fleet',
      operationId: 'getFleet',
      tags: ['fleet'],
      summary: 'Fleet summary: GPUs per site and type',
      responses: { 200: json(FleetSummarySchema, 'Summary'), ...commonProblems },
    }),
    async (c) => {
      const totals = cluster.siteTotals();
      return c.json(
        {
          name: fleet.spec.name,
          totalGpus: fleet.totalGpus,
          allocatedGpus: totals.reduce((a, t) => a + t.allocated, 0),
          nodes: fleet.nodes.length,
          gpuTypes: fleet.gpuTypes,
          sites: fleet.sites.map((s) => ({
            ...s,
            gpus: totals
              .filter((t) => t.site === s.id)
              .map(({ gpuType, total, allocated, free }) => ({ gpuType, total, allocated, free })),
          })),
        },
        200,
      );
    },
  );

  const nodeView = (i: number) => nodeBody(fleet, cluster, i);

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/nodes',
      operationId: 'listNodes',
      tags: ['fleet'],
      summary: 'List nodes (operator)',
      request: {
        query: z.object({
          site: z.string().optional(),
          state: z.enum(['up', 'draining', 'down']).optional(),
          gpuType: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(5000).default(500),
          cursor: z.string().optional(),
        }),
      },
      responses: { 200: json(page(NodeSchema, 'NodePage'), 'Nodes'), ...commonProblems },
    }),
    async (c) => {
      enforce(operatorOnly(c.get('principal')), 'only platform operators can list nodes');
      const q = c.req.valid('query');
      const items = [];
      let i = fromCursor(q.cursor);
      for (; i < fleet.nodes.length && items.length < q.limit; i++) {
        const n = fleet.nodes[i]!;
        if (q.site && n.site !== q.site) continue;
        if (q.gpuType && n.gpuType !== q.gpuType) continue;
        if (q.state && cluster.nodeState(n.id) !== q.state) continue;
        items.push(nodeView(i));
      }
      return c.json({ items, nextCursor: i < fleet.nodes.length ? encodeCursor(i) : null }, 200);
    },
  );

  const stateRoute = (action: 'drain' | 'undrain', state: NodeState) =>
    r.openapi(
      createRoute({
        method: 'post',
        path: `/v1/nodes/{id}/${action}`,
        operationId: `${action}Node`,
        tags: ['fleet'],
        summary:
          action === 'drain'
            ? 'Drain a node: no new work, running jobs finish (operator)'
            : 'Return a node to service (operator)',
        request: {
          params: NodeParam,
          body: { content: { 'application/json': { schema: NodeStateChangeSchema } }, required: false },
        },
        responses: { 200: json(NodeSchema, 'The node'), ...commonProblems },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const body = (c.req.valid('json') as { reason?: string } | undefined) ?? {};
        await cp.setNodeState(c.get('principal'), id, state, body.reason, c.get('requestId'));
        return c.json(nodeView(fleet.nodeIndex.get(id)!), 200);
      },
    );
  stateRoute('drain', 'draining');
  stateRoute('undrain', 'up');

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/nodes/{id}/events',
      operationId: 'listNodeEvents',
      tags: ['fleet'],
      summary: "A node's event log: GPU re-partitions (whole ↔ MIG) and state changes, oldest first (operator)",
      request: {
        params: NodeParam,
        query: z.object({
          limit: z.coerce.number().int().min(1).max(1000).default(200),
          cursor: z.string().optional(),
        }),
      },
      responses: { 200: json(page(NodeEventSchema, 'NodeEventPage'), 'Events'), ...commonProblems },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      const items = await cp.nodeEvents(c.get('principal'), id, fromCursor(q.cursor), q.limit, c.get('requestId'));
      const last = items.at(-1);
      return c.json({ items, nextCursor: items.length === q.limit && last ? encodeCursor(last.id) : null }, 200);
    },
  );

  return r;
}
