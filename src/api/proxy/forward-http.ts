/**
 * Forwarding one HTTP request to a workload: streamed both ways without buffering (pipes, so SSE and
 * chunked responses flow as the workload writes them, with backpressure), least in-flight upstream,
 * and for an idempotent request without a body a retry on another upstream after a connection error
 * (nothing was answered yet). Every attempt is bracketed by the source's requestStarted/requestEnded.
 */
import { type Agent, type ClientRequest, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Upstream } from '../../model/workloads.js';
import type { Admission } from './access.js';
import { Balancer } from './balancer.js';
import { type Forwarded, requestHeaderList, responseHead, retriable } from './headers.js';
import { ApiProblem, sendProblem } from './problem.js';

export interface ForwardDeps {
  balancer: Balancer;
  agent: Agent;
  /** Bytes passed (throttled by the caller): traffic keeps a session from idling. */
  onTraffic(adm: Admission): void;
}

/** Errors that mean nothing listens (yet) at the upstream: a starting workload, not a broken one. */
const NOT_LISTENING = new Set(['ECONNREFUSED']);

/**
 * relay: the workload's response body to the client, chunk by chunk, pausing while the client's
 * socket is full (what pipe() does for one destination, without its per-request listeners and
 * their removal); `seen` hears every chunk (traffic).
 */
function relay(r: IncomingMessage, res: ServerResponse, seen: (() => void) | null): void {
  r.on('data', (chunk: Buffer) => {
    seen?.();
    if (!res.write(chunk)) {
      r.pause();
      res.once('drain', () => r.resume());
    }
  });
  r.once('end', () => res.end());
}

export function forwardHttp(req: IncomingMessage, res: ServerResponse, adm: Admission, deps: ForwardDeps, f: Forwarded): void {
  const { target, source } = adm;
  const canRetry = retriable(req.method, req.headers);
  const headers = requestHeaderList(req.headers, req.rawHeaders, f);
  const tried = new Set<string>();
  const errors: string[] = [];
  let current: ClientRequest | null = null;
  let endCurrent: (() => void) | null = null;
  res.once('close', () => {
    if (!res.writableFinished) current?.destroy();
    endCurrent?.();
  });

  const attempt = (): void => {
    const u = deps.balancer.pick(target.upstreams, tried);
    if (!u || res.destroyed) {
      giveUp();
      return;
    }
    tried.add(Balancer.key(u));
    let ended = false;
    let status: number | null = null;
    const startedAt = Date.now();
    const end = () => {
      if (ended) return;
      ended = true;
      deps.balancer.ended(u);
      // What the attempt was (services count errors and latency; status null: no answer).
      source.requestEnded(target, u, { status, ms: Date.now() - startedAt });
    };
    endCurrent = end;
    deps.balancer.started(u);
    source.requestStarted(target, u);
    const up = send(u);
    current = up;
    up.once('response', (r: IncomingMessage) => {
      status = r.statusCode ?? 502;
      const head = responseHead(r.rawHeaders);
      res.writeHead(r.statusCode ?? 502, r.statusMessage, head.headers);
      // Headers go out with the first bytes of the body: a small answer (headers, body and the end
      // of a chunked body arriving in one read) leaves in one write, not three. A stream (chunked,
      // SSE) whose body has not begun by the next turn of the event loop shows its headers then.
      if (head.streaming)
        setImmediate(() => {
          if (!res.headersSent && !res.destroyed) res.flushHeaders();
        });
      r.once('error', () => res.destroy());
      relay(r, res, source.trafficSeen ? () => deps.onTraffic(adm) : null);
    });
    up.once('error', (err: NodeJS.ErrnoException) => {
      end();
      if (res.headersSent) return void res.destroy();
      errors.push(err.code ?? err.message);
      if (canRetry) return attempt();
      giveUp();
    });
  };

  const send = (u: Upstream): ClientRequest => {
    const up = httpRequest({ host: u.host, port: u.port, method: req.method, path: req.url, headers, agent: deps.agent });
    if (canRetry) up.end();
    else {
      if (source.trafficSeen) req.on('data', () => deps.onTraffic(adm));
      req.pipe(up);
    }
    return up;
  };

  const giveUp = (): void => {
    if (res.headersSent || res.destroyed) return;
    const path = req.url ?? '/';
    if (errors.length && errors.every((e) => NOT_LISTENING.has(e))) {
      sendProblem(
        res,
        new ApiProblem(
          503,
          'not_ready',
          `${target.workloadId} is not accepting connections yet; try again shortly`,
          undefined,
          2,
        ),
        path,
      );
      return;
    }
    sendProblem(
      res,
      new ApiProblem(
        502,
        'upstream_unreachable',
        `${target.workloadId} could not be reached (${errors.join(', ') || 'no upstream'})`,
      ),
      path,
    );
  };

  attempt();
}
