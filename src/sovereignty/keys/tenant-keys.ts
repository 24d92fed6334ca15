/**
 * TenantFieldKeys: the FieldSealer behind the store (src/store/sealed-fields.ts). Each organisation
 * has one data key for its tenant-written text (object `org-data/<org>`), wrapped by the org's KEK
 * like every other data key; it is unwrapped once (at startup or first use) and kept in memory, so
 * sealing a field is one AES-256-GCM call and never a key-provider round trip. Erasure destroys the
 * KEKs, shreds the data key and drops it from memory: every sealed value of the org is unreadable.
 *
 * Format: `gf1:<data key id>:<base64(envelope.seal)>`, AAD = (org, purpose, data key id), so a
 * value copied into another org's row or another column fails to open.
 */
import { hkdfSync } from 'node:crypto';
import { sql } from 'kysely';
import { parseJson } from '../../model/json.js';
import { JobSpecSchema } from '../../model/schemas.js';
import { keysDb, keysTrx } from '../../store/keys-tables.js';
import type { Store } from '../../store/open-store.js';
import { type FieldSealer, isSealed, SEALED_PREFIX, sealEventText, sealJobColumns } from '../../store/sealed-fields.js';
import { EvidenceDatasetsSchema } from '../stored-json.js';
import { aad, DecryptError, open, seal } from './envelope.js';
import type { KeyService, ObjectRef } from './key-service.js';

export const ORG_DATA = 'org-data';
const ref = (org: string): ObjectRef => ({ org, objectType: ORG_DATA, objectId: org });

export class TenantFieldKeys implements FieldSealer {
  readonly sealing = true;
  /** Unwrapped data keys by id, and each org's current one. */
  private readonly keys = new Map<string, Buffer>();
  private readonly current = new Map<string, string>();
  private readonly erased = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly service: KeyService,
  ) {}

  /** load unwraps every organisation's data key (one provider call per org) and notes erased orgs. */
  async load(): Promise<void> {
    const db = keysDb(this.store.db);
    for (const e of await db.selectFrom('org_erasures').select('org_id').execute()) this.erased.add(e.org_id);
    const rows = await db
      .selectFrom('data_keys')
      .select(['id', 'org_id'])
      .where('object_type', '=', ORG_DATA)
      .where('state', '=', 'active')
      // Oldest last: it is each org's current key (see ready: replicas agree on the oldest).
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    for (const r of rows) {
      if (this.erased.has(r.org_id)) continue;
      try {
        this.keys.set(r.id, await this.service.unwrapDataKey(r.id, ref(r.org_id)));
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(
          `cannot unwrap the data key of organisation ${r.org_id}'s jobs and datasets at its key provider (${why}); the server needs it to read them — check the provider (GIGAFAB_KMS_PROVIDERS) and start again`,
        );
      }
      this.current.set(r.org_id, r.id);
    }
  }

  async ready(org: string): Promise<void> {
    if (this.current.has(org)) return;
    let p = this.pending.get(org);
    if (!p) {
      p = (async () => {
        // Another server on this database (a replica) may have made the org's key already, or make one
        // at the same moment as this one: all of them seal with the oldest active key.
        const id = (await this.oldestKey(org)) ?? (await this.service.createDataKey(ref(org), 'system:tenant-data'));
        const oldest = (await this.oldestKey(org)) ?? id;
        const key = await this.service.unwrapDataKey(oldest, ref(org));
        this.keys.set(oldest, key);
        this.current.set(org, oldest);
      })().finally(() => this.pending.delete(org));
      this.pending.set(org, p);
    }
    await p;
  }

  private async oldestKey(org: string): Promise<string | undefined> {
    const row = await keysDb(this.store.db)
      .selectFrom('data_keys')
      .select('id')
      .where('object_type', '=', ORG_DATA)
      .where('org_id', '=', org)
      .where('state', '=', 'active')
      .orderBy('created_at')
      .orderBy('id')
      .executeTakeFirst();
    return row?.id;
  }

  seal(org: string, purpose: string, text: string): string {
    const id = this.current.get(org);
    const key = id ? this.keys.get(id) : undefined;
    if (!id || !key) throw new Error(`tenant data key of ${org} is not loaded (call ready first)`);
    return `${SEALED_PREFIX}${id}:${seal(key, Buffer.from(text), aad('field', org, purpose, id)).toString('base64')}`;
  }

  open(org: string, purpose: string, stored: string): string | null {
    if (!isSealed(stored)) return stored;
    const colon = stored.indexOf(':', SEALED_PREFIX.length);
    const id = stored.slice(SEALED_PREFIX.length, colon);
    const key = this.keys.get(id);
    if (!key) {
      if (this.erased.has(org)) return null;
      // Never shown as erased when it is not: a missing key of a live organisation is an error.
      throw new Error(`tenant data key ${id} of organisation ${org} is not loaded`);
    }
    try {
      return open(key, Buffer.from(stored.slice(colon + 1), 'base64'), aad('field', org, purpose, id)).toString();
    } catch (err) {
      if (err instanceof DecryptError) return null;
      throw err;
    }
  }

  deriveKey(org: string, purpose: string, context: string): Buffer | null {
    if (this.erased.has(org)) return null;
    const id = this.current.get(org);
    const key = id ? this.keys.get(id) : undefined;
    if (!id || !key) throw new Error(`tenant data key of ${org} is not loaded (call ready first)`);
    // The info binds org, purpose and context, so no two uses share a key.
    return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `gigafab ${purpose} ${org} ${id} ${context}`, 32));
  }

  erase(org: string): void {
    this.erased.add(org);
    const id = this.current.get(org);
    this.current.delete(org);
    if (id) {
      this.keys.get(id)?.fill(0);
      this.keys.delete(id);
    }
  }

  /**
   * sealExisting encrypts rows written before sealing existed (a one-off on the first start of this
   * version, repeated harmlessly): job columns, checkpoint labels and their events. Then the WAL is
   * checkpointed and truncated; with secure_delete on, the old plaintext does not stay in free pages.
   */
  async sealExisting(): Promise<number> {
    const db = this.store.db;
    let n = 0;
    for (;;) {
      const rows = await db
        .selectFrom('jobs')
        .select(['id', 'org_id', 'spec'])
        .where('name', 'not like', `${SEALED_PREFIX}%`)
        .where('org_id', 'not in', [...this.erased, ''])
        .limit(500)
        .execute();
      if (rows.length === 0) break;
      for (const r of rows) await this.ready(r.org_id);
      await this.store.write(async (trx) => {
        for (const r of rows) {
          const cols = sealJobColumns(this, r.org_id, parseJson(r.spec, JobSpecSchema, 'job spec'));
          await trx.updateTable('jobs').set(cols).where('id', '=', r.id).execute();
        }
      });
      n += rows.length;
    }
    for (;;) {
      const rows = await db
        .selectFrom('job_checkpoints')
        .innerJoin('jobs', 'jobs.id', 'job_checkpoints.job_id')
        .select(['job_checkpoints.id', 'job_checkpoints.job_id', 'job_checkpoints.label', 'jobs.org_id'])
        .where('job_checkpoints.label', 'is not', null)
        .where('job_checkpoints.label', 'not like', `${SEALED_PREFIX}%`)
        .where('jobs.org_id', 'not in', [...this.erased, ''])
        .limit(500)
        .execute();
      if (rows.length === 0) break;
      for (const r of rows) await this.ready(r.org_id);
      await this.store.write(async (trx) => {
        for (const r of rows) {
          await trx
            .updateTable('job_checkpoints')
            .set({ label: this.seal(r.org_id, 'checkpoint.label', r.label ?? '') })
            .where('id', '=', r.id)
            .execute();
          // The checkpoint's event carries the label in its message and data.
          const evs = await trx
            .selectFrom('job_events')
            .select(['id', 'message', 'data'])
            .where('job_id', '=', r.job_id)
            .where('type', '=', 'checkpoint')
            .where('message', 'not like', `${SEALED_PREFIX}%`)
            .execute();
          for (const e of evs) {
            await trx
              .updateTable('job_events')
              .set(sealEventText(this, r.org_id, e.message, e.data))
              .where('id', '=', e.id)
              .execute();
          }
        }
      });
      n += rows.length;
    }
    n += await this.sealColumn('secrets', 'description', 'secret.description');
    n += await this.sealColumn('datasets', 'name', 'dataset.name');
    n += await this.sealEvidence();
    if (n > 0) await truncateWal(this.store);
    return n;
  }

  /** sealColumn seals a text column of a table with `id` and `org_id` columns, 500 rows per transaction. */
  private async sealColumn(table: 'secrets' | 'datasets', column: 'description' | 'name', purpose: string): Promise<number> {
    const db = keysDb(this.store.db);
    let n = 0;
    for (;;) {
      const rows = await db
        .selectFrom(table)
        .select(['id', 'org_id', `${column} as value`])
        .where(column, 'is not', null)
        .where(column, 'not like', `${SEALED_PREFIX}%`)
        .where('org_id', 'not in', [...this.erased, ''])
        .limit(500)
        .execute();
      if (rows.length === 0) return n;
      for (const r of rows) await this.ready(r.org_id);
      await this.store.write(async (trx) => {
        for (const r of rows) {
          await keysTrx(trx)
            .updateTable(table)
            .set({ [column]: this.seal(r.org_id, purpose, String(r.value)) })
            .where('id', '=', r.id)
            .execute();
        }
      });
      n += rows.length;
    }
  }

  /** sealEvidence seals the dataset names that placement evidence written before sealing holds. */
  private async sealEvidence(): Promise<number> {
    const rows = await this.store.db
      .selectFrom('placement_evidence')
      .select(['id', 'org_id', 'evidence'])
      .where('evidence', 'like', '%"datasets":[{%')
      .where('evidence', 'not like', `%"name":"${SEALED_PREFIX}%`)
      .where('org_id', 'not in', [...this.erased, ''])
      .execute();
    for (const r of rows) await this.ready(r.org_id);
    await this.store.write(async (trx) => {
      for (const r of rows) {
        const e = parseJson(r.evidence, EvidenceDatasetsSchema, 'placement evidence');
        if (e.datasets)
          e.datasets = e.datasets.map((d) => ({
            ...d,
            name: isSealed(d.name) ? d.name : this.seal(r.org_id, 'dataset.name', d.name),
          }));
        await trx
          .updateTable('placement_evidence')
          .set({ evidence: JSON.stringify(e) })
          .where('id', '=', r.id)
          .execute();
      }
    });
    return rows.length;
  }
}

/** truncateWal copies the WAL into the database file and truncates it (no old page images stay in it). */
export async function truncateWal(store: Store): Promise<void> {
  await store.write(async () => undefined);
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(store.db).catch(() => undefined);
}
