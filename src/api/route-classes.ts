/**
 * The one place where every route of the API is classified for tenancy (who may call it, whose
 * objects it names) and for the lockbox (what an operator gets from it). `createApp` refuses to
 * build an app with a route missing here, so a new route cannot ship before someone decided
 * whether it serves tenant data; the adversarial suite (test/adversarial/) derives its isolation
 * matrix and its operator-bypass hunt from these classes. docs/sovereignty-access.md explains them.
 */
import type { Hono } from 'hono';

/** Who may call a route, and how objects of other organisations named in its path look. */
export const TENANCY_CLASSES = {
  public: 'no token; serves nothing of any tenant',
  caller: "any principal; answers about the caller or lists only the caller's organisation (operators: all)",
  operator: 'platform operators only; tenants get 403 whatever the ids in the path',
  org: "an organisation's object named in the path: other organisations get 404, exactly as for one that does not exist",
  user: 'a user named in the path: users of other organisations get 404, exactly as for one that does not exist',
  workload:
    "the workload named by the host (<id>.<base-domain>): its organisation's principals (token, or the cookie of an open link), or a public service's own API keys; anyone else gets 404, exactly as for an unknown host",
  internal:
    'loopback listener between gigafab and the nginx it runs: a secret made at each start is required, any other caller gets 404 and changes nothing',
} as const;

/** What an operator (without an approved access request) gets from a route. */
export const LOCKBOX_CLASSES = {
  none: 'serves no tenant data (health, docs, fleet inventory, the caller itself)',
  metadata: 'operational metadata of tenants (ids, shapes, states, policies, key versions): shown to operators',
  redacted: 'tenant-written fields are withheld and listed in `redacted` until the tenant approves an access',
  guarded: '403 lockbox_approval_required until the tenant approves an access (each use audited)',
  oversight: 'the audit log: records of who did what to which object; tenant-written content withheld and listed in `redacted`',
  'tenant-only': "the tenant's own writes of tenant data: operators get 403",
  credential:
    'issues a credential: never one for a tenant principal to an operator, except an organisation’s first admin at onboarding',
} as const;

export type TenancyClass = keyof typeof TENANCY_CLASSES;
export type LockboxClass = keyof typeof LOCKBOX_CLASSES;
export interface RouteClass {
  tenancy: TenancyClass;
  lockbox: LockboxClass;
}

const c = (tenancy: TenancyClass, lockbox: LockboxClass): RouteClass => ({ tenancy, lockbox });

/** `METHOD /path/{param}` → class. Paths as in the OpenAPI document. */
export const ROUTE_CLASSES: Readonly<Record<string, RouteClass>> = {
  // Served without a token (app.ts).
  'GET /healthz': c('public', 'none'),
  'GET /metrics': c('public', 'none'),
  'GET /v1/openapi.json': c('public', 'none'),
  'GET /v1/docs': c('public', 'none'),
  'GET /v1/docs/swagger-ui.css': c('public', 'none'),
  'GET /v1/docs/swagger-ui-bundle.js': c('public', 'none'),
  'GET /v1/docs/init.js': c('public', 'none'),

  // Tenancy (routes/tenancy.ts).
  'GET /v1/whoami': c('caller', 'none'),
  'POST /v1/orgs': c('operator', 'metadata'),
  // An archive the tenant handed over (org-import.ts); the answer is counts and ids only.
  'POST /v1/orgs/import': c('operator', 'metadata'),
  'GET /v1/orgs': c('caller', 'metadata'),
  'GET /v1/orgs/{org}': c('org', 'metadata'),
  'POST /v1/orgs/{org}/projects': c('org', 'metadata'),
  'GET /v1/projects': c('caller', 'metadata'),
  'GET /v1/projects/{project}': c('org', 'metadata'),
  'PUT /v1/projects/{project}/quotas/{gpuType}': c('org', 'metadata'),
  'POST /v1/orgs/{org}/users': c('org', 'credential'),
  'GET /v1/orgs/{org}/users': c('org', 'metadata'),
  'POST /v1/users/{user}/tokens': c('user', 'credential'),
  'GET /v1/tokens': c('caller', 'metadata'),
  'POST /v1/tokens/{id}/revoke': c('org', 'metadata'),
  'POST /v1/users/{user}/disable': c('user', 'metadata'),
  'POST /v1/users/{user}/enable': c('user', 'metadata'),
  // The caller's own SSH public keys (routes/ssh-keys.ts): nobody, operators included, sees or changes another's.
  'GET /v1/ssh-keys': c('caller', 'none'),
  'POST /v1/ssh-keys': c('caller', 'none'),
  'DELETE /v1/ssh-keys/{id}': c('caller', 'none'),

  // Sessions (routes/sessions.ts); the workload proxy itself is its own listener (api/proxy).
  'GET /v1/sessions': c('caller', 'metadata'),
  'POST /v1/sessions/{id}/open': c('org', 'guarded'),

  // Jobs (routes/jobs.ts, scheduling.ts, residency.ts).
  'POST /v1/jobs': c('caller', 'tenant-only'),
  'GET /v1/jobs': c('caller', 'redacted'),
  'GET /v1/jobs/{id}': c('org', 'redacted'),
  'GET /v1/jobs/{id}/explain': c('org', 'metadata'),
  'POST /v1/jobs/{id}/cancel': c('org', 'redacted'),
  'GET /v1/jobs/{id}/events': c('org', 'redacted'),
  'GET /v1/jobs/{id}/events/stream': c('org', 'redacted'),
  'GET /v1/jobs/{id}/logs': c('org', 'guarded'),
  'POST /v1/jobs/{id}/checkpoints': c('org', 'tenant-only'),
  'GET /v1/jobs/{id}/residency': c('org', 'guarded'),
  // kWh and CO₂ per run segment: figures of the platform, no tenant-written text (routes/invoices.ts).
  'GET /v1/jobs/{id}/energy': c('org', 'metadata'),

  // Fleet (routes/fleet.ts, console-data.ts, scheduling.ts).
  'GET /v1/fleet': c('caller', 'none'),
  'GET /v1/nodes': c('operator', 'none'),
  'POST /v1/nodes/{id}/drain': c('operator', 'none'),
  'POST /v1/nodes/{id}/undrain': c('operator', 'none'),
  'PUT /v1/nodes/{id}/state': c('operator', 'none'),
  'GET /v1/nodes/{id}/events': c('operator', 'none'),
  'GET /v1/fleet/gpus': c('operator', 'metadata'),
  'GET /v1/fleet/history': c('operator', 'none'),
  'GET /v1/queue/summary': c('operator', 'metadata'),
  'POST /v1/maintenance-windows': c('operator', 'none'),
  'GET /v1/maintenance-windows': c('caller', 'none'),
  'DELETE /v1/maintenance-windows/{id}': c('operator', 'none'),
  'POST /v1/reservations': c('operator', 'metadata'),
  'GET /v1/reservations': c('caller', 'metadata'),
  'GET /v1/reservations/{id}': c('org', 'metadata'),
  'DELETE /v1/reservations/{id}': c('org', 'metadata'),

  // Metered usage (routes/usage.ts): GPU-seconds by org, project, type, site, class, day; no tenant-written text.
  'GET /v1/usage': c('caller', 'metadata'),
  // The same usage in the FinOps FOCUS layout, plus org and project display names (their own, or an operator's).
  'GET /v1/usage/focus': c('caller', 'metadata'),
  // Prices and estimates (routes/prices.ts): the price book is the same for everyone; an estimate stores nothing.
  'POST /v1/price-versions': c('operator', 'none'),
  'GET /v1/price-versions': c('caller', 'none'),
  'GET /v1/prices': c('caller', 'none'),
  // Reserved-capacity commitments (routes/prices.ts): operators set them; each tenant reads its own organisation's.
  'PUT /v1/reserved-capacity': c('operator', 'metadata'),
  'GET /v1/reserved-capacity': c('caller', 'metadata'),
  'POST /v1/jobs/estimate': c('caller', 'none'),
  'PUT /v1/orgs/{org}/budget': c('org', 'metadata'),
  'GET /v1/orgs/{org}/budget': c('org', 'metadata'),
  'GET /v1/orgs/{org}/budgets': c('org', 'metadata'),
  'POST /v1/orgs/{org}/budget-webhook-secret': c('org', 'tenant-only'),
  'GET /v1/orgs/{org}/budget-alerts': c('org', 'metadata'),
  'PUT /v1/projects/{project}/budget': c('org', 'metadata'),
  'GET /v1/projects/{project}/budget': c('org', 'metadata'),
  // Invoices (routes/invoices.ts): amounts per GPU type and class, no tenant-written text; runs and credit notes by operators.
  'POST /v1/invoices/runs': c('operator', 'metadata'),
  'GET /v1/invoices': c('caller', 'metadata'),
  'GET /v1/invoices/{id}': c('org', 'metadata'),
  'GET /v1/invoices/{id}/pdf': c('org', 'metadata'),
  'GET /v1/invoices/{id}/verify': c('org', 'metadata'),
  'POST /v1/invoices/{id}/credit-notes': c('operator', 'metadata'),
  'PUT /v1/orgs/{org}/billing-profile': c('org', 'metadata'),
  'GET /v1/orgs/{org}/billing-profile': c('org', 'metadata'),
  'GET /v1/orgs/{org}/energy-statement': c('org', 'metadata'),
  'GET /v1/orgs/{org}/energy-statement/pdf': c('org', 'metadata'),
  // Sites' energy factors: facts of the platform, no tenant's.
  'PUT /v1/energy-factors': c('operator', 'none'),
  'GET /v1/energy-factors': c('caller', 'none'),
  // Registry allow-lists (routes/org-registries.ts): host patterns the organisation's admins set.
  'PUT /v1/orgs/{org}/registries': c('org', 'metadata'),
  'GET /v1/orgs/{org}/registries': c('org', 'metadata'),

  // Inference services (routes/services.ts): a template's command, image and env are tenant data.
  'POST /v1/services': c('caller', 'tenant-only'),
  'GET /v1/services': c('caller', 'redacted'),
  'GET /v1/services/{id}': c('org', 'redacted'),
  'PATCH /v1/services/{id}': c('org', 'tenant-only'),
  'DELETE /v1/services/{id}': c('org', 'metadata'),
  // A public service's own API keys: issued by the organisation's admins only (never to an operator).
  'POST /v1/services/{id}/api-keys': c('org', 'credential'),
  'GET /v1/services/{id}/api-keys': c('org', 'metadata'),
  'POST /v1/services/{id}/api-keys/{keyId}/revoke': c('org', 'metadata'),

  // Audit (routes/audit.ts).
  'GET /v1/audit': c('caller', 'oversight'),
  'GET /v1/audit/verify': c('caller', 'metadata'),
  'GET /v1/audit/head': c('caller', 'metadata'),
  'GET /v1/audit/public-key': c('caller', 'none'),
  'GET /v1/audit/export': c('caller', 'oversight'),

  // Lockbox (routes/lockbox.ts).
  'POST /v1/access-requests': c('operator', 'metadata'),
  'POST /v1/access-requests/break-glass': c('operator', 'metadata'),
  'GET /v1/access-requests': c('caller', 'metadata'),
  'GET /v1/access-requests/{id}': c('org', 'metadata'),
  'POST /v1/access-requests/{id}/approve': c('org', 'metadata'),
  'POST /v1/access-requests/{id}/deny': c('org', 'metadata'),
  'GET /v1/access-uses': c('caller', 'metadata'),
  'GET /v1/access-notifications': c('caller', 'metadata'),

  // Keys, secrets, restriction, erasure (routes/keys.ts).
  'GET /v1/orgs/{org}/secrets': c('org', 'guarded'),
  'POST /v1/orgs/{org}/secrets': c('org', 'tenant-only'),
  'PUT /v1/orgs/{org}/secrets/{name}': c('org', 'tenant-only'),
  'GET /v1/orgs/{org}/secrets/{name}': c('org', 'guarded'),
  'DELETE /v1/orgs/{org}/secrets/{name}': c('org', 'tenant-only'),
  'GET /v1/orgs/{org}/keys': c('org', 'metadata'),
  'POST /v1/orgs/{org}/keys/rotate': c('org', 'metadata'),
  'GET /v1/orgs/{org}/restriction': c('org', 'metadata'),
  'POST /v1/orgs/{org}/restriction': c('org', 'metadata'),
  'DELETE /v1/orgs/{org}/restriction': c('org', 'metadata'),
  'POST /v1/orgs/{org}/erasure': c('org', 'metadata'),
  'GET /v1/orgs/{org}/erasure': c('org', 'metadata'),

  // Residency and datasets (routes/residency.ts).
  'GET /v1/residency/sites': c('caller', 'none'),
  'GET /v1/orgs/{id}/residency-policy': c('org', 'metadata'),
  'PUT /v1/orgs/{id}/residency-policy': c('org', 'metadata'),
  'GET /v1/orgs/{id}/residency-policy/versions': c('org', 'metadata'),
  'GET /v1/projects/{id}/residency-policy': c('org', 'metadata'),
  'PUT /v1/projects/{id}/residency-policy': c('org', 'metadata'),
  'GET /v1/projects/{id}/residency-policy/versions': c('org', 'metadata'),
  'POST /v1/projects/{project}/datasets': c('org', 'tenant-only'),
  'GET /v1/datasets': c('caller', 'redacted'),
  'GET /v1/datasets/{id}': c('org', 'redacted'),
  'PATCH /v1/datasets/{id}': c('org', 'tenant-only'),
  'DELETE /v1/datasets/{id}': c('org', 'metadata'),
  'GET /v1/orgs/{org}/residency-report': c('org', 'guarded'),
  'GET /v1/orgs/{org}/processing-record': c('org', 'guarded'),
  'GET /v1/orgs/{org}/imported-records': c('org', 'guarded'),
};

/**
 * The listeners beside the API (api/proxy), `LISTENER METHOD /path` → class: the workload proxy
 * (proxy-server.ts, in the server or in its proxy workers) and the nginx data plane's control
 * listener and access-log socket (nginx-plane.ts). Each listener names the routes it serves and is
 * refused at start when one is missing here (requireListenerClassified); the adversarial suite
 * (test/adversarial/listeners.test.ts) checks both and attacks the internal ones.
 */
export const LISTENER_ROUTE_CLASSES: Readonly<Record<string, RouteClass>> = {
  // A one-time open link (issued by POST /v1/sessions/{id}/open, guarded) turned into the host's cookie.
  'proxy ANY /_gigafab/open': c('workload', 'guarded'),
  // ssh through the control plane: a raw tunnel to a session that asks for one, admitted like an open.
  'proxy UPGRADE /_gigafab/tunnel': c('workload', 'guarded'),
  // Everything else on a workload's host is the workload's own: forwarded once admitted.
  'proxy ANY /{path}': c('workload', 'guarded'),
  'proxy UPGRADE /{path}': c('workload', 'guarded'),
  // nginx's auth_request: the same admission as the proxy's (ProxyAccess.admit), yes or a problem.
  'nginx-control ANY /admit': c('internal', 'guarded'),
  // A denial decided by /admit, rendered as the proxy's problem JSON: no tenant data.
  'nginx-control GET /denial': c('internal', 'none'),
  // nginx's access log over syslog/UDP: statistics and rate limits; lines without the secret are dropped.
  'nginx-log UDP gf1': c('internal', 'none'),
};

/** requireListenerClassified throws, naming each route, when `listener` serves a route the registry does not classify. */
export function requireListenerClassified(
  listener: string,
  routes: readonly string[],
  registry: Readonly<Record<string, RouteClass>> = LISTENER_ROUTE_CLASSES,
): void {
  const missing = routes.map((r) => `${listener} ${r}`).filter((r) => !routeClass(r, registry));
  if (missing.length) {
    throw new Error(
      `listener routes without a tenancy and lockbox classification: ${missing.join(', ')}; classify each in src/api/route-classes.ts (LISTENER_ROUTE_CLASSES)`,
    );
  }
}

/** Hono writes path parameters as `:id`; the OpenAPI document and this registry as `{id}`. */
const openapiPath = (honoPath: string) => honoPath.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}');

/**
 * appRoutes: every route of a Hono app as `METHOD /path/{param}`. Middleware is no route: `use`
 * registers method ALL with a handler that takes `next` (an `all` route's handler does not). The
 * console's static files are served by such a middleware and are public.
 */
export function appRoutes(app: Pick<Hono, 'routes'>): string[] {
  const seen = new Set<string>();
  for (const r of app.routes) {
    if (r.method === 'ALL' && (r.path.endsWith('*') || r.handler.length >= 2)) continue;
    seen.add(`${r.method} ${openapiPath(r.path)}`);
  }
  return [...seen];
}

/** routeClass: the class of `METHOD /path/{param}`, or undefined where none is registered. */
export function routeClass(
  route: string,
  registry: Readonly<Record<string, RouteClass>> = ROUTE_CLASSES,
): RouteClass | undefined {
  return Object.hasOwn(registry, route) ? registry[route] : undefined;
}

/** unclassifiedRoutes: the routes of `app` that the registry does not classify. */
export function unclassifiedRoutes(
  app: Pick<Hono, 'routes'>,
  registry: Readonly<Record<string, RouteClass>> = ROUTE_CLASSES,
): string[] {
  return appRoutes(app).filter((r) => !routeClass(r, registry));
}

/** requireClassified throws, naming each route, when `app` has a route the registry does not classify. */
export function requireClassified(
  app: Pick<Hono, 'routes'>,
  registry: Readonly<Record<string, RouteClass>> = ROUTE_CLASSES,
): void {
  const missing = unclassifiedRoutes(app, registry);
  if (missing.length) {
    throw new Error(
      `routes without a tenancy and lockbox classification: ${missing.join(', ')}; classify each in src/api/route-classes.ts (see docs/sovereignty-access.md)`,
    );
  }
}
