/**
 * The access log: one structured line per request (request id, principal, method, route, path,
 * status, duration), written through the server's logger (pino, JSON lines). The query string is
 * left out: filters such as `label=k=v` are tenant data and stay out of the operator's logs.
 */
import type { Context, Next } from 'hono';
import { routePath } from 'hono/route';
import type { ApiEnv } from './context.js';

/** The part of a logger the API uses (a pino Logger is one). */
export interface ApiLogger {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** accessLog: the middleware; `now` is the clock it measures durations with. */
export function accessLog(logger: ApiLogger, now: () => number = () => performance.now()) {
  return async (c: Context<ApiEnv>, next: Next) => {
    const start = now();
    await next();
    const principal = c.get('principal');
    logger.info(
      {
        requestId: c.get('requestId'),
        principal: principal ? { user: principal.userId, role: principal.role, org: principal.org } : null,
        method: c.req.method,
        // The pattern of the operation asked for (`/v1/jobs/:id`), also when a middleware refused it (401).
        route: routePath(c, -1) || null,
        path: c.req.path,
        status: c.res.status,
        durationMs: Math.round((now() - start) * 1000) / 1000,
      },
      'request',
    );
  };
}
