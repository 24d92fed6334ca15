/** Metered usage: GPU-seconds per organisation, project, GPU type, site, class or day, as JSON or CSV. */
import { createRoute, z } from '@hono/zod-openapi';
import { invalid } from '../../model/errors.js';
import { USAGE_GROUPS, UsageReportSchema, usageCsv } from '../../model/usage.js';
import { FOCUS_VERSION, FocusExportSchema, focusCsv } from '../../model/usage-focus.js';
import { newRouter, type Services } from '../context.js';
import { commonProblems, unprocessableProblem } from '../problems.js';

// Every value is checked by the report itself, so bad input is a 422 with a code, not a bare 400.
const UsageQuerySchema = z.object({
  from: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: 'Start (inclusive), ISO 8601; default: 30 days before `to`', example: '2026-11-01' }),
  to: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: 'End (exclusive), ISO 8601; default: the end of today (UTC)', example: '2026-12-01' }),
  groupBy: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: `Comma-separated: ${USAGE_GROUPS.join(', ')}; default: project`, example: 'project,day' }),
  org: z.string().max(63).optional().openapi({ description: 'Only this organisation (tenants: their own)' }),
  project: z.string().max(63).optional().openapi({ description: 'Only this project' }),
  format: z.string().max(8).optional().openapi({ description: 'json (default) or csv', example: 'json' }),
});

const FocusQuerySchema = UsageQuerySchema.omit({ groupBy: true });

const checkedFormat = (format: string) => {
  if (format !== 'json' && format !== 'csv') {
    throw invalid('invalid_format', `format is json or csv, not ${format}`, [{ path: 'format', message: 'json or csv' }]);
  }
  return format;
};

export function usageRoutes({ cp }: Services) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/usage',
      operationId: 'getUsage',
      tags: ['usage'],
      summary: 'GPU-seconds of the metered run segments in [from, to), grouped; running segments count up to the request',
      request: { query: UsageQuerySchema },
      responses: {
        200: {
          description: 'The usage report (tenants: their organisation; operators: all)',
          content: { 'application/json': { schema: UsageReportSchema }, 'text/csv': { schema: z.string() } },
        },
        ...commonProblems,
        ...unprocessableProblem,
      },
    }),
    async (c) => {
      const { format = 'json', ...q } = c.req.valid('query');
      checkedFormat(format);
      const report = await cp.usage.report(c.get('principal'), q);
      if (format === 'csv') return c.body(usageCsv(report), 200, { 'content-type': 'text/csv; charset=utf-8' });
      return c.json(report, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/usage/focus',
      operationId: 'getUsageFocus',
      tags: ['usage'],
      summary: `Usage in [from, to) in the FinOps FOCUS ${FOCUS_VERSION} column layout: one charge row per org, project, GPU type, site, class and day (cut at price changes)`,
      request: { query: FocusQuerySchema },
      responses: {
        200: {
          description: 'The FOCUS rows (tenants: their organisation; operators: all); CSV in the FOCUS column order',
          content: { 'application/json': { schema: FocusExportSchema }, 'text/csv': { schema: z.string() } },
        },
        ...commonProblems,
        ...unprocessableProblem,
      },
    }),
    async (c) => {
      const { format = 'json', ...q } = c.req.valid('query');
      checkedFormat(format);
      const focus = await cp.usage.focus(c.get('principal'), q);
      if (format === 'csv') {
        const name = `gigafab-focus-${focus.from.slice(0, 10)}-${focus.to.slice(0, 10)}.csv`;
        return c.body(focusCsv(focus), 200, {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': `attachment; filename="${name}"`,
        });
      }
      return c.json(focus, 200);
    },
  );
  return r;
}
