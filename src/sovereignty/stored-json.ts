/**
 * Schemas of the JSON texts sovereignty stores in rows and files (residency policies, placement
 * evidence, erasure certificates, key files): read back through `parseJson`, never cast, so a
 * row of another shape fails loudly where it is read instead of somewhere downstream.
 */
import { z } from 'zod';
import { DATA_CLASSES, REGIONS } from './residency.js';

/** residency_policies.rules: a policy's placement rules (ResidencyRules). */
export const ResidencyRulesSchema = z.object({
  countries: z.array(z.string()).optional(),
  regions: z.array(z.enum(REGIONS)).optional(),
  attestations: z.array(z.string()).optional(),
  operatorEstablishment: z.array(z.string()).optional(),
});

/** residency_policies.data_classes. */
export const DataClassesSchema = z.array(z.enum(DATA_CLASSES));

/** residency_policies.sites_before / sites_after: site ids. */
export const SiteIdsSchema = z.array(z.string());

/** placement_evidence.evidence, as far as sealing reads it: the datasets it names (other fields kept). */
export const EvidenceDatasetsSchema = z.looseObject({ datasets: z.array(z.looseObject({ name: z.string() })).optional() });

/** placement_evidence.evidence, as the residency report reads it. */
export const ReportEvidenceSchema = z.object({
  site: z.object({
    id: z.string(),
    city: z.string(),
    country: z.string(),
    eu: z.boolean(),
    eea: z.boolean(),
    operator: z.object({ name: z.string(), establishment: z.string() }).nullable(),
    currentAttestations: z.array(z.object({ name: z.string(), validUntil: z.string() })),
  }),
  policyVersions: z.object({
    org: z.object({ name: z.string(), version: z.number() }).nullable(),
    project: z.object({ name: z.string(), version: z.number() }).nullable(),
  }),
  dataClasses: z.array(z.string()),
  rules: z.array(z.unknown()),
});

/** org_erasures.certificate: the erasure certificate as issued. */
export const ErasureCertificateSchema = z.object({
  type: z.literal('gigafab-erasure-certificate-v1'),
  id: z.string(),
  org: z.string(),
  requestedBy: z.string(),
  reason: z.string(),
  erasedAt: z.string(),
  method: z.string(),
  keysDestroyed: z.array(
    z.object({ version: z.number(), provider: z.string(), keyId: z.string(), stillHeldByProvider: z.boolean() }),
  ),
  dataKeysUnreadable: z.number(),
  secretsUnreadable: z.number(),
  usersPseudonymised: z.number(),
  tokensRevoked: z.number(),
  jobsStopped: z.array(z.string()),
  auditChain: z.string(),
  /** Tenant-written text stored sealed under the org's data key, now unreadable (counts of rows). */
  tenantData: z.object({ fields: z.array(z.string()), jobs: z.number(), checkpointLabels: z.number(), how: z.string() }),
  /** What stays readable after the erasure, and why. */
  remains: z.array(z.string()),
  /** Job output the local driver kept on its disks: sealed under a key derived from the org-data key, and deleted. */
  jobOutput: z.string(),
  /** Datasets whose session state directories (the local driver's) are removed; absent on older certificates. */
  stateDirectories: z.array(z.string()).optional(),
});

/** keks.json of the local key provider: wrapped key-encryption keys by id. */
export const StoredKeksSchema = z.record(z.string(), z.object({ wrapped: z.string(), label: z.string(), createdAt: z.string() }));

/** A KMS's JSON answer or request body: string fields by name (others ignored by the readers). */
export const KmsMessageSchema = z.record(z.string(), z.unknown());
