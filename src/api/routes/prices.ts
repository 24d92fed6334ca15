/** The price book (versions set by operators, read by everyone), a job's cost estimate before submission, monthly budgets. */
import { createRoute, z } from '@hono/zod-openapi';
import { CostEstimateSchema, PriceVersionInputSchema, PriceVersionSchema } from '../../model/prices.js';
import {
  ReservedCapacityInputSchema,
  ReservedCapacityListSchema,
  ReservedCapacitySchema,
} from '../../model/reserved-capacity.js';
import { JobSpecSchema } from '../../model/schemas.js';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, unprocessableProblem } from '../problems.js';
import { budgetRoutes } from './budgets.js';

export function priceRoutes({ cp }: Services) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/price-versions',
      operationId: 'setPrices',
      tags: ['prices'],
      summary: 'Add a price version (operators); it takes effect at effectiveFrom, never in the past',
      request: { body: { content: { 'application/json': { schema: PriceVersionInputSchema } }, required: true } },
      responses: { 201: json(PriceVersionSchema, 'The version, audited'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await cp.prices.set(requestContext(c), c.req.valid('json')), 201),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/price-versions',
      operationId: 'listPriceVersions',
      tags: ['prices'],
      summary: 'Every price version, oldest first, including those not yet in effect',
      responses: { 200: json(z.object({ items: z.array(PriceVersionSchema) }), 'The versions'), ...commonProblems },
    }),
    async (c) => c.json({ items: await cp.prices.versions() }, 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/prices',
      operationId: 'getPrices',
      tags: ['prices'],
      summary: 'The price version in effect at an instant (default: now)',
      request: {
        query: z.object({
          at: z
            .string()
            .max(64)
            .optional()
            .openapi({ description: 'ISO 8601 instant; default now', example: '2027-01-15T00:00:00Z' }),
        }),
      },
      responses: { 200: json(PriceVersionSchema, 'The version in effect'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await cp.prices.at(c.req.valid('query').at), 200),
  );
  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/reserved-capacity',
      operationId: 'setReservedCapacity',
      tags: ['prices'],
      summary:
        "Commit an organisation to GPUs of a type for a month at a price per GPU per month (operators); replaces the same org, type and month's commitment, never one already invoiced",
      request: { body: { content: { 'application/json': { schema: ReservedCapacityInputSchema } }, required: true } },
      responses: { 200: json(ReservedCapacitySchema, 'The commitment, audited'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await cp.reserved.set(requestContext(c), c.req.valid('json')), 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/reserved-capacity',
      operationId: 'listReservedCapacity',
      tags: ['prices'],
      summary: "Reserved-capacity commitments: the caller's organisation's (operators: all, or `org`'s)",
      request: {
        query: z.object({
          org: z.string().max(128).optional(),
          month: z.string().max(16).optional().openapi({ description: 'YYYY-MM', example: '2027-01' }),
        }),
      },
      responses: {
        200: json(ReservedCapacityListSchema, 'The commitments'),
        ...commonProblems,
        ...unprocessableProblem,
      },
    }),
    async (c) => c.json({ items: await cp.reserved.list(c.get('principal'), c.req.valid('query')) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/jobs/estimate',
      operationId: 'estimateJob',
      tags: ['jobs'],
      summary: "A job's cost if it runs its whole time limit at today's price; nothing is stored",
      request: { body: { content: { 'application/json': { schema: JobSpecSchema } }, required: true } },
      responses: { 200: json(CostEstimateSchema, 'The estimate'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await cp.prices.estimate(c.req.valid('json')), 200),
  );
  budgetRoutes(r, cp);
  return r;
}
