/**
 * Dataset manifests: how a job reaches a dataset (storage URI, access credentials). Tenant data, so
 * a manifest is stored only encrypted, under the dataset's own data key (KeyService), is never
 * returned by the API (views say `hasManifest`) nor logged, and is decrypted only when the control
 * plane hands a job that declares the dataset (`spec.datasets`) to its driver, through the same
 * secrets channel as `secretEnv`: `GIGAFAB_DATASET_<NAME>` holds the manifest as JSON. Every such
 * decryption is an audited `key.use`.
 *
 * Deleting a dataset is its erasure (GDPR Art. 17): the data key is shredded in the delete
 * transaction, the manifest's ciphertext is removed, then the organisation's KEK is rotated so
 * that the old KEK, the only key that could unwrap the shredded data key from a backup, is destroyed
 * at its provider; an erasure certificate goes into the audit chain.
 */

import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import { canSubmit } from '../model/authz.js';
import { DomainError, invalid } from '../model/errors.js';
import { declaredDatasetIds } from '../model/job-datasets.js';
import type { Principal } from '../model/principal.js';
import type { JobSpec } from '../model/schemas.js';
import { appendAudit } from '../store/audit.js';
import { type KeyTables, keysTrx } from '../store/keys-tables.js';
import type { DatasetManifestsTable } from '../store/migration-008-sovwire.js';
import type { Store } from '../store/open-store.js';
import type { Database } from '../store/schema.js';
import { KekChangedError, type KeyService, type ObjectRef, type PreparedDataKey } from './keys/key-service.js';
import type { DatasetInput, DatasetRecord, ResidencyService } from './service.js';

type ManifestTables = KeyTables & { dataset_manifests: DatasetManifestsTable };
type Trx = Transaction<Database>;

/** A manifest: string fields such as `uri`, `accessKeyId`, `secretAccessKey`. */
export type Manifest = Record<string, string>;

/** Largest manifest (serialised JSON): it travels in one environment variable. */
export const MAX_MANIFEST_BYTES = 16 * 1024;

export interface DatasetErasureCertificate {
  type: 'gigafab-erasure-certificate-v1';
  id: string;
  scope: 'dataset';
  org: string;
  dataset: string;
  requestedBy: string;
  reason: string;
  erasedAt: string;
  method: string;
  dataKeysShredded: string[];
  keysDestroyed: { version: number; provider: string; keyId: string; stillHeldByProvider: boolean }[];
  manifestsUnreadable: number;
  /** Why backups may still be readable, when the KEK could not be rotated (null: it was). */
  backupsCaveat: string | null;
  auditChain: string;
}

const ref = (org: string, datasetId: string): ObjectRef => ({ org, objectType: 'dataset', objectId: datasetId });

/** envName: the variable a job reads a dataset's manifest from (`patient-scans.v2` → GIGAFAB_DATASET_PATIENT_SCANS_V2). */
export function manifestEnvName(datasetName: string): string {
  return `GIGAFAB_DATASET_${datasetName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export class DatasetManifests {
  /** Datasets with a live manifest (for `hasManifest` in views). */
  private readonly live = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
    private readonly residency: ResidencyService,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private db() {
    return this.store.db.withTables<ManifestTables>();
  }

  async load(): Promise<void> {
    const rows = await this.db().selectFrom('dataset_manifests').select('dataset_id').where('erased_at', 'is', null).execute();
    for (const r of rows) this.live.add(r.dataset_id);
  }

  hasManifest(datasetId: string): boolean {
    return this.live.has(datasetId);
  }

  /** create registers a dataset and stores its manifest encrypted, in one transaction. */
  async create(
    p: Principal,
    project: string,
    input: DatasetInput,
    manifest: Manifest | undefined,
    requestId: string,
  ): Promise<DatasetRecord> {
    if (!manifest) return this.residency.createDataset(p, project, input, requestId);
    return this.withManifest(
      p,
      manifest,
      () => this.projectOrg(project),
      (onWrite) => this.residency.createDataset(p, project, input, requestId, onWrite),
      requestId,
    );
  }

  /** update changes size/checksum and, when given, replaces the manifest (a fresh data key; the old one is shredded). */
  async update(
    p: Principal,
    id: string,
    patch: { sizeBytes?: number; checksum?: string },
    manifest: Manifest | undefined,
    requestId: string,
  ): Promise<DatasetRecord> {
    if (!manifest) return this.residency.updateDataset(p, id, patch, requestId);
    return this.withManifest(
      p,
      manifest,
      async () => this.residency.getDataset(p, id).org,
      (onWrite) => this.residency.updateDataset(p, id, patch, requestId, onWrite),
      requestId,
    );
  }

  /**
   * erase deletes the dataset: its data key is shredded and the manifest ciphertext removed in the
   * delete transaction; then the organisation's KEK is rotated (the old one destroyed at its
   * provider), and the erasure certificate is appended to the audit chain.
   */
  async erase(p: Principal, id: string, requestId: string): Promise<DatasetErasureCertificate> {
    let shredded: string[] = [];
    let manifests = 0;
    const d = this.residency.getDataset(p, id);
    await this.residency.deleteDataset(p, id, requestId, async (trx, rec) => {
      const r = await this.shredInTrx(trx, rec, p.userId, requestId);
      shredded = r.dataKeys;
      manifests = r.manifests;
    });
    this.live.delete(id);
    let keysDestroyed: DatasetErasureCertificate['keysDestroyed'] = [];
    let caveat: string | null = null;
    if (shredded.length > 0) {
      try {
        keysDestroyed = await this.keys.rotateAway(d.org, p.userId, requestId);
      } catch (err) {
        // The data key is gone from the live database either way; only older backups are at stake.
        caveat = `the organisation key could not be rotated (${err instanceof Error ? err.message : String(err)}); a backup taken before the erasure can still be read until the next rotation (gigafab keys rotate)`;
      }
    }
    const at = new Date(this.now()).toISOString();
    const cert: DatasetErasureCertificate = {
      type: 'gigafab-erasure-certificate-v1',
      id: `ec_${randomBytes(8).toString('hex')}`,
      scope: 'dataset',
      org: d.org,
      dataset: id,
      requestedBy: p.userId,
      reason: 'dataset deleted (erasure, GDPR Art. 17)',
      erasedAt: at,
      method:
        shredded.length > 0
          ? "crypto-shredding: the dataset's data key was deleted and the organisation's key-encryption key that wrapped it was rotated away and destroyed at its key provider; the manifest ciphertext, including copies in backups, is unreadable"
          : 'registry entry deleted; the dataset had no encrypted manifest',
      dataKeysShredded: shredded,
      keysDestroyed,
      manifestsUnreadable: manifests,
      backupsCaveat: caveat,
      auditChain: 'kept unchanged: audit records name actors by pseudonymous ids only',
    };
    await this.store.write((trx) =>
      appendAudit(trx, {
        at,
        actor: p.userId,
        org: d.org,
        action: 'dataset.erasure-certificate',
        objectType: 'dataset',
        objectId: id,
        after: cert,
        requestId,
      }),
    );
    return cert;
  }

  /** resolveForJob decrypts the manifests of the datasets a job declares, for its driver; each is an audited key use. */
  async resolveForJob(job: { id: string; org: string; spec: JobSpec }): Promise<Record<string, string> | undefined> {
    const ids = declaredDatasetIds(job.spec);
    if (ids.length === 0) return undefined;
    const records = new Map(this.residency.datasetsOfOrg(job.org).map((d) => [d.id, d]));
    const rows = await this.db().selectFrom('dataset_manifests').selectAll().where('dataset_id', 'in', ids).execute();
    const out: Record<string, string> = {};
    const from = new Map<string, string>();
    for (const row of rows) {
      const d = records.get(row.dataset_id);
      if (!d || row.org_id !== job.org) continue;
      if (row.erased_at || !row.ciphertext) {
        throw new Error(`dataset ${d.id} (${d.name}) was erased after the job was submitted; its manifest cannot be delivered`);
      }
      const env = manifestEnvName(d.name);
      const clash = from.get(env);
      if (clash) throw new Error(`datasets ${clash} and ${d.id} both deliver ${env}; rename one of them`);
      from.set(env, d.id);
      const r = ref(job.org, d.id);
      const key = await this.keys.unwrapDataKey(row.data_key_id, r).catch((err: unknown) => {
        throw new Error(
          `the manifest of dataset ${d.id} (${d.name}) could not be delivered: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
      try {
        out[env] = this.keys.openWith(key, row.data_key_id, r, Buffer.from(row.ciphertext, 'base64')).toString('utf8');
      } finally {
        key.fill(0);
      }
      await this.keys.auditUse(r, row.data_key_id, {
        actor: 'system:dataset-delivery',
        purpose: 'job-delivery',
        detail: { job: job.id, env, manifestVersion: row.version },
      });
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  // ---------------------------------------------------------------- internals

  /**
   * withManifest runs a dataset write that also stores its manifest under a fresh data key, made
   * before the write; a KEK rotated in between (KekChangedError) makes it start over, up to 3 times.
   * Key and plaintext are wiped whatever happens.
   */
  private async withManifest(
    p: Principal,
    manifest: Manifest,
    orgOf: () => Promise<string | null>,
    write: (onWrite: (trx: Trx, rec: DatasetRecord) => Promise<void>) => Promise<DatasetRecord>,
    requestId: string,
  ): Promise<DatasetRecord> {
    const plaintext = encodeManifest(manifest);
    try {
      for (let attempt = 0; ; attempt++) {
        const dk = await this.prepareFor(p, await orgOf());
        try {
          const rec = await write((trx, rec) => this.writeManifest(trx, dk, plaintext, rec, p.userId, requestId));
          this.live.add(rec.id);
          return rec;
        } catch (err) {
          if (err instanceof KekChangedError && attempt < 3) continue;
          throw err;
        } finally {
          dk?.key.fill(0);
        }
      }
    } finally {
      plaintext.fill(0);
    }
  }

  private async projectOrg(project: string): Promise<string | null> {
    const row = await this.store.db.selectFrom('projects').select('org_id').where('id', '=', project).executeTakeFirst();
    return row?.org_id ?? null;
  }

  /**
   * prepareFor makes the data key before the write (the provider may be remote), but only for a
   * caller who may write the organisation's datasets: anyone else gets the service's own refusal.
   */
  private async prepareFor(p: Principal, org: string | null): Promise<PreparedDataKey | null> {
    if (!org || !canSubmit(p, org).allowed) return null;
    return this.keys.prepareDataKey(org, p.userId);
  }

  private async writeManifest(
    trx: Trx,
    dk: PreparedDataKey | null,
    plaintext: Buffer,
    rec: DatasetRecord,
    actor: string,
    requestId: string,
  ): Promise<void> {
    if (!dk) throw new DomainError('forbidden', 'forbidden', 'only members of the organisation can set a dataset manifest');
    const r = ref(rec.org, rec.id);
    const at = new Date(this.now()).toISOString();
    const ciphertext = this.keys.sealWith(dk.key, dk.id, r, plaintext).toString('base64');
    const t = keysTrx(trx).withTables<{ dataset_manifests: DatasetManifestsTable }>();
    await this.keys.insertDataKey(keysTrx(trx), dk, r, at);
    const prev = await t.selectFrom('dataset_manifests').selectAll().where('dataset_id', '=', rec.id).executeTakeFirst();
    if (prev) {
      // The previous version's key goes: a replaced manifest is as unreadable as an erased one.
      await t
        .updateTable('data_keys')
        .set({ wrapped: null, state: 'shredded', shredded_at: at })
        .where('id', '=', prev.data_key_id)
        .execute();
      await t
        .updateTable('dataset_manifests')
        .set({ data_key_id: dk.id, ciphertext, version: prev.version + 1, updated_by: actor, updated_at: at })
        .where('dataset_id', '=', rec.id)
        .execute();
    } else {
      await t
        .insertInto('dataset_manifests')
        .values({
          dataset_id: rec.id,
          org_id: rec.org,
          data_key_id: dk.id,
          ciphertext,
          version: 1,
          updated_by: actor,
          updated_at: at,
          erased_at: null,
        })
        .execute();
    }
    await appendAudit(trx, {
      at,
      actor,
      org: rec.org,
      action: 'dataset.manifest_set',
      objectType: 'dataset',
      objectId: rec.id,
      before: prev ? { version: prev.version, dataKey: prev.data_key_id } : null,
      after: { version: (prev?.version ?? 0) + 1, dataKey: dk.id, kekVersion: dk.kekVersion },
      requestId,
    });
  }

  private async shredInTrx(
    trx: Trx,
    rec: DatasetRecord,
    actor: string,
    requestId: string,
  ): Promise<{ dataKeys: string[]; manifests: number }> {
    const t = keysTrx(trx).withTables<{ dataset_manifests: DatasetManifestsTable }>();
    const at = new Date(this.now()).toISOString();
    const ids = await this.keys.shredInTrx(trx, ref(rec.org, rec.id), at, actor, `dataset ${rec.id} deleted`, requestId);
    const res = await t
      .updateTable('dataset_manifests')
      .set({ ciphertext: null, erased_at: at })
      .where('dataset_id', '=', rec.id)
      .where('erased_at', 'is', null)
      .executeTakeFirst();
    return { dataKeys: ids, manifests: Number(res.numUpdatedRows) };
  }
}

/** encodeManifest serialises a manifest; the size error never repeats the content. */
function encodeManifest(m: Manifest): Buffer {
  const b = Buffer.from(JSON.stringify(m), 'utf8');
  if (b.length > MAX_MANIFEST_BYTES) {
    b.fill(0);
    throw invalid('manifest_too_large', `the manifest is larger than ${MAX_MANIFEST_BYTES} bytes as JSON`, [
      { path: 'manifest', message: 'too large' },
    ]);
  }
  return b;
}

/** loadDatasetManifests: the manifests, loaded; the composition root adds them to what a job's driver receives. */
export async function loadDatasetManifests(
  store: Store,
  keys: KeyService,
  residency: ResidencyService,
): Promise<DatasetManifests> {
  const manifests = new DatasetManifests(store, keys, residency);
  await manifests.load();
  return manifests;
}
