/**
 * A proxy worker process (workers.ts forks it): the proxy's listener. An admission is asked of the
 * server process over IPC, and — when the answer says so — remembered for its ttl: the same
 * credentials for the same workload are then admitted here (local admission), until the ttl ends or
 * the server process says to forget (`flush`, acknowledged at once). A remembered admission still
 * in use is asked again REFRESH_AHEAD_MS before its ttl ends, and requests that miss together share
 * one ask: a busy workload's requests do not queue behind the round trip to the server process
 * once a second (that wait was at the tail of the latency). Rate limits: what was admitted
 * locally is reported (per organisation and address) and a limit the server process says is reached
 * is answered here with 429. Open links are always asked. Reports (requests started, ended,
 * traffic, done, counted) go back batched once per event-loop turn. It exits when the server
 * process goes.
 */
import type { ProxyTarget, ProxyTargetSource, Upstream } from '../../model/workloads.js';
import type { Admission, AdmissionRequest } from './access.js';
import { ApiProblem } from './problem.js';
import { createProxyListener, type ProxyGate } from './proxy-server.js';
import {
  type ToServer,
  type ToWorker,
  type WireEvent,
  type WireProblem,
  WORKER_CONFIG_ENV,
  type WorkerConfig,
} from './workers.js';

const cfg = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '{}') as WorkerConfig;
const send = (m: ToServer) => {
  if (process.connected) process.send?.(m);
};

let queue: WireEvent[] = [];
// Locally admitted requests not yet reported: `${org}\n${ip}` → count.
let counted = new Map<string, number>();
let flushing = false;
const schedule = () => {
  if (flushing) return;
  flushing = true;
  setImmediate(() => {
    flushing = false;
    const e = queue;
    queue = [];
    for (const [k, n] of counted) {
      const i = k.indexOf('\n');
      e.push(['c', k.slice(0, i), k.slice(i + 1), n]);
    }
    counted = new Map();
    send({ t: 'ev', e });
  });
};
const report = (e: WireEvent) => {
  queue.push(e);
  schedule();
};
const count = (org: string, ip: string) => {
  const k = `${org}\n${ip}`;
  counted.set(k, (counted.get(k) ?? 0) + 1);
  schedule();
};

type Waiting = (m: ToWorker) => void;
const waiting = new Map<number, Waiting>();
let next = 0;
const ask = (m: (n: number) => ToServer): Promise<ToWorker> =>
  new Promise((resolve) => {
    const n = ++next;
    waiting.set(n, resolve);
    send(m(n));
  });

process.on('message', (m: ToWorker) => {
  if (m.t === 'flush') {
    forgetAll();
    send({ t: 'flushed', n: m.n });
    return;
  }
  if (m.t === 'limit') {
    limited.set(`${m.scope}\n${m.key}`, { untilMs: m.untilMs, p: m.p });
    return;
  }
  const w = waiting.get(m.n);
  if (!w) return;
  waiting.delete(m.n);
  w(m);
});
// The server process is gone (or closed us): nothing can be admitted any more.
process.on('disconnect', () => process.exit(0));

/** The source's side of an admission: reports to the server process, which calls the real source. */
function reporter(n: number, target: ProxyTarget, traffic: boolean): ProxyTargetSource {
  const idx = (u: Upstream) => target.upstreams.indexOf(u);
  return {
    resolve: async () => ({ ok: false, code: 'not_found' }),
    requestStarted: (_t, u) => report(['s', n, idx(u)]),
    requestEnded: (_t, u, outcome) => report(outcome ? ['e', n, idx(u), outcome.status, outcome.ms] : ['e', n, idx(u)]),
    ...(traffic ? { trafficSeen: () => report(['t', n]) } : {}),
  };
}

/** An admission remembered for its ttl, with the requests that use it now. */
interface Remembered {
  key: string;
  adm: Admission;
  n: number;
  untilMs: number;
  users: number;
  dropped: boolean;
  /** Asked again already (refreshAhead), answer pending or installed. */
  refreshing: boolean;
}

/**
 * How long before its ttl ends a remembered admission that a request uses is asked again. The ttl
 * still bounds how long a decision is reused: the new answer is a new decision, and one that
 * crosses an invalidation is not remembered (the server process's generation check, and the flush).
 */
const REFRESH_AHEAD_MS = 500;
// Asks for a key a request is waiting on: other requests for the same key wait for that one.
const asking = new Map<string, Promise<void>>();

/** At most this many remembered admissions (the oldest goes first; it costs an ask, never a skipped check). */
const REMEMBER_MAX = 10_000;
const remembered = new Map<string, Remembered>();
const byAdmission = new WeakMap<Admission, Remembered>();
// Rate limits the server process says are reached: `${scope}\n${key}` → until when, and the answer.
const limited = new Map<string, { untilMs: number; p: WireProblem }>();

const keyOf = (r: AdmissionRequest) => `${r.via ?? 'token'}\n${r.workloadId}\n${r.authorization ?? ''}\n${r.cookie ?? ''}`;

/** drop: no new request uses `e`; once none does, the server process may forget the admission. */
const drop = (e: Remembered) => {
  if (remembered.get(e.key) === e) remembered.delete(e.key);
  e.dropped = true;
  if (e.users === 0) report(['d', e.n]);
};
const forgetAll = () => {
  for (const e of [...remembered.values()]) drop(e);
};
// Expired admissions are let go even when no request asks for them again.
setInterval(() => {
  const now = Date.now();
  for (const e of [...remembered.values()]) if (e.untilMs <= now) drop(e);
  for (const [k, l] of limited) if (l.untilMs <= now) limited.delete(k);
}, 1000).unref();

const problem = (p: WireProblem) => new ApiProblem(p.status, p.code, p.detail, undefined, p.retryAfterSeconds);

/** overLimit: the answer while the server process says the organisation's or address's limit is reached. */
function overLimit(org: string, ip: string): ApiProblem | null {
  const now = Date.now();
  for (const k of [`org\n${org}`, `ip\n${ip}`]) {
    const l = limited.get(k);
    if (l && l.untilMs > now) return problem({ ...l.p, retryAfterSeconds: (l.untilMs - now) / 1000 });
  }
  return null;
}

/** local: the remembered admission of `r`, if it is still good (counted for the rate limits). */
function local(r: AdmissionRequest): Admission | null {
  const e = remembered.get(keyOf(r));
  if (!e) return null;
  if (e.untilMs <= Date.now()) {
    drop(e);
    return null;
  }
  const over = overLimit(e.adm.target.org, r.ip);
  if (over) throw over;
  e.users++;
  count(e.adm.target.org, r.ip);
  if (!e.refreshing && e.untilMs - Date.now() <= REFRESH_AHEAD_MS) {
    e.refreshing = true;
    void refreshAhead(r, e);
  }
  return e.adm;
}

/** remember: the answer `m` to `r` as a Remembered with `users` requests on it (kept when its ttl allows). */
function remember(r: AdmissionRequest, m: Extract<ToWorker, { t: 'ok' }>, users: number): Remembered {
  const adm: Admission = { target: m.target, source: reporter(m.n, m.target, m.traffic), principal: m.principal };
  const e: Remembered = {
    key: keyOf(r),
    adm,
    n: m.n,
    untilMs: Date.now() + m.ttlMs,
    users,
    dropped: m.ttlMs <= 0,
    refreshing: false,
  };
  byAdmission.set(adm, e);
  if (!e.dropped) {
    const old = remembered.get(e.key);
    if (old) drop(old);
    if (remembered.size >= REMEMBER_MAX) {
      const oldest = remembered.values().next();
      if (!oldest.done) drop(oldest.value);
    }
    remembered.set(e.key, e);
  }
  return e;
}

/**
 * refreshAhead: ask for `e`'s admission again while requests still use it. A refusal drops it (the
 * next request asks and hears why); an answer that arrives after `e` was forgotten (a flush, a newer
 * admission) is let go, not remembered.
 */
async function refreshAhead(r: AdmissionRequest, e: Remembered): Promise<void> {
  const m = await ask((n) => ({ t: 'admit', n, r, ahead: true }));
  const current = remembered.get(e.key) === e && !e.dropped;
  if (m.t !== 'ok') {
    if (current) drop(e);
    return;
  }
  if (!current || m.ttlMs <= 0) {
    report(['d', m.n]);
    return;
  }
  const fresh = remember(r, m, 0);
  if (fresh.dropped) report(['d', m.n]);
}

const gate: ProxyGate = {
  async admit(r) {
    const hit = local(r);
    if (hit) return hit;
    const key = keyOf(r);
    const shared = asking.get(key);
    if (shared) {
      // Another request asks for the same credentials and workload now: its answer, if remembered.
      await shared;
      const after = local(r);
      if (after) return after;
    }
    let answered = () => {};
    if (!shared) asking.set(key, new Promise<void>((resolve) => (answered = resolve)));
    try {
      const m = await ask((n) => ({ t: 'admit', n, r }));
      if (m.t === 'no') throw problem(m.p);
      if (m.t !== 'ok') throw new ApiProblem(500, 'internal_error', 'the workload proxy failed on this request');
      return remember(r, m, 1).adm;
    } finally {
      if (!shared) {
        asking.delete(key);
        answered();
      }
    }
  },
  async redeem(ticket, workloadId) {
    const m = await ask((n) => ({ t: 'redeem', n, ticket, workloadId }));
    return m.t === 'redeemed' ? m.got : null;
  },
};

const listener = createProxyListener(gate, {
  baseDomain: cfg.baseDomain,
  scheme: cfg.scheme,
  released: (adm) => {
    const e = byAdmission.get(adm);
    if (!e) return;
    e.users--;
    if (e.dropped && e.users === 0) report(['d', e.n]);
  },
});
await listener.listen(cfg.port, cfg.host);
