/**
 * Forwarding a WebSocket (any HTTP upgrade; Jupyter's kernel channels): the client's upgrade request
 * goes to the least-loaded upstream over a fresh TCP connection (the next one on a connection
 * error: nothing was sent back yet), then bytes are piped both ways until either side closes. The
 * whole connection is one request for requestStarted/requestEnded; its frames count as traffic.
 */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
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

export function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  adm: Admission,
  deps: ForwardDeps,
  f: Forwarded,
): void {
  const { target, source } = adm;
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
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      deps.balancer.ended(u);
      source.requestEnded(target, u);
    };
    deps.balancer.started(u);
    source.requestStarted(target, u);
    up.once('connect', () => {
      connected = true;
      if (clientGone) {
        up.destroy(); // the client left while we connected: its 'close' came and went
        return;
      }
      up.setNoDelay(true);
      up.write(requestHead(req, f));
      if (head.length) up.write(head);
      const touch = () => deps.onTraffic(adm);
      up.on('data', touch);
      socket.on('data', touch);
      socket.pipe(up);
      up.pipe(socket);
      socket.once('close', () => up.destroy());
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
