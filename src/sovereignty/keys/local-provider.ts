/**
 * LocalFileKeyProvider: the embedded default. A root key file (`root.key`, mode 0600) wraps each
 * KEK; the wrapped KEKs live in `keks.json` (mode 0600) beside it, in a directory apart from the
 * database (SCS-0116: the master key is not stored with the keys it protects). Destroying a key
 * rewrites keks.json without it (atomic rename), so the KEK is gone for good.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
    if (!existsSync(path)) writeFileSync(path, newKey(), { mode: 0o600, flag: 'wx' });
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
    const keks = this.load();
    keks[keyId] = {
      wrapped: seal(this.root(), kek, aadOf('local-kek', keyId)).toString('base64'),
      label,
      createdAt: new Date().toISOString(),
    };
    this.save(keks);
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
    const keks = this.load();
    if (!(keyId in keks)) return;
    delete keks[keyId];
    this.save(keks);
  }

  async hasKey(keyId: string): Promise<boolean> {
    return keyId in this.load();
  }
}
