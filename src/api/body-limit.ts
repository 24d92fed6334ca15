/**
 * Request body limit that answers 413 only after reading (and discarding) what the client sends:
 * a server that answers and closes while the client is still writing makes the client's TCP stack
 * see a reset instead of the 413. Bodies far beyond the limit are read only up to `drainBytes`;
 * past that the connection is closed (a reset is then the client's own doing).
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { ApiEnv } from './context.js';
import { ApiProblem, problemResponse } from './problems.js';

/** drain reads a body to its end, at most `max` bytes; true when it ended within them. */
async function drain(body: ReadableStream<Uint8Array> | null, max: number): Promise<boolean> {
  if (!body) return true;
  const reader = body.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return true;
      n += value.byteLength;
      if (n > max) {
        await reader.cancel().catch(() => {});
        return false;
      }
    }
  } catch {
    return false;
  }
}

export function bodyLimit(maxBytes: number, drainBytes = Math.max(16 * 1024 * 1024, 4 * maxBytes)): MiddlewareHandler<ApiEnv> {
  const tooLarge = async (c: Context<ApiEnv>, rest: ReadableStream<Uint8Array> | null) => {
    const drained = await drain(rest, drainBytes);
    const res = problemResponse(c, new ApiProblem(413, 'payload_too_large', `request body exceeds ${maxBytes} bytes`));
    if (!drained) res.headers.set('connection', 'close');
    return res;
  };
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      // With a Content-Length (Node's parser enforces it) the header is enough; wrapping the body in a
      // counting stream costs more than the rest of a submission.
      if (Number(length) > maxBytes) return tooLarge(c, body);
      return next();
    }
    // Chunked: buffer up to the limit.
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        reader.releaseLock();
        return tooLarge(c, body);
      }
      chunks.push(value);
    }
    c.req.raw = new Request(c.req.raw, { body: Buffer.concat(chunks, size) });
    return next();
  };
}
