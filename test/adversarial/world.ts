/**
 * The world the adversarial suite attacks: tenants with an admin, a member and a viewer, the
 * OpenAPI document's operations, URLs filled with real or non-existent ids, and a digest of what
 * a tenant's admin can see of its organisation (to prove an attack changed nothing).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lastMonth } from '../helpers/billing-history.js';
import { api } from '../helpers/server.js';

/** An API call with one token (the helpers' `api`, bound to a server whose URL may change). */
export type Call = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => ReturnType<ReturnType<typeof api>>;
export const ROLES = ['admin', 'member', 'viewer'] as const;
export type TenantRole = (typeof ROLES)[number];

export interface Tenant {
  org: string;
  project: string;
  tokens: Record<TenantRole, string>;
  userIds: Record<TenantRole, string>;
  as: Record<TenantRole, Call>;
}

/** caller: API calls with `token` to the server's current URL (a restart moves it to another port). */
export const caller =
  (server: { readonly url: string }, token: string): Call =>
  (...args) =>
    api(server.url, token)(...args);

/** operatorHeldToken: a token in the product's format and its SHA-256, as `gigafab token generate` makes them. */
export function operatorHeldToken(): { token: string; sha256: string } {
  const token = `gf_${randomBytes(24).toString('base64url')}`;
  return { token, sha256: createHash('sha256').update(token).digest('hex') };
}

/** tokenIdOf: the id of one of the tenant's API tokens, where the server lists tokens (else undefined). */
export async function tokenIdOf(t: Tenant): Promise<string | undefined> {
  const r = await t.as.member('GET', '/v1/tokens');
  return r.status === 200 ? (r.body.items?.[0]?.id as string | undefined) : undefined;
}

/** addTenant: an organisation with one project (quota on gpuType) and an admin, a member and a viewer. */
export async function addTenant(server: { readonly url: string }, op: Call, org: string, gpuType: string): Promise<Tenant> {
  const project = `${org}-ml`;
  assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'research' })).status, 201);
  assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: project })).status, 201);
  assert.equal((await op('PUT', `/v1/projects/${project}/quotas/${gpuType}`, { gpus: 8 })).status, 200);
  // Onboarding: the operator registers the hash of a token the tenant generated, where the server
  // takes one (the operator never sees the token); a server without that answers with the token.
  const own = operatorHeldToken();
  let first = await op('POST', `/v1/orgs/${org}/users`, { name: `${org} admin`, role: 'admin', tokenSha256: own.sha256 });
  if (first.status === 400) first = await op('POST', `/v1/orgs/${org}/users`, { name: `${org} admin`, role: 'admin' });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  const adminToken: string = first.body.token ?? own.token;
  const admin = caller(server, adminToken);
  const tokens = { admin: adminToken } as Record<TenantRole, string>;
  const userIds = { admin: first.body.user.id } as Record<TenantRole, string>;
  for (const role of ['member', 'viewer'] as const) {
    const r = await admin('POST', `/v1/orgs/${org}/users`, { name: `${org} ${role}`, role });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    tokens[role] = r.body.token;
    userIds[role] = r.body.user.id;
  }
  return {
    org,
    project,
    tokens,
    userIds,
    as: { admin, member: caller(server, tokens.member), viewer: caller(server, tokens.viewer) },
  };
}

export interface Operation {
  method: string;
  path: string;
  /** Path parameter names in order. */
  params: string[];
  bodyRequired: boolean;
  /** Required query parameters with their documented examples. */
  query: Record<string, string>;
}

type OpenApiDoc = {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { in: string; name: string; required?: boolean; schema?: { example?: unknown } }[];
        requestBody?: { required?: boolean };
      }
    >
  >;
};

/** operations: every operation of the server's OpenAPI document. */
export async function operations(url: string): Promise<Operation[]> {
  const doc = (await api(url)('GET', '/v1/openapi.json')).body as OpenApiDoc;
  const ops: Operation[] = [];
  for (const [path, byMethod] of Object.entries(doc.paths)) {
    for (const [method, o] of Object.entries(byMethod)) {
      const query: Record<string, string> = {};
      for (const p of o.parameters ?? []) {
        if (p.in === 'query' && p.required) query[p.name] = String(p.schema?.example ?? '');
      }
      ops.push({
        method: method.toUpperCase(),
        path,
        params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
        bodyRequired: o.requestBody?.required === true,
        query,
      });
    }
  }
  return ops;
}

export const key = (o: Pick<Operation, 'method' | 'path'>) => `${o.method} ${o.path}`;

/** fill: the operation's URL path with the given parameter values and its required query. */
export function fill(o: Operation, values: Record<string, string>): string {
  const path = o.path.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = values[k];
    assert.ok(v !== undefined, `no value for {${k}} in ${key(o)}`);
    return encodeURIComponent(v);
  });
  const q = new URLSearchParams(o.query).toString();
  return q ? `${path}?${q}` : path;
}

/** An answer, read whole (an event stream: what arrived before the timeout). */
export interface Answer {
  status: number;
  type: string;
  text: string;
}

export async function send(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 3000,
): Promise<Answer> {
  // A rate limit says nothing about the object asked for: wait as told and ask again.
  for (let attempt = 0; ; attempt++) {
    const a = await sendOnce(url, token, method, path, body, timeoutMs);
    if (a.status !== 429 || attempt >= 5) return { status: a.status, type: a.type, text: a.text };
    await new Promise((r) => setTimeout(r, Math.min(5, Number(a.retryAfter) || 1) * 1000));
  }
}

async function sendOnce(url: string, token: string, method: string, path: string, body: unknown, timeoutMs: number) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctrl.signal,
    });
    // Read chunk by chunk: from a stream that stays open, what arrived before the timeout is what was shown.
    let text = '';
    const decoder = new TextDecoder();
    const reader = r.body?.getReader();
    try {
      for (;;) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        text += decoder.decode(chunk.value, { stream: true });
      }
    } catch {
      // aborted at the timeout
    }
    return { status: r.status, type: r.headers.get('content-type') ?? '', text, retryAfter: r.headers.get('retry-after') };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * digest: a hash of everything an organisation's admin can read about it (organisation, users,
 * projects, jobs and their events, secrets, keys, restriction, erasure, datasets, reservations,
 * access requests, residency policies, its audit slice), with the readings themselves for a diff.
 */
export async function digest(t: Tenant, ids: { jobs: string[]; datasets: string[]; secrets: string[]; reservations: string[] }) {
  const a = t.as.admin;
  const reads = [
    `/v1/orgs/${t.org}`,
    `/v1/orgs/${t.org}/users`,
    '/v1/projects',
    `/v1/projects/${t.project}`,
    '/v1/jobs?limit=100',
    ...ids.jobs.flatMap((j) => [`/v1/jobs/${j}`, `/v1/jobs/${j}/events`]),
    `/v1/orgs/${t.org}/secrets`,
    ...ids.secrets.map((s) => `/v1/orgs/${t.org}/secrets/${s}`),
    `/v1/orgs/${t.org}/keys`,
    `/v1/orgs/${t.org}/restriction`,
    `/v1/orgs/${t.org}/erasure`,
    '/v1/datasets',
    ...ids.datasets.map((d) => `/v1/datasets/${d}`),
    '/v1/reservations',
    ...ids.reservations.map((r) => `/v1/reservations/${r}`),
    '/v1/access-requests',
    `/v1/orgs/${t.org}/residency-policy/versions`,
    `/v1/projects/${t.project}/residency-policy/versions`,
    '/v1/invoices',
    '/v1/audit?limit=500',
  ];
  const seen: Record<string, unknown> = {};
  for (const path of reads) {
    const r = await a('GET', path);
    seen[path] = { status: r.status, body: r.body };
  }
  const text = JSON.stringify(seen);
  return { hash: createHash('sha256').update(text).digest('hex'), seen };
}

const inHours = (h: number) => new Date(Date.now() + h * 3600_000).toISOString();

/**
 * validBody: a body that passes validation for each operation that takes one, so that what answers
 * is the authorisation, not the schema. `v` holds the path values and the site and GPU type to use.
 * Harmless where it can be: break-glass names no real object, a node goes to draining, not down.
 */
export const BODIES: Record<string, (v: Record<string, string>) => unknown> = {
  'POST /v1/orgs': () => ({ id: 'planted-org', name: 'planted', kind: 'research' }),
  // Passes validation, then fails verification (422 archive_invalid): the suite imports no organisation.
  'POST /v1/orgs/import': () => ({ archive: '{"type":"manifest","format":"gigafab-org-archive"}\n' }),
  'POST /v1/orgs/{org}/projects': () => ({ id: 'planted-project' }),
  'PUT /v1/projects/{project}/quotas/{gpuType}': () => ({ gpus: 64 }),
  'POST /v1/orgs/{org}/users': () => ({ name: 'planted admin', role: 'admin' }),
  'POST /v1/users/{user}/tokens': () => undefined,
  'POST /v1/users/{user}/disable': () => ({ reason: 'planted by the adversarial suite' }),
  'POST /v1/users/{user}/enable': () => undefined,
  'POST /v1/tokens/{id}/revoke': () => undefined,
  'POST /v1/jobs': (v) => ({ name: 'planted', project: v.project, gpuType: v.gpuType, command: ['true'] }),
  // Scale to zero with no traffic: an accepted write starts no replica.
  'POST /v1/services': (v) => ({
    name: 'planted',
    project: v.project,
    template: { gpuType: v.gpuType, command: ['true'] },
    replicas: 0,
  }),
  'PATCH /v1/services/{id}': () => ({ scaleDownDelaySeconds: 61 }),
  'POST /v1/services/{id}/api-keys': () => ({ name: 'planted' }),
  'POST /v1/services/{id}/api-keys/{keyId}/revoke': () => undefined,
  'POST /v1/jobs/estimate': (v) => ({ name: 'planted', project: v.project, gpuType: v.gpuType, command: ['true'] }),
  'PUT /v1/orgs/{org}/budget': () => ({ capCents: 100 }),
  'PUT /v1/projects/{project}/budget': () => ({ capCents: 100 }),
  'POST /v1/orgs/{org}/budget-webhook-secret': () => undefined,
  // [] (no restriction): an accepted write must not change what the suite's later jobs may pull.
  'PUT /v1/orgs/{org}/registries': () => ({ registries: [] }),
  'POST /v1/ssh-keys': () => ({
    publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBYrBQoJCem2WycYYcfNYT6H7aaIgykGgVLhWFWIMN2 planted',
  }),
  'POST /v1/price-versions': (v) => ({ prices: [{ gpuType: v.gpuType, class: 'on-demand', centsPerGpuHour: 1 }] }),
  // A month no invoice run of the suite reaches: an accepted write bills nothing.
  'PUT /v1/reserved-capacity': (v) => ({
    org: v.org ?? 'planted-org',
    gpuType: v.gpuType,
    month: '2099-01',
    gpus: 1,
    centsPerGpuMonth: 1,
  }),
  'POST /v1/invoices/runs': () => ({ month: lastMonth().month }),
  'POST /v1/invoices/{id}/credit-notes': () => ({ netCents: 1, reason: 'planted' }),
  'PUT /v1/orgs/{org}/billing-profile': () => ({ country: 'AT' }),
  'PUT /v1/energy-factors': (v) => ({ site: v.site, month: lastMonth().month, pue: 1.1, gridGCo2PerKwh: 100, source: 'planted' }),
  'POST /v1/jobs/{id}/cancel': () => undefined,
  'POST /v1/sessions/{id}/open': () => undefined,
  'POST /v1/jobs/{id}/checkpoints': () => ({ step: 3, label: 'planted' }),
  'POST /v1/nodes/{id}/drain': () => ({ reason: 'planted' }),
  'POST /v1/nodes/{id}/undrain': () => ({}),
  'PUT /v1/nodes/{id}/state': () => ({ state: 'draining', reason: 'planted' }),
  'POST /v1/reservations': (v) => ({ org: v.org, gpuType: v.gpuType, gpus: 1, start: inHours(200), end: inHours(201) }),
  'POST /v1/maintenance-windows': (v) => ({ site: v.site, start: inHours(300), end: inHours(301), reason: 'planted' }),
  'POST /v1/access-requests': (v) => ({
    org: v.org,
    cause: 'ticket 1: planted by the adversarial suite',
    scope: { objects: ['job:999999'], verbs: ['read-logs'] },
    durationSeconds: 600,
    requesterCountry: 'DE',
    derivedDataRetentionDays: 0,
    approvalDeadline: inHours(1),
  }),
  'POST /v1/access-requests/break-glass': (v) => ({
    org: v.org,
    justification: 'incident 1: planted by the adversarial suite',
    scope: { objects: ['job:999999'], verbs: ['read-logs'] },
    durationSeconds: 60,
    requesterCountry: 'DE',
    derivedDataRetentionDays: 0,
  }),
  'POST /v1/access-requests/{id}/approve': () => ({ comment: 'planted' }),
  'POST /v1/access-requests/{id}/deny': () => ({ comment: 'planted' }),
  'POST /v1/orgs/{org}/secrets': () => ({ name: 'planted-secret', value: 'planted' }),
  'PUT /v1/orgs/{org}/secrets/{name}': () => ({ value: 'overwritten', description: 'planted' }),
  'POST /v1/orgs/{org}/keys/rotate': () => ({}),
  'POST /v1/orgs/{org}/restriction': () => ({ reason: 'planted' }),
  'POST /v1/orgs/{org}/erasure': (v) => ({ confirm: v.org, reason: 'planted' }),
  'PUT /v1/orgs/{id}/residency-policy': () => ({ name: 'planted', rules: { countries: ['AT'] }, dataClasses: ['internal'] }),
  'PUT /v1/projects/{id}/residency-policy': () => ({ name: 'planted', rules: { countries: ['AT'] }, dataClasses: ['internal'] }),
  'POST /v1/projects/{project}/datasets': (v) => ({
    name: 'planted',
    classification: 'internal',
    homeSite: v.site,
    sizeBytes: 1,
    checksum: `sha256:${'0'.repeat(64)}`,
  }),
  'PATCH /v1/datasets/{id}': () => ({ sizeBytes: 2 }),
};

/** bodyFor: the valid body of a write operation (undefined: it takes none), or throws naming the missing one. */
export function bodyFor(o: Pick<Operation, 'method' | 'path'>, v: Record<string, string>): unknown {
  if (!['POST', 'PUT', 'PATCH'].includes(o.method)) return undefined;
  const make = BODIES[key(o)];
  assert.ok(
    make,
    `${key(o)}: no valid body in test/adversarial/world.ts BODIES (add one so the suite reaches its authorisation)`,
  );
  return make(v);
}
