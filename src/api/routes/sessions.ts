/** /v1/sessions: interactive sessions (jobs of kind `session`): list them, and open one in a browser. */
import { createRoute, z } from '@hono/zod-openapi';
import { canOpenWorkload } from '../../model/authz.js';
import { TERMINAL_STATES } from '../../model/job.js';
import { kindOf } from '../../model/workloads.js';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { ApiProblem, commonProblems, conflictProblem } from '../problems.js';

const IdParam = z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '812' }) });

export const SessionSchema = z
  .object({
    jobId: z.string(),
    org: z.string(),
    project: z.string(),
    name: z.string().nullable().openapi({ description: 'null for operators (tenant-written)' }),
    state: z.enum(['queued', 'running']),
    preset: z.string(),
    ready: z.boolean().openapi({ description: 'Its driver reported where it serves' }),
    url: z.string().nullable().openapi({ description: "The session's host at the workload proxy (open it with POST …/open)" }),
    startedAt: z.string().nullable(),
    timeLimitSeconds: z.number().int(),
    timeLeftSeconds: z.number().int().nullable(),
    idleSeconds: z.number().int().nullable(),
    idleTimeoutMinutes: z.number().nullable(),
    stateDataset: z
      .string()
      .nullable()
      .openapi({ description: 'The dataset it keeps its work in (its working directory); null: scratch, gone with the session' }),
  })
  .openapi('Session');

export const SessionOpenSchema = z
  .object({
    jobId: z.string(),
    url: z
      .string()
      .openapi({ description: 'One-time link (valid for a minute): it sets a cookie for the session’s host only and opens it' }),
    expiresAt: z.string(),
    state: z.string(),
  })
  .openapi('SessionOpen');

/** A session as the list shows it (the console imports this type). */
export type SessionItem = z.infer<typeof SessionSchema>;

const problem503 = { 503: { description: 'The workload proxy is not enabled on this server (proxy_disabled)' } };

export function sessionRoutes({ cp, lockbox, proxy }: Services) {
  const r = newRouter();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/sessions',
      operationId: 'listSessions',
      tags: ['sessions'],
      summary: 'Running and queued sessions, with time left and idle time',
      responses: {
        200: json(z.object({ items: z.array(SessionSchema) }).openapi('SessionList'), 'The sessions'),
        ...commonProblems,
      },
    }),
    (c) => {
      const items = cp.sessions.list(requestContext(c)).map((s) => ({ ...s, url: proxy ? proxy.origin(s.jobId) : null }));
      return c.json({ items }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/sessions/{id}/open',
      operationId: 'openSession',
      tags: ['sessions'],
      summary: 'A one-time link that opens a session in a browser (audited)',
      description:
        "Members and admins of the session's organisation; operators only with an approved lockbox access (`open-session` on job:ID). The link sets a cookie scoped to the session's own host.",
      request: { params: IdParam },
      responses: { 200: json(SessionOpenSchema, 'The link'), ...commonProblems, ...conflictProblem, ...problem503 },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const p = c.get('principal');
      const ctx = requestContext(c);
      const job = await cp.getJob(p, id);
      const d = canOpenWorkload(p, job.org, 'session');
      if (!d.allowed && d.reason === 'viewer_read_only') throw new ApiProblem(403, 'forbidden', 'viewers cannot use sessions');
      if (!d.allowed) await lockbox.guard.check(ctx, job.org, `job:${id}`, 'open-session');
      if (kindOf(job.spec) !== 'session') {
        throw new ApiProblem(
          409,
          'not_a_session',
          `job ${id} is a ${kindOf(job.spec)} job, not a session: only sessions open in a browser`,
        );
      }
      if (TERMINAL_STATES.has(job.state)) throw new ApiProblem(409, 'session_ended', `session ${id} has ended (${job.state})`);
      if (!proxy) throw new ApiProblem(503, 'proxy_disabled', 'this server runs no workload proxy: start it with --proxy-port');
      await cp.sessions.recordOpen(ctx, id, job.org, 'link');
      const link = proxy.openLink(p, id);
      return c.json({ jobId: id, url: link.url, expiresAt: new Date(link.expiresAt).toISOString(), state: job.state }, 200);
    },
  );
  return r;
}
