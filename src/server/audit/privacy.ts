/**
 * What an operator sees of a tenant's audit records. The payload (`before`/`after`) of a record in
 * an organisation's slice can hold text the tenant wrote (a secret's description, a dataset's name,
 * a checkpoint label, an admin's reason); operators get it only where nobody but the platform wrote
 * it: what an operator wrote into its own records (`after`; `before` may copy the tenant's object),
 * and actions whose payload is a fixed system vocabulary (states,
 * counts, ids, times). Everything else is withheld (`redacted`), and so is the name of a secret,
 * which is the object id of its records. Tenants see their own slice in full. A new action is
 * withheld from operators until it is listed here.
 */
import { createHash } from 'node:crypto';

/** Actions whose payload only the system writes, from a fixed vocabulary (no tenant-written text). */
const SYSTEM_VOCABULARY = new Set([
  'job.submit',
  'job.start',
  'job.finish',
  'job.preempt',
  'job.requeue',
  'job.node-failure',
  'job.cancel',
  'job.residency_flag',
  // A run's metered time corrected to its driver's report: times, seconds, the driver's name, invoice numbers.
  'usage.reconcile',
  'quota.set',
  'user.create',
  'user.enable',
  'user.update',
  'token.create',
  'token.revoke',
  'key.create',
  'kek.create',
  'kek.rotate',
  'reservation.create',
  'reservation.delete',
  'lockbox.access',
  // Invoices: amounts, numbers and hashes the platform computed.
  'invoice.issue',
  // Reserved capacity: GPU counts and prices an operator set.
  'reserved-capacity.set',
  // Erasure certificates are the proof both sides keep; operators read them on the erasure routes too.
  'org.erasure-certificate',
  'dataset.erasure-certificate',
]);

/** Object types whose id is a name the tenant chose. */
const TENANT_NAMED = new Set(['secret']);

export const WITHHELD_FIELDS = ['before', 'after'] as const;

interface Shape {
  org: string | null;
  actor: string;
  action: string;
  objectType: string;
  objectId: string;
}

/** operatorMaySee: may an operator read this record's payload? `operators` are the operator user ids. */
export function operatorMaySee(r: Shape, operators: ReadonlySet<string>): boolean {
  return r.org === null || operators.has(r.actor) || SYSTEM_VOCABULARY.has(r.action);
}

/** pseudonymousObjectId: a stable stand-in for a tenant-chosen name (same name, same stand-in, within an org). */
export function objectIdForOperator(r: Shape): string {
  if (r.org === null || !TENANT_NAMED.has(r.objectType)) return r.objectId;
  return `withheld:${createHash('sha256').update(`${r.org}\n${r.objectId}`).digest('hex').slice(0, 12)}`;
}

/**
 * forOperator: the record as an operator may see it: payload withheld (null, listed in `redacted`)
 * unless operatorMaySee, tenant-chosen object names replaced.
 */
export function forOperator<T extends Shape & { before: unknown; after: unknown }>(
  r: T,
  operators: ReadonlySet<string>,
): T & { redacted?: string[] } {
  const objectId = objectIdForOperator(r);
  const named = objectId !== r.objectId;
  // An operator's own record may still copy the tenant's object as it was before the action
  // (dataset.delete: its name): the operator wrote only `after`.
  if (r.org !== null && r.before !== null && operators.has(r.actor) && !SYSTEM_VOCABULARY.has(r.action)) {
    return { ...r, objectId, before: null, redacted: ['before', ...(named ? ['objectId'] : [])] };
  }
  if (operatorMaySee(r, operators)) return named ? { ...r, objectId, redacted: ['objectId'] } : r;
  return { ...r, objectId, before: null, after: null, redacted: [...WITHHELD_FIELDS, ...(named ? ['objectId'] : [])] };
}
