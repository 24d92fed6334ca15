/**
 * Types of the sovereignty and scheduling-operations routes, imported from the server's schema
 * modules (type-only: nothing of zod reaches the bundle). The residency routes keep their zod
 * schemas private to src/api/routes/residency.ts, so their answers are typed here from the pure
 * evaluator's types plus the few fields the route adds (see /v1/openapi.json, tag residency).
 */

import type { Attestation } from '../../../src/model/fleet.js';
import type { AccessRequest, AccessUse } from '../../../src/model/lockbox-schemas.js';
import type { ResidencyReportRow } from '../../../src/sovereignty/report-csv.js';
import type {
  DataClass,
  Exclusion,
  PolicyVersion,
  ResidencyEvaluation,
  ResidencyRules,
  SiteFacts,
} from '../../../src/sovereignty/residency.js';

export type { KeysStatus, Restriction, RotateResult, SecretMeta } from '../../../src/api/keys-schemas.js';
export type {
  AccessNotification,
  AccessRequest,
  AccessRequestCreate,
  AccessUse,
} from '../../../src/model/lockbox-schemas.js';
export type {
  MaintenanceCreate,
  MaintenanceWindowView,
  Reservation,
  ReservationCreate,
} from '../../../src/model/schemas-scheduling.js';
export type { ResidencyReportRow } from '../../../src/sovereignty/report-csv.js';
export type { DataClass, Exclusion, ResidencyRules };

/** AccessRequestDetail: a request with every use made of it. */
export type AccessRequestDetail = AccessRequest & { uses: AccessUse[] };

/** ResidencyPolicy: one version of an organisation's or project's policy (version 0: none set). */
export interface ResidencyPolicy extends PolicyVersion {
  createdAt: string | null;
  createdBy: string | null;
  sitesBefore: string[];
  sitesAfter: string[];
  sitesChanged: boolean;
}

export interface Dataset {
  id: string;
  org: string;
  project: string;
  name: string;
  classification: DataClass;
  homeSite: string;
  sizeBytes: number;
  checksum: string;
  createdAt: string;
  createdBy: string;
}

export type SiteAttestation = Attestation;

/** PlacementEvidence: what was recorded in the transaction that started the job. */
export interface PlacementEvidence {
  jobId: string;
  at: string;
  site: Omit<SiteFacts, 'adequacy' | 'attestations'> & { currentAttestations: SiteAttestation[] };
  policyVersions: ResidencyEvaluation['policyVersions'];
  dataClasses: string[];
  datasets?: { id: string; name: string; classification: string }[];
  rules: ResidencyEvaluation['rules'];
  allowedSites: string[];
  excluded: Exclusion[];
}

export interface JobResidency {
  jobId: string;
  state: string;
  evaluation: Omit<ResidencyEvaluation, 'narrowing'> & { evaluatedAt: string };
  placements: PlacementEvidence[];
  flags: { at: string; message: string }[];
}

export interface ResidencyReport {
  org: string;
  from: string;
  to: string;
  generatedAt: string;
  items: ResidencyReportRow[];
}

/** ProcessingRecord: the record of processing (GDPR Art. 30(2)), as src/sovereignty/reports.ts builds it. */
export interface ProcessingRecord {
  generatedAt: string;
  controller: { org: string; name: string; kind: string };
  processors: { name: string; establishment: string }[];
  categoriesOfProcessing: string[];
  dataClasses: string[];
  residencyPolicies: { scope: string; scopeId: string; name: string; version: number; rules: ResidencyRules }[];
  sitesUsed: {
    id: string;
    name: string;
    city: string;
    country: string;
    eu: boolean;
    eea: boolean;
    operator: { name: string; establishment: string } | null;
    attestations: SiteAttestation[];
    placements: number;
    firstPlacement: string | null;
    lastPlacement: string | null;
    datasets: number;
  }[];
  transfersOutsideEea: { site: string; country: string; safeguard: string }[];
  retention: { what: string; period: string }[];
  technicalAndOrganisationalMeasures: string[];
}
