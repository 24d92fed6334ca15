/**
 * KeyService: the per-organisation key hierarchy.
 *
 *   provider key (KEK, one active version per organisation, held by a KeyProvider)
 *     └─ data key (one per object: a secret, a dataset manifest), stored only wrapped by the KEK
 *          └─ ciphertext (AES-256-GCM, AAD = organisation, object type, object id, data key id)
 *
 * Rotation makes a new KEK version and re-wraps every data key; ciphertexts stay as they are.
 * Shredding an object deletes its wrapped data key; erasing an organisation destroys its KEKs at
 * the provider, which makes every data key of the organisation, and so every ciphertext, unreadable.
 * Each unwrap for use is an audited `key.use` (who, which key, why; never the value).
 */
import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import { DomainError } from '../../model/errors.js';
import { appendAudit } from '../../store/audit.js';
import { type KeysDb, type KeysTrx, keysDb, keysTrx, type OrgKeksTable } from '../../store/keys-tables.js';
import type { Store } from '../../store/open-store.js';
import type { Database } from '../../store/schema.js';
import { aad, DecryptError, newKey, open, seal } from './envelope.js';
import { KeyNotFoundError, type KeyProvider, KeyProviderError } from './provider.js';

export interface ObjectRef {
  org: string;
  objectType: string;
  objectId: string;
}

/** Why a key is used, for the `key.use` audit record. */
export interface KeyUse {
  actor: string;
  purpose: string;
  /** Extra facts for the audit record (job id, …); never secret material. */
  detail?: Record<string, string | number>;
  requestId?: string;
}

/** A data key made outside a transaction (provider calls may be remote) and stored inside one. */
export interface PreparedDataKey {
  id: string;
  org: string;
  kekVersion: number;
  wrapped: string;
  key: Buffer;
}

export class KekChangedError extends Error {
  constructor() {
    super('the organisation key changed while the data key was made; retry');
  }
}

export interface KekInfo {
  version: number;
  provider: string;
  providerKind: string;
  keyId: string;
  state: string;
  createdAt: string;
  destroyedAt: string | null;
}

const unreadable = (what: string) =>
  new DomainError('conflict', 'key_destroyed', `${what} cannot be decrypted: its key was destroyed (crypto-shredded)`);

export class KeyService {
  private readonly db: KeysDb;
  /** One rotation at a time per organisation. */
  private readonly rotating = new Set<string>();
  /** Serialises lazy KEK creation per organisation. */
  private readonly creating = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    readonly providers: ReadonlyMap<string, KeyProvider>,
    readonly defaultProvider = 'local',
    private readonly now: () => number = () => Date.now(),
  ) {
    this.db = keysDb(store.db);
    if (!providers.has(defaultProvider)) throw new Error(`default key provider ${defaultProvider} is not configured`);
  }

  private at(): string {
    return new Date(this.now()).toISOString();
  }

  /** provider returns the named provider; its failures reach API callers as 502 key_provider_error. */
  private provider(name: string): KeyProvider {
    const p = this.providers.get(name);
    if (!p)
      throw new DomainError('unavailable', 'key_provider_unavailable', `key provider ${name} is not configured on this server`);
    return guarded(p);
  }

  // ------------------------------------------------------------------ KEKs

  async keks(org: string): Promise<KekInfo[]> {
    const rows = await this.db.selectFrom('org_keks').selectAll().where('org_id', '=', org).orderBy('version').execute();
    return rows.map((r) => this.kekInfo(r));
  }

  private kekInfo(r: OrgKeksTable): KekInfo {
    return {
      version: r.version,
      provider: r.provider,
      providerKind: this.providers.get(r.provider)?.kind ?? 'unconfigured',
      keyId: r.key_id,
      state: r.state,
      createdAt: r.created_at,
      destroyedAt: r.destroyed_at,
    };
  }

  private activeKek(org: string): Promise<OrgKeksTable | undefined> {
    return this.db
      .selectFrom('org_keks')
      .selectAll()
      .where('org_id', '=', org)
      .where('state', '=', 'active')
      .orderBy('version', 'desc')
      .executeTakeFirst();
  }

  /** ensureKek returns the organisation's active KEK, creating version 1 at the default provider on first use. */
  async ensureKek(org: string, actor: string): Promise<OrgKeksTable> {
    const active = await this.activeKek(org);
    if (active) return active;
    if (await this.isErased(org))
      throw new DomainError('conflict', 'org_erased', `organisation ${org} was erased; it has no keys`);
    let pending = this.creating.get(org);
    if (!pending) {
      pending = this.createKek(org, this.defaultProvider, actor, 1).finally(() => this.creating.delete(org));
      this.creating.set(org, pending);
    }
    await pending;
    const created = await this.activeKek(org);
    if (!created) throw new Error(`no active key for organisation ${org}`);
    return created;
  }

  private async createKek(org: string, providerName: string, actor: string, version: number, requestId?: string): Promise<void> {
    const provider = this.provider(providerName);
    const keyId = await provider.createKey(`gigafab org ${org} v${version}`);
    const at = this.at();
    await this.store.write(async (trx) => {
      // Another server on the same database (a replica) may have created this version meanwhile; writes
      // commit one after another, so this check is final: keep theirs (ours stays unused at the provider).
      const theirs = await keysTrx(trx)
        .selectFrom('org_keks')
        .select('version')
        .where('org_id', '=', org)
        .where('version', '=', version)
        .executeTakeFirst();
      if (!theirs) await this.insertKek(trx, { org, version, providerName, provider, keyId, at, actor, requestId });
    });
  }

  /** insertKek records a new active KEK version (already made at its provider) and audits its creation. */
  private async insertKek(
    trx: Transaction<Database>,
    k: {
      org: string;
      version: number;
      providerName: string;
      provider: KeyProvider;
      keyId: string;
      at: string;
      actor: string;
      requestId?: string;
      rotatesFrom?: number;
    },
  ): Promise<void> {
    const { org, version, providerName, keyId, at } = k;
    await keysTrx(trx)
      .insertInto('org_keks')
      .values({
        org_id: org,
        version,
        provider: providerName,
        key_id: keyId,
        state: 'active',
        created_at: at,
        destroyed_at: null,
      })
      .execute();
    await appendAudit(trx, {
      at,
      actor: k.actor,
      org,
      action: 'kek.create',
      objectType: 'kek',
      objectId: `${org}/v${version}`,
      // rotatesFrom only on rotations, after the other fields: the record reads as it always has.
      after: {
        version,
        provider: providerName,
        providerKind: k.provider.kind,
        keyId,
        ...(k.rotatesFrom === undefined ? {} : { rotatesFrom: k.rotatesFrom }),
      },
      requestId: k.requestId,
    });
  }

  private async kekOf(org: string, version: number): Promise<OrgKeksTable> {
    const kek = await this.db
      .selectFrom('org_keks')
      .selectAll()
      .where('org_id', '=', org)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!kek) throw new Error(`organisation ${org} has no key version ${version}`);
    return kek;
  }

  private async isErased(org: string): Promise<boolean> {
    return !!(await this.db.selectFrom('org_erasures').select('org_id').where('org_id', '=', org).executeTakeFirst());
  }

  // ------------------------------------------------------------------ data keys

  /** prepareDataKey makes a fresh data key wrapped by the organisation's active KEK (no store write yet). */
  async prepareDataKey(org: string, actor: string): Promise<PreparedDataKey> {
    const kek = await this.ensureKek(org, actor);
    const id = `dk_${randomBytes(8).toString('hex')}`;
    const key = newKey();
    const wrapped = await this.provider(kek.provider).wrap(kek.key_id, key, aad('dek', org, id, kek.version));
    return { id, org, kekVersion: kek.version, wrapped: wrapped.toString('base64'), key };
  }

  /** insertDataKey stores a prepared data key inside the caller's transaction. */
  async insertDataKey(trx: KeysTrx, dk: PreparedDataKey, ref: ObjectRef, at: string): Promise<void> {
    const kek = await trx
      .selectFrom('org_keks')
      .select('state')
      .where('org_id', '=', dk.org)
      .where('version', '=', dk.kekVersion)
      .executeTakeFirst();
    if (kek?.state !== 'active') throw new KekChangedError();
    await trx
      .insertInto('data_keys')
      .values({
        id: dk.id,
        org_id: ref.org,
        object_type: ref.objectType,
        object_id: ref.objectId,
        kek_version: dk.kekVersion,
        wrapped: dk.wrapped,
        state: 'active',
        created_at: at,
        shredded_at: null,
      })
      .execute();
  }

  /** sealWith encrypts a payload for an object under a data key (the AAD binds both). */
  sealWith(key: Buffer, dataKeyId: string, ref: ObjectRef, plaintext: Buffer): Buffer {
    return seal(key, plaintext, aad('data', ref.org, ref.objectType, ref.objectId, dataKeyId));
  }

  /** unwrapDataKey reads and unwraps a data key; retried once if a rotation re-wrapped it meanwhile. */
  async unwrapDataKey(dataKeyId: string, ref: ObjectRef): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const row = await this.db.selectFrom('data_keys').selectAll().where('id', '=', dataKeyId).executeTakeFirst();
      if (!row || row.org_id !== ref.org || row.object_type !== ref.objectType || row.object_id !== ref.objectId) {
        throw new DecryptError(`data key ${dataKeyId} does not belong to this object`);
      }
      if (row.state !== 'active' || !row.wrapped) throw unreadable(`${ref.objectType} ${ref.objectId}`);
      const kek = await this.kekOf(ref.org, row.kek_version);
      if (kek.state === 'destroyed') throw unreadable(`${ref.objectType} ${ref.objectId}`);
      try {
        return await this.provider(kek.provider).unwrap(
          kek.key_id,
          Buffer.from(row.wrapped, 'base64'),
          aad('dek', ref.org, row.id, row.kek_version),
        );
      } catch (err) {
        if (attempt === 0 && (err instanceof KeyNotFoundError || err instanceof DecryptError)) continue;
        if (err instanceof KeyNotFoundError) throw unreadable(`${ref.objectType} ${ref.objectId}`);
        throw err;
      }
    }
  }

  /** openWith decrypts an object's payload under its data key. */
  openWith(key: Buffer, dataKeyId: string, ref: ObjectRef, sealed: Buffer): Buffer {
    return open(key, sealed, aad('data', ref.org, ref.objectType, ref.objectId, dataKeyId));
  }

  /** auditUse appends the `key.use` record for an unwrap done for `use`. */
  async auditUse(ref: ObjectRef, dataKeyId: string, use: KeyUse): Promise<void> {
    const at = this.at();
    await this.store.write((trx) =>
      appendAudit(trx, {
        at,
        actor: use.actor,
        org: ref.org,
        action: 'key.use',
        objectType: ref.objectType,
        objectId: ref.objectId,
        after: { dataKey: dataKeyId, purpose: use.purpose, ...use.detail },
        requestId: use.requestId,
      }),
    );
  }

  // ------------------------------------------------------------------ the service other code calls

  private async activeDataKey(ref: ObjectRef, db: KeysDb | KeysTrx = this.db) {
    return db
      .selectFrom('data_keys')
      .selectAll()
      .where('org_id', '=', ref.org)
      .where('object_type', '=', ref.objectType)
      .where('object_id', '=', ref.objectId)
      .where('state', '=', 'active')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  /** createDataKey gives an object (e.g. a dataset manifest) its own data key; returns its id. */
  async createDataKey(ref: ObjectRef, actor: string, requestId?: string): Promise<string> {
    const existing = await this.activeDataKey(ref);
    if (existing) return existing.id;
    for (let attempt = 0; ; attempt++) {
      const dk = await this.prepareDataKey(ref.org, actor);
      const at = this.at();
      try {
        return await this.store.write(async (trx) => {
          // Writes are serialised (one writer lock on PostgreSQL, one connection on SQLite), so this
          // second look sees a key another replica made since the first one: an object keeps one key.
          const made = await this.activeDataKey(ref, keysTrx(trx));
          if (made) return made.id;
          await this.insertDataKey(keysTrx(trx), dk, ref, at);
          await appendAudit(trx, {
            at,
            actor,
            org: ref.org,
            action: 'key.create',
            objectType: ref.objectType,
            objectId: ref.objectId,
            after: { dataKey: dk.id, kekVersion: dk.kekVersion },
            requestId,
          });
          return dk.id;
        });
      } catch (err) {
        if (err instanceof KekChangedError && attempt < 3) continue;
        throw err;
      } finally {
        dk.key.fill(0);
      }
    }
  }

  /** encrypt seals a small payload (≤ 1 MiB) for an object under its data key (created if missing). */
  async encrypt(ref: ObjectRef, plaintext: Buffer, actor: string): Promise<Buffer> {
    const id = await this.createDataKey(ref, actor);
    const key = await this.unwrapDataKey(id, ref);
    try {
      return Buffer.concat([Buffer.from(`${id}.`), this.sealWith(key, id, ref, plaintext)]);
    } finally {
      key.fill(0);
    }
  }

  /** decrypt opens what encrypt sealed; every call is an audited key use. */
  async decrypt(ref: ObjectRef, sealed: Buffer, use: KeyUse): Promise<Buffer> {
    const dot = sealed.indexOf(0x2e);
    if (dot <= 0) throw new DecryptError('not a ciphertext made by KeyService.encrypt');
    const id = sealed.subarray(0, dot).toString();
    const key = await this.unwrapDataKey(id, ref);
    try {
      const out = this.openWith(key, id, ref, sealed.subarray(dot + 1));
      await this.auditUse(ref, id, use);
      return out;
    } finally {
      key.fill(0);
    }
  }

  /** shred destroys an object's data keys: its ciphertexts, wherever copies live, stay unreadable. */
  async shred(ref: ObjectRef, actor: string, reason: string, requestId?: string): Promise<string[]> {
    const at = this.at();
    return this.store.write((trx) => this.shredInTrx(trx, ref, at, actor, reason, requestId));
  }

  /** shredInTrx is shred inside the caller's transaction (which then also removes what the keys protected). */
  async shredInTrx(
    trx: Transaction<Database>,
    ref: ObjectRef,
    at: string,
    actor: string,
    reason: string,
    requestId?: string,
  ): Promise<string[]> {
    const t = keysTrx(trx);
    const keys = await t
      .selectFrom('data_keys')
      .select('id')
      .where('org_id', '=', ref.org)
      .where('object_type', '=', ref.objectType)
      .where('object_id', '=', ref.objectId)
      .where('state', '=', 'active')
      .execute();
    if (keys.length === 0) return [];
    const ids = keys.map((k) => k.id);
    await t.updateTable('data_keys').set({ wrapped: null, state: 'shredded', shredded_at: at }).where('id', 'in', ids).execute();
    await appendAudit(trx, {
      at,
      actor,
      org: ref.org,
      action: 'key.shred',
      objectType: ref.objectType,
      objectId: ref.objectId,
      after: { dataKeys: ids, reason },
      requestId,
    });
    return ids;
  }

  // ------------------------------------------------------------------ rotation and destruction

  /**
   * rotate makes a new KEK version (at `providerName`, default: the current one), re-wraps every
   * data key under it, then destroys the old KEK at its provider. Decryption keeps working
   * throughout: a data key names the KEK version that wraps it, and each row switches atomically.
   */
  async rotate(org: string, actor: string, providerName?: string, requestId?: string) {
    // A provider the caller names but this server lacks is the caller's mistake (422), not an outage (503).
    if (providerName !== undefined && !this.providers.has(providerName)) {
      throw new DomainError(
        'unprocessable',
        'unknown_key_provider',
        `key provider ${providerName} is not configured on this server (configured: ${[...this.providers.keys()].join(', ')})`,
        [{ path: 'provider', message: 'not configured' }],
      );
    }
    if (this.rotating.has(org))
      throw new DomainError('conflict', 'rotation_in_progress', `a key rotation for ${org} is already running`);
    this.rotating.add(org);
    try {
      const old = await this.ensureKek(org, actor);
      const target = providerName ?? old.provider;
      const version = old.version + 1;
      const provider = this.provider(target);
      const keyId = await provider.createKey(`gigafab org ${org} v${version}`);
      const at = this.at();
      await this.store.write(async (trx) => {
        await keysTrx(trx)
          .updateTable('org_keks')
          .set({ state: 'retiring' })
          .where('org_id', '=', org)
          .where('state', '=', 'active')
          .execute();
        await this.insertKek(trx, {
          org,
          version,
          providerName: target,
          provider,
          keyId,
          at,
          actor,
          requestId,
          rotatesFrom: old.version,
        });
      });
      let rewrapped = 0;
      for (;;) {
        const rows = await this.db
          .selectFrom('data_keys')
          .select(['id', 'kek_version', 'wrapped'])
          .where('org_id', '=', org)
          .where('state', '=', 'active')
          .where('kek_version', '<', version)
          .limit(500)
          .execute();
        if (rows.length === 0) break;
        const updates: { id: string; from: number; wrapped: string }[] = [];
        for (const r of rows) {
          if (!r.wrapped) continue;
          const from = await this.kekOf(org, r.kek_version);
          const key = await this.provider(from.provider).unwrap(
            from.key_id,
            Buffer.from(r.wrapped, 'base64'),
            aad('dek', org, r.id, r.kek_version),
          );
          const wrapped = await provider.wrap(keyId, key, aad('dek', org, r.id, version));
          key.fill(0);
          updates.push({ id: r.id, from: r.kek_version, wrapped: wrapped.toString('base64') });
        }
        await this.store.write(async (trx) => {
          const t = keysTrx(trx);
          for (const u of updates) {
            await t
              .updateTable('data_keys')
              .set({ wrapped: u.wrapped, kek_version: version })
              .where('id', '=', u.id)
              .where('kek_version', '=', u.from)
              .execute();
          }
        });
        rewrapped += updates.length;
      }
      const retired = await this.db
        .selectFrom('org_keks')
        .selectAll()
        .where('org_id', '=', org)
        .where('state', '=', 'retiring')
        .execute();
      for (const k of retired) await this.provider(k.provider).destroy(k.key_id);
      const done = this.at();
      await this.store.write(async (trx) => {
        await keysTrx(trx)
          .updateTable('org_keks')
          .set({ state: 'destroyed', destroyed_at: done })
          .where('org_id', '=', org)
          .where('state', '=', 'retiring')
          .execute();
        await appendAudit(trx, {
          at: done,
          actor,
          org,
          action: 'kek.rotate',
          objectType: 'kek',
          objectId: `${org}/v${version}`,
          before: { versions: retired.map((k) => k.version) },
          after: {
            version,
            provider: target,
            keyId,
            rewrappedDataKeys: rewrapped,
            destroyedKeys: retired.map((k) => ({ version: k.version, provider: k.provider, keyId: k.key_id })),
          },
          requestId,
        });
      });
      return {
        org,
        version,
        provider: target,
        keyId,
        rewrappedDataKeys: rewrapped,
        destroyedVersions: retired.map((k) => k.version),
      };
    } finally {
      this.rotating.delete(org);
    }
  }

  /**
   * destroyOrgKeys destroys every KEK of the organisation at its provider (crypto-shredding) and
   * returns what was destroyed; the caller records the state change and the certificate.
   */
  async destroyOrgKeys(org: string): Promise<{ version: number; provider: string; keyId: string }[]> {
    const keks = await this.db.selectFrom('org_keks').selectAll().where('org_id', '=', org).orderBy('version').execute();
    const out = [];
    for (const k of keks) {
      await this.provider(k.provider).destroy(k.key_id);
      out.push({ version: k.version, provider: k.provider, keyId: k.key_id });
    }
    return out;
  }

  /**
   * rotateAway rotates the organisation's KEK after a shred (waiting out a rotation already running)
   * and reports the destroyed versions: the old KEK is the only key that could unwrap the shredded
   * data key from a backup, so destroying it makes backups unreadable too.
   */
  async rotateAway(org: string, actor: string, requestId: string) {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.rotate(org, actor, undefined, requestId);
        const keks = await this.keks(org);
        const out = [];
        for (const v of res.destroyedVersions) {
          const k = keks.find((x) => x.version === v);
          if (!k) continue;
          out.push({
            version: v,
            provider: k.provider,
            keyId: k.keyId,
            stillHeldByProvider: await this.providerHolds(k.provider, k.keyId),
          });
        }
        return out;
      } catch (err) {
        if (err instanceof DomainError && err.code === 'rotation_in_progress' && attempt < 20) {
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        throw err;
      }
    }
  }

  /** Whether the provider still holds the KEK (for reports and the shredding test). */
  async providerHolds(provider: string, keyId: string): Promise<boolean> {
    return this.provider(provider).hasKey(keyId);
  }
}

/** guarded turns a provider's transport failures into a problem with a readable reason (no material). */
function guarded(p: KeyProvider): KeyProvider {
  const map = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      if (err instanceof KeyProviderError) throw new DomainError('dependency_failed', 'key_provider_error', err.message);
      throw err;
    }
  };
  return {
    name: p.name,
    kind: p.kind,
    createKey: (label) => map(() => p.createKey(label)),
    wrap: (keyId, plaintext, aad) => map(() => p.wrap(keyId, plaintext, aad)),
    unwrap: (keyId, wrapped, aad) => map(() => p.unwrap(keyId, wrapped, aad)),
    destroy: (keyId) => map(() => p.destroy(keyId)),
    hasKey: (keyId) => map(() => p.hasKey(keyId)),
  };
}
