/**
 * What the control plane asks the sovereignty modules (set by the composition root; all optional,
 * so a control plane without them behaves as before).
 */
import type { JobSpec } from '../api/schemas.js';
import type { PendingReason } from '../model/job.js';

export interface ControlPlaneHooks {
  /** admit vets a submission for an organisation; throws an ApiProblem to refuse it. */
  admit?(org: string, spec: JobSpec): Promise<void>;
  /** holdReason: why the organisation's queued jobs must not start now (restriction), or null. */
  holdReason?(org: string): PendingReason | null;
  /** secretsFor decrypts the secrets a job references, at the moment it is handed to its driver. */
  secretsFor?(job: { id: string; org: string; spec: JobSpec }): Promise<Record<string, string> | undefined>;
}
