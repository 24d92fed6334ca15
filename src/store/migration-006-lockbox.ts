/** 006_lockbox: operator access requests, their uses, and after-the-fact notices to tenants. */
import type { Kysely, Migration } from 'kysely';

export const m006Lockbox: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('access_requests')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('requester', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('cause', 'text', (c) => c.notNull())
      .addColumn('reason_code', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('duration_seconds', 'integer', (c) => c.notNull())
      .addColumn('requester_country', 'text', (c) => c.notNull())
      .addColumn('derived_retention_days', 'integer', (c) => c.notNull())
      .addColumn('approval_deadline', 'text')
      .addColumn('decision', 'text')
      .addColumn('decided_by', 'text')
      .addColumn('decided_at', 'text')
      .addColumn('decision_comment', 'text')
      .addColumn('access_ends_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('access_requests_org').on('access_requests').columns(['org_id', 'created_at']).execute();
    await db.schema.createIndex('access_requests_requester').on('access_requests').columns(['requester', 'org_id']).execute();
    await db.schema
      .createTable('access_uses')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('access_request_id', 'text', (c) => c.notNull().references('access_requests.id'))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('object', 'text', (c) => c.notNull())
      .addColumn('verb', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text')
      .execute();
    await db.schema.createIndex('access_uses_org').on('access_uses').columns(['org_id', 'at']).execute();
    await db.schema.createIndex('access_uses_request').on('access_uses').columns(['access_request_id', 'at']).execute();
    await db.schema
      .createTable('access_notifications')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('access_request_id', 'text', (c) => c.notNull().references('access_requests.id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('access_notifications_org')
      .on('access_notifications')
      .columns(['org_id', 'created_at'])
      .execute();
  },
};
