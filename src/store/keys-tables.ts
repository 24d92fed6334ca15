/**
 * Tables of the key hierarchy, secrets, restriction and erasure (migration 005_keys). Kept out of
 * the shared store schema: modules reach them with `db.withTables<KeyTables>()`.
 */
import type { Kysely, Migration, Transaction } from 'kysely';
import type { Database } from './schema.js';

export interface OrgKeksTable {
  org_id: string;
  version: number;
  /** Configured provider name (`local`, or an external KMS's name). */
  provider: string;
  /** The provider's id of the key-encryption key. */
  key_id: string;
  /** active (wraps new data keys) | retiring (being re-wrapped away from) | destroyed. */
  state: string;
  created_at: string;
  destroyed_at: string | null;
}
export interface DataKeysTable {
  id: string;
  org_id: string;
  object_type: string;
  object_id: string;
  kek_version: number;
  /** The data key wrapped by the org's KEK (base64); null once shredded. */
  wrapped: string | null;
  /** active | shredded */
  state: string;
  created_at: string;
  shredded_at: string | null;
}
export interface SecretsTable {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  /** AES-256-GCM ciphertext of the value (base64) under the secret's data key. */
  ciphertext: string;
  data_key_id: string;
  version: number;
  created_by: string;
  created_at: string;
  updated_by: string;
  updated_at: string;
}
export interface OrgRestrictionsTable {
  org_id: string;
  reason: string;
  restricted_by: string;
  since: string;
}
export interface OrgErasuresTable {
  org_id: string;
  erased_at: string;
  /** The erasure certificate as written into the audit chain (JSON). */
  certificate: string;
}

export type KeyTables = {
  org_keks: OrgKeksTable;
  data_keys: DataKeysTable;
  secrets: SecretsTable;
  org_restrictions: OrgRestrictionsTable;
  org_erasures: OrgErasuresTable;
};

export type KeysDb = Kysely<Database & KeyTables>;
export type KeysTrx = Transaction<Database & KeyTables>;

export const keysDb = (db: Kysely<Database>): KeysDb => db.withTables<KeyTables>();
export const keysTrx = (trx: Transaction<Database>): KeysTrx => trx.withTables<KeyTables>();

/** 005_keys: per-organisation KEKs, data keys, secrets, restriction and erasure state. */
export const migration005Keys: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('org_keks')
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('destroyed_at', 'text')
      .addPrimaryKeyConstraint('org_keks_pk', ['org_id', 'version'])
      .execute();
    await db.schema
      .createTable('data_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('object_type', 'text', (c) => c.notNull())
      .addColumn('object_id', 'text', (c) => c.notNull())
      .addColumn('kek_version', 'integer', (c) => c.notNull())
      .addColumn('wrapped', 'text')
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('shredded_at', 'text')
      .execute();
    await db.schema.createIndex('data_keys_object').on('data_keys').columns(['org_id', 'object_type', 'object_id']).execute();
    await db.schema
      .createTable('secrets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('ciphertext', 'text', (c) => c.notNull())
      .addColumn('data_key_id', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('secrets_org_name').on('secrets').columns(['org_id', 'name']).unique().execute();
    await db.schema
      .createTable('org_restrictions')
      .addColumn('org_id', 'text', (c) => c.primaryKey())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('restricted_by', 'text', (c) => c.notNull())
      .addColumn('since', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('org_erasures')
      .addColumn('org_id', 'text', (c) => c.primaryKey())
      .addColumn('erased_at', 'text', (c) => c.notNull())
      .addColumn('certificate', 'text', (c) => c.notNull())
      .execute();
  },
};
