/**
 * Workload kinds on top of the job model. A `batch` job runs to completion (the default); a `session`
 * (interactive: Jupyter, any HTTP port) and a `service` (an inference endpoint) expose a port that
 * the control plane's workload proxy (src/api/proxy) forwards authenticated requests to.
 *
 * The proxy asks one ProxyTargetSource per kind where a workload's requests go; see
 * /work/notes/proxy-contract.md and the README section "Sessions and the workload proxy".
 */
import type { JobSpec } from './schemas.js';

export const WORKLOAD_KINDS = ['batch', 'session', 'service'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export const SESSION_PRESETS = ['jupyter', 'ssh', 'http'] as const;
export type SessionPreset = (typeof SESSION_PRESETS)[number];

/** The port Jupyter listens on inside an image when the session names none. */
export const JUPYTER_DEFAULT_PORT = 8888;

/** Where a running job's port can be reached from the control plane (loopback for the local driver). */
export interface Endpoint {
  host: string;
  port: number;
}

/** One running job behind a workload (a session's one job, or one replica of a service). */
export interface Upstream extends Endpoint {
  jobId: string;
}

export type ProxiedKind = Exclude<WorkloadKind, 'batch'>;

/** Where the proxy sends a workload's requests, and who may send them. */
export interface ProxyTarget {
  /** The id in the workload's host name: a session's job id, or a service's id. */
  workloadId: string;
  org: string;
  project: string;
  kind: ProxiedKind;
  /** private: principals of `org` only; public: anyone holding one of the service's own API keys. */
  visibility: 'private' | 'public';
  /** The job ids the lockbox checks an operator's access against (a session: its job). */
  jobIds: string[];
  upstreams: Upstream[];
  /**
   * http (default): HTTP requests and WebSockets are forwarded. tcp: the workload speaks no HTTP (an
   * `ssh` session's sshd): reached only through the proxy's TCP tunnel (api/proxy/forward-tunnel.ts).
   */
  protocol?: 'http' | 'tcp';
}

/** The workload proxy's TCP tunnel (ssh sessions): an HTTP upgrade to this protocol at this path of the session's host. */
export const TUNNEL_PROTOCOL = 'gigafab-tunnel';
export const TUNNEL_PATH = '/_gigafab/tunnel';

/** How a proxied workload was opened: a one-time link (browser), an API token, or a TCP tunnel (ssh). */
export type OpenVia = 'link' | 'token' | 'tunnel';

/**
 * not_ready names the owning org (and project) so that the proxy answers 503 only to its principals:
 * anyone else gets the same 404 as for an unknown workload.
 */
export type Resolution =
  | { ok: true; target: ProxyTarget }
  | { ok: false; code: 'not_found' }
  | { ok: false; code: 'not_ready'; org: string; project: string; retryAfterS?: number; message?: string };

/** What one proxied attempt came to. */
export interface RequestOutcome {
  status: number | null;
  ms: number;
}

/**
 * ProxyTargetSource: one per kind; the proxy asks them in turn and takes the first answer that is
 * not `not_found`. resolve may wait (a service's cold start holds the request up to its timeout).
 * requestStarted/requestEnded bracket every proxied request and WebSocket (traffic = not idle).
 */
export interface ProxyTargetSource {
  resolve(workloadId: string): Promise<Resolution>;
  requestStarted(target: ProxyTarget, u: Upstream): void;
  /** outcome (HTTP only): the upstream's status (null: it never answered) and the time to the end of the response. */
  requestEnded(target: ProxyTarget, u: Upstream, outcome?: RequestOutcome): void;
  /**
   * Optional: bytes passed on a long request or WebSocket of the target (at most once a second per
   * workload). Sessions count it as traffic for their idle timeout; a service may ignore it.
   */
  trafficSeen?(target: ProxyTarget): void;
  /**
   * Public targets (services): whether `key` (the request's bearer token, when it is not a gigafab
   * API token of the owning org) is one of the workload's own API keys. Absent: public means nothing.
   */
  checkApiKey?(target: ProxyTarget, key: string): Promise<boolean>;
  /**
   * Optional: the workloads that can be forwarded to now, with their upstreams, without waiting (no
   * cold start). The nginx data plane (api/proxy/nginx-plane.ts) routes these itself; everything
   * else still goes through gigafab's proxy. Absent: none (sessions: their idle timeout needs the
   * bytes as they pass, and every open is audited).
   */
  routes?(): Promise<ProxyTarget[]>;
}

/** kindOf: a spec's workload kind (batch when absent). */
export function kindOf(spec: Pick<JobSpec, 'kind'>): WorkloadKind {
  return spec.kind ?? 'batch';
}

/** exposesPort: whether the driver gives the job a port and reports its endpoint (sessions and services). */
export function exposesPort(spec: Pick<JobSpec, 'kind'>): boolean {
  return kindOf(spec) !== 'batch';
}

/**
 * containerPort: the port the workload listens on inside its image, when the spec names one (a
 * Jupyter session's default 8888). Absent: the same number as the host port the driver picked.
 */
export function containerPort(spec: Pick<JobSpec, 'kind' | 'session' | 'service' | 'image'>): number | undefined {
  if (spec.image && kindOf(spec) === 'service') return spec.service?.port;
  if (!spec.image || kindOf(spec) !== 'session' || !spec.session) return undefined;
  return spec.session.port ?? (spec.session.preset === 'jupyter' ? JUPYTER_DEFAULT_PORT : undefined);
}

/** A session's idle timeout in ms (no proxied traffic for that long ends it); null: none. */
export function idleTimeoutMs(spec: Pick<JobSpec, 'session'>): number | null {
  const m = spec.session?.idleTimeoutMinutes;
  return m === undefined ? null : m * 60_000;
}
