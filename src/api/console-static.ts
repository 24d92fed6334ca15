/**
 * Serves the web console (built by `npm run build:console` into dist/console) from the API server
 * itself, so an air-gapped install needs nothing else: index.html at `/` and for every client-side
 * route, hashed assets with a year-long immutable cache. /v1, /healthz and /metrics are left alone.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiEnv } from './context.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

// The console keeps its token in sessionStorage: a strict policy keeps injected script out.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const isApiPath = (p: string) =>
  p === '/v1' || p.startsWith('/v1/') || p === '/healthz' || p === '/metrics' || p.startsWith('/metrics/');

/** consoleDir finds dist/console from this module, whether it runs compiled (dist/src/api) or from source (src/api). */
export function consoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'console');
    dir = dirname(dir);
  }
  return resolve('dist', 'console');
}

export function mountConsole(app: OpenAPIHono<ApiEnv>, root = consoleDir()): void {
  const cache = new Map<string, Buffer | null>();
  const load = async (rel: string): Promise<Buffer | null> => {
    const file = resolve(root, `.${rel}`);
    if (file !== root && !file.startsWith(root + sep)) return null; // no escaping the folder
    const hit = cache.get(file);
    if (hit !== undefined) return hit;
    const body = await readFile(file).catch(() => null);
    // Hashed assets never change; index.html may be rebuilt while the server runs (development).
    if (rel.startsWith('/assets/')) cache.set(file, body);
    return body;
  };

  app.use('*', async (c, next) => {
    const path = c.req.path;
    if ((c.req.method !== 'GET' && c.req.method !== 'HEAD') || isApiPath(path)) return next();
    if (extname(path) !== '') {
      const body = await load(path);
      if (!body) return next(); // a missing file is a 404, not the app shell
      const immutable = path.startsWith('/assets/');
      return c.body(new Uint8Array(body), 200, {
        'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        ...SECURITY_HEADERS,
      });
    }
    // A client-side route: the app shell, revalidated every time so a new build is picked up.
    const index = await load('/index.html');
    if (!index) {
      return c.html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>gigafab</title></head><body><p>The web console is not built. Run <code>npm run build:console</code>; the API is at <a href="/v1/docs">/v1/docs</a>.</p></body></html>',
        503,
      );
    }
    return c.body(new Uint8Array(index), 200, {
      'content-type': TYPES['.html']!,
      'cache-control': 'no-cache',
      ...SECURITY_HEADERS,
    });
  });
}
