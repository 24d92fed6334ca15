/**
 * 030_ssh_keys: SSH public keys in a user's profile (src/server/tenancy/ssh-keys.ts). An `ssh`
 * session authorises exactly the keys of the user who submitted it, read when it starts. Only public
 * keys are stored (the OpenSSH line, without its comment), with their SHA-256 fingerprint.
 */
import type { Kysely, Migration } from 'kysely';

export const migration030SshKeys: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('user_ssh_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('org_id', 'text')
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('key_type', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('user_ssh_keys_user').on('user_ssh_keys').column('user_id').execute();
    await db.schema
      .createIndex('user_ssh_keys_user_fp')
      .on('user_ssh_keys')
      .columns(['user_id', 'fingerprint'])
      .unique()
      .execute();
  },
};
