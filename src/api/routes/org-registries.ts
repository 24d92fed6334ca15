/** An organisation's registry allow-list: set by its admins and operators, read by its members. */
import { createRoute, z } from '@hono/zod-openapi';
import { OrgRegistriesInputSchema, OrgRegistriesSchema } from '../../model/registries.js';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, unprocessableProblem } from '../problems.js';

const OrgParam = z.object({ org: z.string().openapi({ param: { name: 'org', in: 'path' }, example: 'robotics-gmbh' }) });

export function orgRegistryRoutes({ cp }: Services) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/orgs/{org}/registries',
      operationId: 'setOrgRegistries',
      tags: ['tenancy'],
      summary:
        "Set the registries the organisation's job images may come from (its admins, operators); [] lifts it. Sites' lists apply too",
      request: {
        params: OrgParam,
        body: { content: { 'application/json': { schema: OrgRegistriesInputSchema } }, required: true },
      },
      responses: { 200: json(OrgRegistriesSchema, 'The allow-list, audited'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) =>
      c.json(await cp.registries.set(requestContext(c), c.req.valid('param').org, c.req.valid('json').registries), 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/registries',
      operationId: 'getOrgRegistries',
      tags: ['tenancy'],
      summary: "The organisation's registry allow-list (empty: no restriction of its own)",
      request: { params: OrgParam },
      responses: { 200: json(OrgRegistriesSchema, 'The allow-list'), ...commonProblems },
    }),
    async (c) => c.json(await cp.registries.get(c.get('principal'), c.req.valid('param').org), 200),
  );
  return r;
}
