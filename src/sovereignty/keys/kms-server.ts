/**
 * A small reference KMS speaking the HttpKmsProvider protocol, backed by a LocalFileKeyProvider in
 * its own directory. It stands in for a customer's KMS in tests and demos, and shows an adapter's
 * shape. It logs every operation (key id and outcome, never key material), as C5 CRY-18 asks.
 *
 *   node dist/src/sovereignty/keys/kms-server.js --dir ./kms --port 8200 [--host 127.0.0.1]
 *   (token from the environment variable GIGAFAB_KMS_SERVER_TOKEN; none: no authentication)
 */

import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseJson } from '../../model/json.js';
import { KmsMessageSchema } from '../stored-json.js';
import { DecryptError } from './envelope.js';
import { LocalFileKeyProvider } from './local-provider.js';
import { KeyNotFoundError } from './provider.js';

export interface KmsServer {
  url: string;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? parseJson(text, KmsMessageSchema, 'request body') : {};
}

const b64 = (v: unknown): Buffer => {
  if (typeof v !== 'string') throw new Error('expected a base64 string');
  return Buffer.from(v, 'base64');
};

export async function startKmsServer(opts: {
  dir: string;
  port?: number;
  host?: string;
  token?: string;
  log?: (line: string) => void;
}): Promise<KmsServer> {
  const keys = new LocalFileKeyProvider(opts.dir, 'kms');
  const log = opts.log ?? ((l: string) => console.log(l));
  const authorized = (req: IncomingMessage) => {
    if (!opts.token) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    const want = Buffer.from(`Bearer ${opts.token}`);
    return got.length === want.length && timingSafeEqual(got, want);
  };
  const server: Server = createServer((req, res) => {
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const handle = async () => {
      if (!authorized(req)) return send(401, { error: 'unauthorized' });
      const m = /^\/v1\/keys(?:\/([A-Za-z0-9_-]+))?(?:\/(wrap|unwrap))?$/.exec(req.url ?? '');
      if (!m) return send(404, { error: 'no such route' });
      const [, keyId, op] = m;
      if (!keyId && req.method === 'POST') {
        const body = await readJson(req);
        const id = await keys.createKey(typeof body.label === 'string' ? body.label : '');
        log(`kms: create key=${id}`);
        return send(201, { keyId: id });
      }
      if (!keyId) return send(405, { error: 'method not allowed' });
      if (!op && req.method === 'GET')
        return (await keys.hasKey(keyId)) ? send(200, { keyId }) : send(404, { error: 'no such key' });
      if (!op && req.method === 'DELETE') {
        const had = await keys.hasKey(keyId);
        await keys.destroy(keyId);
        log(`kms: destroy key=${keyId} ${had ? 'destroyed' : 'absent'}`);
        return send(had ? 204 : 404, had ? undefined : { error: 'no such key' });
      }
      if (op && req.method === 'POST') {
        const body = await readJson(req);
        if (op === 'wrap') {
          const ct = await keys.wrap(keyId, b64(body.plaintext), b64(body.aad));
          log(`kms: wrap key=${keyId} ok`);
          return send(200, { ciphertext: ct.toString('base64') });
        }
        const pt = await keys.unwrap(keyId, b64(body.ciphertext), b64(body.aad));
        log(`kms: unwrap key=${keyId} ok`);
        return send(200, { plaintext: pt.toString('base64') });
      }
      return send(405, { error: 'method not allowed' });
    };
    handle().catch((err: unknown) => {
      if (err instanceof KeyNotFoundError) {
        log(`kms: ${req.method} ${req.url} key not found`);
        return send(404, { error: 'no such key' });
      }
      if (err instanceof DecryptError) {
        log(`kms: ${req.method} ${req.url} decrypt failed`);
        return send(400, { error: 'decrypt failed' });
      }
      log(`kms: ${req.method} ${req.url} bad request`);
      send(400, { error: 'bad request' });
    });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => res());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = arg('dir');
  if (!dir) {
    console.error('usage: kms-server --dir <dir> [--port <n>] [--host <addr>]');
    process.exit(1);
  }
  const s = await startKmsServer({
    dir,
    port: Number(arg('port') ?? 0),
    host: arg('host'),
    token: process.env.GIGAFAB_KMS_SERVER_TOKEN || undefined,
  });
  console.log(`kms listening on ${s.url}`);
  const stop = () => void s.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
