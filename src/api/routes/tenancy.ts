/** Organisations, projects, quotas, users, tokens, whoami. */
import { createRoute, z } from '@hono/zod-openapi';
import {
  OrgCreateSchema,
  OrgSchema,
  ProjectCreateSchema,
  ProjectSchema,
  QuotaSchema,
  QuotaSetSchema,
  TokenCreateSchema,
  TokenInfoSchema,
  TokenSchema,
  UserCreateSchema,
  UserDisableSchema,
  UserSchema,
  WhoAmISchema,
} from '../../model/schemas.js';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { page } from '../http-schemas.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const param = (name: string, example: string) => z.string().openapi({ param: { name, in: 'path' }, example });

export function tenancyRoutes({ tenancy }: Services) {
  const r = newRouter();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/whoami',
      operationId: 'whoami',
      tags: ['tenancy'],
      summary: 'The calling user',
      responses: { 200: json(WhoAmISchema, 'You'), ...commonProblems },
    }),
    async (c) => c.json(await tenancy.users.whoami(c.get('principal')), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs',
      operationId: 'createOrg',
      tags: ['tenancy'],
      summary: 'Create an organisation (operator)',
      request: { body: { content: { 'application/json': { schema: OrgCreateSchema } }, required: true } },
      responses: { 201: json(OrgSchema, 'Created'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => c.json(await tenancy.orgs.create(requestContext(c), c.req.valid('json')), 201),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs',
      operationId: 'listOrgs',
      tags: ['tenancy'],
      summary: 'List visible organisations',
      responses: { 200: json(page(OrgSchema, 'OrgPage'), 'Organisations'), ...commonProblems },
    }),
    async (c) => c.json({ items: await tenancy.orgs.list(c.get('principal')), nextCursor: null }, 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}',
      operationId: 'getOrg',
      tags: ['tenancy'],
      summary: 'Show an organisation',
      request: { params: z.object({ org: param('org', 'robotics-gmbh') }) },
      responses: { 200: json(OrgSchema, 'The organisation'), ...commonProblems },
    }),
    async (c) => c.json(await tenancy.orgs.get(c.get('principal'), c.req.valid('param').org), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org}/projects',
      operationId: 'createProject',
      tags: ['tenancy'],
      summary: 'Create a project (operator or org admin)',
      request: {
        params: z.object({ org: param('org', 'robotics-gmbh') }),
        body: { content: { 'application/json': { schema: ProjectCreateSchema } }, required: true },
      },
      responses: { 201: json(ProjectSchema, 'Created'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => c.json(await tenancy.projects.create(requestContext(c), c.req.valid('param').org, c.req.valid('json')), 201),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/projects',
      operationId: 'listProjects',
      tags: ['tenancy'],
      summary: 'List visible projects with quotas',
      responses: { 200: json(page(ProjectSchema, 'ProjectPage'), 'Projects'), ...commonProblems },
    }),
    async (c) => c.json({ items: await tenancy.projects.list(c.get('principal')), nextCursor: null }, 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/projects/{project}',
      operationId: 'getProject',
      tags: ['tenancy'],
      summary: 'Show a project with quotas and use',
      request: { params: z.object({ project: param('project', 'robotics') }) },
      responses: { 200: json(ProjectSchema, 'The project'), ...commonProblems },
    }),
    async (c) => c.json(await tenancy.projects.get(c.get('principal'), c.req.valid('param').project), 200),
  );

  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/projects/{project}/quotas/{gpuType}',
      operationId: 'setQuota',
      tags: ['tenancy'],
      summary: "Set a project's GPU quota for one GPU type (operator)",
      request: {
        params: z.object({ project: param('project', 'robotics'), gpuType: param('gpuType', 'B200') }),
        body: { content: { 'application/json': { schema: QuotaSetSchema } }, required: true },
      },
      responses: { 200: json(QuotaSchema, 'The quota'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => {
      const { project, gpuType } = c.req.valid('param');
      return c.json(await tenancy.projects.setQuota(requestContext(c), project, gpuType, c.req.valid('json').gpus), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org}/users',
      operationId: 'createUser',
      tags: ['tenancy'],
      summary:
        "Create a user (org admin: with a fresh token, shown once). Operators only onboard an organisation's first admin, with the SHA-256 of a token the admin generated (no token in the answer)",
      request: {
        params: z.object({ org: param('org', 'robotics-gmbh') }),
        body: { content: { 'application/json': { schema: UserCreateSchema } }, required: true },
      },
      responses: { 201: json(TokenSchema, 'Created'), ...commonProblems, ...conflictProblem, ...unprocessableProblem },
    }),
    async (c) => c.json(await tenancy.users.create(requestContext(c), c.req.valid('param').org, c.req.valid('json')), 201),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/users',
      operationId: 'listUsers',
      tags: ['tenancy'],
      summary: "List an organisation's users",
      request: { params: z.object({ org: param('org', 'robotics-gmbh') }) },
      responses: { 200: json(page(UserSchema, 'UserPage'), 'Users'), ...commonProblems },
    }),
    async (c) => c.json({ items: await tenancy.users.list(c.get('principal'), c.req.valid('param').org), nextCursor: null }, 200),
  );

  const userParam = z.object({ user: param('user', 'u_3f9a2b1c4d5e') });

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users/{user}/tokens',
      operationId: 'createToken',
      tags: ['tenancy'],
      summary: "Issue another API token for a user (the user or an org admin; operators: operators' tokens only); shown once",
      request: {
        params: userParam,
        body: { content: { 'application/json': { schema: TokenCreateSchema } }, required: false },
      },
      responses: { 201: json(TokenSchema, 'Created'), ...commonProblems, ...conflictProblem, ...unprocessableProblem },
    }),
    async (c) =>
      c.json(
        await tenancy.tokens.create(
          requestContext(c),
          c.req.valid('param').user,
          (c.req.valid('json') as z.infer<typeof TokenCreateSchema> | undefined) ?? {},
        ),
        201,
      ),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/tokens',
      operationId: 'listTokens',
      tags: ['tenancy'],
      summary: "API tokens, metadata only (members: their own; admins: their organisation's; operators: operators')",
      request: { query: z.object({ user: z.string().optional().openapi({ example: 'u_3f9a2b1c4d5e' }) }) },
      responses: { 200: json(z.object({ items: z.array(TokenInfoSchema) }), 'Tokens, newest first'), ...commonProblems },
    }),
    async (c) => c.json({ items: await tenancy.tokens.list(c.get('principal'), c.req.valid('query')) }, 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/tokens/{id}/revoke',
      operationId: 'revokeToken',
      tags: ['tenancy'],
      summary: "Revoke an API token (its owner or an admin of the owner's organisation); it stops working at once",
      request: { params: z.object({ id: param('id', 'tok_3f9a2b1c4d5e6f70') }) },
      responses: { 200: json(TokenInfoSchema, 'Revoked'), ...commonProblems },
    }),
    async (c) => c.json(await tenancy.tokens.revoke(requestContext(c), c.req.valid('param').id), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users/{user}/disable',
      operationId: 'disableUser',
      tags: ['tenancy'],
      summary:
        'Disable a user and revoke all its tokens (org admin; an operator too, for a compromised account: audited in the tenant chain and noticed to the tenant)',
      request: { params: userParam, body: { content: { 'application/json': { schema: UserDisableSchema } }, required: true } },
      responses: { 200: json(UserSchema, 'Disabled'), ...commonProblems, ...conflictProblem },
    }),
    async (c) =>
      c.json(await tenancy.users.disable(requestContext(c), c.req.valid('param').user, c.req.valid('json').reason), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users/{user}/enable',
      operationId: 'enableUser',
      tags: ['tenancy'],
      summary: 'Enable a disabled user again (org admin); its old tokens stay revoked',
      request: { params: userParam },
      responses: { 200: json(UserSchema, 'Enabled'), ...commonProblems },
    }),
    async (c) => c.json(await tenancy.users.enable(requestContext(c), c.req.valid('param').user), 200),
  );

  return r;
}
