/**
 * Admission to a workload's host: who is asking (a gigafab API token, the host's cookie from a
 * one-time open link, or — for a public service — one of its own API keys), which workload, and
 * whether they may. Another organisation's principal learns nothing (404, as for an unknown
 * workload); an operator needs an approved lockbox access (`open-session` on each of its jobs: 403
 * otherwise); over the organisation's rate limit: 429; not ready: 503 with Retry-After.
 */
import { canOpenWorkload } from '../../model/authz.js';
import { DomainError } from '../../model/errors.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import type { OpenVia, ProxyTarget, ProxyTargetSource, Resolution } from '../../model/workloads.js';
import type { RateLimits } from '../rate-limit.js';
import { cookieValue, type OpenTickets } from './open-tickets.js';
import { ApiProblem } from './problem.js';

/** What the proxy needs of the rest of the control plane (composed in compose/start.ts). */
export interface ProxyAccessDeps {
  /** Asked in turn; the first answer that is not `not_found` counts. */
  sources: readonly ProxyTargetSource[];
  authenticate(token: string): Promise<Principal | null>;
  /** The lockbox guard: throws a DomainError `lockbox_approval_required` unless an approval covers it. */
  lockboxCheck(ctx: RequestContext, org: string, object: string): Promise<void>;
  /** Audits a principal's open of a workload (once per principal and workload every AUDIT_EVERY_MS). */
  audit(ctx: RequestContext, target: ProxyTarget, via: OpenVia): Promise<void>;
  tickets: OpenTickets;
  rates: RateLimits;
  now?: () => number;
  /** At most this many remembered opens and lockbox passes each (default ADMISSION_MEMORY_MAX). */
  memoryMax?: number;
}

export interface Admission {
  target: ProxyTarget;
  source: ProxyTargetSource;
  /** null: a public service's own API key. */
  principal: Principal | null;
}

export interface AdmissionRequest {
  workloadId: string;
  authorization: string | undefined;
  cookie: string | undefined;
  ip: string;
  requestId: string;
  /** tunnel: a TCP tunnel (ssh), audited at every open; default: an HTTP request or WebSocket. */
  via?: 'token' | 'tunnel';
}

const AUDIT_EVERY_MS = 10 * 60_000;
/**
 * How long an operator's passed lockbox check is reused for the same workload (each check records a
 * use of the approval: one record per request would flood the audit). An approval that is withdrawn
 * or expires therefore stops letting the operator in within this bound (README, "Security model").
 */
export const LOCKBOX_CACHE_MS = 10_000;
/** At most this many remembered opens and lockbox passes each: an entry pushed out costs a new check, never a skipped one. */
export const ADMISSION_MEMORY_MAX = 10_000;

/** remember: `k` → `v` in a map of at most `max` entries (the least recently written goes first). */
function remember(m: Map<string, number>, k: string, v: number, max: number): void {
  m.delete(k);
  if (m.size >= max) {
    const oldest = m.keys().next();
    if (!oldest.done) m.delete(oldest.value);
  }
  m.set(k, v);
}

const notFound = (id: string) =>
  new ApiProblem(404, 'workload_not_found', `no session or service ${id} is running or queued that you can open`);

export class ProxyAccess {
  private readonly now: () => number;
  private readonly audited = new Map<string, number>();
  private readonly lockboxAllowed = new Map<string, number>();
  private readonly max: number;

  constructor(private readonly d: ProxyAccessDeps) {
    this.now = d.now ?? Date.now;
    this.max = d.memoryMax ?? ADMISSION_MEMORY_MAX;
  }

  /** remembered: how many opens and lockbox passes are remembered now (bounded by ADMISSION_MEMORY_MAX). */
  remembered(): { audited: number; lockbox: number } {
    return { audited: this.audited.size, lockbox: this.lockboxAllowed.size };
  }

  /** resolve: the first source that knows the workload, with its answer. */
  async resolve(workloadId: string): Promise<{ res: Resolution; source: ProxyTargetSource | null }> {
    for (const source of this.d.sources) {
      const res = await source.resolve(workloadId);
      if (res.ok || res.code !== 'not_found') return { res, source };
    }
    return { res: { ok: false, code: 'not_found' }, source: null };
  }

  /** admit: the workload and who asks for it, or an ApiProblem to answer with. */
  async admit(r: AdmissionRequest): Promise<Admission> {
    const { rates } = this.d;
    await rates.address(r.ip);
    const bearer = /^Bearer\s+(\S+)$/i.exec(r.authorization ?? '')?.[1];
    const cookie = cookieValue(r.cookie);
    let principal: Principal | null = null;
    if (bearer) {
      await rates.checkAuthAllowed(r.ip);
      principal = await this.d.authenticate(bearer).catch(async (err: unknown) => {
        await rates.authFailed(r.ip);
        throw err;
      });
    } else if (cookie) {
      principal = this.d.tickets.principalOf(cookie, r.workloadId);
    }
    const { res, source } = await this.resolve(r.workloadId);
    if (!principal && bearer && res.ok && source && (await this.publicKey(source, res.target, bearer))) {
      return { target: res.target, source, principal: null };
    }
    if (!principal) {
      await rates.authFailed(r.ip);
      throw new ApiProblem(
        401,
        'unauthenticated',
        bearer
          ? 'the token is not valid'
          : 'sign in: send Authorization: Bearer <token>, or open the session with `gigafab session open ID` (a one-time link)',
      );
    }
    if (!res.ok && res.code === 'not_found') throw notFound(r.workloadId);
    const org = res.ok ? res.target.org : res.org;
    const kind = res.ok ? res.target.kind : 'session';
    const ctx: RequestContext = { principal, requestId: r.requestId };
    const d = canOpenWorkload(principal, org, kind);
    if (!d.allowed && d.reason === 'other_org') throw notFound(r.workloadId);
    if (!d.allowed && d.reason === 'viewer_read_only') throw new ApiProblem(403, 'forbidden', 'viewers cannot use sessions');
    if (!d.allowed && res.ok) await this.operatorAccess(ctx, res.target);
    else if (!d.allowed)
      throw new ApiProblem(
        403,
        'lockbox_approval_required',
        'operators open a session only with an approved lockbox access, once it runs',
      );
    await rates.workloadOrg(org);
    if (!res.ok) {
      const code = res.code === 'not_ready' ? 'not_ready' : 'workload_not_found';
      throw new ApiProblem(
        503,
        code,
        `${r.workloadId} is not ready yet (${res.message ?? 'starting'}); try again shortly`,
        undefined,
        res.retryAfterS ?? 2,
      );
    }
    if (!source) throw notFound(r.workloadId);
    if (d.allowed) await this.auditOpen(ctx, res.target, r.via ?? 'token');
    return { target: res.target, source, principal };
  }

  /** auditOpen: record the open, at most once per principal and workload every AUDIT_EVERY_MS (links and tunnels: always). */
  async auditOpen(ctx: RequestContext, target: ProxyTarget, via: OpenVia): Promise<void> {
    const k = `${ctx.principal.userId}|${target.workloadId}`;
    const last = this.audited.get(k);
    if (via === 'token' && last !== undefined && this.now() - last < AUDIT_EVERY_MS) return;
    remember(this.audited, k, this.now(), this.max);
    await this.d.audit(ctx, target, via);
  }

  /** operatorAccess: an operator passes only with an approved lockbox access to every job of the workload. */
  private async operatorAccess(ctx: RequestContext, target: ProxyTarget): Promise<void> {
    const k = `${ctx.principal.userId}|${target.workloadId}|${target.jobIds.join(',')}`;
    const until = this.lockboxAllowed.get(k);
    if (until !== undefined && until > this.now()) return;
    try {
      for (const id of target.jobIds) await this.d.lockboxCheck(ctx, target.org, `job:${id}`);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'lockbox_approval_required') {
        throw new ApiProblem(403, 'lockbox_approval_required', err.detail);
      }
      throw err;
    }
    remember(this.lockboxAllowed, k, this.now() + LOCKBOX_CACHE_MS, this.max);
  }

  private async publicKey(source: ProxyTargetSource, target: ProxyTarget, key: string): Promise<boolean> {
    return target.visibility === 'public' && !!source.checkApiKey && (await source.checkApiKey(target, key));
  }
}
