/**
 * The client side of the workload proxy's TCP tunnel (api/proxy/forward-tunnel.ts): an upgrade
 * request to `<id>.<base-domain>` with the API token, then standard input and output piped to the
 * session's port. This is what ssh runs as its ProxyCommand (`gigafab session tunnel ID`).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';

import { TUNNEL_PATH, TUNNEL_PROTOCOL } from '../model/workloads.js';

export interface TunnelOptions {
  /** The session's origin at the proxy (GET /v1/sessions `url`), e.g. http://812.localhost:8081. */
  origin: string;
  token: string;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}

/** A refusal by the proxy: its status and problem sentence. */
export class TunnelRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

async function problemOf(res: IncomingMessage): Promise<TunnelRefused> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const p = JSON.parse(text) as { code?: string; detail?: string; title?: string };
    return new TunnelRefused(res.statusCode ?? 0, p.code ?? 'refused', p.detail ?? p.title ?? text);
  } catch {
    return new TunnelRefused(res.statusCode ?? 0, 'refused', text || `HTTP ${res.statusCode}`);
  }
}

/**
 * openTunnel: resolves once the tunnel closed (either side), rejects with TunnelRefused when the
 * proxy refuses it. Hosts under `.localhost` are reached at 127.0.0.1 (not every resolver knows them).
 */
export function openTunnel(o: TunnelOptions): Promise<void> {
  const url = new URL(o.origin);
  const https = url.protocol === 'https:';
  const connectHost = url.hostname === 'localhost' || url.hostname.endsWith('.localhost') ? '127.0.0.1' : url.hostname;
  const port = Number(url.port || (https ? 443 : 80));
  return new Promise<void>((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)({
      host: connectHost,
      port,
      path: TUNNEL_PATH,
      method: 'GET',
      servername: url.hostname,
      headers: {
        host: url.host,
        connection: 'Upgrade',
        upgrade: TUNNEL_PROTOCOL,
        authorization: `Bearer ${o.token}`,
      },
    });
    req.once('error', reject);
    req.once('response', (res) => void problemOf(res).then(reject, reject));
    req.once('upgrade', (_res: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (head.length) o.output.write(head);
      socket.pipe(o.output as NodeJS.WritableStream & { end(): void });
      o.input.pipe(socket);
      o.input.once('end', () => socket.end());
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
    });
    req.end();
  });
}
