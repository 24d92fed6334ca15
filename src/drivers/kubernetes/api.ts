/**
 * A very small Kubernetes REST client: JSON requests with a bearer token and an optional CA bundle,
 * over node:http / node:https (global fetch cannot take a CA file without undici). Only the few
 * core/v1 shapes the Kubernetes driver reads are typed here.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

/** In-cluster service-account paths (used when no tokenFile / caFile is configured and they exist). */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
export const SERVICE_ACCOUNT_CA = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';

export interface KubeClientOptions {
  /** e.g. https://10.0.0.1:6443 (http:// only for tests). */
  apiServer: string;
  /** File holding a bearer token; read on every request (service-account tokens rotate). */
  tokenFile?: string;
  /** CA bundle (PEM) the API server's certificate is checked against. */
  caFile?: string;
  /** Bound on each request. Default 30 s. */
  requestTimeoutMs?: number;
}

export interface KubeResponse {
  status: number;
  text: string;
  /** The parsed JSON body, or null if the body is not JSON. */
  json: unknown;
}

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | undefined>;

export class KubeClient {
  private readonly base: URL;
  private readonly tokenFile: string | undefined;
  private readonly ca: Buffer | undefined;
  /** Requests sent (diagnostics). */
  requests = 0;

  constructor(private readonly opts: KubeClientOptions) {
    this.base = new URL(opts.apiServer);
    if (this.base.protocol !== 'https:' && this.base.protocol !== 'http:')
      throw new Error(`apiServer must be an http(s) URL: ${opts.apiServer}`);
    this.tokenFile = opts.tokenFile ?? (existsSync(SERVICE_ACCOUNT_TOKEN) ? SERVICE_ACCOUNT_TOKEN : undefined);
    const caFile = opts.caFile ?? (existsSync(SERVICE_ACCOUNT_CA) ? SERVICE_ACCOUNT_CA : undefined);
    this.ca = caFile ? readFileSync(caFile) : undefined;
  }

  /** request sends one call; it resolves with any HTTP status (callers decide) and rejects on transport errors. */
  request(method: string, path: string, query: Query = {}, body?: unknown): Promise<KubeResponse> {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { Accept: 'application/json, */*' };
    const token = this.tokenFile ? readFileSync(this.tokenFile, 'utf8').trim() : '';
    if (token) headers.Authorization = `Bearer ${token}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    this.requests++;
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<KubeResponse>((resolve, reject) => {
      const req = lib.request(url, { method, headers, ca: this.ca, timeout: this.opts.requestTimeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      });
      req.on('timeout', () =>
        req.destroy(new Error(`${method} ${url.pathname}: no answer in ${this.opts.requestTimeoutMs ?? 30_000} ms`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** call: request, and throw a KubeApiError for any status outside `ok` (default 2xx). */
  async call(method: string, path: string, query: Query = {}, body?: unknown, ok: number[] = []): Promise<KubeResponse> {
    const res = await this.request(method, path, query, body);
    if ((res.status >= 200 && res.status < 300) || ok.includes(res.status)) return res;
    const st = asStatus(res.json);
    throw new KubeApiError(
      res.status,
      st?.reason ?? '',
      `${method} ${path}: HTTP ${res.status}${st?.message ? ` ${st.message}` : res.text ? ` ${res.text.slice(0, 200)}` : ''}`,
    );
  }
}

// ---------------------------------------------------------------- core/v1 shapes (only what is read)

export interface KubeStatus {
  kind: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

export function asStatus(v: unknown): KubeStatus | null {
  return isObject(v) && v.kind === 'Status' ? (v as unknown as KubeStatus) : null;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface ContainerStateTerminated {
  exitCode: number;
  reason?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface ContainerStatus {
  name: string;
  state?: {
    running?: { startedAt?: string };
    waiting?: { reason?: string; message?: string };
    terminated?: ContainerStateTerminated;
  };
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  /** subdomain: the headless Service of a gang's pods (its name). */
  spec?: { nodeName?: string; subdomain?: string };
  status?: {
    phase?: PodPhase;
    reason?: string;
    message?: string;
    startTime?: string;
    containerStatuses?: ContainerStatus[];
    /** The pod's address on the pod network (sessions and services are reached there). */
    podIP?: string;
    conditions?: { type: string; status: string }[];
  };
}

export interface KubeNode {
  metadata: ObjectMeta;
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export interface List<T> {
  kind?: string;
  metadata?: { resourceVersion?: string };
  items: T[];
}

export function asList<T>(v: unknown, what: string): List<T> {
  if (!isObject(v) || !Array.isArray(v.items)) throw new Error(`expected a ${what} list from the API server`);
  return v as unknown as List<T>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
