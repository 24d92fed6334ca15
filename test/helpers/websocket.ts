/**
 * A minimal WebSocket (RFC 6455) echo server and client for the proxy tests (Node 20 has neither):
 * text frames under 126 bytes, enough to prove that an upgrade and its frames pass both ways.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const accept = (key: string) =>
  createHash('sha1')
    .update(key + GUID)
    .digest('base64');

function frame(text: string, mask: boolean): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('test frames are short');
  if (!mask) return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), key, masked]);
}

function unframe(buf: Buffer): { text: string; rest: Buffer } | null {
  if (buf.length < 2) return null;
  const masked = (buf[1]! & 0x80) !== 0;
  const len = buf[1]! & 0x7f;
  const start = 2 + (masked ? 4 : 0);
  if (buf.length < start + len) return null;
  const key = masked ? buf.subarray(2, 6) : null;
  const data = Buffer.from(buf.subarray(start, start + len).map((b, i) => (key ? b ^ key[i % 4]! : b)));
  return { text: data.toString(), rest: buf.subarray(start + len) };
}

/** attachEchoServer: `server` answers WebSocket upgrades by echoing each text frame as `echo:<text>`. */
export function attachEchoServer(server: Server, seen: IncomingMessage[] = []): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    seen.push(req);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
    );
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let f = unframe(buf); f; f = unframe(buf)) {
        buf = f.rest;
        socket.write(frame(`echo:${f.text}`, false));
      }
    });
    socket.on('error', () => socket.destroy());
  });
}

/**
 * wsRoundTrip: open a WebSocket to 127.0.0.1:port with the given Host and headers, send `text`,
 * and return the status line of the answer and the first frame received (null if the upgrade failed).
 */
export function wsRoundTrip(
  port: number,
  host: string,
  headers: Record<string, string>,
  text: string,
): Promise<{ status: number; reply: string | null; response: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const key = randomBytes(16).toString('base64');
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    let response = '';
    const done = (status: number, reply: string | null) => {
      s.destroy();
      resolve({ status, reply, response });
    };
    s.setTimeout(10_000, () => reject(new Error('WebSocket round trip timed out')));
    s.on('error', reject);
    s.on('connect', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
      s.write(
        `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n${extra.join('')}\r\n`,
      );
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        response = buf.subarray(0, end).toString();
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
        if (status !== 101) {
          response += `\r\n\r\n${buf.subarray(end + 4).toString()}`;
          return done(status, null);
        }
        if (!response.includes(accept(key))) return reject(new Error(`wrong Sec-WebSocket-Accept in ${response}`));
        upgraded = true;
        buf = buf.subarray(end + 4);
        s.write(frame(text, true));
      }
      const f = unframe(buf);
      if (f) done(101, f.text);
    });
    s.on('end', () => done(0, null));
  });
}
