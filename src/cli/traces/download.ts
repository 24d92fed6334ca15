/**
 * Downloads one file with resume and a checksum: bytes go to `<dest>.part`; a rerun after an interruption asks
 * the server only for the rest (HTTP Range) and hashes the part already there; the file gets its final name
 * only when its size and SHA-256 match, so a cached file is always a verified one.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { TraceFile } from './catalog.js';

/** DownloadError: why a file could not be fetched; `offline` when the server could not be reached at all. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly offline = false,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

async function hashOf(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/**
 * download: fetches `file` to `dest` unless a verified copy is there. `onBytes(done, total)` reports progress.
 * Returns whether anything was downloaded.
 */
export async function download(
  file: TraceFile,
  dest: string,
  onBytes: (done: number, total: number) => void,
  fetchImpl: typeof fetch = fetch,
): Promise<boolean> {
  if (existsSync(dest) && statSync(dest).size === file.bytes) return false;
  const part = `${dest}.part`;
  let have = existsSync(part) ? statSync(part).size : 0;
  if (have > file.bytes) {
    unlinkSync(part);
    have = 0;
  }
  let response: Response;
  try {
    response = await fetchImpl(file.url, have > 0 ? { headers: { range: `bytes=${have}-` } } : {});
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    throw new DownloadError(`cannot reach ${new URL(file.url).host} (${cause})`, true);
  }
  if (response.status === 200 && have > 0)
    have = 0; // the server ignored the range: start over
  else if (response.status !== 200 && response.status !== 206)
    throw new DownloadError(`${file.url} answered HTTP ${response.status}`);
  if (!response.body) throw new DownloadError(`${file.url} sent no body`);
  const hash = createHash('sha256');
  if (have > 0) await hashOf(part, hash);
  let done = have;
  onBytes(done, file.bytes);
  // Each chunk is written synchronously before the next is read, so whatever arrived before a break-off is on
  // disk for the resume (a stream pipeline would discard writes still pending when the source fails).
  const fd = openSync(part, have > 0 ? 'a' : 'w');
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      writeSync(fd, chunk);
      hash.update(chunk);
      done += chunk.length;
      onBytes(done, file.bytes);
    }
  } catch (err) {
    throw new DownloadError(
      `${file.name}: the download broke off after ${done.toLocaleString('en')} of ${file.bytes.toLocaleString('en')} bytes (${err instanceof Error ? err.message : String(err)}); run the command again to resume`,
    );
  } finally {
    closeSync(fd);
  }
  const size = statSync(part).size;
  if (size < file.bytes)
    throw new DownloadError(
      `${file.name}: the server ended the file after ${size.toLocaleString('en')} of ${file.bytes.toLocaleString('en')} bytes; run the command again to resume`,
    );
  const digest = hash.digest('hex');
  if (size !== file.bytes || digest !== file.sha256) {
    unlinkSync(part);
    throw new DownloadError(
      `${file.name}: got ${size.toLocaleString('en')} bytes with SHA-256 ${digest}, expected ${file.bytes.toLocaleString('en')} bytes with ${file.sha256}; the partial file was removed`,
    );
  }
  renameSync(part, dest);
  return true;
}
