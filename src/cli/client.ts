/**
 * Typed REST client for the gigafab API (global fetch). Problem+json errors become ApiError;
 * network failures become ConnectionError.
 */
import type {
  AuditRecord,
  FleetSummary,
  Job,
  JobEvent,
  JobExplanation,
  JobSpecInput,
  NodeEventInfo,
  NodeInfo,
  Org,
  OrgKind,
  Project,
  TokenInfo,
  User,
} from '../model/schemas.js';
import { httpRequest, type PlainResponse } from './node-http.js';
import { parseSseStream, SseParser } from './sse.js';

export interface FieldError {
  path: string;
  message: string;
}

/** ApiError carries an RFC 9457 problem. */
/** AuditVerifyReport mirrors the API's verification report (GET /v1/audit/verify). */
export interface AuditVerifyReport {
  ok: boolean;
  scope: string;
  checked: number;
  head: { id: number; hash: string } | null;
  problem: { recordId: number; reason: string } | null;
  checkpoint: { id: number; seq: number | null; uptoId: number; at: string; keyId: string } | null;
  keyId: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors: FieldError[] = [],
    readonly title?: string,
    readonly type?: string,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

/** ConnectionError: the server could not be reached at all. */
export class ConnectionError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach gigafab at ${url} (${reason})`);
    this.name = 'ConnectionError';
  }
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Quota {
  gpuType: string;
  gpus: number;
  used: number;
}

export interface IssuedToken {
  /** Absent on onboarding: the admin generated it, the operator never sees it. */
  token?: string;
  tokenInfo: TokenInfo;
  user: User;
}

export interface JobListQuery {
  state?: string;
  project?: string;
  label?: string;
  limit?: number;
  cursor?: string;
}

export interface NodeListQuery {
  site?: string;
  state?: string;
  gpuType?: string;
  limit?: number;
  cursor?: string;
}

export type Query = Record<string, string | number | undefined>;

export interface StreamItem {
  kind: 'event';
  event: JobEvent;
}
export interface StreamEnd {
  kind: 'end';
  state: string;
}

export interface ClientOptions {
  url: string;
  token?: string;
  fetch?: typeof fetch;
  userAgent?: string;
}

export type FetchLike = typeof fetch;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** problemFromBody converts a response body into an ApiError (problem+json or anything else). */
export function problemFromBody(status: number, statusText: string, body: string): ApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (isRecord(parsed)) {
    const code = typeof parsed.code === 'string' ? parsed.code : `http_${status}`;
    const detail =
      typeof parsed.detail === 'string'
        ? parsed.detail
        : typeof parsed.title === 'string'
          ? parsed.title
          : typeof parsed.message === 'string'
            ? parsed.message
            : `HTTP ${status} ${statusText}`.trim();
    const errors: FieldError[] = Array.isArray(parsed.errors)
      ? parsed.errors.filter(isRecord).map((e) => ({ path: String(e.path ?? ''), message: String(e.message ?? '') }))
      : [];
    return new ApiError(
      status,
      code,
      detail,
      errors,
      typeof parsed.title === 'string' ? parsed.title : undefined,
      typeof parsed.type === 'string' ? parsed.type : undefined,
    );
  }
  const text = body.trim().slice(0, 300);
  return new ApiError(status, `http_${status}`, text || `HTTP ${status} ${statusText}`.trim());
}

function networkReason(err: unknown): string | undefined {
  // undici: TypeError('fetch failed', { cause: Error { code: 'ECONNREFUSED' } })
  let e: unknown = err;
  for (let depth = 0; depth < 4 && isRecord(e); depth++) {
    if (typeof e.code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(e.code)) return e.code;
    if (Array.isArray(e.errors) && isRecord(e.errors[0])) {
      // AggregateError (happy eyeballs): take the first.
      e = e.errors[0];
      continue;
    }
    e = e.cause;
  }
  if (err instanceof TypeError && err.message === 'fetch failed') return 'network error';
  return undefined;
}

export class GigafabClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly fetchFn: FetchLike;
  /** A caller's own fetch (tests, the console): then every call goes through it. */
  private readonly customFetch: boolean;
  private readonly userAgent: string;

  constructor(opts: ClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.token = opts.token;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.customFetch = opts.fetch !== undefined;
    this.userAgent = opts.userAgent ?? 'gigafab-cli';
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent, ...extra };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    return h;
  }

  buildUrl(path: string, query?: Query): string {
    const u = new URL(this.url + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  private async send(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers = this.headers(opts.headers);
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.buildUrl(path, opts.query), { method, headers, body, signal: opts.signal });
    } catch (err) {
      const reason = networkReason(err);
      if (reason) throw new ConnectionError(this.url, reason);
      throw err;
    }
    if (!res.ok) throw problemFromBody(res.status, res.statusText, await res.text());
    return res;
  }

  /** request sends a JSON request and returns the decoded JSON body (typed by the caller). */
  async request<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; data: T }> {
    if (this.customFetch) {
      const res = await this.send(method, path, opts);
      const text = await res.text();
      return { status: res.status, data: (text ? JSON.parse(text) : undefined) as T };
    }
    const headers = this.headers(opts.headers);
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res: PlainResponse;
    try {
      res = await httpRequest(this.buildUrl(path, opts.query), { method, headers, body });
    } catch (err) {
      const reason = networkReason(err);
      if (reason) throw new ConnectionError(this.url, reason);
      throw err;
    }
    if (res.status < 200 || res.status > 299) throw problemFromBody(res.status, res.statusText, res.text);
    return { status: res.status, data: (res.text ? JSON.parse(res.text) : undefined) as T };
  }

  private async get<T>(path: string, query?: Query): Promise<T> {
    return (await this.request<T>('GET', path, { query })).data;
  }
  private async post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return (await this.request<T>('POST', path, { body, headers })).data;
  }

  /** paginate follows nextCursor until the last page (or `max` items). */
  async *paginate<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
    let cursor: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const page = await fetchPage(cursor);
      yield* page.items;
      if (!page.nextCursor || seen.has(page.nextCursor)) return;
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }

  // ---------- identity & tenancy ----------
  health(): Promise<{ status: string }> {
    return this.get('/healthz');
  }
  whoami(): Promise<User> {
    return this.get('/v1/whoami');
  }
  createOrg(body: { id: string; name: string; kind: OrgKind }): Promise<Org> {
    return this.post('/v1/orgs', body);
  }
  listOrgs(query: { limit?: number; cursor?: string } = {}): Promise<Page<Org>> {
    return this.get('/v1/orgs', query);
  }
  getOrg(id: string): Promise<Org> {
    return this.get(`/v1/orgs/${enc(id)}`);
  }
  createProject(org: string, body: { id: string; name?: string }): Promise<Project> {
    return this.post(`/v1/orgs/${enc(org)}/projects`, body);
  }
  listProjects(query: { limit?: number; cursor?: string } = {}): Promise<Page<Project>> {
    return this.get('/v1/projects', query);
  }
  getProject(id: string): Promise<Project> {
    return this.get(`/v1/projects/${enc(id)}`);
  }
  async setQuota(project: string, gpuType: string, gpus: number): Promise<Quota> {
    return (await this.request<Quota>('PUT', `/v1/projects/${enc(project)}/quotas/${enc(gpuType)}`, { body: { gpus } })).data;
  }
  createUser(org: string, body: { name: string; email?: string; role: string; tokenSha256?: string }): Promise<IssuedToken> {
    return this.post(`/v1/orgs/${enc(org)}/users`, body);
  }
  disableUser(user: string, reason: string): Promise<User> {
    return this.post(`/v1/users/${enc(user)}/disable`, { reason });
  }
  enableUser(user: string): Promise<User> {
    return this.post(`/v1/users/${enc(user)}/enable`);
  }
  listUsers(org: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<User>> {
    return this.get(`/v1/orgs/${enc(org)}/users`, query);
  }
  createToken(user: string, body: { name?: string; expiresInDays?: number; expiresAt?: string } = {}): Promise<IssuedToken> {
    return this.post(`/v1/users/${enc(user)}/tokens`, body);
  }
  listTokens(query: { user?: string } = {}): Promise<{ items: TokenInfo[] }> {
    return this.get('/v1/tokens', query);
  }
  revokeToken(id: string): Promise<TokenInfo> {
    return this.post(`/v1/tokens/${enc(id)}/revoke`);
  }

  // ---------- jobs ----------
  /** submitJob returns the job and whether the server replayed an earlier identical Idempotency-Key (200). */
  async submitJob(spec: JobSpecInput, idempotencyKey?: string): Promise<{ job: Job; replayed: boolean }> {
    const headers: Record<string, string> = idempotencyKey ? { 'idempotency-key': idempotencyKey } : {};
    const { status, data } = await this.request<Job>('POST', '/v1/jobs', { body: spec, headers });
    return { job: data, replayed: status === 200 };
  }
  listJobs(query: JobListQuery = {}): Promise<Page<Job>> {
    return this.get('/v1/jobs', { ...query });
  }
  getJob(id: string): Promise<Job> {
    return this.get(`/v1/jobs/${enc(id)}`);
  }
  explainJob(id: string): Promise<JobExplanation> {
    return this.get(`/v1/jobs/${enc(id)}/explain`);
  }
  cancelJob(id: string): Promise<Job> {
    return this.post(`/v1/jobs/${enc(id)}/cancel`);
  }
  async jobEvents(id: string): Promise<JobEvent[]> {
    return (await this.get<{ items: JobEvent[] }>(`/v1/jobs/${enc(id)}/events`)).items;
  }

  /**
   * streamJobEvents yields job events from the SSE endpoint, then one `end` item when the
   * job is terminal. If the connection drops before `end`, it reconnects (with Last-Event-ID)
   * up to `maxReconnects` times in a row and skips events it has already yielded.
   */
  async *streamJobEvents(
    id: string,
    opts: { signal?: AbortSignal; afterId?: number; maxReconnects?: number; reconnectDelayMs?: number } = {},
  ): AsyncGenerator<StreamItem | StreamEnd> {
    let lastId = opts.afterId ?? -Infinity;
    const maxReconnects = opts.maxReconnects ?? 5;
    let failures = 0;
    for (;;) {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (Number.isFinite(lastId)) headers['last-event-id'] = String(lastId);
      let progressed = false;
      try {
        const res = await this.send('GET', `/v1/jobs/${enc(id)}/events/stream`, { headers, signal: opts.signal });
        if (!res.body) throw new ConnectionError(this.url, 'empty event stream');
        for await (const ev of parseSseStream(res.body, new SseParser())) {
          if (ev.event === 'end') {
            let state = 'unknown';
            try {
              const d: unknown = JSON.parse(ev.data);
              if (isRecord(d) && typeof d.state === 'string') state = d.state;
            } catch {
              // keep 'unknown'
            }
            yield { kind: 'end', state };
            return;
          }
          if (ev.event !== 'job-event' && ev.event !== 'message') continue;
          let parsed: JobEvent;
          try {
            parsed = JSON.parse(ev.data) as JobEvent;
          } catch {
            continue;
          }
          const evId = typeof parsed.id === 'number' ? parsed.id : Number(ev.id);
          if (Number.isFinite(evId) && evId <= lastId) continue;
          if (Number.isFinite(evId)) lastId = evId;
          progressed = true;
          yield { kind: 'event', event: parsed };
        }
      } catch (err) {
        if (opts.signal?.aborted || err instanceof ApiError) throw err;
        if (!(err instanceof ConnectionError) && !networkReason(err) && !isStreamError(err)) throw err;
      }
      // The stream dropped or ended without `end`: reconnect, giving up after too many fruitless tries.
      failures = progressed ? 1 : failures + 1;
      if (failures > maxReconnects) throw new ConnectionError(this.url, 'event stream ended before the job finished');
      await sleep(Math.min(5000, (opts.reconnectDelayMs ?? 250) * 2 ** Math.max(0, failures - 1)), opts.signal);
    }
  }

  // ---------- fleet ----------
  fleet(): Promise<FleetSummary> {
    return this.get('/v1/fleet');
  }
  listNodes(query: NodeListQuery = {}): Promise<Page<NodeInfo>> {
    return this.get('/v1/nodes', { ...query });
  }
  drainNode(id: string, reason?: string): Promise<NodeInfo> {
    return this.post(`/v1/nodes/${enc(id)}/drain`, reason ? { reason } : {});
  }
  undrainNode(id: string): Promise<NodeInfo> {
    return this.post(`/v1/nodes/${enc(id)}/undrain`);
  }
  listNodeEvents(id: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<NodeEventInfo>> {
    return this.get(`/v1/nodes/${enc(id)}/events`, { ...query });
  }

  // ---------- audit ----------
  listAudit(query: { limit?: number; cursor?: string } = {}): Promise<Page<AuditRecord>> {
    return this.get('/v1/audit', query);
  }
  /** jobLogs yields a job's output as text, streaming until the job ends when `follow` is set. */
  async *jobLogs(id: string, follow: boolean, attempt?: number): AsyncGenerator<string> {
    const query: Record<string, string> = { follow: String(follow) };
    if (attempt !== undefined) query.attempt = String(attempt);
    const res = await this.send('GET', `/v1/jobs/${enc(id)}/logs`, { query });
    if (!res.body) return;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  }
  /** verifyAudit; `since`: a head kept from an earlier verify, which the log must still contain. */
  verifyAudit(since?: { id: number; hash: string }): Promise<AuditVerifyReport> {
    return this.get('/v1/audit/verify', since ? { sinceId: since.id, sinceHash: since.hash } : undefined);
  }
  /** bytes: a binary body (an invoice's PDF). */
  async bytes(path: string, accept: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.send('GET', path, { headers: { accept } })).arrayBuffer());
  }
  async exportAudit(format: 'jsonl' | 'csv'): Promise<string> {
    return (await this.send('GET', '/v1/audit/export', { query: { format } })).text();
  }
}

function isStreamError(err: unknown): boolean {
  // Body stream aborted mid-way (server restart): undici raises TypeError 'terminated' / SocketError.
  return err instanceof TypeError || (isRecord(err) && err.name === 'SocketError');
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
