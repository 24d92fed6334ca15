/**
 * log-sealer: a tiny process the local driver starts next to each job (its own session, so it
 * outlives a control-plane restart like the job, and the SIGKILL the driver sends to the job's
 * group once the job ended does not cut it off before it has written the last bytes).
 *
 * Usage: node log-sealer.js <sealed file>. Reads key (32 bytes) and IV (16 bytes) from fd 3 (a pipe
 * the driver writes once and closes: the key is on no command line and in no environment), then
 * encrypts stdin (the job's stdout and stderr) with AES-256-CTR and appends it to the sealed file.
 * CTR keeps byte offsets: byte N of the file decrypts with the keystream at N, so a reader can open
 * any range (see openLogRange). When stdin ends (every writer, the job and its children, is gone)
 * it writes `<sealed file>.done`, so a follower knows nothing more comes.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { createReadStream, createWriteStream, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';

export const LOG_KEY_BYTES = 32;
export const LOG_IV_BYTES = 16;

/** ivAt: the CTR counter block for byte `offset` (IV + floor(offset/16), 128-bit big-endian). */
function ivAt(iv: Buffer, offset: number): Buffer {
  const out = Buffer.from(iv);
  let carry = BigInt(Math.floor(offset / 16));
  for (let i = 15; i >= 0 && carry > 0n; i--) {
    const sum = BigInt(out[i]) + (carry & 0xffn);
    out[i] = Number(sum & 0xffn);
    carry = (carry >> 8n) + (sum >> 8n);
  }
  return out;
}

/** openLogRange decrypts bytes of a sealed log that start at byte `offset` of the file. */
export function openLogRange(key: Buffer, iv: Buffer, offset: number, data: Uint8Array): Uint8Array {
  const d = createDecipheriv('aes-256-ctr', key, ivAt(iv, offset));
  const skip = offset % 16;
  if (skip) d.update(Buffer.alloc(skip));
  return new Uint8Array(Buffer.concat([d.update(data), d.final()]));
}

async function readAll(fd: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of createReadStream('', { fd })) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function main(file: string): Promise<void> {
  const secret = await readAll(3);
  if (secret.length !== LOG_KEY_BYTES + LOG_IV_BYTES) throw new Error('log-sealer: expected key and IV on fd 3');
  const cipher = createCipheriv('aes-256-ctr', secret.subarray(0, LOG_KEY_BYTES), secret.subarray(LOG_KEY_BYTES));
  secret.fill(0);
  await pipeline(process.stdin, cipher, createWriteStream(file, { flags: 'a', mode: 0o600 }));
  writeFileSync(`${file}.done`, '');
}

// Run only as a script (the driver imports openLogRange from this module too).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // The driver stops the job's group, not us: a stray signal must not lose output still in the pipe.
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, () => {});
  main(process.argv[2] ?? '').catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
