/**
 * 026_budget_policies: a budget's policy at its cap (`refuse`: admission refuses a job that could
 * pass it, as before; `wait`: the job is queued and the scheduler's budget gate holds it until money
 * frees), and monthly budgets per project, under their organisation's cap (src/server/budgets.ts).
 * Alerts: per budget, thresholds (percent of the cap) and a webhook URL; per organisation, the
 * webhook signing secret (sealed under its data key); each threshold crossed once per month is a
 * row of budget_alerts, which also holds its delivery's state, so a restart loses no pending one.
 */
import type { Kysely, Migration } from 'kysely';

export const migration026BudgetPolicies: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
    const serial = (pg ? 'bigserial' : 'integer') as 'integer';
    await db.schema
      .alterTable('budgets')
      .addColumn('policy', 'text', (c) => c.notNull().defaultTo('refuse'))
      .execute();
    await db.schema
      .alterTable('budgets')
      .addColumn('alert_thresholds', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
    await db.schema.alterTable('budgets').addColumn('webhook_url', 'text').execute();
    await db.schema
      .createTable('project_budgets')
      .addColumn('project_id', 'text', (c) => c.primaryKey().references('projects.id'))
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('cap_cents', 'bigint', (c) => c.notNull())
      .addColumn('policy', 'text', (c) => c.notNull().defaultTo('refuse'))
      .addColumn('alert_thresholds', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('webhook_url', 'text')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('project_budgets_org').on('project_budgets').column('org_id').execute();
    await db.schema
      .createTable('budget_webhook_secrets')
      .addColumn('org_id', 'text', (c) => c.primaryKey().references('orgs.id'))
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('budget_alerts')
      .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('project_id', 'text')
      .addColumn('budget_key', 'text', (c) => c.notNull())
      .addColumn('month', 'text', (c) => c.notNull())
      .addColumn('threshold', 'integer', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('webhook_url', 'text')
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_at', 'text')
      .addColumn('last_error', 'text')
      .addColumn('delivered_at', 'text')
      .execute();
    // Once per threshold per budget per month, whichever replica or cycle notices it first.
    await db.schema
      .createIndex('budget_alerts_once')
      .on('budget_alerts')
      .columns(['budget_key', 'month', 'threshold'])
      .unique()
      .execute();
    await db.schema.createIndex('budget_alerts_due').on('budget_alerts').columns(['state', 'next_at']).execute();
  },
};
