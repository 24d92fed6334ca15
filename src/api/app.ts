/**
 * The API: the only door. Authentication, request ids, body limits, RFC 9457 errors,
 * the OpenAPI 3.1 document generated from the validating schemas, docs, health and metrics.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, Next } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { Registry } from 'prom-client';
import { ZodError } from 'zod';
import { notFound } from '../model/errors.js';
import { DEFAULT_LIMITS, type Limits } from '../server/limits.js';
import type { KeysServices } from '../sovereignty/keys/setup.js';
import { type ApiLogger, accessLog } from './access-log.js';
import { bodyLimit } from './body-limit.js';
import { mountConsole } from './console-static.js';
import type { ApiEnv, Services } from './context.js';
import { attachRequestExamples } from './openapi-examples.js';
import { ApiProblem, problemResponse, toProblem, zodProblem } from './problems.js';
import { clientAddress, RateLimits, tokenKey } from './rate-limit.js';
import { requireClassified } from './route-classes.js';
import { auditRoutes } from './routes/audit.js';
import { consoleDataRoutes } from './routes/console-data.js';
import { fleetRoutes } from './routes/fleet.js';
import { invoiceRoutes } from './routes/invoices.js';
import { jobRoutes } from './routes/jobs.js';
import { keysRoutes } from './routes/keys.js';
import { lockboxRoutes } from './routes/lockbox.js';
import { orgImportRoutes } from './routes/org-import.js';
import { orgRegistryRoutes } from './routes/org-registries.js';
import { priceRoutes } from './routes/prices.js';
import { residencyRoutes } from './routes/residency.js';
import { schedulingRoutes } from './routes/scheduling.js';
import { serviceRoutes } from './routes/services.js';
import { sessionRoutes } from './routes/sessions.js';
import { sshKeyRoutes } from './routes/ssh-keys.js';
import { tenancyRoutes } from './routes/tenancy.js';
import { usageRoutes } from './routes/usage.js';
import { StreamCaps } from './stream-caps.js';

/** Job ids in paths are canonical decimals: `0x10`, `016` or `16.0` name no job (never job 16). */
const CANONICAL_ID = /^[1-9][0-9]{0,15}$/;

export interface AppOptions extends Services {
  limits?: Limits;
  registry: Registry;
  isReady: () => boolean;
  /** Leader or follower of the scheduler, with the fencing token (src/server/replica); absent: not said. */
  replica?: () => { role: 'leader' | 'follower'; token: number };
  version: string;
  /** Keys, secrets, restriction and erasure (absent: those routes are not mounted). */
  keys?: KeysServices;
  /** Structured logs: an access log line per request and unexpected errors (absent: errors go to the console). */
  logger?: ApiLogger;
}

export function createApp(opts: AppOptions) {
  const limits: Limits = opts.limits ?? DEFAULT_LIMITS;
  const maxBody = limits.body.maxRequestBytes;
  const rates = new RateLimits(limits.rateLimits);
  const services = { ...opts, limits, streams: new StreamCaps(limits.streams) };
  const app = new OpenAPIHono<ApiEnv>();
  app.use('*', requestId({ headerName: 'X-Request-Id' }));
  if (opts.logger) app.use('*', accessLog(opts.logger));

  app.onError((err, c) => {
    const problem = toProblem(err);
    if (problem) return problemResponse(c, problem);
    if (err instanceof ZodError) return problemResponse(c, zodProblem(err, 'request'));
    if (err instanceof HTTPException) {
      if (err.status === 413)
        return problemResponse(c, new ApiProblem(413, 'payload_too_large', `request body exceeds ${maxBody} bytes`));
      if (/json/i.test(err.message))
        return problemResponse(c, new ApiProblem(400, 'malformed_json', `request body is not valid JSON: ${err.message}`));
      return problemResponse(c, new ApiProblem(err.status, 'http_error', err.message));
    }
    if (opts.logger) opts.logger.error({ requestId: c.get('requestId'), err }, 'request failed');
    else console.error(`request ${c.get('requestId')} failed:`, err);
    return problemResponse(c, new ApiProblem(500, 'internal_error', `internal error (request id ${c.get('requestId')})`));
  });
  app.notFound((c) => problemResponse(c, new ApiProblem(404, 'route_not_found', `no route ${c.req.method} ${c.req.path}`)));

  app.get('/healthz', (c) => {
    const r = opts.replica?.();
    const role = r ? { role: r.role, fencingToken: r.token } : {};
    return opts.isReady() ? c.json({ status: 'ok', ...role }) : c.json({ status: 'starting', ...role }, 503);
  });
  app.get('/metrics', async (c) => c.text(await opts.registry.metrics(), 200, { 'content-type': opts.registry.contentType }));

  app.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'gigafab API',
      version: opts.version,
      description:
        'Control plane of a sovereign industrial AI cloud. Authenticate with `Authorization: Bearer <token>`. Errors are RFC 9457 problem details with a stable `code`.',
    },
    security: [{ bearer: [] }],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  mountDocs(app);
  mountConsole(app);

  // Everything else under /v1 needs a valid token; every caller is rate limited by address and token.
  app.use('/v1/*', async (c, next) => {
    const ip = clientAddress(c);
    await rates.address(ip);
    if (c.req.path === '/v1/openapi.json' || c.req.path.startsWith('/v1/docs')) return next();
    await rates.checkAuthAllowed(ip);
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) {
      await rates.authFailed(ip);
      throw new ApiProblem(401, 'unauthenticated', 'missing bearer token: send Authorization: Bearer <token>');
    }
    let principal: Awaited<ReturnType<typeof opts.tenancy.auth.authenticate>>;
    try {
      principal = await opts.tenancy.auth.authenticate(m[1]!);
    } catch (err) {
      await rates.authFailed(ip);
      throw err;
    }
    if (!principal) {
      await rates.authFailed(ip);
      throw new ApiProblem(401, 'unauthenticated', 'the token is not valid');
    }
    const key = tokenKey(m[1]!);
    await rates.token(key);
    c.set('principal', principal);
    c.set('tokenKey', key);
    await next();
  });
  // With proxy workers, a request that may change state (revoke a token, disable a user, delete a
  // service, stop a session, withdraw an approval …) answers only once every worker has forgotten
  // the admissions it remembered: the change holds from the proxy's very next request.
  const settle = opts.proxy?.settle;
  if (settle) {
    app.use('/v1/*', async (c, next) => {
      const m = c.req.method;
      if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return next();
      try {
        await next();
      } finally {
        await settle();
      }
    });
  }
  // An organisation's archive is larger than any other body: its import route has a limit of its own.
  const general = bodyLimit(maxBody);
  const imports = bodyLimit(limits.body.maxImportBytes);
  app.use('/v1/*', (c, next) => (c.req.path === '/v1/orgs/import' ? imports(c, next) : general(c, next)));
  const canonicalJobId = async (c: Context<ApiEnv>, next: Next) => {
    const id = c.req.param('id') ?? '';
    // POST /v1/jobs/estimate (routes/prices.ts) names no job.
    if (id === 'estimate' && c.req.method === 'POST' && c.req.path === '/v1/jobs/estimate') return next();
    if (!CANONICAL_ID.test(id)) throw notFound('job', id);
    await next();
  };
  app.use('/v1/jobs/:id', canonicalJobId);
  app.use('/v1/jobs/:id/*', canonicalJobId);
  app.use('/v1/*', async (c, next) => {
    const m = c.req.method;
    if ((m === 'POST' || m === 'PUT' || m === 'PATCH') && c.req.header('content-length') !== '0') {
      const type = c.req.header('content-type') ?? '';
      const hasBody = c.req.header('content-length') !== undefined || c.req.header('transfer-encoding') !== undefined;
      if (hasBody && !/^application\/json\b/i.test(type)) {
        throw new ApiProblem(415, 'unsupported_media_type', 'send request bodies as application/json');
      }
    }
    await next();
  });

  app.route('/', tenancyRoutes(services));
  app.route('/', orgImportRoutes(services));
  app.route('/', jobRoutes(services));
  app.route('/', fleetRoutes(services));
  app.route('/', auditRoutes(services));
  app.route('/', consoleDataRoutes(services));
  app.route('/', lockboxRoutes(services));
  if (opts.keys) app.route('/', keysRoutes({ ...opts.keys, lockbox: opts.lockbox }));
  app.route('/', schedulingRoutes(services));
  app.route('/', residencyRoutes(services));
  app.route('/', usageRoutes(services));
  app.route('/', priceRoutes(services));
  app.route('/', invoiceRoutes(services));
  app.route('/', orgRegistryRoutes(services));
  app.route('/', serviceRoutes(services));
  app.route('/', sessionRoutes(services));
  app.route('/', sshKeyRoutes(services));
  // Every route is classified for tenancy and the lockbox before the server may serve it.
  requireClassified(app);
  attachRequestExamples(app.openAPIRegistry);
  return app;
}

/** A browsable API reference, served from the swagger-ui-dist package (no CDN: works air-gapped). */
function mountDocs(app: OpenAPIHono<ApiEnv>) {
  // The docs page runs only its own scripts and may not be framed (clickjacking).
  const docsHeaders = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: 'DENY',
  });
  app.use('/v1/docs', docsHeaders);
  app.use('/v1/docs/*', docsHeaders);
  const dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const asset = (name: string, type: string) => {
    const body = readFileSync(join(dir, name));
    app.get(`/v1/docs/${name}`, (c) => c.body(body, 200, { 'content-type': type, 'cache-control': 'max-age=3600' }));
  };
  asset('swagger-ui.css', 'text/css');
  asset('swagger-ui-bundle.js', 'text/javascript');
  app.get('/v1/docs/init.js', (c) =>
    c.body(`window.ui = SwaggerUIBundle({ url: '/v1/openapi.json', dom_id: '#api', deepLinking: true });`, 200, {
      'content-type': 'text/javascript',
    }),
  );
  app.get('/v1/docs', (c) =>
    c.html(
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>gigafab API</title><link rel="stylesheet" href="/v1/docs/swagger-ui.css"></head><body><div id="api"></div><script src="/v1/docs/swagger-ui-bundle.js"></script><script src="/v1/docs/init.js"></script></body></html>',
    ),
  );
}
