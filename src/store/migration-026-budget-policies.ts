/**
 * 026_budget_policies: a budget's policy at its cap (`refuse`: admission refuses a job that could
 * pass it, as before; `wait`: the job is queued and the scheduler's budget gate holds it until money
 * frees), and monthly budgets per project, under their organisation's cap (src/server/budgets.ts).
 */
import type { Kysely, Migration } from 'kysely';

export const migration026BudgetPolicies: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('budgets')
      .addColumn('policy', 'text', (c) => c.notNull().defaultTo('refuse'))
      .execute();
    await db.schema
      .createTable('project_budgets')
      .addColumn('project_id', 'text', (c) => c.primaryKey().references('projects.id'))
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('cap_cents', 'bigint', (c) => c.notNull())
      .addColumn('policy', 'text', (c) => c.notNull().defaultTo('refuse'))
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('project_budgets_org').on('project_budgets').column('org_id').execute();
  },
};
