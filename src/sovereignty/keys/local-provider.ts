/**
 * LocalFileKeyProvider: the embedded default. A root key file (`root.key`, mode 0600) wraps each
 * KEK; the wrapped KEKs live in `keks.json` (mode 0600) beside it, in a directory apart from the
 * database (SCS-0116: the master key is not stored with the keys it protects). Destroying a key
 * rewrites keks.json without it (atomic rename), so the KEK is gone for good.
 *
 * Replicas share this directory (a volume): each change of keks.json is a read-modify-write under
 * `keks.lock` (made with O_EXCL), so two replicas making their organisation's first KEK at once
 * both keep theirs. Without it one rename overwrote the other's key: the KEK the database named was
 * gone, and the other replicas answered `key_destroyed` for a live organisation (a CI flake).
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { parseJson } from '../../model/json.js';
import { StoredKeksSchema } from '../stored-json.js';
import { aad as aadOf, KEY_BYTES, newKey, open, seal } from './envelope.js';
import { KeyNotFoundError, type KeyProvider } from './provider.js';

interface StoredKek {
  wrapped: string;
  label: string;
  createdAt: string;
}

const LOCK_POLL_MS = 5;
const LOCK_WAIT_MS = 30_000;
const STALE_LOCK_MS = 10_000;

function lockAgeMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0; // gone meanwhile: try again
  }
}

export class LocalFileKeyProvider implements KeyProvider {
  readonly kind = 'local-file';
  private rootKey: Buffer | null = null;
  private readonly material = new Map<string, Buffer>();

  constructor(
    private readonly dir: string,
    readonly name = 'local',
  ) {}

  private root(): Buffer {
    if (this.rootKey) return this.rootKey;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, 'root.key');
    if (!existsSync(path)) {
      // Published whole with link(), which fails if another replica's is there already: then theirs is used.
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, newKey(), { mode: 0o600 });
      try {
        linkSync(tmp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    chmodSync(path, 0o600);
    const key = readFileSync(path);
    if (key.length !== KEY_BYTES) throw new Error(`${path} is not a 32-byte key`);
    this.rootKey = key;
    return key;
  }

  private storePath(): string {
    return join(this.dir, 'keks.json');
  }

  private load(): Record<string, StoredKek> {
    const path = this.storePath();
    return existsSync(path) ? parseJson(readFileSync(path, 'utf8'), StoredKeksSchema, path) : {};
  }

  /** update changes keks.json under the directory's lock: no other process writes it meanwhile. */
  private async update(change: (keks: Record<string, StoredKek>) => boolean): Promise<void> {
    const lock = join(this.dir, 'keks.lock');
    for (let waited = 0; ; waited += LOCK_POLL_MS) {
      try {
        const fd = openSync(lock, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      // The section under the lock takes milliseconds: an old lock is one a killed process left.
      if (lockAgeMs(lock) > STALE_LOCK_MS) rmSync(lock, { force: true });
      else if (waited > LOCK_WAIT_MS) throw new Error(`${lock} is held by another process for too long`);
      else await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
    try {
      const keks = this.load();
      if (change(keks)) this.save(keks);
    } finally {
      rmSync(lock, { force: true });
    }
  }

  private save(keks: Record<string, StoredKek>): void {
    const tmp = `${this.storePath()}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(keks, null, 1), { mode: 0o600 });
    renameSync(tmp, this.storePath());
  }

  private kek(keyId: string): Buffer {
    const cached = this.material.get(keyId);
    if (cached) return cached;
    const stored = this.load()[keyId];
    if (!stored) throw new KeyNotFoundError(keyId);
    const kek = open(this.root(), Buffer.from(stored.wrapped, 'base64'), aadOf('local-kek', keyId));
    this.material.set(keyId, kek);
    return kek;
  }

  async createKey(label: string): Promise<string> {
    const keyId = `lk_${randomBytes(8).toString('hex')}`;
    const kek = newKey();
    const stored: StoredKek = {
      wrapped: seal(this.root(), kek, aadOf('local-kek', keyId)).toString('base64'),
      label,
      createdAt: new Date().toISOString(),
    };
    await this.update((keks) => {
      keks[keyId] = stored;
      return true;
    });
    this.material.set(keyId, kek);
    return keyId;
  }

  async wrap(keyId: string, plaintext: Buffer, aad: Buffer): Promise<Buffer> {
    return seal(this.kek(keyId), plaintext, aad);
  }

  async unwrap(keyId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    return open(this.kek(keyId), wrapped, aad);
  }

  async destroy(keyId: string): Promise<void> {
    this.material.get(keyId)?.fill(0);
    this.material.delete(keyId);
    if (!(keyId in this.load())) return;
    await this.update((keks) => delete keks[keyId]);
  }

  async hasKey(keyId: string): Promise<boolean> {
    return keyId in this.load();
  }
}
