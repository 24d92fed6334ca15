/**
 * 017_pg_audit_append_only: on PostgreSQL, the audit table refuses UPDATE, DELETE and TRUNCATE, as the
 * SQLite triggers of 001 do there (001 created them for SQLite only). Nothing changes on SQLite.
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration017PgAuditAppendOnly: Migration = {
  async up(db: Kysely<unknown>) {
    if (!db.getExecutor().adapter.constructor.name.startsWith('Postgres')) return;
    await sql`CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit is append-only'; END $$`.execute(db);
    await sql`CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
      FOR EACH ROW EXECUTE FUNCTION audit_append_only()`.execute(db);
    await sql`CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
      FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()`.execute(db);
  },
};
