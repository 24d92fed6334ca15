/** Table types of migration 021 (inference services and their replica jobs). */

export interface ServicesTable {
  /** `<project>-<name>`: unique, and readable in URLs. */
  id: string;
  org_id: string;
  project_id: string;
  name: string;
  visibility: string;
  revision: number;
  /** ServiceSpec of the current revision (JSON). */
  spec: string;
  /** ServiceScaling (JSON). */
  scaling: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface ServiceReplicasTable {
  job_id: number;
  service_id: string;
  revision: number;
  created_at: string;
}

export interface ServiceApiKeysTable {
  id: string;
  service_id: string;
  org_id: string;
  name: string;
  /** SHA-256 (hex) of the key; the key itself is shown once and never stored. */
  hash: string;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
}
