/**
 * Headers between client and workload: hop-by-hop headers are the proxy's own (RFC 9110 §7.6.1);
 * the caller's gigafab credentials (Authorization, our cookie) never reach the workload; the
 * X-Forwarded-* headers are set from what the proxy saw, never taken from the client.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { withoutOurCookie } from './open-tickets.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
/** The header nginx proves itself with to gigafab's proxy behind it (nginx-plane.ts). */
export const FALLBACK_SECRET_HEADER = 'x-gigafab-fallback';

const NEVER_FORWARDED = new Set([
  'authorization',
  'cookie',
  // The client address and proof nginx gives gigafab's proxy behind it: theirs, never a workload's.
  'x-real-ip',
  FALLBACK_SECRET_HEADER,
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'forwarded',
]);

const NONE: ReadonlySet<string> = new Set();

/**
 * The header names a Connection header lists (they are hop-by-hop too). The usual values,
 * `keep-alive` and `close`, list nothing that is not hop-by-hop already: no set is built per message.
 */
function listedIn(connection: string | undefined): ReadonlySet<string> {
  if (connection === undefined) return NONE;
  const v = connection.toLowerCase();
  if (v === 'keep-alive' || v === 'close') return NONE;
  return new Set(
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}
const listedInConnection = (h: IncomingHttpHeaders) => listedIn(h.connection);

export interface Forwarded {
  clientIp: string;
  proto: 'http' | 'https';
}

/** requestHeaders: what the workload receives (for an upgrade, keepUpgrade keeps Connection/Upgrade). */
export function requestHeaders(h: IncomingHttpHeaders, f: Forwarded, keepUpgrade = false): OutgoingHttpHeaders {
  const listed = listedInConnection(h);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || NEVER_FORWARDED.has(k)) continue;
    if (HOP_BY_HOP.has(k) || listed.has(k)) continue;
    out[k] = v;
  }
  const cookie = withoutOurCookie(h.cookie);
  if (cookie) out.cookie = cookie;
  if (keepUpgrade) {
    out.connection = 'Upgrade';
    if (h.upgrade) out.upgrade = h.upgrade;
  }
  out['x-forwarded-for'] = f.clientIp;
  if (h.host) out['x-forwarded-host'] = h.host;
  out['x-forwarded-proto'] = f.proto;
  return out;
}

/**
 * requestHeaderList: requestHeaders for an HTTP request, as the flat [name, value, …] list
 * http.request takes as is (no per-header object to build and copy again): the client's headers in
 * their order and spelling, repeated ones as sent, less the same hop-by-hop and gigafab's own ones.
 */
export function requestHeaderList(h: IncomingHttpHeaders, raw: readonly string[], f: Forwarded): string[] {
  const listed = listedInConnection(h);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const k = name.toLowerCase();
    if (k === 'host' || NEVER_FORWARDED.has(k) || HOP_BY_HOP.has(k) || listed.has(k)) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (h.host) out.push('host', h.host);
  const cookie = withoutOurCookie(h.cookie);
  if (cookie) out.push('cookie', cookie);
  out.push('x-forwarded-for', f.clientIp);
  if (h.host) out.push('x-forwarded-host', h.host);
  out.push('x-forwarded-proto', f.proto);
  return out;
}

/** What the client receives of the workload's response head, from its raw header list. */
export interface ResponseHead {
  /** The headers to send, flat [name, value, …] (repeated ones, such as Set-Cookie, as sent). */
  headers: string[];
  /** A response without a known length, or an event stream (its headers go out at once). */
  streaming: boolean;
}

/** responseHead: the workload's response headers less the hop-by-hop ones, and whether it streams. */
export function responseHead(raw: readonly string[]): ResponseHead {
  let connection: string | undefined;
  let length = false;
  let eventStream = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = (raw[i] as string).toLowerCase();
    const v = raw[i + 1] as string;
    if (k === 'connection') connection = connection === undefined ? v : `${connection}, ${v}`;
    else if (k === 'content-length') length = true;
    else if (k === 'content-type') eventStream = v.startsWith('text/event-stream');
  }
  const listed = listedIn(connection);
  const headers: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const k = name.toLowerCase();
    if (HOP_BY_HOP.has(k) || listed.has(k)) continue;
    headers.push(name, raw[i + 1] as string);
  }
  return { headers, streaming: !length || eventStream };
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** retriable: an idempotent request without a body, which the proxy may send to another upstream. */
export function retriable(method: string | undefined, h: IncomingHttpHeaders): boolean {
  if (!method || !IDEMPOTENT.has(method)) return false;
  const length = h['content-length'];
  return h['transfer-encoding'] === undefined && (length === undefined || length === '0');
}
