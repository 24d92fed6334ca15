/** Monthly budgets of an organisation and of its projects (src/server/budgets.ts). */
import { createRoute, z } from '@hono/zod-openapi';
import {
  BudgetAlertListSchema,
  BudgetInputSchema,
  BudgetListSchema,
  BudgetSchema,
  WebhookSecretSchema,
} from '../../model/prices.js';
import { json, type newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, unprocessableProblem } from '../problems.js';

const OrgParam = z.object({ org: z.string().openapi({ param: { name: 'org', in: 'path' }, example: 'robotics-gmbh' }) });
const ProjectParam = z.object({
  project: z.string().openapi({ param: { name: 'project', in: 'path' }, example: 'robotics' }),
});

export function budgetRoutes(r: ReturnType<typeof newRouter>, cp: Services['cp']): void {
  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/orgs/{org}/budget',
      operationId: 'setBudget',
      tags: ['prices'],
      summary:
        "Set the organisation's monthly hard cap and policy (its admins, operators); 422 budget_below_project_cap under a project's cap",
      request: { params: OrgParam, body: { content: { 'application/json': { schema: BudgetInputSchema } }, required: true } },
      responses: { 200: json(BudgetSchema, 'The budget and this month’s figures'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => {
      return c.json(await cp.budgets.set(requestContext(c), c.req.valid('param').org, c.req.valid('json')), 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/budget',
      operationId: 'getBudget',
      tags: ['prices'],
      summary: "The organisation's monthly cap, spent, committed and remaining (404 budget_not_found without one)",
      request: { params: OrgParam },
      responses: { 200: json(BudgetSchema, 'The budget'), ...commonProblems },
    }),
    async (c) => c.json(await cp.budgets.status(c.get('principal'), c.req.valid('param').org), 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/budgets',
      operationId: 'listBudgets',
      tags: ['prices'],
      summary: "The organisation's budget and its projects' budgets, with this month's figures",
      request: { params: OrgParam },
      responses: { 200: json(BudgetListSchema, 'The budgets'), ...commonProblems },
    }),
    async (c) => c.json(await cp.budgets.list(c.get('principal'), c.req.valid('param').org), 200),
  );
  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/projects/{project}/budget',
      operationId: 'setProjectBudget',
      tags: ['prices'],
      summary:
        "Set a project's monthly hard cap and policy (its organisation's admins, operators); 422 budget_exceeds_org_cap above the organisation's cap",
      request: { params: ProjectParam, body: { content: { 'application/json': { schema: BudgetInputSchema } }, required: true } },
      responses: { 200: json(BudgetSchema, 'The budget and this month’s figures'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => {
      return c.json(await cp.budgets.setProject(requestContext(c), c.req.valid('param').project, c.req.valid('json')), 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/projects/{project}/budget',
      operationId: 'getProjectBudget',
      tags: ['prices'],
      summary: "A project's monthly cap, spent, committed and remaining (404 budget_not_found without one)",
      request: { params: ProjectParam },
      responses: { 200: json(BudgetSchema, 'The budget'), ...commonProblems },
    }),
    async (c) => c.json(await cp.budgets.projectStatus(c.get('principal'), c.req.valid('param').project), 200),
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org}/budget-webhook-secret',
      operationId: 'createBudgetWebhookSecret',
      tags: ['prices'],
      summary: "A new secret that signs the organisation's budget webhooks (its own admins); shown once, replaces any",
      request: { params: OrgParam },
      responses: { 201: json(WebhookSecretSchema, 'The secret, shown once'), ...commonProblems },
    }),
    async (c) => c.json(await cp.budgetAlerts.createSecret(requestContext(c), c.req.valid('param').org), 201),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/budget-alerts',
      operationId: 'listBudgetAlerts',
      tags: ['prices'],
      summary: "Budget thresholds the organisation's budgets crossed, newest first, with their webhook deliveries",
      request: { params: OrgParam },
      responses: { 200: json(BudgetAlertListSchema, 'The alerts'), ...commonProblems },
    }),
    async (c) => c.json(await cp.budgetAlerts.list(c.get('principal'), c.req.valid('param').org), 200),
  );
}
