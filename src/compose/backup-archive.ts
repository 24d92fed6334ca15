/**
 * The backup file: a plain POSIX tar (ustar; sizes over 8 GiB in the GNU base-256 form), so
 * `tar tvf backup.gfb` lists it and `tar xf` unpacks it by hand. Its first member is
 * `manifest.json` — format name and version, what wrote it, and every other member's size and
 * SHA-256 — so a reader checks each member as it unpacks it and refuses a damaged or truncated file.
 * The checksums catch damage, not an attacker (who can recompute them): the audit chain's signed
 * checkpoints, verified after every restore, are what catches tampering.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';

export const BACKUP_FORMAT = 'gigafab-backup';
export const BACKUP_FORMAT_VERSION = 1;

export const ManifestSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  formatVersion: z.number().int(),
  /** `database` (the store, with the audit signing key) or `keys` (the local key provider's keys/). */
  kind: z.enum(['database', 'keys']),
  dialect: z.enum(['sqlite', 'postgres']).nullable(),
  createdAt: z.string(),
  gigafabVersion: z.string(),
  /** The newest migration the database had when it was backed up. */
  migration: z.string().nullable(),
  members: z.array(z.object({ name: z.string(), size: z.number().int().nonnegative(), sha256: z.string() })),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export class ArchiveError extends Error {
  override name = 'ArchiveError';
}

const BLOCK = 512;

async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function header(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new ArchiveError(`member name too long: ${name}`);
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 'utf8');
  h.write('0000600\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  else {
    // GNU base-256: the high bit of the first byte set, the size big-endian in the 12 bytes.
    let n = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(n & 0xffn);
      n >>= 8n;
    }
    h[124] = 0x80;
  }
  h.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
    'ascii',
  );
  h.write('        ', 148, 'ascii');
  h.write('0', 156, 'ascii');
  h.write('ustar\0' + '00', 257, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function parseSize(h: Buffer): number {
  if ((h[124]! & 0x80) !== 0) {
    let n = 0n;
    for (let i = 125; i < 136; i++) n = (n << 8n) | BigInt(h[i]!);
    return Number(n);
  }
  return Number.parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
}

async function writeAll(out: WriteStream, data: Buffer): Promise<void> {
  if (!out.write(data)) await new Promise<void>((r) => out.once('drain', () => r()));
}

/**
 * writeArchive writes `files` (archive name → path on disk) after a manifest with their checksums.
 * `progress` hears of each member as it is written.
 */
export async function writeArchive(
  target: string,
  meta: Omit<Manifest, 'format' | 'formatVersion' | 'members'>,
  files: readonly { name: string; path: string }[],
  progress: (line: string) => void = () => undefined,
): Promise<Manifest> {
  const members: Manifest['members'] = [];
  for (const f of files) members.push({ name: f.name, size: (await stat(f.path)).size, sha256: await sha256Of(f.path) });
  const manifest: Manifest = { format: BACKUP_FORMAT, formatVersion: BACKUP_FORMAT_VERSION, ...meta, members };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const out = createWriteStream(target, { mode: 0o600, flags: 'wx' });
  await new Promise<void>((res, rej) => {
    out.once('open', () => res());
    out.once('error', rej);
  });
  const pad = (size: number) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK, 0);
  await writeAll(out, header('manifest.json', manifestBytes.length));
  await writeAll(out, Buffer.concat([manifestBytes, pad(manifestBytes.length)]));
  for (const [i, f] of files.entries()) {
    const size = members[i]!.size;
    progress(`writing ${f.name} (${formatBytes(size)})`);
    await writeAll(out, header(f.name, size));
    for await (const chunk of createReadStream(f.path)) await writeAll(out, chunk as Buffer);
    await writeAll(out, pad(size));
  }
  await writeAll(out, Buffer.alloc(BLOCK * 2, 0));
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
  return manifest;
}

async function readExactly(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead < length) throw new ArchiveError('the file ends early (truncated backup?)');
  return buf;
}

/** readManifest: the archive's manifest, checked for format and version (nothing unpacked). */
export async function readManifest(path: string): Promise<Manifest> {
  const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new ArchiveError(`cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  try {
    return await manifestOf(fh, path);
  } finally {
    await fh.close();
  }
}

async function manifestOf(fh: FileHandle, path: string): Promise<Manifest> {
  const h = await readExactly(fh, BLOCK, 0);
  const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
  if (name !== 'manifest.json' || h.subarray(257, 262).toString('ascii') !== 'ustar')
    throw new ArchiveError(`${path} is not a gigafab backup (no manifest.json first)`);
  const size = parseSize(h);
  if (size > 16 * 1024 * 1024) throw new ArchiveError(`${path}: manifest.json is implausibly large`);
  let parsed: unknown;
  try {
    parsed = JSON.parse((await readExactly(fh, size, BLOCK)).toString('utf8'));
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    throw new ArchiveError(`${path}: manifest.json is not JSON`);
  }
  const v = (parsed as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof v === 'number' && v > BACKUP_FORMAT_VERSION)
    throw new ArchiveError(`${path} is backup format version ${v}; this gigafab reads version ${BACKUP_FORMAT_VERSION}`);
  const m = ManifestSchema.safeParse(parsed);
  if (!m.success) throw new ArchiveError(`${path}: manifest.json is not a gigafab backup manifest`);
  return m.data;
}

/**
 * extractArchive unpacks every member into `dir` (names as in the archive), checking each against
 * the manifest: an unknown member, a missing one, or a size or checksum that differs is refused.
 */
export async function extractArchive(
  path: string,
  dir: string,
  progress: (line: string) => void = () => undefined,
): Promise<Manifest> {
  const fh = await open(path, 'r');
  try {
    const manifest = await manifestOf(fh, path);
    const expected = new Map(manifest.members.map((m) => [m.name, m]));
    const first = parseSize(await readExactly(fh, BLOCK, 0));
    let pos = BLOCK + Math.ceil(first / BLOCK) * BLOCK;
    const seen = new Set<string>();
    for (;;) {
      const h = await readExactly(fh, BLOCK, pos);
      if (h.every((b) => b === 0)) break;
      const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      const size = parseSize(h);
      const want = expected.get(name);
      if (!want || seen.has(name) || name.includes('..') || name.startsWith('/'))
        throw new ArchiveError(`the backup holds a member its manifest does not list: ${name}`);
      if (size !== want.size) throw new ArchiveError(`${name} is ${size} bytes, the manifest says ${want.size}: damaged backup`);
      seen.add(name);
      progress(`unpacking ${name} (${formatBytes(size)})`);
      const target = join(dir, name);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const hash = createHash('sha256');
      if (size > 0) {
        const src = createReadStream('', { fd: fh.fd, start: pos + BLOCK, end: pos + BLOCK + size - 1, autoClose: false });
        await pipeline(
          src,
          async function* (source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              hash.update(chunk);
              yield chunk;
            }
          },
          createWriteStream(target, { mode: 0o600, flags: 'wx' }),
        );
      } else await (await open(target, 'wx', 0o600)).close();
      const got = hash.digest('hex');
      if (got !== want.sha256)
        throw new ArchiveError(
          `${name} does not match its SHA-256 in the manifest (${got.slice(0, 12)}… ≠ ${want.sha256.slice(0, 12)}…): damaged backup`,
        );
      pos += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    }
    const missing = manifest.members.filter((m) => !seen.has(m.name)).map((m) => m.name);
    if (missing.length > 0) throw new ArchiveError(`the backup lacks ${missing.join(', ')}: truncated or damaged`);
    return manifest;
  } finally {
    await fh.close();
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
