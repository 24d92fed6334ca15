/**
 * A tiny scripted HTTP server standing in for the gigafab API in CLI unit tests.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  rawUrl: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export type Handler = (req: Recorded, res: ServerResponse) => void | Promise<void>;

export interface FakeApi {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function problem(res: ServerResponse, status: number, code: string, detail: string, errors?: unknown[]): void {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: `https://gigafab.dev/problems/${code}`, title: 'Error', status, code, detail, errors }));
}

/** startFakeApi routes `METHOD /path` (exact, without query) to handlers; anything else is a 404 problem. */
export async function startFakeApi(routes: Record<string, Handler>): Promise<FakeApi> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const text = Buffer.concat(chunks).toString('utf8');
      const rec: Recorded = {
        method: req.method ?? 'GET',
        path: u.pathname,
        rawUrl: req.url ?? '/',
        query: u.searchParams,
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      requests.push(rec);
      const h = routes[`${rec.method} ${rec.path}`];
      if (!h) return problem(res, 404, 'not_found', `no route ${rec.method} ${rec.path}`);
      Promise.resolve(h(rec, res)).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A free port with nothing listening (for connection-refused tests). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

export function jobFixture(over: Record<string, unknown> = {}) {
  return {
    id: 'j-1',
    org: 'acme',
    project: 'robotics',
    name: 'pretrain',
    state: 'queued' as const,
    spec: {
      name: 'pretrain',
      project: 'robotics',
      gpuType: 'B200',
      gpusPerNode: 8,
      nodes: 4,
      maxRuntimeSeconds: 86400,
      priorityClass: 'normal' as const,
      labels: {},
    },
    placement: null,
    pendingReason: {
      code: 'quota_exhausted',
      message: 'waiting: job needs 32 B200 but project robotics quota is 16 (0 in use)',
    },
    exitCode: null,
    submittedBy: 'u-alice',
    createdAt: new Date(Date.now() - 90_000).toISOString(),
    startedAt: null,
    finishedAt: null,
    ...over,
  };
}

export function eventFixture(id: number, type: string, message: string) {
  return { id, jobId: 'j-1', at: `2025-01-01T00:00:0${id % 10}.000Z`, type, message, data: null };
}

export function sseEvent(res: ServerResponse, ev: { id: number }): void {
  res.write(`event: job-event\nid: ${ev.id}\ndata: ${JSON.stringify(ev)}\n\n`);
}
