/**
 * SessionTargets: the workload proxy's source for sessions (a session's workload id is its job id).
 * A running session with a reported endpoint resolves to it; a queued or just-started one is not
 * ready yet (503 + Retry-After); anything else (unknown, ended, a batch job) is not found.
 * It also counts the proxied traffic of each session (in flight, last request), which the idle
 * timeout reads (workloads/session-idle.ts).
 */
import type { ProxyTarget, ProxyTargetSource, Resolution, Upstream } from '../../model/workloads.js';
import { kindOf } from '../../model/workloads.js';
import type { SchedulingState } from '../cycle/scheduling-state.js';

/** Seconds a client is told to wait for a session that is queued or starting. */
export const SESSION_RETRY_AFTER_S = 2;

export interface SessionTraffic {
  inFlight: number;
  /** Epoch ms of the last request's start or end (or of the session's start, before any). */
  lastAt: number;
}

export class SessionTargets implements ProxyTargetSource {
  private readonly traffic = new Map<string, SessionTraffic>();

  constructor(
    private readonly state: Pick<SchedulingState, 'running' | 'queue' | 'queuedSpecs'>,
    private readonly now: () => number = Date.now,
  ) {}

  async resolve(workloadId: string): Promise<Resolution> {
    const r = this.state.running.get(workloadId);
    if (r && kindOf(r.spec) === 'session') {
      if (!r.endpoint) return this.notReady(r.org, r.project, 'the session is starting');
      const upstream: Upstream = { jobId: workloadId, ...r.endpoint };
      const target: ProxyTarget = {
        workloadId,
        org: r.org,
        project: r.project,
        kind: 'session',
        visibility: 'private',
        jobIds: [workloadId],
        upstreams: [upstream],
        ...(r.spec.session?.preset === 'ssh' ? { protocol: 'tcp' as const } : {}),
      };
      return { ok: true, target };
    }
    const spec = this.state.queuedSpecs.get(workloadId);
    const queued = this.state.queue.get(workloadId);
    if (spec && queued && kindOf(spec) === 'session') return this.notReady(queued.org, queued.project, 'the session is queued');
    return { ok: false, code: 'not_found' };
  }

  private notReady(org: string, project: string, message: string): Resolution {
    return { ok: false, code: 'not_ready', org, project, retryAfterS: SESSION_RETRY_AFTER_S, message };
  }

  requestStarted(target: ProxyTarget, _u: Upstream): void {
    const t = this.trafficOf(target.workloadId);
    t.inFlight++;
    t.lastAt = this.now();
  }

  requestEnded(target: ProxyTarget, _u: Upstream): void {
    const t = this.trafficOf(target.workloadId);
    t.inFlight = Math.max(0, t.inFlight - 1);
    t.lastAt = this.now();
  }

  trafficSeen(target: ProxyTarget): void {
    this.trafficOf(target.workloadId).lastAt = this.now();
  }

  /** The session's traffic so far (null: none since this control plane started). */
  trafficOf(jobId: string): SessionTraffic {
    let t = this.traffic.get(jobId);
    if (!t) {
      t = { inFlight: 0, lastAt: this.now() };
      this.traffic.set(jobId, t);
    }
    return t;
  }

  /** known: the sessions with traffic counters. */
  known(): IterableIterator<string> {
    return this.traffic.keys();
  }

  /** forget: the session ended; its counters go. */
  forget(jobId: string): void {
    this.traffic.delete(jobId);
  }
}
