/**
 * ServiceTargets: the workload proxy's source for services (a service's workload id is its id,
 * `svc-…`, never a job id). A service with ready replicas resolves to them; one with none (scaled
 * to zero, starting, rolling) holds the request in its cold-start queue — which counts as load, so
 * the autoscaler starts a replica — until one is ready or the cold-start timeout passes (then 503
 * with Retry-After). The proxied requests it is told about are the load the autoscaler follows
 * and the statistics `service show` and /metrics report.
 */
import { createHash } from 'node:crypto';
import type { ProxyTarget, ProxyTargetSource, RequestOutcome, Resolution, Upstream } from '../../model/workloads.js';
import type { Store } from '../../store/open-store.js';
import type { ServicesTable } from '../../store/schema-services.js';
import type { ReplicaLoop } from './replica-loop.js';
import type { ServiceLoad } from './service-load.js';

export const SERVICE_ID = /^svc-[0-9a-f]{10}$/;
/** Seconds a client is told to wait after a cold start timed out. */
export const SERVICE_RETRY_AFTER_S = 5;

export interface ServiceTargetsDeps {
  store: Store;
  loop: Pick<ReplicaLoop, 'serviceRow' | 'readyUpstreams' | 'poke' | 'liveServiceIds'>;
  load: ServiceLoad;
  now: () => number;
  /** How long a request waits for a first ready replica (cold start). */
  coldStartTimeoutMs?: number;
}

export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');

function targetOf(workloadId: string, row: ServicesTable, upstreams: Upstream[]): ProxyTarget {
  return {
    workloadId,
    org: row.org_id,
    project: row.project_id,
    kind: 'service',
    visibility: row.visibility === 'public' ? 'public' : 'private',
    jobIds: upstreams.map((u) => u.jobId),
    upstreams,
  };
}

export class ServiceTargets implements ProxyTargetSource {
  /** Start times of the requests in flight per replica, oldest first (latency when the proxy gives none). */
  private readonly starts = new Map<string, number[]>();

  constructor(private readonly d: ServiceTargetsDeps) {}

  async resolve(workloadId: string): Promise<Resolution> {
    if (!SERVICE_ID.test(workloadId)) return { ok: false, code: 'not_found' };
    const row = await this.d.loop.serviceRow(workloadId);
    if (!row) return { ok: false, code: 'not_found' };
    let upstreams = this.d.loop.readyUpstreams(workloadId);
    if (upstreams.length === 0) upstreams = await this.coldStart(workloadId);
    if (upstreams.length === 0) {
      return {
        ok: false,
        code: 'not_ready',
        org: row.org_id,
        project: row.project_id,
        retryAfterS: SERVICE_RETRY_AFTER_S,
        message: `service ${workloadId} has no ready replica yet`,
      };
    }
    return { ok: true, target: targetOf(workloadId, row, upstreams) };
  }

  /** routes: every service with a ready replica now, without waiting (the nginx data plane routes these). */
  async routes(): Promise<ProxyTarget[]> {
    const out: ProxyTarget[] = [];
    for (const id of this.d.loop.liveServiceIds()) {
      const upstreams = this.d.loop.readyUpstreams(id);
      if (upstreams.length === 0) continue;
      const row = await this.d.loop.serviceRow(id);
      if (row) out.push(targetOf(id, row, upstreams));
    }
    return out;
  }

  /** coldStart: waits in the service's queue (which the autoscaler counts) for a ready replica. */
  private async coldStart(id: string): Promise<Upstream[]> {
    const deadline = this.d.now() + (this.d.coldStartTimeoutMs ?? 60_000);
    this.d.load.queuedChanged(id, 1);
    this.d.loop.poke();
    try {
      for (;;) {
        const ups = this.d.loop.readyUpstreams(id);
        if (ups.length > 0 || this.d.now() >= deadline) return ups;
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      this.d.load.queuedChanged(id, -1);
    }
  }

  requestStarted(target: ProxyTarget, u: Upstream): void {
    this.d.load.requestStarted(target.workloadId, u.jobId);
    const key = `${target.workloadId}/${u.jobId}`;
    const pending = this.starts.get(key);
    if (pending) pending.push(this.d.now());
    else this.starts.set(key, [this.d.now()]);
  }

  requestEnded(target: ProxyTarget, u: Upstream, outcome?: RequestOutcome): void {
    const key = `${target.workloadId}/${u.jobId}`;
    const pending = this.starts.get(key) ?? [];
    const startedAt = pending.shift();
    if (pending.length === 0) this.starts.delete(key);
    const ms = outcome?.ms ?? (startedAt === undefined ? 0 : this.d.now() - startedAt);
    const error = outcome !== undefined && (outcome.status === null || outcome.status >= 500);
    this.d.load.requestEnded(target.workloadId, u.jobId, ms, error);
  }

  /** checkApiKey: whether `key` is one of the public service's own API keys (not revoked). */
  async checkApiKey(target: ProxyTarget, key: string): Promise<boolean> {
    if (target.kind !== 'service' || target.visibility !== 'public') return false;
    const row = await this.d.store.db
      .selectFrom('service_api_keys')
      .select('id')
      .where('service_id', '=', target.workloadId)
      .where('hash', '=', hashApiKey(key))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row !== undefined;
  }
}
