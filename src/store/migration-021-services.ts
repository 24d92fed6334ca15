/**
 * 021_services: inference services (src/server/services/) and their replicas, each replica a job of
 * the service's project. `spec` is the current revision's ServiceSpec (JSON), `scaling` its
 * autoscaling bounds (JSON); a deleted service keeps its row (deleted_at) for the audit trail.
 * service_api_keys: a public service's own API keys (SHA-256 only), issued and revoked by org admins.
 */
import type { Kysely, Migration } from 'kysely';

export const migration021Services: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('services')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('visibility', 'text', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('scaling', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('deleted_at', 'text')
      .execute();
    await db.schema.createIndex('services_org').on('services').columns(['org_id', 'id']).execute();
    await db.schema
      .createTable('service_replicas')
      .addColumn('job_id', 'integer', (c) => c.primaryKey())
      .addColumn('service_id', 'text', (c) => c.notNull().references('services.id'))
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('service_replicas_service').on('service_replicas').columns(['service_id']).execute();
    // A public service's own API keys: only the SHA-256 of each is kept.
    await db.schema
      .createTable('service_api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('service_id', 'text', (c) => c.notNull().references('services.id'))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .execute();
  },
};
