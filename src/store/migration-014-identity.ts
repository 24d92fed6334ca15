/**
 * 014_identity: tokens with ids, names, expiry, last use and revocation; users that can be disabled
 * and that remember who created them; notices to tenants that are not tied to an access request
 * (onboarding of the first admin, an operator disabling a tenant user).
 *
 * `operator_known` marks users whose credential an operator may have held: before this version an
 * operator could create any tenant user or mint a token for one (both answers carried the token).
 * Their lockbox approvals never count (server/lockbox/access-decisions.ts); the flag is derived from the audit log.
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration014Identity: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('tokens').addColumn('id', 'text').execute();
    await db.schema.alterTable('tokens').addColumn('name', 'text').execute();
    await db.schema.alterTable('tokens').addColumn('expires_at', 'text').execute();
    await db.schema.alterTable('tokens').addColumn('last_used_at', 'text').execute();
    await db.schema.alterTable('tokens').addColumn('revoked_at', 'text').execute();
    await db.schema.alterTable('tokens').addColumn('revoked_by', 'text').execute();
    await db.schema.alterTable('tokens').addColumn('created_by', 'text').execute();
    // Tokens issued before had no id: derive a stable one from the hash (which reveals nothing usable).
    await sql`UPDATE tokens SET id = 'tok_' || substr(hash, 1, 16) WHERE id IS NULL`.execute(db);
    await db.schema.createIndex('tokens_id').unique().on('tokens').column('id').execute();
    await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();

    await db.schema.alterTable('users').addColumn('disabled_at', 'text').execute();
    await db.schema.alterTable('users').addColumn('created_by', 'text').execute();
    await db.schema
      .alterTable('users')
      .addColumn('operator_known', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await sql`UPDATE users SET operator_known = 1
      WHERE role <> 'operator' AND id IN (
        SELECT object_id FROM audit
        WHERE action IN ('user.create', 'token.create') AND object_type = 'user'
          AND actor IN (SELECT id FROM users WHERE role = 'operator'))`.execute(db);
    // Whatever such a user created or issued a token for, an operator could have, too: follow the
    // audit log until no new user is marked (bounded by the number of users).
    for (;;) {
      const r = await sql`UPDATE users SET operator_known = 1
        WHERE operator_known = 0 AND role <> 'operator' AND id IN (
          SELECT object_id FROM audit
          WHERE action IN ('user.create', 'token.create') AND object_type = 'user'
            AND actor IN (SELECT id FROM users WHERE operator_known = 1))`.execute(db);
      if (!r.numAffectedRows) break;
    }

    // Notices without an access request (onboarding, identity actions): the column becomes nullable.
    await db.schema
      .createTable('access_notifications_v2')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('access_request_id', 'text', (c) => c.references('access_requests.id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await sql`INSERT INTO access_notifications_v2 (id, org_id, access_request_id, kind, message, created_at)
      SELECT id, org_id, access_request_id, kind, message, created_at FROM access_notifications`.execute(db);
    await db.schema.dropTable('access_notifications').execute();
    await db.schema.alterTable('access_notifications_v2').renameTo('access_notifications').execute();
    await db.schema.dropIndex('access_notifications_org').ifExists().execute();
    await db.schema
      .createIndex('access_notifications_org')
      .on('access_notifications')
      .columns(['org_id', 'created_at'])
      .execute();
  },
};
