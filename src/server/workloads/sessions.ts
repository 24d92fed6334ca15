/**
 * Sessions (kind `session`): what the control plane adds to a job that is interactive.
 *   - the proxy's source (SessionTargets) and its traffic counters;
 *   - recordOpen: every open of a session (a one-time link or a token at the proxy) is an audit
 *     record and a job event;
 *   - the idle timeout: no proxied traffic for `idleTimeoutMinutes` → a warning event first (at
 *     warnAt), then the session is stopped with the reason as an event (`idle-stop`); it ends
 *     cancelled. Its time limit is the job's maxRuntimeSeconds (the driver stops it as timed-out).
 *   - list: the running and queued sessions a caller may see, with time left and idle time.
 * Idle time counts from the session's start or the last bytes through the proxy (a request's start
 * or end, or data on a response or WebSocket, seen by this control plane process): an open
 * connection that carries nothing is idle.
 */
import { canSeeOrg, isOperator } from '../../model/authz.js';
import type { RequestContext } from '../../model/principal.js';
import type { JobSpec } from '../../model/schemas.js';
import { idleTimeoutMs, kindOf, type OpenVia } from '../../model/workloads.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import type { SchedulingState } from '../cycle/scheduling-state.js';
import type { EventBus } from '../event-bus.js';
import { insertEvent } from '../job-events.js';
import { SessionTargets } from './session-targets.js';

export const SESSION_ACTOR = 'system:sessions';

const VIA_TEXT: Record<OpenVia, string> = { link: 'open link', token: 'API token', tunnel: 'SSH tunnel' };

export interface SessionsDeps {
  state: SchedulingState;
  store: Store;
  bus: EventBus;
  now: () => number;
  /** Stops a running job (the cycle's one stop rule) with the control plane's grace. */
  stop(jobId: string): Promise<void>;
  /** How often idle sessions are looked for (ms); default 1000. */
  idleCheckMs?: number;
}

export interface SessionView {
  jobId: string;
  org: string;
  project: string;
  /** null for an operator (the name is tenant-written). */
  name: string | null;
  state: 'queued' | 'running';
  preset: string;
  ready: boolean;
  startedAt: string | null;
  timeLimitSeconds: number;
  timeLeftSeconds: number | null;
  idleSeconds: number | null;
  idleTimeoutMinutes: number | null;
  /** The dataset the session keeps its work in (session.stateDataset); null: scratch only, gone with it. */
  stateDataset: string | null;
}

/** When the idle warning comes: before the stop by at most 5 minutes, and at half the timeout at the earliest. */
export const warnAfterMs = (timeoutMs: number) => timeoutMs - Math.min(5 * 60_000, timeoutMs / 2);

export class Sessions {
  readonly targets: SessionTargets;
  private timer: NodeJS.Timeout | null = null;
  /** Sessions warned of their idle stop, with the idle period's start it was about (new traffic: warn again). */
  private readonly warned = new Map<string, number>();
  private readonly stopping = new Set<string>();

  constructor(private readonly d: SessionsDeps) {
    this.targets = new SessionTargets(d.state, d.now);
  }

  /** recordOpen: an audit record (`session.open`) and a job event for an open of a session. */
  async recordOpen(ctx: RequestContext, jobId: string, org: string, via: OpenVia): Promise<void> {
    const at = new Date(this.d.now()).toISOString();
    const who = ctx.principal.userId;
    const event = await this.d.store.write(async (trx) => {
      await appendAudit(trx, {
        at,
        actor: who,
        org,
        action: 'session.open',
        objectType: 'job',
        objectId: jobId,
        after: { via },
        requestId: ctx.requestId,
      });
      return insertEvent(trx, jobId, at, 'session-opened', `opened by ${who} (${VIA_TEXT[via]})`, {
        by: who,
        via,
      });
    });
    this.d.bus.publish({ org, event });
  }

  /** list: running and queued sessions of the caller's organisation (operators: all, without names). */
  list(ctx: RequestContext): SessionView[] {
    const p = ctx.principal;
    const now = this.d.now();
    const out: SessionView[] = [];
    const view = (jobId: string, org: string, project: string, spec: JobSpec, startedAt: number | null, ready: boolean) => {
      if (!canSeeOrg(p, org).allowed) return;
      const limit = spec.maxRuntimeSeconds;
      const idleMs = startedAt === null ? null : now - Math.max(startedAt, this.targets.trafficOf(jobId).lastAt);
      out.push({
        jobId,
        org,
        project,
        name: isOperator(p) ? null : spec.name,
        state: startedAt === null ? 'queued' : 'running',
        preset: spec.session?.preset ?? 'http',
        ready,
        startedAt: startedAt === null ? null : new Date(startedAt).toISOString(),
        timeLimitSeconds: limit,
        timeLeftSeconds: startedAt === null ? null : Math.max(0, Math.round(limit - (now - startedAt) / 1000)),
        idleSeconds: idleMs === null ? null : Math.max(0, Math.round(idleMs / 1000)),
        idleTimeoutMinutes: spec.session?.idleTimeoutMinutes ?? null,
        stateDataset: spec.session?.stateDataset ?? null,
      });
    };
    for (const [id, r] of this.d.state.running) {
      if (kindOf(r.spec) === 'session') view(id, r.org, r.project, r.spec, r.startedAt, !!r.endpoint);
    }
    for (const [id, spec] of this.d.state.queuedSpecs) {
      const q = this.d.state.queue.get(id);
      if (q && kindOf(spec) === 'session') view(id, q.org, q.project, spec, null, false);
    }
    return out.sort((a, b) => Number(b.jobId) - Number(a.jobId));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.checkIdle().catch(() => {}), this.d.idleCheckMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** checkIdle: warn idle sessions, and stop those past their idle timeout. */
  async checkIdle(): Promise<void> {
    const now = this.d.now();
    const live = new Set<string>();
    for (const [id, r] of this.d.state.running) {
      if (kindOf(r.spec) !== 'session') continue;
      live.add(id);
      const timeout = idleTimeoutMs(r.spec);
      if (timeout === null || this.stopping.has(id)) continue;
      const since = Math.max(r.startedAt, this.targets.trafficOf(id).lastAt);
      const idle = now - since;
      if (idle < warnAfterMs(timeout)) {
        this.warned.delete(id);
        continue;
      }
      const minutes = r.spec.session?.idleTimeoutMinutes ?? 0;
      if (idle >= timeout) {
        this.stopping.add(id);
        await this.event(id, r.org, 'idle-stop', `stopped: no traffic through the proxy for ${minutes} min (its idle timeout)`, {
          idleSeconds: Math.round(idle / 1000),
        });
        await this.d.stop(id);
      } else if (this.warned.get(id) !== since) {
        this.warned.set(id, since);
        const left = Math.ceil((timeout - idle) / 1000);
        await this.event(
          id,
          r.org,
          'idle-warning',
          `idle: stops in ${left} s unless the session gets traffic (idle timeout ${minutes} min)`,
          {
            stopsInSeconds: left,
          },
        );
      }
    }
    for (const id of this.warned.keys()) if (!live.has(id)) this.warned.delete(id);
    for (const id of this.stopping) if (!live.has(id)) this.stopping.delete(id);
    for (const id of [...this.targets.known()]) if (!live.has(id) && !this.d.state.queue.has(id)) this.targets.forget(id);
  }

  private async event(jobId: string, org: string, type: string, message: string, data: Record<string, number>): Promise<void> {
    const at = new Date(this.d.now()).toISOString();
    const event = await this.d.store.write(async (trx) => {
      if (type === 'idle-stop') {
        await appendAudit(trx, {
          at,
          actor: SESSION_ACTOR,
          org,
          action: 'session.idle-stop',
          objectType: 'job',
          objectId: jobId,
          after: data,
        });
      }
      return insertEvent(trx, jobId, at, type, message, data);
    });
    this.d.bus.publish({ org, event });
  }
}
