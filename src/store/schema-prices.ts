import type { Generated } from 'kysely';
/** Table types of migration 018 (the price book: versions and their prices; monthly budgets). */

export interface PriceVersionsTable {
  /** 1, 2, 3, … in the order they were set. */
  version: number;
  /** ISO 8601 instant the version takes effect (never before it was set). */
  effective_from: string;
  /** second or minute (model/prices.ts). */
  granularity: string;
  created_at: string;
  created_by: string;
}

export interface PricesTable {
  version: number;
  gpu_type: string;
  /** on-demand, preemptible or borrowed (model/usage.ts). */
  class: string;
  /** EUR cents per GPU-hour, an integer. */
  cents_per_gpu_hour: number;
}

export interface BudgetsTable {
  org_id: string;
  /** Hard cap in EUR cents per calendar month (UTC). */
  cap_cents: number;
  /** refuse or wait (migration 026): what happens to a job that does not fit what is left. */
  policy: Generated<string>;
  /** JSON array of percents of the cap (migration 026). */
  alert_thresholds: Generated<string>;
  webhook_url: string | null;
  updated_at: string;
  updated_by: string;
}

/** A project's monthly budget (migration 026), never above its organisation's cap. */
export interface ProjectBudgetsTable {
  project_id: string;
  org_id: string;
  cap_cents: number;
  policy: Generated<string>;
  /** JSON array of percents of the cap (migration 026). */
  alert_thresholds: Generated<string>;
  webhook_url: string | null;
  updated_at: string;
  updated_by: string;
}

/** An organisation's webhook signing secret (migration 026), sealed under its data key. */
export interface BudgetWebhookSecretsTable {
  org_id: string;
  secret: string;
  created_at: string;
}

/** A budget threshold crossed in a month, and its webhook delivery (migration 026). */
export interface BudgetAlertsTable {
  id: Generated<number>;
  org_id: string;
  project_id: string | null;
  budget_key: string;
  month: string;
  threshold: number;
  at: string;
  /** The event as delivered (canonical JSON). */
  body: string;
  webhook_url: string | null;
  /** pending, delivered, failed, or none (no webhook URL). */
  state: string;
  attempts: Generated<number>;
  next_at: string | null;
  last_error: string | null;
  delivered_at: string | null;
}

/** An organisation's reserved-capacity commitment for a GPU type and calendar month (migration 032). */
export interface ReservedCapacityTable {
  org_id: string;
  gpu_type: string;
  /** YYYY-MM (UTC). */
  month: string;
  /** Whole GPUs reserved, at least 1. */
  gpus: number;
  /** EUR cents per GPU per month, an integer. */
  cents_per_gpu_month: number;
  updated_at: string;
  updated_by: string;
}
