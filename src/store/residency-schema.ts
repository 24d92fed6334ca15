/** Table types of the residency feature (migration 004_residency). JSON columns are text. */
import type { Generated } from 'kysely';

/** One version of an organisation's or project's residency policy; versions are never rewritten. */
export interface ResidencyPoliciesTable {
  scope_type: string;
  scope_id: string;
  version: number;
  org_id: string;
  name: string;
  /** JSON ResidencyRules. */
  rules: string;
  /** JSON DataClass[]. */
  data_classes: string;
  /** JSON string[]: the sites the scope's policies allowed before and after this version. */
  sites_before: string;
  sites_after: string;
  created_at: string;
  created_by: string;
}

/** A registered dataset. Deletion keeps the row (deleted_at) so queued jobs and evidence keep its class. */
export interface DatasetsTable {
  id: string;
  org_id: string;
  project_id: string;
  name: string;
  classification: string;
  home_site: string;
  size_bytes: number;
  checksum: string;
  created_at: string;
  created_by: string;
  deleted_at: string | null;
}

/** Placement evidence, written in the transaction that starts the job. */
export interface PlacementEvidenceTable {
  id: Generated<number>;
  job_id: number;
  org_id: string;
  project_id: string;
  at: string;
  site: string;
  /** JSON: rules evaluated, policy versions, datasets, site jurisdiction and attestations. */
  evidence: string;
}
