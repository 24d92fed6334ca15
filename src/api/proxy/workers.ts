/**
 * Proxy workers (`gigafab server --proxy-workers N`): N processes (node:cluster) share the proxy's
 * listening socket and do the HTTP work — parsing, forwarding, streaming — while every decision
 * stays in the server process: each request's admission (token, cookie or service key;
 * organisation; lockbox; rate limits; readiness and cold start; the audit of an open) is asked of
 * the one ProxyAccess here over IPC, per request, uncached, so a worker enforces exactly what the
 * in-process proxy enforces and an open is audited once, by this process. What a worker tells
 * back (requests started and ended per replica, traffic) is batched once per event-loop turn and
 * feeds the same sources (the autoscaler's load, the sessions' idle timeout). Each worker balances
 * by the requests in flight it sees itself. worker.ts is the worker's side of the protocol.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Principal } from '../../model/principal.js';
import type { ProxyTarget, ProxyTargetSource } from '../../model/workloads.js';
import type { AdmissionRequest, ProxyAccess } from './access.js';
import type { OpenTickets } from './open-tickets.js';
import { asProblem } from './problem.js';

/** What a worker is started with (in GIGAFAB_PROXY_WORKER, as JSON). */
export interface WorkerConfig {
  port: number;
  host: string;
  baseDomain: string;
  scheme: 'http' | 'https';
}
export const WORKER_CONFIG_ENV = 'GIGAFAB_PROXY_WORKER';

export interface WireProblem {
  status: number;
  code: string;
  detail: string;
  retryAfterSeconds?: number;
}

/**
 * A worker's report about admission `n`: s = an attempt started on upstream i; e = it ended (with
 * the status, null: no answer, and the milliseconds; absent for a WebSocket); t = traffic; d = the
 * request or WebSocket is over on the client's side.
 */
export type WireEvent =
  | ['s', number, number]
  | ['e', number, number]
  | ['e', number, number, number | null, number]
  | ['t', number]
  | ['d', number];

export type ToServer =
  | { t: 'admit'; n: number; r: AdmissionRequest }
  | { t: 'redeem'; n: number; ticket: string; workloadId: string }
  | { t: 'ev'; e: WireEvent[] };

export type ToWorker =
  | { t: 'ok'; n: number; target: ProxyTarget; principal: Principal | null; traffic: boolean }
  | { t: 'no'; n: number; p: WireProblem }
  | { t: 'redeemed'; n: number; got: { cookie: string; maxAgeS: number } | null };

export interface ProxyWorkersOptions extends WorkerConfig {
  count: number;
  access: ProxyAccess;
  tickets: OpenTickets;
  /** A line for the server's log (a worker that died and was replaced). */
  log?: (line: string) => void;
}

export interface ProxyWorkers {
  /** The port the workers listen on (the one asked for, or the one picked for 0). */
  port: number;
  close(): Promise<void>;
}

/** An admission a worker still uses: its target and source, and the attempts started but not ended. */
interface Held {
  target: ProxyTarget;
  source: ProxyTargetSource;
  open: number[];
  done: boolean;
}

/** startProxyWorkers: forks the workers and answers their admissions; resolves once all listen. */
export function startProxyWorkers(o: ProxyWorkersOptions): Promise<ProxyWorkers> {
  const cfg: WorkerConfig = { port: o.port, host: o.host, baseDomain: o.baseDomain, scheme: o.scheme };
  const held = new Map<Worker, Map<number, Held>>();
  const workers = new Set<Worker>();
  let closing = false;
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.js', import.meta.url)), args: [] });

  const send = (w: Worker, m: ToWorker) => {
    if (w.isConnected()) w.send(m);
  };

  const onMessage = (w: Worker, m: ToServer) => {
    const mine = held.get(w);
    if (!mine) return;
    if (m.t === 'admit') {
      o.access.admit(m.r).then(
        (adm) => {
          mine.set(m.n, { target: adm.target, source: adm.source, open: [], done: false });
          send(w, { t: 'ok', n: m.n, target: adm.target, principal: adm.principal, traffic: !!adm.source.trafficSeen });
        },
        (err: unknown) => {
          const p = asProblem(err);
          const wire: WireProblem = { status: p.status, code: p.code, detail: p.detail };
          if (p.retryAfterSeconds !== undefined) wire.retryAfterSeconds = p.retryAfterSeconds;
          send(w, { t: 'no', n: m.n, p: wire });
        },
      );
    } else if (m.t === 'redeem') {
      const got = o.tickets.redeem(m.ticket, m.workloadId);
      send(w, { t: 'redeemed', n: m.n, got: got ? { cookie: got.cookie, maxAgeS: got.maxAgeS } : null });
    } else if (m.t === 'ev') {
      for (const e of m.e) applyEvent(mine, e);
    }
  };

  const applyEvent = (mine: Map<number, Held>, e: WireEvent) => {
    const h = mine.get(e[1]);
    if (!h) return;
    if (e[0] === 's') {
      const u = h.target.upstreams[e[2]];
      if (!u) return;
      h.open.push(e[2]);
      h.source.requestStarted(h.target, u);
    } else if (e[0] === 'e') {
      const u = h.target.upstreams[e[2]];
      const i = h.open.indexOf(e[2]);
      if (!u || i < 0) return;
      h.open.splice(i, 1);
      h.source.requestEnded(h.target, u, e.length === 5 ? { status: e[3], ms: e[4] } : undefined);
    } else if (e[0] === 't') {
      h.source.trafficSeen?.(h.target);
    } else {
      h.done = true;
    }
    if (h.done && h.open.length === 0) mine.delete(e[1]);
  };

  /** A worker that is gone ends what it had in flight (the load must not stay counted forever). */
  const forgetWorker = (w: Worker) => {
    for (const h of held.get(w)?.values() ?? []) {
      for (const i of h.open) {
        const u = h.target.upstreams[i];
        if (u) h.source.requestEnded(h.target, u);
      }
    }
    held.delete(w);
    workers.delete(w);
  };

  const fork = (): Worker => {
    const w = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(cfg) });
    workers.add(w);
    held.set(w, new Map());
    w.on('message', (m: ToServer) => onMessage(w, m));
    w.once('exit', (code, signal) => {
      forgetWorker(w);
      if (closing) return;
      o.log?.(`proxy worker ${w.process.pid} exited (${signal ?? code}); starting another`);
      setTimeout(() => {
        if (!closing) fork();
      }, 1000).unref();
    });
    return w;
  };

  const close = async () => {
    closing = true;
    await Promise.all(
      [...workers].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const t = setTimeout(() => {
              w.process.kill('SIGKILL');
              resolve();
            }, 5000);
            w.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.kill();
          }),
      ),
    );
  };

  return new Promise<ProxyWorkers>((resolve, reject) => {
    let listening = 0;
    let port = o.port;
    for (let i = 0; i < o.count; i++) {
      const w = fork();
      const failed = (code: number | null) => {
        void close().then(() => reject(new Error(`a proxy worker exited before it listened (exit code ${code})`)));
      };
      w.once('exit', failed);
      w.once('listening', (a: { port: number }) => {
        w.off('exit', failed);
        port = a.port;
        // A replacement listens on the port the first ones got (not a new one when 0 was asked for).
        cfg.port = port;
        if (++listening === o.count) resolve({ port, close });
      });
    }
  });
}
