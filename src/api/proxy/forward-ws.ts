/**
 * Forwarding a WebSocket (any HTTP upgrade; Jupyter's kernel channels): the client's upgrade request
 * goes to the least-loaded upstream over a fresh TCP connection (the next one on a connection
 * error: nothing was sent back yet), then bytes are piped both ways until either side closes. The
 * whole connection is one request for requestStarted/requestEnded; its frames count as traffic.
 */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Upstream } from '../../model/workloads.js';
import type { Admission } from './access.js';
import { Balancer } from './balancer.js';
import type { ForwardDeps } from './forward-http.js';
import { type Forwarded, requestHeaders } from './headers.js';
import { ApiProblem, rejectUpgrade } from './problem.js';

function requestHead(req: IncomingMessage, f: Forwarded): string {
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
  for (const [k, v] of Object.entries(requestHeaders(req.headers, f, true))) {
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * openedOn counts one upgraded connection to `u` as a request in flight (balancer and source) and
 * returns its end, which counts it out once however often it is called.
 */
export function openedOn(deps: ForwardDeps, adm: Admission, u: Upstream): () => void {
  let ended = false;
  deps.balancer.started(u);
  adm.source.requestStarted(adm.target, u);
  return () => {
    if (ended) return;
    ended = true;
    deps.balancer.ended(u);
    adm.source.requestEnded(adm.target, u);
  };
}

/**
 * spliceUpgraded: once `up` is connected and its preface sent, the client's early bytes go up, bytes
 * then flow both ways (each chunk counted as traffic), and the client's close ends the upstream.
 */
export function spliceUpgraded(socket: Duplex, up: Socket, head: Buffer, touch: () => void): void {
  if (head.length) up.write(head);
  up.on('data', touch);
  socket.on('data', touch);
  socket.pipe(up);
  up.pipe(socket);
  socket.once('close', () => up.destroy());
}

export function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  adm: Admission,
  deps: ForwardDeps,
  f: Forwarded,
): void {
  const { target } = adm;
  const tried = new Set<string>();
  const errors: string[] = [];
  const path = req.url ?? '/';
  let clientGone = false;
  socket.once('close', () => {
    clientGone = true;
  });
  socket.on('error', () => socket.destroy());

  const attempt = (): void => {
    const u = deps.balancer.pick(target.upstreams, tried);
    if (!u || clientGone) {
      const refused = errors.length > 0 && errors.every((e) => e === 'ECONNREFUSED');
      if (!clientGone)
        rejectUpgrade(
          socket,
          refused
            ? new ApiProblem(503, 'not_ready', `${target.workloadId} is not accepting connections yet`, undefined, 2)
            : new ApiProblem(502, 'upstream_unreachable', `${target.workloadId} could not be reached (${errors.join(', ')})`),
          path,
        );
      return;
    }
    tried.add(Balancer.key(u));
    const up: Socket = connect({ host: u.host, port: u.port });
    let connected = false;
    const end = openedOn(deps, adm, u);
    up.once('connect', () => {
      connected = true;
      if (clientGone) {
        up.destroy(); // the client left while we connected: its 'close' came and went
        return;
      }
      up.setNoDelay(true);
      up.write(requestHead(req, f));
      spliceUpgraded(socket, up, head, () => deps.onTraffic(adm));
    });
    up.once('close', () => {
      end();
      if (connected) socket.destroy();
    });
    up.once('error', (err: NodeJS.ErrnoException) => {
      if (connected) return;
      errors.push(err.code ?? err.message);
      attempt();
    });
  };
  attempt();
}
