/** Table types for Kysely. Timestamps are ISO-8601 UTC strings (sortable, portable to PostgreSQL). */
import type { Generated } from 'kysely';
import type { AccessNotificationsTable, AccessRequestsTable, AccessUsesTable } from './lockbox-schema.js';
import type { DatasetsTable, PlacementEvidenceTable, ResidencyPoliciesTable } from './residency-schema.js';
import type {
  BillingProfilesTable,
  CreditNotesTable,
  EnergyFactorsTable,
  InvoiceCorrectionsTable,
  InvoicesTable,
} from './schema-invoices.js';
import type { JobEndpointsTable } from './schema-job-endpoints.js';
import type { SchedulerLeaseTable } from './schema-lease.js';
import type { GpuPartitionsTable, NodeEventsTable } from './schema-node-events.js';
import type { OrgRegistriesTable } from './schema-org-registries.js';
import type {
  BudgetAlertsTable,
  BudgetsTable,
  BudgetWebhookSecretsTable,
  PricesTable,
  PriceVersionsTable,
  ProjectBudgetsTable,
  ReservedCapacityTable,
} from './schema-prices.js';
import type { JobCheckpointsTable, MaintenanceWindowsTable, ReservationsTable } from './schema-scheduling.js';
import type { ServiceApiKeysTable, ServiceReplicasTable, ServicesTable } from './schema-services.js';
import type { UserSshKeysTable } from './schema-ssh-keys.js';
import type { DatasetStateRemovalsTable } from './schema-state-removals.js';
import type { UsageCorrectionsTable, UsageDailyTable, UsageRecordsTable } from './schema-usage.js';

export interface OrgsTable {
  id: string;
  name: string;
  kind: string;
  created_at: string;
}
export interface ProjectsTable {
  id: string;
  org_id: string;
  name: string;
  created_at: string;
}
export interface UsersTable {
  id: string;
  org_id: string | null;
  name: string;
  email: string | null;
  role: string;
  created_at: string;
  /** Set while the user is disabled; its tokens were revoked then. */
  disabled_at: string | null;
  /** Who created the user: an org admin, `system:oidc`, or an operator (onboarding only). */
  created_by: string | null;
  /** 1: an operator may have held this user's credential (legacy); its lockbox approvals never count. */
  operator_known: Generated<number>;
}
export interface TokensTable {
  /** sha256 of the token; the token itself is never stored. */
  hash: string;
  /** Public id (`tok_…`) for listing and revoking; not a credential. */
  id: string;
  user_id: string;
  name: string | null;
  created_at: string;
  /** null: never expires (only the bootstrap operator token). */
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  created_by: string | null;
}
export interface QuotasTable {
  project_id: string;
  gpu_type: string;
  gpus: number;
}
export interface JobsTable {
  id: Generated<number>;
  org_id: string;
  project_id: string;
  name: string;
  state: string;
  spec: string;
  priority: number;
  placement: string | null;
  exit_code: number | null;
  submitted_by: string;
  idempotency_key: string | null;
  labels: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** 1 when the job runs on borrowed capacity (preemptible by the lender). */
  borrowed: number;
  /** A borrowed start's lenders, JSON [{project, gpus}] (model/lenders.ts); null: none (migration 034). */
  lenders: string | null;
  /** How many times the job was started (0: never); each start is one attempt (migration 009). */
  attempt: Generated<number>;
  /** A session's state dataset (session.stateDataset); unique among jobs not ended (migration 038). */
  state_dataset: string | null;
}
export interface JobEventsTable {
  id: Generated<number>;
  job_id: number;
  at: string;
  type: string;
  message: string;
  data: string | null;
}
export interface AuditTable {
  id: Generated<number>;
  at: string;
  actor: string;
  org_id: string | null;
  action: string;
  object_type: string;
  object_id: string;
  before: string | null;
  after: string | null;
  request_id: string | null;
  /** Hash chain over the whole log and over the organisation's slice (audit-chain.ts). */
  prev_hash: string;
  hash: string;
  org_prev_hash: string | null;
  org_hash: string | null;
}
export interface AuditCheckpointsTable {
  id: Generated<number>;
  at: string;
  upto_id: number;
  head_hash: string;
  /** JSON {org: [id, hash]} of every organisation's chain head at upto_id. */
  org_heads: string;
  /** Ed25519 signature (base64) over the canonical checkpoint text. */
  signature: string;
  key_id: string;
  /** Chained checkpoints (migration 013): 1, 2, 3… ; null for checkpoints signed before it. */
  seq: number | null;
  /** sha256 of the previous chained checkpoint's signed text ("" for the first). */
  prev_hash: string | null;
  /** First record this checkpoint covers: the previous checkpoint's upto_id + 1. */
  from_id: number | null;
}
export interface NodeStatesTable {
  node_id: string;
  state: string;
  reason: string | null;
  updated_at: string;
  /** Who set the state (migration 015): an operator's drain outlasts an engine reporting the node up. */
  source: NodeStateSource;
}
export type NodeStateSource = 'operator' | 'engine';
export interface SettingsTable {
  key: string;
  value: string;
}

export interface Database {
  orgs: OrgsTable;
  projects: ProjectsTable;
  users: UsersTable;
  tokens: TokensTable;
  quotas: QuotasTable;
  jobs: JobsTable;
  job_events: JobEventsTable;
  audit: AuditTable;
  audit_checkpoints: AuditCheckpointsTable;
  node_states: NodeStatesTable;
  gpu_partitions: GpuPartitionsTable;
  node_events: NodeEventsTable;
  settings: SettingsTable;
  access_requests: AccessRequestsTable;
  access_uses: AccessUsesTable;
  access_notifications: AccessNotificationsTable;
  reservations: ReservationsTable;
  maintenance_windows: MaintenanceWindowsTable;
  job_checkpoints: JobCheckpointsTable;
  residency_policies: ResidencyPoliciesTable;
  datasets: DatasetsTable;
  placement_evidence: PlacementEvidenceTable;
  usage_records: UsageRecordsTable;
  usage_daily: UsageDailyTable;
  usage_corrections: UsageCorrectionsTable;
  invoice_corrections: InvoiceCorrectionsTable;
  price_versions: PriceVersionsTable;
  prices: PricesTable;
  reserved_capacity: ReservedCapacityTable;
  budgets: BudgetsTable;
  project_budgets: ProjectBudgetsTable;
  budget_webhook_secrets: BudgetWebhookSecretsTable;
  budget_alerts: BudgetAlertsTable;
  invoices: InvoicesTable;
  credit_notes: CreditNotesTable;
  billing_profiles: BillingProfilesTable;
  energy_factors: EnergyFactorsTable;
  org_registries: OrgRegistriesTable;
  user_ssh_keys: UserSshKeysTable;
  job_endpoints: JobEndpointsTable;
  dataset_state_removals: DatasetStateRemovalsTable;
  scheduler_lease: SchedulerLeaseTable;
  services: ServicesTable;
  service_replicas: ServiceReplicasTable;
  service_api_keys: ServiceApiKeysTable;
}
