/**
 * The workload proxy: its own listener (`gigafab server --proxy-port`), where every session and
 * service has a host `<workload-id>.<base-domain>` (host-name.ts). Each request is admitted
 * (access.ts: credentials, organisation, lockbox, rate limit, readiness) and then forwarded
 * (forward-http.ts, forward-ws.ts). `/_gigafab/open?ticket=` turns a one-time open link into the
 * host's cookie (open-tickets.ts). TLS is terminated in front of it (README: a reference config).
 * The listener asks a ProxyGate to admit: in this process (createWorkloadProxy) or, in a proxy
 * worker process, the server process over IPC (workers.ts, worker.ts).
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { requireListenerClassified } from '../route-classes.js';
import { type Admission, type AdmissionRequest, ProxyAccess, type ProxyAccessDeps } from './access.js';
import { Balancer } from './balancer.js';
import { type ForwardDeps, forwardHttp } from './forward-http.js';
import { forwardTunnel, isTunnelRequest, TUNNEL_PATH } from './forward-tunnel.js';
import { forwardUpgrade } from './forward-ws.js';
import { FALLBACK_SECRET_HEADER, type Forwarded } from './headers.js';
import { workloadIdOf } from './host-name.js';
import { COOKIE_NAME, OPEN_PATH } from './open-tickets.js';
import { ApiProblem, asProblem, rejectUpgrade, sendProblem } from './problem.js';

export interface WorkloadProxyOptions extends ProxyAccessDeps {
  /** Workload hosts are `<id>.<baseDomain>` (default `localhost`). */
  baseDomain?: string;
  /** The scheme clients use (https when TLS is terminated in front): Secure cookies, X-Forwarded-Proto. */
  scheme?: 'http' | 'https';
  /**
   * Behind gigafab's own nginx data plane (nginx-plane.ts): the client's address is nginx's
   * X-Real-IP, but only on a request that carries `secret` in FALLBACK_SECRET_HEADER (nginx's own;
   * another process on this host reaching the loopback listener would otherwise choose the address
   * that rate limits and audited opens record).
   */
  behindNginx?: { secret: string };
}

/** What the listener asks before forwarding: admission, and the one-time open links. */
export interface ProxyGate {
  admit(r: AdmissionRequest): Promise<Admission>;
  /** redeem: a one-time open link of `workloadId` for the host's cookie (null: used or expired). */
  redeem(ticket: string, workloadId: string): Promise<{ cookie: string; maxAgeS: number } | null>;
}

export interface ProxyListener {
  readonly server: Server;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export interface WorkloadProxy extends ProxyListener {
  readonly access: ProxyAccess;
}

/** At most one traffic report per workload and second: a busy stream must not cost a call per chunk. */
function trafficReporter(): ForwardDeps['onTraffic'] {
  const last = new Map<string, number>();
  return (adm: Admission) => {
    const now = Date.now();
    const k = `${adm.target.kind}:${adm.target.workloadId}`;
    if ((last.get(k) ?? 0) + 1000 > now) return;
    last.set(k, now);
    if (last.size > 10_000) last.clear();
    adm.source.trafficSeen?.(adm.target);
  };
}

/** createWorkloadProxy: the proxy in this process, admitting with `o`'s access rules. */
export function createWorkloadProxy(o: WorkloadProxyOptions): WorkloadProxy {
  const access = new ProxyAccess(o);
  const gate: ProxyGate = {
    admit: (r) => access.admit(r),
    redeem: async (ticket, id) => o.tickets.redeem(ticket, id),
  };
  return { ...createProxyListener(gate, o), access };
}

/**
 * createProxyListener: the HTTP side of the proxy — host → workload, admission by `gate`, then
 * forwarding. `released(adm)`, when given, hears when an admitted request or WebSocket is over
 * (a worker then lets the server process forget the admission).
 */
/** What this listener serves, each classified in route-classes.ts (LISTENER_ROUTE_CLASSES) or the listener is refused. */
export const PROXY_ROUTES: readonly string[] = [`ANY ${OPEN_PATH}`, `UPGRADE ${TUNNEL_PATH}`, 'ANY /{path}', 'UPGRADE /{path}'];

export function createProxyListener(
  gate: ProxyGate,
  o: {
    baseDomain?: string;
    scheme?: 'http' | 'https';
    released?: (adm: Admission) => void;
    behindNginx?: { secret: string };
  },
): ProxyListener {
  requireListenerClassified('proxy', PROXY_ROUTES);
  const baseDomain = o.baseDomain ?? 'localhost';
  const scheme = o.scheme ?? 'http';
  const deps: ForwardDeps = {
    balancer: new Balancer(),
    // Kept-alive connections to the replicas, without Nagle's delay (a request's head and body are
    // separate writes), at most 512 per replica.
    agent: new Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, noDelay: true }),
    onTraffic: trafficReporter(),
  };
  const clientIp = (req: IncomingMessage): string => {
    const fromNginx = o.behindNginx !== undefined && req.headers[FALLBACK_SECRET_HEADER] === o.behindNginx.secret;
    const real = fromNginx ? req.headers['x-real-ip'] : undefined;
    return typeof real === 'string' && real ? real : (req.socket.remoteAddress ?? 'unknown');
  };
  const forwarded = (req: IncomingMessage): Forwarded => ({ clientIp: clientIp(req), proto: scheme });

  /** admit: the gate's answer; `released` hears once `closer` (the response or socket) has closed. */
  const admit = async (
    req: IncomingMessage,
    workloadId: string,
    closer: NodeJS.EventEmitter,
    via: 'token' | 'tunnel' = 'token',
  ): Promise<Admission> => {
    const released = o.released;
    let closed = false;
    let adm: Admission | null = null;
    if (released)
      closer.once('close', () => {
        closed = true;
        if (adm) released(adm);
      });
    adm = await gate.admit({
      workloadId,
      authorization: req.headers.authorization,
      cookie: req.headers.cookie,
      ip: clientIp(req),
      requestId: randomUUID(),
      via,
    });
    if (closed) released?.(adm);
    return adm;
  };

  /** An `ssh` session speaks no HTTP: only the tunnel reaches it. */
  const httpOnly = (adm: Admission): Admission => {
    if (adm.target.protocol !== 'tcp') return adm;
    throw new ApiProblem(
      400,
      'tunnel_only',
      `${adm.target.workloadId} is an ssh session: connect with ssh -o ProxyCommand='gigafab session tunnel ${adm.target.workloadId}' (see gigafab session ssh)`,
    );
  };

  const unknownHost = (req: IncomingMessage) =>
    new ApiProblem(
      404,
      'workload_not_found',
      `${req.headers.host ?? 'this host'} names no workload (hosts are <id>.${baseDomain})`,
    );

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    try {
      const id = workloadIdOf(req.headers.host, baseDomain);
      if (!id) throw unknownHost(req);
      if (path === OPEN_PATH || path.startsWith(`${OPEN_PATH}?`)) return await redeem(req, res, id);
      forwardHttp(req, res, httpOnly(await admit(req, id, res)), deps, forwarded(req));
    } catch (err) {
      req.resume();
      sendProblem(res, asProblem(err), path);
    }
  }

  /** redeem: a one-time open link → the host's cookie, then on to `next` (a path on this host). */
  async function redeem(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const got = await gate.redeem(q.get('ticket') ?? '', id);
    if (!got) {
      throw new ApiProblem(
        401,
        'open_link_invalid',
        'this open link was used already or has expired: run `gigafab session open ID` again',
      );
    }
    const next = q.get('next') ?? '/';
    const location = next.startsWith('/') && !next.startsWith('//') ? next : '/';
    const cookie = `${COOKIE_NAME}=${got.cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${got.maxAgeS}${scheme === 'https' ? '; Secure' : ''}`;
    res.writeHead(303, { location, 'set-cookie': cookie, 'cache-control': 'no-store', 'content-length': '0' });
    res.end();
  }

  // Upgraded connections leave the server's bookkeeping: close() ends them itself.
  const upgraded = new Set<Duplex>();
  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = req.url ?? '/';
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    socket.on('error', () => socket.destroy());
    try {
      const id = workloadIdOf(req.headers.host, baseDomain);
      if (!id) throw unknownHost(req);
      if (isTunnelRequest(req.headers.upgrade)) return await tunnel(socket, head, id, req, path);
      forwardUpgrade(req, socket, head, httpOnly(await admit(req, id, socket)), deps, forwarded(req));
    } catch (err) {
      rejectUpgrade(socket, asProblem(err), path);
    }
  }

  /** tunnel: a raw TCP connection to a workload that asks for it (an ssh session), admitted and audited like an open. */
  async function tunnel(socket: Duplex, head: Buffer, id: string, req: IncomingMessage, path: string): Promise<void> {
    if (path !== TUNNEL_PATH) throw new ApiProblem(404, 'not_found', `the tunnel is at ${TUNNEL_PATH}`);
    const adm = await admit(req, id, socket, 'tunnel');
    if (adm.target.protocol !== 'tcp') {
      throw new ApiProblem(400, 'tunnel_not_supported', `${id} serves HTTP: open it in a browser (gigafab session open ${id})`);
    }
    forwardTunnel(socket, head, adm, deps, path);
  }

  const server = createServer({ noDelay: true }, (req, res) => void onRequest(req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void onUpgrade(req, socket, head));

  return {
    server,
    listen: (port, host) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const a = server.address();
          resolve(typeof a === 'object' && a ? a.port : port);
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of upgraded) s.destroy();
        deps.agent.destroy();
      }),
  };
}
