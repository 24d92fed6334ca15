/**
 * 008: the wiring between residency, keys and lockbox: dataset manifests, stored only as ciphertext
 * under each dataset's own data key (src/sovereignty/dataset-manifests.ts).
 */
import type { Kysely, Migration } from 'kysely';

export interface DatasetManifestsTable {
  dataset_id: string;
  org_id: string;
  data_key_id: string;
  /** AES-256-GCM ciphertext of the manifest JSON (base64); null once the dataset was erased. */
  ciphertext: string | null;
  version: number;
  updated_by: string;
  updated_at: string;
  erased_at: string | null;
}

/** 008_sovwire: encrypted dataset manifests. */
export const migration008Sovwire: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('dataset_manifests')
      .addColumn('dataset_id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('data_key_id', 'text', (c) => c.notNull())
      .addColumn('ciphertext', 'text')
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('erased_at', 'text')
      .execute();
  },
};
