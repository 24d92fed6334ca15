/**
 * A proxy worker process (workers.ts forks it): the proxy's listener, whose every admission and
 * open link is asked of the server process over IPC, and whose reports (requests started, ended,
 * traffic, done) go back batched once per event-loop turn. It exits when the server process goes.
 */
import type { ProxyTarget, ProxyTargetSource, Upstream } from '../../model/workloads.js';
import type { Admission } from './access.js';
import { ApiProblem } from './problem.js';
import { createProxyListener, type ProxyGate } from './proxy-server.js';
import { type ToServer, type ToWorker, type WireEvent, WORKER_CONFIG_ENV, type WorkerConfig } from './workers.js';

const cfg = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '{}') as WorkerConfig;
const send = (m: ToServer) => {
  if (process.connected) process.send?.(m);
};

let queue: WireEvent[] = [];
let flushing = false;
const report = (e: WireEvent) => {
  queue.push(e);
  if (flushing) return;
  flushing = true;
  setImmediate(() => {
    flushing = false;
    const e = queue;
    queue = [];
    send({ t: 'ev', e });
  });
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

const admissionIds = new WeakMap<Admission, number>();

const gate: ProxyGate = {
  async admit(r) {
    const m = await ask((n) => ({ t: 'admit', n, r }));
    if (m.t === 'no') throw new ApiProblem(m.p.status, m.p.code, m.p.detail, undefined, m.p.retryAfterSeconds);
    if (m.t !== 'ok') throw new ApiProblem(500, 'internal_error', 'the workload proxy failed on this request');
    const adm: Admission = { target: m.target, source: reporter(m.n, m.target, m.traffic), principal: m.principal };
    admissionIds.set(adm, m.n);
    return adm;
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
    const n = admissionIds.get(adm);
    if (n !== undefined) report(['d', n]);
  },
});
await listener.listen(cfg.port, cfg.host);
