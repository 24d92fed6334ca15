/** Inference services: create, list, read, update (rolling update or scaling), delete. */
import { createRoute, z } from '@hono/zod-openapi';
import {
  IssuedServiceApiKeySchema,
  type Service,
  ServiceApiKeyCreateSchema,
  ServiceApiKeyListSchema,
  ServiceApiKeySchema,
  ServiceCreateSchema,
  ServiceListSchema,
  ServiceSchema,
  ServiceUpdateSchema,
} from '../../model/service-schemas.js';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const IdParam = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'svc-1a2b3c4d5e' }),
});
const ListQuery = z.object({ project: z.string().max(63).optional() });

export function serviceRoutes({ services, proxy }: Services) {
  const r = newRouter();
  if (!services) return r;
  const { registry, apiKeys } = services;
  const withUrl = (s: Service): Service => ({ ...s, url: proxy ? proxy.origin(s.id) : null });
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/services',
      operationId: 'createService',
      tags: ['services'],
      summary: 'Create an inference service: replicas of one job template behind the proxy, autoscaled on in-flight requests',
      request: { body: { content: { 'application/json': { schema: ServiceCreateSchema } }, required: true } },
      responses: {
        201: json(ServiceSchema, 'The service (audited); its replicas start as jobs of its project'),
        ...commonProblems,
        ...conflictProblem,
        ...unprocessableProblem,
      },
    }),
    async (c) => c.json(withUrl(await registry.create(requestContext(c), c.req.valid('json'))), 201),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/services',
      operationId: 'listServices',
      tags: ['services'],
      summary: "The caller's organisation's services (operators: all, templates withheld)",
      request: { query: ListQuery },
      responses: { 200: json(ServiceListSchema, 'Services'), ...commonProblems },
    }),
    async (c) => c.json({ items: (await registry.list(requestContext(c), c.req.valid('query').project)).map(withUrl) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/services/{id}',
      operationId: 'getService',
      tags: ['services'],
      summary: 'A service with its replicas, their phases and endpoints, and its traffic',
      request: { params: IdParam },
      responses: { 200: json(ServiceSchema, 'The service'), ...commonProblems },
    }),
    async (c) => c.json(withUrl(await registry.get(requestContext(c), c.req.valid('param').id)), 200),
  );
  r.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/services/{id}',
      operationId: 'updateService',
      tags: ['services'],
      summary:
        'Change a service: a new template, port or probe rolls the replicas (surge one, wait ready, stop one old); scaling applies at once',
      request: { params: IdParam, body: { content: { 'application/json': { schema: ServiceUpdateSchema } }, required: true } },
      responses: {
        200: json(ServiceSchema, 'The service (audited)'),
        ...commonProblems,
        ...conflictProblem,
        ...unprocessableProblem,
      },
    }),
    async (c) => c.json(withUrl(await registry.update(requestContext(c), c.req.valid('param').id, c.req.valid('json'))), 200),
  );
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/services/{id}',
      operationId: 'deleteService',
      tags: ['services'],
      summary: 'Delete a service: its replicas drain and stop',
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted (audited)' }, ...commonProblems },
    }),
    async (c) => {
      await registry.delete(requestContext(c), c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
  const KeyParams = IdParam.extend({
    keyId: z
      .string()
      .max(64)
      .openapi({ param: { name: 'keyId', in: 'path' }, example: 'sk-0a1b2c3d4e5f' }),
  });
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/services/{id}/api-keys',
      operationId: 'issueServiceApiKey',
      tags: ['services'],
      summary: "Issue an API key for a public service (the organisation's admins); shown once",
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: ServiceApiKeyCreateSchema } }, required: true },
      },
      responses: { 201: json(IssuedServiceApiKeySchema, 'The key (audited; only its hash is kept)'), ...commonProblems },
    }),
    async (c) => c.json(await apiKeys.issue(requestContext(c), c.req.valid('param').id, c.req.valid('json').name), 201),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/services/{id}/api-keys',
      operationId: 'listServiceApiKeys',
      tags: ['services'],
      summary: "A service's API keys (never the keys themselves)",
      request: { params: IdParam },
      responses: { 200: json(ServiceApiKeyListSchema, 'Keys'), ...commonProblems },
    }),
    async (c) => c.json({ items: await apiKeys.list(requestContext(c), c.req.valid('param').id) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/services/{id}/api-keys/{keyId}/revoke',
      operationId: 'revokeServiceApiKey',
      tags: ['services'],
      summary: "Revoke a service's API key (the organisation's admins); the proxy refuses it from now on",
      request: { params: KeyParams },
      responses: { 200: json(ServiceApiKeySchema, 'The revoked key (audited)'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => {
      const { id, keyId } = c.req.valid('param');
      return c.json(await apiKeys.revoke(requestContext(c), id, keyId), 200);
    },
  );
  return r;
}
