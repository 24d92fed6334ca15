/** RFC 9457 problems written by the workload proxy (a plain node:http response, or a raw socket on upgrade). */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiProblem, toProblem } from '../problems.js';

export { ApiProblem };

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function body(p: ApiProblem, path: string): string {
  return JSON.stringify({
    type: `https://gigafab.dev/problems/${p.code}`,
    title: TITLES[p.status] ?? 'Error',
    status: p.status,
    code: p.code,
    detail: p.detail,
    instance: path,
  });
}

function headersOf(p: ApiProblem, text: string): Record<string, string> {
  return {
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...(p.retryAfterSeconds !== undefined ? { 'retry-after': String(Math.max(1, Math.ceil(p.retryAfterSeconds))) } : {}),
  };
}

/** asProblem: an ApiProblem, a DomainError mapped as the API maps it, or a 500 for anything else. */
export function asProblem(err: unknown): ApiProblem {
  return toProblem(err) ?? new ApiProblem(500, 'internal_error', 'the workload proxy failed on this request');
}

/** sendProblem answers an HTTP request with a problem (unless a response already began). */
export function sendProblem(res: ServerResponse, p: ApiProblem, path: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body(p, path);
  res.writeHead(p.status, headersOf(p, text));
  res.end(text);
}

/** rejectUpgrade answers a WebSocket upgrade with a problem and closes the socket. */
export function rejectUpgrade(socket: Duplex, p: ApiProblem, path: string): void {
  const text = body(p, path);
  const head = Object.entries({ ...headersOf(p, text), connection: 'close' })
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');
  socket.end(`HTTP/1.1 ${p.status} ${TITLES[p.status] ?? 'Error'}\r\n${head}\r\n\r\n${text}`);
}
