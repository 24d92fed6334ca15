/**
 * Secrets: registry credentials, dataset access keys, environment secrets for jobs. A value is
 * encrypted under the secret's own data key the moment it arrives and is never returned, logged
 * or put in an error message; the API shows metadata only. A job names secrets in
 * `secretEnv: {ENV_NAME: secret-name}`; they are decrypted only when the control plane hands the
 * job to its driver, and each such decryption is an audited key use.
 */
import { randomBytes } from 'node:crypto';
import { canAdminAsTenant, enforce, isOperator } from '../../model/authz.js';
import { conflict, forbidden, invalid, notFound } from '../../model/errors.js';
import { REGISTRY_AUTH_SECRET } from '../../model/job.js';
import type { Principal } from '../../model/principal.js';
import type { JobSpec } from '../../model/schemas.js';
import type { Tenancy } from '../../server/tenancy/index.js';
import { appendAudit } from '../../store/audit.js';
import { type KeysDb, keysDb, keysTrx, type SecretsTable } from '../../store/keys-tables.js';
import type { Store } from '../../store/open-store.js';
import { ERASED, type FieldSealer } from '../../store/sealed-fields.js';
import { KekChangedError, type KeyService, type ObjectRef } from './key-service.js';

export interface SecretMeta {
  name: string;
  org: string;
  description: string | null;
  version: number;
  dataKeyId: string;
  createdBy: string;
  createdAt: string;
  updatedBy: string;
  updatedAt: string;
}

const ref = (org: string, id: string): ObjectRef => ({ org, objectType: 'secret', objectId: id });

/** meta: a secret's metadata; its description is tenant-written text, stored sealed (sealed-fields.ts). */
function meta(f: FieldSealer, r: SecretsTable): SecretMeta {
  return {
    name: r.name,
    org: r.org_id,
    description: r.description === null ? null : (f.open(r.org_id, 'secret.description', r.description) ?? ERASED),
    version: r.version,
    dataKeyId: r.data_key_id,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedBy: r.updated_by,
    updatedAt: r.updated_at,
  };
}

export class Secrets {
  private readonly db: KeysDb;

  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
    private readonly tenancy: Tenancy,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.db = keysDb(store.db);
  }

  /**
   * Members and viewers of the organisation may see metadata (to reference secrets); operators only
   * when the route let them through the lockbox (`lockboxChecked`), and never manage them.
   */
  private async requireMember(p: Principal, org: string, lockboxChecked = false): Promise<void> {
    await this.tenancy.orgs.get(p, org);
    if (isOperator(p) && !lockboxChecked) throw forbidden("operators cannot see or manage a tenant's secrets");
  }

  private async requireAdmin(p: Principal, org: string): Promise<void> {
    await this.requireMember(p, org);
    enforce(canAdminAsTenant(p, org), 'only organisation admins can manage secrets');
  }

  private row(org: string, name: string) {
    return this.db.selectFrom('secrets').selectAll().where('org_id', '=', org).where('name', '=', name).executeTakeFirst();
  }

  async list(p: Principal, org: string, lockboxChecked = false): Promise<SecretMeta[]> {
    await this.requireMember(p, org, lockboxChecked);
    const rows = await this.db.selectFrom('secrets').selectAll().where('org_id', '=', org).orderBy('name').execute();
    return rows.map((r) => meta(this.store.fields, r));
  }

  async get(p: Principal, org: string, name: string, lockboxChecked = false): Promise<SecretMeta> {
    await this.requireMember(p, org, lockboxChecked);
    const r = await this.row(org, name);
    if (!r) throw notFound('secret', name);
    return meta(this.store.fields, r);
  }

  /**
   * put stores a value: `create` refuses an existing name (409), `upsert` replaces its value (new
   * version, same data key). Returns the metadata and whether it was created.
   */
  async put(
    p: Principal,
    org: string,
    input: { name: string; value: string; description?: string },
    mode: 'create' | 'upsert',
    requestId: string,
  ): Promise<{ secret: SecretMeta; created: boolean }> {
    await this.requireAdmin(p, org);
    const existing = await this.row(org, input.name);
    if (existing && mode === 'create')
      throw conflict('secret_exists', `secret ${input.name} already exists; use PUT to replace its value`);
    const plaintext = Buffer.from(input.value, 'utf8');
    try {
      if (existing) return { secret: await this.replace(p, existing, plaintext, input.description, requestId), created: false };
      return { secret: await this.create(p, org, input.name, plaintext, input.description, requestId), created: true };
    } finally {
      plaintext.fill(0);
    }
  }

  private async create(
    p: Principal,
    org: string,
    name: string,
    plaintext: Buffer,
    description: string | undefined,
    requestId: string,
  ): Promise<SecretMeta> {
    const id = `sec_${randomBytes(8).toString('hex')}`;
    await this.store.fields.ready(org);
    for (let attempt = 0; ; attempt++) {
      const dk = await this.keys.prepareDataKey(org, p.userId);
      const at = new Date(this.now()).toISOString();
      const row: SecretsTable = {
        id,
        org_id: org,
        name,
        description: description === undefined ? null : this.store.fields.seal(org, 'secret.description', description),
        ciphertext: this.keys.sealWith(dk.key, dk.id, ref(org, id), plaintext).toString('base64'),
        data_key_id: dk.id,
        version: 1,
        created_by: p.userId,
        created_at: at,
        updated_by: p.userId,
        updated_at: at,
      };
      dk.key.fill(0);
      try {
        await this.store.write(async (trx) => {
          const t = keysTrx(trx);
          await this.keys.insertDataKey(t, dk, ref(org, id), at);
          await t.insertInto('secrets').values(row).execute();
          await appendAudit(trx, {
            at,
            actor: p.userId,
            org,
            action: 'secret.create',
            objectType: 'secret',
            objectId: name,
            // Whether it has a description, never the text (the audit chain is not encrypted).
            after: { id, version: 1, dataKey: dk.id, kekVersion: dk.kekVersion, described: description !== undefined },
            requestId,
          });
        });
        return meta(this.store.fields, row);
      } catch (err) {
        if (err instanceof KekChangedError && attempt < 3) continue;
        if (/UNIQUE/i.test(String(err))) throw conflict('secret_exists', `secret ${name} already exists`);
        throw err;
      }
    }
  }

  private async replace(
    p: Principal,
    existing: SecretsTable,
    plaintext: Buffer,
    description: string | undefined,
    requestId: string,
  ): Promise<SecretMeta> {
    const r = ref(existing.org_id, existing.id);
    const key = await this.keys.unwrapDataKey(existing.data_key_id, r);
    const ciphertext = this.keys.sealWith(key, existing.data_key_id, r, plaintext).toString('base64');
    key.fill(0);
    const at = new Date(this.now()).toISOString();
    if (description !== undefined) await this.store.fields.ready(existing.org_id);
    const next: SecretsTable = {
      ...existing,
      ciphertext,
      description:
        description === undefined
          ? existing.description
          : this.store.fields.seal(existing.org_id, 'secret.description', description),
      version: existing.version + 1,
      updated_by: p.userId,
      updated_at: at,
    };
    await this.store.write(async (trx) => {
      await keysTrx(trx)
        .updateTable('secrets')
        .set({ ciphertext, description: next.description, version: next.version, updated_by: p.userId, updated_at: at })
        .where('id', '=', existing.id)
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: existing.org_id,
        action: 'secret.update',
        objectType: 'secret',
        objectId: existing.name,
        before: { version: existing.version },
        after: { version: next.version, dataKey: existing.data_key_id, described: next.description !== null },
        requestId,
      });
    });
    return meta(this.store.fields, next);
  }

  /**
   * remove deletes the secret and shreds its data key, then rotates the organisation's KEK away so
   * that copies of the wrapped data key in backups cannot be unwrapped either. A failed rotation
   * (e.g. an external KMS down) leaves an audit record saying so; the deletion itself stands.
   */
  async remove(p: Principal, org: string, name: string, requestId: string): Promise<void> {
    await this.requireAdmin(p, org);
    const r = await this.row(org, name);
    if (!r) throw notFound('secret', name);
    await this.keys.shred(ref(org, r.id), p.userId, `secret ${name} deleted`, requestId);
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      await keysTrx(trx).deleteFrom('secrets').where('id', '=', r.id).execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org,
        action: 'secret.delete',
        objectType: 'secret',
        objectId: name,
        before: { id: r.id, version: r.version, dataKey: r.data_key_id },
        requestId,
      });
    });
    try {
      await this.keys.rotateAway(org, p.userId, requestId);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      await this.store.write((trx) =>
        appendAudit(trx, {
          at: new Date(this.now()).toISOString(),
          actor: p.userId,
          org,
          action: 'secret.delete.backup_caveat',
          objectType: 'secret',
          objectId: name,
          before: null,
          after: {
            reason: `the organisation key could not be rotated (${reason}); a backup taken before the deletion can still be read until the next rotation (gigafab keys rotate)`,
          },
          requestId,
        }),
      );
    }
  }

  /** validateRefs checks a job's secretEnv at submission: every secret exists, no clash with env. */
  async validateRefs(org: string, spec: JobSpec): Promise<void> {
    const refs = secretRefs(spec);
    const names = [...new Set(Object.values(refs))];
    if (names.length === 0) return;
    const clash = Object.keys(refs).filter((k) => spec.env && k in spec.env);
    if (clash.length > 0) {
      throw invalid(
        'secret_env_conflict',
        `environment variable ${clash[0]} is set both in env and in secretEnv; set it in one place`,
        clash.map((k) => ({ path: `secretEnv.${k}`, message: 'also set in env' })),
      );
    }
    const found = await this.db
      .selectFrom('secrets')
      .select('name')
      .where('org_id', '=', org)
      .where('name', 'in', names)
      .execute();
    const have = new Set(found.map((f) => f.name));
    const missing = Object.entries(refs).filter(([, n]) => !have.has(n));
    if (missing.length > 0) {
      throw invalid(
        'unknown_secret',
        `secret ${missing[0]![1]} does not exist in organisation ${org}; create it with \`gigafab secret set ${missing[0]![1]}\``,
        missing.map(([env, n]) => ({ path: `secretEnv.${env}`, message: `unknown secret ${n}` })),
      );
    }
  }

  /** resolveForJob decrypts a job's secrets for its driver; each decryption is an audited key use. */
  async resolveForJob(job: { id: string; org: string; spec: JobSpec }): Promise<Record<string, string> | undefined> {
    const refs = secretRefs(job.spec);
    if (Object.keys(refs).length === 0) return undefined;
    const out: Record<string, string> = {};
    for (const [envName, name] of Object.entries(refs)) {
      const r = await this.row(job.org, name);
      if (!r) throw new Error(`secret ${name} (for ${envName}) no longer exists`);
      const objRef = ref(job.org, r.id);
      const key = await this.keys.unwrapDataKey(r.data_key_id, objRef).catch((err: unknown) => {
        // The reason names the secret and the key state, never material.
        const why = err instanceof Error ? err.message.replace(/^secret \S+ /, '') : String(err);
        throw new Error(`secret ${name} (for ${envName}) could not be delivered: ${why}`);
      });
      try {
        out[envName] = this.keys.openWith(key, r.data_key_id, objRef, Buffer.from(r.ciphertext, 'base64')).toString('utf8');
      } finally {
        key.fill(0);
      }
      await this.keys.auditUse({ ...objRef, objectId: name }, r.data_key_id, {
        actor: 'system:secret-delivery',
        purpose: 'job-delivery',
        detail: { job: job.id, env: envName, secretVersion: r.version },
      });
    }
    return out;
  }
}

/** The secrets a job references: its secretEnv, and its registry credentials (delivered to the pulling driver only). */
function secretRefs(spec: JobSpec): Record<string, string> {
  const refs: Record<string, string> = { ...spec.secretEnv };
  if (spec.registryCredentials) refs[REGISTRY_AUTH_SECRET] = spec.registryCredentials;
  return refs;
}
