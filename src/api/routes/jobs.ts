/** /v1/jobs: submit, list, show, cancel, events (history and live SSE). */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type SSEStreamingApi, stream, streamSSE } from 'hono/streaming';
import type { StreamingApi } from 'hono/utils/stream';
import { invalid } from '../../model/errors.js';
import { TERMINAL_STATES } from '../../model/job.js';
import { type JobEvent, JobEventSchema, JobExplanationSchema, JobSchema, JobSpecSchema } from '../../model/schemas.js';
import { sessionTimeLimitMissing } from '../../model/schemas-workloads.js';
import { EventView } from '../../server/event-privacy.js';
import { DEFAULT_LIMITS } from '../../server/limits.js';
import { redactJob } from '../../server/lockbox/index.js';
import { isOperator } from '../../server/principal.js';
import { type ApiEnv, json, newRouter, requestContext, type Services } from '../context.js';
import { JobListQuerySchema, page } from '../http-schemas.js';
import { ApiProblem, commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const IdParam = z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '812' }) });

export function jobRoutes({ cp, lockbox, limits = DEFAULT_LIMITS, streams }: Services) {
  const r = newRouter();
  /** openStream takes a place under the stream caps (429 when full); the result releases it. */
  const openStream = (c: Context<ApiEnv>) => (streams ? streams.acquire(c.get('tokenKey'), c.get('principal')) : () => {});

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/jobs',
      operationId: 'submitJob',
      tags: ['jobs'],
      summary: 'Submit a job',
      description:
        'Queues a job. With an Idempotency-Key header a retried request returns the first job (200) instead of creating another.',
      request: {
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
        body: { content: { 'application/json': { schema: JobSpecSchema } }, required: true },
      },
      responses: {
        201: json(JobSchema, 'Job accepted (durably stored)'),
        200: json(JobSchema, 'Replay of an earlier submission with the same Idempotency-Key'),
        ...commonProblems,
        ...conflictProblem,
        ...unprocessableProblem,
      },
    }),
    async (c) => {
      const spec = c.req.valid('json');
      const noLimit = sessionTimeLimitMissing(await c.req.json());
      if (noLimit) throw new ApiProblem(400, 'validation_failed', `the request body is invalid: ${noLimit.message}`, [noLimit]);
      const bytes = Buffer.byteLength(JSON.stringify(spec));
      if (bytes > limits.body.maxJobSpecBytes) {
        throw invalid(
          'job_spec_too_large',
          `the job spec is ${bytes} bytes, more than the ${limits.body.maxJobSpecBytes} bytes allowed (command, env, labels and the rest together); keep large data in datasets or secrets`,
        );
      }
      const { job, created } = await cp.submitJob(
        c.get('principal'),
        spec,
        c.req.valid('header')['idempotency-key'],
        c.get('requestId'),
      );
      return c.json(job, created ? 201 : 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs',
      operationId: 'listJobs',
      tags: ['jobs'],
      summary: 'List jobs (newest first)',
      description:
        "Platform operators see each job's spec redacted, except for organisations that approved a lockbox access (read-spec on job:*).",
      request: { query: JobListQuerySchema },
      responses: { 200: json(page(JobSchema, 'JobPage'), 'A page of jobs'), ...commonProblems },
    }),
    async (c) => {
      const p = c.get('principal');
      const q = c.req.valid('query');
      // Labels are tenant data: an operator may not probe them through the filter either.
      if (isOperator(p) && q.label) {
        throw new ApiProblem(
          403,
          'lockbox_approval_required',
          "job labels are tenant data: operators cannot filter by them; read a job's spec under an approved access request (`gigafab access request --help`)",
        );
      }
      const page = await cp.listJobs(p, { ...q, maxPageBytes: limits.lists.maxPageBytes });
      return c.json({ ...page, items: await lockbox.views.jobList(requestContext(c), page.items) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}',
      operationId: 'getJob',
      tags: ['jobs'],
      summary: 'Show a job, with placement or the reason it waits',
      request: { params: IdParam },
      responses: { 200: json(JobSchema, 'The job'), ...commonProblems },
    }),
    async (c) => {
      const job = await cp.getJob(c.get('principal'), c.req.valid('param').id);
      return c.json(await lockbox.views.job(requestContext(c), job), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}/explain',
      operationId: 'explainJob',
      tags: ['jobs'],
      summary: 'Why a job waits: reason, queue position, expected start, what would make it run now, and its priority factors',
      request: { params: IdParam },
      responses: {
        200: json(
          JobExplanationSchema,
          'The explanation as of the scheduling cycle in `cycle` (rebuilt every `explainIntervalSeconds`); `reasonCycle` and `stale` say when the pending reason is newer',
        ),
        ...commonProblems,
      },
    }),
    async (c) => c.json(await cp.explainJob(c.get('principal'), c.req.valid('param').id), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/jobs/{id}/cancel',
      operationId: 'cancelJob',
      tags: ['jobs'],
      summary: 'Cancel a job',
      description: 'A queued job is cancelled at once; a running one is signalled and stopped after its grace period.',
      request: { params: IdParam },
      responses: { 202: json(JobSchema, 'Cancellation accepted'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => {
      const p = c.get('principal');
      const job = await cp.cancelJob(p, c.req.valid('param').id, c.get('requestId'));
      // Cancelling is operations, not a read: the answer withholds tenant data from operators.
      return c.json(isOperator(p) ? redactJob(job) : job, 202);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}/events',
      operationId: 'listJobEvents',
      tags: ['jobs'],
      summary: "A job's event history",
      description:
        "Platform operators see events that carry tenant data (a driver's exit message, a checkpoint's step and label, a residency flag) with a system sentence instead of the message and no data (`redacted`), unless the tenant approved a lockbox access (read-spec on the job).",
      request: { params: IdParam },
      responses: {
        200: json(z.object({ items: z.array(JobEventSchema) }), 'Events, oldest first'),
        ...commonProblems,
      },
    }),
    async (c) => {
      const id = c.req.valid('param').id;
      const { events, job } = await cp.jobEvents(c.get('principal'), id);
      const view = new EventView(lockbox, c.get('principal'), { id, org: job.org_id }, c.get('requestId'));
      return c.json({ items: await view.all(events) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}/events/stream',
      operationId: 'streamJobEvents',
      tags: ['jobs'],
      summary: "Follow a job's events live (Server-Sent Events)",
      description:
        'Sends the history, then live events as `event: job-event` (data: JobEvent). Ends with `event: end` (data: {"state"}) once the job is terminal. Honours Last-Event-ID. Platform operators see tenant-data events withheld as in GET /v1/jobs/{id}/events.',
      request: { params: IdParam },
      responses: {
        200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } },
        ...commonProblems,
      },
    }),
    async (c) => {
      const id = c.req.valid('param').id;
      const principal = c.get('principal');
      const after = Number(c.req.header('last-event-id') ?? 0) || 0;
      const release = openStream(c);
      // Subscribe before reading history so nothing falls between the two.
      type Item = { event: JobEvent; terminal?: string };
      const buffered: Item[] = [];
      let push: ((e: Item) => void) | null = null;
      const unsubscribe = cp.subscribeJob(id, (e) => {
        const item = { event: e.event, terminal: e.terminalState };
        if (push) push(item);
        else buffered.push(item);
      });
      let history: Awaited<ReturnType<typeof cp.jobEvents>>;
      try {
        history = await cp.jobEvents(principal, id, after);
      } catch (err) {
        unsubscribe();
        release();
        throw err;
      }
      // Operators see tenant-data events withheld unless the tenant consented (event-privacy.ts).
      const view = new EventView(lockbox, principal, { id, org: history.job.org_id }, c.get('requestId'));
      const write = async (s: SSEStreamingApi, e: JobEvent) =>
        s.writeSSE({ event: 'job-event', id: String(e.id), data: JSON.stringify(await view.show(e)) });
      return streamSSE(c, async (stream) => {
        stream.onAbort(release);
        try {
          await follow(stream);
        } finally {
          release();
        }
      });
      async function follow(stream: SSEStreamingApi) {
        let lastId = after;
        let terminal: string | null = TERMINAL_STATES.has(history.job.state as never) ? history.job.state : null;
        for (const e of history.events) {
          await write(stream, e);
          lastId = e.id;
        }
        if (!terminal) {
          await new Promise<void>((resolve) => {
            const keepAlive = setInterval(() => void stream.write(': keep-alive\n\n'), 15_000);
            const finish = () => {
              clearInterval(keepAlive);
              resolve();
            };
            // Writes are chained: a view may wait for the lockbox, and events must keep their order.
            let writing = Promise.resolve();
            const send = (item: Item) => {
              if (item.event.id <= lastId) return;
              lastId = item.event.id;
              writing = writing.then(() => write(stream, item.event)).catch(finish);
              if (item.terminal) {
                terminal = item.terminal;
                void writing.then(finish);
              }
            };
            for (const b of buffered) send(b);
            if (terminal) return;
            push = send;
            stream.onAbort(finish);
          });
        }
        unsubscribe();
        if (terminal) await stream.writeSSE({ event: 'end', data: JSON.stringify({ state: terminal }) });
      }
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}/logs',
      operationId: 'getJobLogs',
      tags: ['jobs'],
      summary: "A job's output (stdout and stderr), from a byte offset; `follow=true` streams until the job ends",
      description:
        'Plain text. Without follow: one chunk, with `X-Next-Offset` and `X-Log-Eof` headers to page on. With follow: a chunked stream that ends when the job has ended and all output was sent. Platform operators need an active lockbox access (read-logs) approved by the tenant, else 403 `lockbox_approval_required`.',
      request: {
        params: IdParam,
        query: z.object({
          offset: z.coerce.number().int().min(0).default(0),
          follow: z.enum(['true', 'false']).default('false'),
          attempt: z.coerce.number().int().min(1).optional().openapi({
            description:
              'Which run of the job (1 = the first start; a requeued job is started again as the next attempt). Default: the current one. The `X-Attempt` header names the attempt served.',
          }),
        }),
      },
      responses: {
        200: {
          description: 'Output',
          content: {
            'application/octet-stream': { schema: z.string().openapi({ description: 'UTF-8 text (served as text/plain)' }) },
          },
        },
        ...commonProblems,
      },
    }),
    async (c) => {
      const id = c.req.valid('param').id;
      const { offset, follow, attempt } = c.req.valid('query');
      const principal = c.get('principal');
      const { org } = await cp.getJob(principal, id);
      await lockbox.guard.check(requestContext(c), org, `job:${id}`, 'read-logs');
      const first = await cp.jobLogs(principal, id, offset, undefined, attempt);
      // A follow stays on the attempt it began with (a requeue starts a new log, read with ?attempt=).
      const served = first.attempt;
      const ended = (state: string) => TERMINAL_STATES.has(state as never);
      if (!first.chunk && first.state !== 'queued' && !(follow === 'true' && !ended(first.state))) {
        throw new ApiProblem(
          404,
          'logs_not_available',
          `job ${id} has no output log: its execution driver keeps none (the simulated fleet produces no output)`,
        );
      }
      if (follow !== 'true') {
        const chunk = first.chunk;
        return new Response(chunk ? Buffer.from(chunk.data).toString('utf8') : '', {
          status: 200,
          headers: {
            'content-type': 'text/plain; charset=utf-8',
            'x-next-offset': String(chunk?.nextOffset ?? offset),
            'x-log-eof': String(chunk ? chunk.eof : ended(first.state)),
            'x-attempt': String(served),
          },
        });
      }
      const release = openStream(c);
      return stream(c, async (s) => {
        s.onAbort(release);
        try {
          await followLogs(s);
        } finally {
          release();
        }
      });
      async function followLogs(s: StreamingApi) {
        c.header('content-type', 'text/plain; charset=utf-8');
        c.header('x-attempt', String(served));
        let next = offset;
        let res = first;
        for (;;) {
          if (res.chunk && res.chunk.data.byteLength > 0) {
            await s.write(res.chunk.data);
            next = res.chunk.nextOffset;
          }
          if ((res.chunk?.eof ?? false) || (!res.chunk && ended(res.state)) || s.aborted) return;
          if (!res.chunk || res.chunk.data.byteLength === 0) await s.sleep(300);
          res = await cp.jobLogs(principal, id, next, undefined, served || undefined);
        }
      }
    },
  );

  return r;
}
