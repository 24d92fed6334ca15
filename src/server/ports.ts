/**
 * Ports: what the control plane asks the sovereignty modules. Defined here, next to their caller,
 * so src/sovereignty depends on src/server and never the other way round; the composition root
 * (src/compose) plugs the implementations in.
 */

import type { Transaction } from 'kysely';
import type { Fleet } from '../model/fleet.js';
import type { PendingReason, Placement } from '../model/job.js';
import type { JobDataset } from '../model/job-datasets.js';
import type { JobEvent, JobSpec } from '../model/schemas.js';
import type { SchedJob } from '../scheduler/index.js';
import type { Database } from '../store/schema.js';

type Trx = Transaction<Database>;

export interface ControlPlaneHooks {
  /** admit vets a submission for an organisation; throws a DomainError to refuse it. */
  admit?(org: string, spec: JobSpec): Promise<void>;
  /** holdReason: why the organisation's queued jobs must not start now (restriction), or null. */
  holdReason?(org: string): PendingReason | null;
  /** secretsFor decrypts the secrets a job references, at the moment it is handed to its driver. */
  secretsFor?(job: { id: string; org: string; spec: JobSpec }): Promise<Record<string, string> | undefined>;
  /** datasetsFor: the job's declared datasets with their mount modes (class rules applied), for its driver. */
  datasetsFor?(job: { id: string; org: string; spec: JobSpec }): JobDataset[] | undefined;
}

export interface RunningForResidency {
  id: string;
  org: string;
  project: string;
  spec: JobSpec;
  site: string;
}

/** Data residency: every path that queues or starts work goes through them. */
export interface ResidencyGate {
  /** Rejects (422 residency_forbidden) a job no site could ever host; 404 for unknown datasets. */
  admit(org: string, project: string, spec: JobSpec, now: number): void;
  /** The job with its residency constraint for the scheduler (a new object whenever it is evaluated). */
  constrain(job: SchedJob, spec: JobSpec, now: number): SchedJob;
  /** Inside the start transaction: re-checks the placement and writes the evidence; false refuses the start. */
  recordStart(
    trx: Trx,
    s: { jobId: string; org: string; project: string; spec: JobSpec; placement: Placement; at: string; now: number },
  ): Promise<boolean>;
  /** Whether an attestation became valid or expired since the last evaluation. */
  due(now: number): boolean;
  /** Re-evaluates after `due`: flags running jobs whose site no longer qualifies. */
  refresh(now: number): Promise<void>;
  /** The organisation's own policy alone at `now` (reservations hold capacity for it); null: none. */
  orgPlacement(org: string, now: number): OrgResidency | null;
}

/** Where an organisation's own residency policy allows processing, and why the other sites not. */
export interface OrgResidency {
  allowedSites: string[];
  excluded: { site: string; rule: string; reason: string }[];
  policyVersions: { org: { name: string; version: number } | null };
}

/** QuotaBook: the live quotas and fleet Tenancy keeps in step with the store (SchedulingState). */
export interface QuotaBook {
  readonly fleet: Fleet;
  quotaUsage(project: string, gpuType: string): number;
  setQuotaInMemory(project: string, gpuType: string, gpus: number): void;
}

/** What a restriction (GDPR Art. 18) asks of the cycle: stop and hold an org's running jobs, re-run soon. */
export interface RestrictionCycle {
  holdRunning(org: string, actor: string, reason: string, requestId?: string): Promise<string[]>;
  wake(): void;
}

/** What residency asks of the cycle after a policy or attestation change. */
export interface ResidencyCycle {
  reconstrainQueued(): void;
  runningJobsForResidency(): RunningForResidency[];
  /** Publishes a committed job event written outside the cycle (residency flags). */
  announce(org: string, event: JobEvent): void;
}
