/** The console's view of the API's types: imported from the server's schemas, never copied. */
export type {
  FieldError,
  FleetGpus,
  FleetHistory,
  FleetHistorySample,
  JobState,
  PriorityClass,
  QueuedJobBrief,
  QueueSummary,
  Quota,
  SiteSummary,
} from '../../../src/api/console-types.js';
export type { Problem } from '../../../src/api/http-schemas.js';
export type { SessionItem } from '../../../src/api/routes/sessions.js';
export type {
  AuditRecord,
  FleetSummary,
  Job,
  JobEvent,
  JobExplanation,
  JobSpecInput,
  NodeInfo,
  Org,
  Project,
  Role,
  SchedulingCycleView,
  TokenInfo,
  User,
} from '../../../src/model/schemas.js';

/** A page of items as every list route returns it. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
export type { InvoiceSummary, InvoiceVerification, IssuedInvoice } from '../../../src/model/invoices.js';
export type { Budget, BudgetAlert, BudgetAlertList, BudgetList, CostEstimate, PriceVersion } from '../../../src/model/prices.js';
export type { Service } from '../../../src/model/service-schemas.js';
export type { UsageReport, UsageRow } from '../../../src/model/usage.js';
