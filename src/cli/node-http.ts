/**
 * One plain HTTP(S) request through node:http, for the CLI's JSON calls. The global fetch (undici) costs
 * about 40 ms of start-up on its first call, a quarter of a short command's run; streams (logs, events)
 * still use fetch, where that cost is paid once for a long-lived connection.
 */
import http from 'node:http';

export interface PlainResponse {
  status: number;
  statusText: string;
  text: string;
}

export async function httpRequest(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
): Promise<PlainResponse> {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new TypeError(`unsupported URL scheme ${target.protocol} (use http or https)`);
  }
  const transport = target.protocol === 'https:' ? await import('node:https') : http;
  const headers = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  return new Promise((resolve, reject) => {
    const req = transport.request(target, { method: init.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
