/**
 * Versioned schema migrations, applied in order by Kysely's Migrator on start.
 * Never edit a released migration; add a new one.
 */

import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import { migration005Keys } from './keys-tables.js';
import { m004Residency } from './migration-004-residency.js';
import { m006Lockbox } from './migration-006-lockbox.js';
import { m007Scheduling } from './migration-007-scheduling.js';
import { migration008Sovwire } from './migration-008-sovwire.js';
import { migration009Attempts } from './migration-009-attempts.js';
import { migration013AuditSeal } from './migration-013-audit-seal.js';
import { migration014Identity } from './migration-014-identity.js';
import { migration015NodeStateSource } from './migration-015-node-state-source.js';
import { migration016UsageRecords } from './migration-016-usage-records.js';
import { migration017PgAuditAppendOnly } from './migration-017-pg-audit-append-only.js';
import { migration018PriceBook } from './migration-018-price-book.js';
import { migration019OrgRegistries } from './migration-019-org-registries.js';
import { migration020JobEndpoints } from './migration-020-job-endpoints.js';
import { migration021Services } from './migration-021-services.js';
import { migration022UsageGpuEquivalents } from './migration-022-usage-gpu-equivalents.js';
import { migration023SchedulerLease } from './migration-023-scheduler-lease.js';
import { migration024Invoices } from './migration-024-invoices.js';
import { migration025OrgImports } from './migration-025-org-imports.js';
import { migration026BudgetPolicies } from './migration-026-budget-policies.js';
import { migration027UsageDaily } from './migration-027-usage-daily.js';
import { migration029OrgImportRecords } from './migration-029-org-import-records.js';
import { migration030SshKeys } from './migration-030-ssh-keys.js';
import { migration031UsageMeasuredEnergy } from './migration-031-usage-measured-energy.js';
import { migration032ReservedCapacity } from './migration-032-reserved-capacity.js';
import { migration033UsageReconcile } from './migration-033-usage-reconcile.js';
import { migration034Lenders } from './migration-034-lenders.js';
import { migration035UsageDailyEnergy } from './migration-035-usage-daily-energy.js';
import { migration036InvoiceCorrections } from './migration-036-invoice-corrections.js';
import { migration037GpuPartitions } from './migration-037-gpu-partitions.js';
import { migration038SessionStateClaims } from './migration-038-session-state-claims.js';

type Db = Kysely<unknown>;

/** Auto-increment primary key that works on SQLite and PostgreSQL. */
function serialId(db: Db) {
  return (isPostgres(db) ? 'bigserial' : 'integer') as 'integer';
}
function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter.constructor.name.startsWith('Postgres');
}

const m001: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('orgs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('projects')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.references('orgs.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('email', 'text')
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('tokens')
      .addColumn('hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('quotas')
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('gpu_type', 'text', (c) => c.notNull())
      .addColumn('gpus', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('quotas_pk', ['project_id', 'gpu_type'])
      .execute();
    await db.schema
      .createTable('jobs')
      .addColumn('id', serialId(db), (c) => (isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('priority', 'integer', (c) => c.notNull())
      .addColumn('placement', 'text')
      .addColumn('exit_code', 'integer')
      .addColumn('submitted_by', 'text', (c) => c.notNull())
      .addColumn('idempotency_key', 'text')
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .execute();
    await db.schema.createIndex('jobs_state').on('jobs').columns(['state', 'id']).execute();
    await db.schema.createIndex('jobs_project').on('jobs').columns(['project_id', 'id']).execute();
    await db.schema.createIndex('jobs_org').on('jobs').columns(['org_id', 'id']).execute();
    await db.schema.createIndex('jobs_idempotency').on('jobs').columns(['submitted_by', 'idempotency_key']).unique().execute();
    await db.schema
      .createTable('job_events')
      .addColumn('id', serialId(db), (c) => (isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('job_id', 'integer', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('data', 'text')
      .execute();
    await db.schema.createIndex('job_events_job').on('job_events').columns(['job_id', 'id']).execute();
    await db.schema
      .createTable('audit')
      .addColumn('id', serialId(db), (c) => (isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('org_id', 'text')
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('object_type', 'text', (c) => c.notNull())
      .addColumn('object_id', 'text', (c) => c.notNull())
      .addColumn('before', 'text')
      .addColumn('after', 'text')
      .addColumn('request_id', 'text')
      .execute();
    await db.schema.createIndex('audit_org').on('audit').columns(['org_id', 'id']).execute();
    await db.schema
      .createTable('node_states')
      .addColumn('node_id', 'text', (c) => c.primaryKey())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('settings')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
    // Append-only: the audit trail can be read and appended, never rewritten through the app.
    if (!isPostgres(db)) {
      await sql`CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END`.execute(
        db,
      );
      await sql`CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END`.execute(
        db,
      );
    }
  },
};

/** 002: tamper-evident audit — hash chains and signed checkpoints. */
const m002: Migration = {
  async up(db: Db) {
    for (const col of ['prev_hash', 'hash', 'org_prev_hash', 'org_hash']) {
      await db.schema.alterTable('audit').addColumn(col, 'text').execute();
    }
    await db.schema
      .createTable('audit_checkpoints')
      .addColumn('id', serialId(db), (c) => (isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('upto_id', 'integer', (c) => c.notNull())
      .addColumn('head_hash', 'text', (c) => c.notNull())
      .addColumn('org_heads', 'text', (c) => c.notNull())
      .addColumn('signature', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .execute();
  },
};

/** 003: running on borrowed quota is part of a job's state (preemption must survive restarts). */
const m003: Migration = {
  async up(db: Db) {
    await db.schema
      .alterTable('jobs')
      .addColumn('borrowed', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};

export const migrations: Record<string, Migration> = {
  '001-initial': m001,
  '002-audit-chain': m002,
  '003-borrowed': m003,
  '004_residency': m004Residency,
  '005_keys': migration005Keys,
  '006_lockbox': m006Lockbox,
  '007_scheduling': m007Scheduling,
  '008_sovwire': migration008Sovwire,
  '009_attempts': migration009Attempts,
  '013_audit_seal': migration013AuditSeal,
  '014_identity': migration014Identity,
  '015_node_state_source': migration015NodeStateSource,
  '016_usage_records': migration016UsageRecords,
  '017_pg_audit_append_only': migration017PgAuditAppendOnly,
  '018_price_book': migration018PriceBook,
  '019_org_registries': migration019OrgRegistries,
  '020_job_endpoints': migration020JobEndpoints,
  '021_services': migration021Services,
  '022_usage_gpu_equivalents': migration022UsageGpuEquivalents,
  '024_invoices': migration024Invoices,
  '023_scheduler_lease': migration023SchedulerLease,
  '025_org_imports': migration025OrgImports,
  '026_budget_policies': migration026BudgetPolicies,
  '027_usage_daily': migration027UsageDaily,
  '029_org_import_records': migration029OrgImportRecords,
  '030_ssh_keys': migration030SshKeys,
  '031_usage_measured_energy': migration031UsageMeasuredEnergy,
  '032_reserved_capacity': migration032ReservedCapacity,
  '033_usage_reconcile': migration033UsageReconcile,
  '034_lenders': migration034Lenders,
  '035_usage_daily_energy': migration035UsageDailyEnergy,
  '036_invoice_corrections': migration036InvoiceCorrections,
  '037_gpu_partitions': migration037GpuPartitions,
  '038_session_state_claims': migration038SessionStateClaims,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
