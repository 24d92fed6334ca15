/**
 * Proxy workers (`gigafab server --proxy-workers N`): N processes (node:cluster) share the proxy's
 * listening socket and do the HTTP work — parsing, forwarding, streaming. Every decision is made by
 * the one ProxyAccess in the server process: a worker asks it over IPC for a request whose
 * credentials and workload it has not seen admitted in the last ADMISSION_TTL_MS, and then admits
 * the same credentials for the same workload LOCALLY until then (local admission: no IPC round trip
 * per request). What keeps that safe:
 * - only what a tenant may open without the lockbox is remembered (an operator's lockbox pass and a
 *   tunnel are asked every time);
 * - invalidate() — called by the API after every request that may change state (a token revoked, a
 *   user disabled, a service deleted, a session stopped, an approval withdrawn …) — makes every
 *   worker forget what it admitted and waits for each to acknowledge before the API answers (a
 *   worker that does not acknowledge in time is killed), so such a change holds from the very next
 *   request; an admission that was being decided while it ran is not remembered;
 * - rate limits stay one set of counters here: workers report the requests they admitted locally,
 *   summed per organisation and address, once per event-loop turn; a counter over its limit is
 *   pushed to every worker, which then answers 429 locally until the window ends. Bound: the
 *   requests a worker admits between the counter crossing its limit and the push arriving (one
 *   report and one message, a few milliseconds) may go beyond the limit.
 * What changes without an API call (a replica's readiness, a job ending on its own, a token or open
 * link expiring) reaches a worker within ADMISSION_TTL_MS. What a worker tells back (requests started
 * and ended per replica, traffic) feeds the same sources (the autoscaler's load, the sessions' idle
 * timeout). Each worker balances by the requests in flight it sees itself. worker.ts is the
 * worker's side of the protocol.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { canOpenWorkload } from '../../model/authz.js';
import type { Principal } from '../../model/principal.js';
import type { ProxyTarget, ProxyTargetSource } from '../../model/workloads.js';
import type { RateLimits } from '../rate-limit.js';
import type { Admission, AdmissionRequest, ProxyAccess } from './access.js';
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

/** How long a worker admits the same credentials for the same workload without asking again. */
export const ADMISSION_TTL_MS = 1000;
/** A worker that has not acknowledged an invalidation by then is killed (it must not go on admitting). */
export const INVALIDATE_TIMEOUT_MS = 2000;

export interface WireProblem {
  status: number;
  code: string;
  detail: string;
  retryAfterSeconds?: number;
}

/**
 * A worker's report about admission `n`: s = an attempt started on upstream i; e = it ended (with
 * the status, null: no answer, and the milliseconds; absent for a WebSocket); t = traffic; d = the
 * request or WebSocket is over on the client's side; c = `count` requests of organisation `org`'s
 * workloads from address `ip` were admitted locally (for the rate limits).
 */
export type WireEvent =
  | ['s', number, number]
  | ['e', number, number]
  | ['e', number, number, number | null, number]
  | ['t', number]
  | ['d', number]
  | ['c', string, string, number];

export type ToServer =
  /** ahead: asked again before the remembered admission's ttl ends, while requests still use it (no request waits). */
  | { t: 'admit'; n: number; r: AdmissionRequest; ahead?: boolean }
  | { t: 'redeem'; n: number; ticket: string; workloadId: string }
  | { t: 'ev'; e: WireEvent[] }
  | { t: 'flushed'; n: number };

export type ToWorker =
  | { t: 'ok'; n: number; target: ProxyTarget; principal: Principal | null; traffic: boolean; ttlMs: number }
  | { t: 'no'; n: number; p: WireProblem }
  | { t: 'redeemed'; n: number; got: { cookie: string; maxAgeS: number } | null }
  /** Forget every admission remembered (answer `flushed` with the same n). */
  | { t: 'flush'; n: number }
  /** Answer 429 with `p` to requests of organisation (scope org) or address (ip) `key` until `untilMs`. */
  | { t: 'limit'; scope: 'org' | 'ip'; key: string; untilMs: number; p: WireProblem };

export interface ProxyWorkersOptions extends WorkerConfig {
  count: number;
  access: ProxyAccess;
  tickets: OpenTickets;
  /** The counters that the locally admitted requests are reported into (the same ProxyAccess uses). */
  rates: RateLimits;
  /** A line for the server's log (a worker that died and was replaced). */
  log?: (line: string) => void;
}

export interface ProxyWorkers {
  /** The port the workers listen on (the one asked for, or the one picked for 0). */
  port: number;
  /** Every worker forgets what it admitted; resolves once all have acknowledged (or been killed). */
  invalidate(): Promise<void>;
  /**
   * Admissions asked of this process (asked: a request waited for the answer; ahead: a remembered one
   * asked again before its ttl ended), and those a worker remembered (for tests and tuning).
   */
  stats(): { asked: number; ahead: number; remembered: number };
  close(): Promise<void>;
}

/** An admission a worker still uses: its target and source, and the attempts started but not ended. */
interface Held {
  target: ProxyTarget;
  source: ProxyTargetSource;
  open: number[];
  done: boolean;
}

/**
 * rememberable: what a worker may admit again locally — a tenant's own access (or a public service's
 * key) over HTTP; never an operator's lockbox pass (each is checked and recorded here) nor a tunnel.
 */
export function rememberable(adm: Admission, r: AdmissionRequest): boolean {
  if ((r.via ?? 'token') !== 'token') return false;
  if (adm.principal === null) return true;
  return canOpenWorkload(adm.principal, adm.target.org, adm.target.kind).allowed;
}

export const wireProblem = (err: unknown): WireProblem => {
  const p = asProblem(err);
  const wire: WireProblem = { status: p.status, code: p.code, detail: p.detail };
  if (p.retryAfterSeconds !== undefined) wire.retryAfterSeconds = p.retryAfterSeconds;
  return wire;
};

/** startProxyWorkers: forks the workers and answers their admissions; resolves once all listen. */
export function startProxyWorkers(o: ProxyWorkersOptions): Promise<ProxyWorkers> {
  const cfg: WorkerConfig = { port: o.port, host: o.host, baseDomain: o.baseDomain, scheme: o.scheme };
  const held = new Map<Worker, Map<number, Held>>();
  const workers = new Set<Worker>();
  let closing = false;
  // Bumped by every invalidation: an admission decided across one is not remembered.
  let generation = 0;
  // Workers that may remember an admission since their last invalidation.
  const dirty = new Set<Worker>();
  const acks = new Map<number, () => void>();
  let nextFlush = 0;
  const counts = { asked: 0, ahead: 0, remembered: 0 };
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.js', import.meta.url)), args: [] });

  const send = (w: Worker, m: ToWorker) => {
    if (w.isConnected()) w.send(m);
  };

  const onMessage = (w: Worker, m: ToServer) => {
    const mine = held.get(w);
    if (!mine) return;
    if (m.t === 'admit') {
      const gen = generation;
      if (m.ahead) counts.ahead++;
      else counts.asked++;
      o.access.admit(m.r).then(
        (adm) => {
          mine.set(m.n, { target: adm.target, source: adm.source, open: [], done: false });
          const ttlMs = gen === generation && rememberable(adm, m.r) ? ADMISSION_TTL_MS : 0;
          if (ttlMs > 0) {
            dirty.add(w);
            counts.remembered++;
          }
          const traffic = !!adm.source.trafficSeen;
          send(w, { t: 'ok', n: m.n, target: adm.target, principal: adm.principal, traffic, ttlMs });
        },
        (err: unknown) => send(w, { t: 'no', n: m.n, p: wireProblem(err) }),
      );
    } else if (m.t === 'redeem') {
      const got = o.tickets.redeem(m.ticket, m.workloadId);
      send(w, { t: 'redeemed', n: m.n, got: got ? { cookie: got.cookie, maxAgeS: got.maxAgeS } : null });
    } else if (m.t === 'ev') {
      for (const e of m.e) {
        if (e[0] === 'c') countLocal(e[1], e[2], e[3]);
        else applyEvent(mine, e);
      }
    } else if (m.t === 'flushed') {
      acks.get(m.n)?.();
    }
  };

  /** countLocal: locally admitted requests into the counters; one over its limit is pushed to every worker. */
  const countLocal = (org: string, ip: string, count: number) => {
    const over = (scope: 'org' | 'ip', key: string) => (err: unknown) => {
      const p = wireProblem(err);
      if (p.status !== 429) return;
      const untilMs = Date.now() + (p.retryAfterSeconds ?? 1) * 1000;
      for (const w of workers) send(w, { t: 'limit', scope, key, untilMs, p });
    };
    o.rates.address(ip, count).catch(over('ip', ip));
    o.rates.workloadOrg(org, count).catch(over('org', org));
  };

  /** invalidate: every worker that may remember an admission forgets it, acknowledged. */
  const invalidate = async (): Promise<void> => {
    generation++;
    const waits = [...dirty].map(
      (w) =>
        new Promise<void>((resolve) => {
          dirty.delete(w);
          if (!w.isConnected()) return resolve();
          const n = ++nextFlush;
          const t = setTimeout(() => {
            acks.delete(n);
            o.log?.(`proxy worker ${w.process.pid} did not acknowledge an invalidation; killing it`);
            w.process.kill('SIGKILL');
            resolve();
          }, INVALIDATE_TIMEOUT_MS);
          acks.set(n, () => {
            clearTimeout(t);
            acks.delete(n);
            resolve();
          });
          w.send({ t: 'flush', n } satisfies ToWorker);
        }),
    );
    await Promise.all(waits);
  };

  const applyEvent = (mine: Map<number, Held>, e: Exclude<WireEvent, ['c', string, string, number]>) => {
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
    dirty.delete(w);
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
        if (++listening === o.count) resolve({ port, close, invalidate, stats: () => ({ ...counts }) });
      });
    }
  });
}
