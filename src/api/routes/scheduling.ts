/**
 * Scheduling operations: advance reservations, maintenance windows, node state (up / draining /
 * down) and job checkpoints.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { JobEventSchema, NodeSchema } from '../../model/schemas.js';
import {
  CheckpointCreateSchema,
  MaintenanceCreateSchema,
  MaintenanceSchema,
  NodeStateSetSchema,
  ReservationCreateSchema,
  ReservationSchema,
} from '../../model/schemas-scheduling.js';
import { json, newRouter, type Services } from '../context.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';
import { nodeBody } from './fleet.js';

const IdParam = (example: string) => z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, example }) });
const body = <T extends z.ZodTypeAny>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
const list = <T extends z.ZodTypeAny>(item: T, name: string) => z.object({ items: z.array(item) }).openapi(name);

export function schedulingRoutes({ cp, cluster, ops }: Services) {
  const r = newRouter();

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/reservations',
      operationId: 'createReservation',
      tags: ['scheduling'],
      summary: 'Reserve GPUs for an organisation from start to end (advance reservation; operator)',
      description:
        'Only the organisation’s jobs use the reserved GPUs during the window; before it, other jobs use them only if ' +
        'their wall-clock limit ends by the start. With preemption on, idle reserved GPUs run preemptible jobs, evicted when the organisation needs them.',
      request: { body: body(ReservationCreateSchema) },
      responses: {
        201: json(ReservationSchema, 'The reservation'),
        ...commonProblems,
        ...conflictProblem,
        ...unprocessableProblem,
      },
    }),
    async (c) => c.json(await ops.createReservation(c.get('principal'), c.req.valid('json'), c.get('requestId')), 201),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/reservations',
      operationId: 'listReservations',
      tags: ['scheduling'],
      summary: 'List reservations (tenants see their organisation’s)',
      request: { query: z.object({ org: z.string().optional() }) },
      responses: { 200: json(list(ReservationSchema, 'ReservationList'), 'Reservations by start'), ...commonProblems },
    }),
    (c) => c.json({ items: ops.listReservations(c.get('principal'), c.req.valid('query').org) }, 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/reservations/{id}',
      operationId: 'getReservation',
      tags: ['scheduling'],
      summary: 'Show a reservation and where the scheduler holds it',
      request: { params: IdParam('rsv_1a2b3c4d5e6f') },
      responses: { 200: json(ReservationSchema, 'The reservation'), ...commonProblems },
    }),
    (c) => c.json(ops.getReservation(c.get('principal'), c.req.valid('param').id), 200),
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/reservations/{id}',
      operationId: 'cancelReservation',
      tags: ['scheduling'],
      summary: 'Delete a reservation (operator)',
      request: { params: IdParam('rsv_1a2b3c4d5e6f') },
      responses: { 200: json(ReservationSchema, 'The deleted reservation'), ...commonProblems },
    }),
    async (c) => c.json(await ops.deleteReservation(c.get('principal'), c.req.valid('param').id, c.get('requestId')), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/maintenance-windows',
      operationId: 'createMaintenanceWindow',
      tags: ['scheduling'],
      summary: 'Schedule maintenance for nodes or a site (operator)',
      description:
        'Backfill keeps every job whose wall-clock limit would reach into the window off those nodes; during the window nothing starts on them. Running jobs are not touched.',
      request: { body: body(MaintenanceCreateSchema) },
      responses: { 201: json(MaintenanceSchema, 'The maintenance window'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await ops.createMaintenance(c.get('principal'), c.req.valid('json'), c.get('requestId')), 201),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/maintenance-windows',
      operationId: 'listMaintenanceWindows',
      tags: ['scheduling'],
      summary: 'List maintenance windows',
      responses: { 200: json(list(MaintenanceSchema, 'MaintenanceList'), 'Maintenance windows by start'), ...commonProblems },
    }),
    (c) => c.json({ items: ops.listMaintenance() }, 200),
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/maintenance-windows/{id}',
      operationId: 'deleteMaintenanceWindow',
      tags: ['scheduling'],
      summary: 'Cancel a maintenance window (operator)',
      request: { params: IdParam('mw_1a2b3c4d5e6f') },
      responses: { 200: json(MaintenanceSchema, 'The cancelled window'), ...commonProblems },
    }),
    async (c) => c.json(await ops.deleteMaintenance(c.get('principal'), c.req.valid('param').id, c.get('requestId')), 200),
  );

  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/nodes/{id}/state',
      operationId: 'setNodeState',
      tags: ['fleet'],
      summary: 'Set a node up, draining or down (operator)',
      description:
        'draining: no new work, running jobs finish. down: running jobs on the node are stopped, then requeued or failed as their onNodeFailure asks (default requeue); a gang as a whole.',
      request: { params: IdParam('muc1-b200-0001'), body: body(NodeStateSetSchema) },
      responses: { 200: json(NodeSchema, 'The node'), ...commonProblems },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { state, reason } = c.req.valid('json');
      await cp.setNodeState(c.get('principal'), id, state, reason, c.get('requestId'));
      return c.json(nodeBody(cp.fleet, cluster, cp.fleet.nodeIndex.get(id)!), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/jobs/{id}/checkpoints',
      operationId: 'recordCheckpoint',
      tags: ['jobs'],
      summary: 'Report a checkpoint of a running job',
      description: 'Preemption prefers victims that lose least work since their last checkpoint. Shows in the job’s events.',
      request: { params: IdParam('812'), body: { ...body(CheckpointCreateSchema), required: false } },
      responses: { 201: json(JobEventSchema, 'The checkpoint event'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => {
      const b = (c.req.valid('json') as { step?: number; label?: string } | undefined) ?? {};
      return c.json(await cp.checkpointJob(c.get('principal'), c.req.valid('param').id, b, c.get('requestId')), 201);
    },
  );

  return r;
}
