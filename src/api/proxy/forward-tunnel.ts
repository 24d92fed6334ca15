/**
 * The TCP tunnel: how an `ssh` session is reached. The client (`gigafab session tunnel ID`, ssh's
 * ProxyCommand) sends `GET /_gigafab/tunnel` with `Upgrade: gigafab-tunnel` to the session's host,
 * with its API token; once admitted like any request (organisation, lockbox, rate limit, audit of
 * every open), the proxy connects to the session's endpoint, answers `101 Switching Protocols` and
 * pipes raw bytes both ways (the SSH protocol, end to end encrypted between ssh and the session's
 * sshd: the control plane sees only ciphertext). No port on the node is exposed; a reverse proxy in
 * front passes it like a WebSocket (it forwards Upgrade/Connection).
 */
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TUNNEL_PATH, TUNNEL_PROTOCOL } from '../../model/workloads.js';
import type { Admission } from './access.js';
import type { ForwardDeps } from './forward-http.js';
import { openedOn, spliceUpgraded } from './forward-ws.js';
import { ApiProblem, rejectUpgrade } from './problem.js';

export { TUNNEL_PATH, TUNNEL_PROTOCOL };

/** isTunnelRequest: an upgrade to the tunnel protocol. */
export function isTunnelRequest(upgrade: string | undefined): boolean {
  return (upgrade ?? '')
    .toLowerCase()
    .split(/\s*,\s*/)
    .includes(TUNNEL_PROTOCOL);
}

export function forwardTunnel(socket: Duplex, head: Buffer, adm: Admission, deps: ForwardDeps, path: string): void {
  const { target } = adm;
  const u = target.upstreams[0];
  if (!u) {
    rejectUpgrade(socket, new ApiProblem(503, 'not_ready', `${target.workloadId} is not ready yet`, undefined, 2), path);
    return;
  }
  let clientGone = false;
  socket.once('close', () => {
    clientGone = true;
  });
  const up: Socket = connect({ host: u.host, port: u.port });
  let connected = false;
  const end = openedOn(deps, adm, u);
  up.once('connect', () => {
    connected = true;
    if (clientGone) {
      up.destroy();
      return;
    }
    up.setNoDelay(true);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${TUNNEL_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
    spliceUpgraded(socket, up, head, () => deps.onTraffic(adm));
  });
  up.once('close', () => {
    end();
    if (connected) socket.destroy();
  });
  up.once('error', (err: NodeJS.ErrnoException) => {
    if (connected || clientGone) return;
    const refused = err.code === 'ECONNREFUSED';
    rejectUpgrade(
      socket,
      refused
        ? new ApiProblem(503, 'not_ready', `${target.workloadId} is not accepting connections yet`, undefined, 2)
        : new ApiProblem(502, 'upstream_unreachable', `${target.workloadId} could not be reached (${err.code ?? err.message})`),
      path,
    );
  });
}
