/** /v1/access-requests, /v1/access-uses, /v1/access-notifications: operator access with tenant consent. */
import { createRoute, z } from '@hono/zod-openapi';
import {
  AccessDecisionSchema,
  AccessListQuerySchema,
  AccessNotificationSchema,
  AccessRequestCreateSchema,
  AccessRequestDetailSchema,
  AccessRequestSchema,
  AccessUseListQuerySchema,
  AccessUseSchema,
  BreakGlassCreateSchema,
} from '../../model/lockbox-schemas.js';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const IdParam = z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'acr_1a2b3c4d5e6f' }) });
const body = <T extends z.ZodTypeAny>(schema: T) => ({
  body: { content: { 'application/json': { schema } }, required: true },
});
const optionalBody = <T extends z.ZodTypeAny>(schema: T) => ({
  body: { content: { 'application/json': { schema } }, required: false },
});
const tags = ['lockbox'];

export function lockboxRoutes({ lockbox }: Services) {
  const r = newRouter();

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/access-requests',
      operationId: 'createAccessRequest',
      tags,
      summary: "Operator: ask a tenant's consent to access its data (job specs, logs, secrets, datasets)",
      description:
        'The request names cause, scope (objects and verbs), duration, the country access is made from, how long derived copies are kept, and the deadline for the answer. An admin of the organisation approves or denies it.',
      request: body(AccessRequestCreateSchema),
      responses: { 201: json(AccessRequestSchema, 'Filed; pending approval'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await lockbox.requests.create(requestContext(c), c.req.valid('json')), 201),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/access-requests/break-glass',
      operationId: 'breakGlassAccess',
      tags,
      summary: 'Operator: emergency access without prior approval (at most 1 hour); the tenant is notified',
      request: body(BreakGlassCreateSchema),
      responses: { 201: json(AccessRequestSchema, 'Access granted now'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await lockbox.requests.breakGlass(requestContext(c), c.req.valid('json')), 201),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/access-requests',
      operationId: 'listAccessRequests',
      tags,
      summary: 'List access requests (tenants: those for their organisation), newest first',
      request: { query: AccessListQuerySchema },
      responses: { 200: json(z.object({ items: z.array(AccessRequestSchema) }), 'Access requests'), ...commonProblems },
    }),
    async (c) => c.json({ items: await lockbox.requests.list(c.get('principal'), c.req.valid('query')) }, 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/access-requests/{id}',
      operationId: 'getAccessRequest',
      tags,
      summary: 'Show an access request with every use made of it',
      request: { params: IdParam },
      responses: { 200: json(AccessRequestDetailSchema, 'The request and its uses'), ...commonProblems },
    }),
    async (c) => c.json(await lockbox.requests.get(c.get('principal'), c.req.valid('param').id), 200),
  );

  for (const verb of ['approve', 'deny'] as const) {
    r.openapi(
      createRoute({
        method: 'post',
        path: `/v1/access-requests/{id}/${verb}`,
        operationId: `${verb}AccessRequest`,
        tags,
        summary: `Org admin: ${verb} a pending access request before its deadline`,
        request: { params: IdParam, ...optionalBody(AccessDecisionSchema) },
        responses: { 200: json(AccessRequestSchema, 'Decided'), ...commonProblems, ...conflictProblem },
      }),
      async (c) => {
        const ctx = requestContext(c);
        const id = c.req.valid('param').id;
        const comment = (c.req.valid('json') as { comment?: string } | undefined)?.comment;
        const requests = lockbox.requests;
        const decided = verb === 'approve' ? await requests.approve(ctx, id, comment) : await requests.deny(ctx, id, comment);
        return c.json(decided, 200);
      },
    );
  }

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/access-uses',
      operationId: 'listAccessUses',
      tags,
      summary: 'Every use operators made of granted access (tenants: to their data), newest first',
      request: { query: AccessUseListQuerySchema },
      responses: { 200: json(z.object({ items: z.array(AccessUseSchema) }), 'Uses'), ...commonProblems },
    }),
    async (c) => c.json({ items: await lockbox.requests.listUses(c.get('principal'), c.req.valid('query')) }, 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/access-notifications',
      operationId: 'listAccessNotifications',
      tags,
      summary: 'After-the-fact notices of break-glass access to your data, newest first',
      request: {
        query: z.object({ org: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
      },
      responses: { 200: json(z.object({ items: z.array(AccessNotificationSchema) }), 'Notices'), ...commonProblems },
    }),
    async (c) => c.json({ items: await lockbox.requests.listNotifications(c.get('principal'), c.req.valid('query')) }, 200),
  );

  return r;
}
