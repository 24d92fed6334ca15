/**
 * 013: chained checkpoints. Every committed batch that appends audit records also commits a signed
 * checkpoint over them; checkpoints carry a sequence number, the hash of the previous checkpoint and
 * the first record they cover, so a removed checkpoint is a gap (src/server/audit/log.ts).
 * Checkpoints signed before this migration keep null here and are verified as before.
 */
import type { Kysely, Migration } from 'kysely';

export const migration013AuditSeal: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('audit_checkpoints').addColumn('seq', 'integer').execute();
    await db.schema.alterTable('audit_checkpoints').addColumn('prev_hash', 'text').execute();
    await db.schema.alterTable('audit_checkpoints').addColumn('from_id', 'integer').execute();
  },
};
