/**
 * Authorisation: who may do what, decided in one place. Each rule is a pure function of the
 * principal and the object's organisation and returns a typed decision with a reason code; the
 * services turn a denial into a DomainError with `enforce`. A denial for another tenant's object is
 * `other_org`, which callers report as not found (tenants never learn that it exists).
 * Tenant data an operator wants to read is a separate question (the lockbox, src/server/lockbox).
 */
import { forbidden, notFound } from './errors.js';
import { isOperator, type Principal } from './principal.js';

export { isOperator };

export type AllowReason =
  /** A platform operator. */
  | 'operator'
  /** A user of the object's organisation. */
  | 'own_org'
  /** An admin of the object's organisation. */
  | 'org_admin'
  /** A member or admin of the organisation (anyone of it but a viewer). */
  | 'org_member'
  /** The caller acts on itself (its own user or token). */
  | 'self';

export type DenyReason =
  /** The object belongs to another organisation: report it as not found. */
  | 'other_org'
  /** Only platform operators may do this. */
  | 'not_operator'
  /** Only admins (of the organisation, or operators where the rule allows) may do this. */
  | 'not_admin'
  /** Operators do not act as a tenant (run work, decide for it, hold its credentials). */
  | 'operator_not_tenant'
  /** Viewers only read. */
  | 'viewer_read_only'
  /** Only the owner or an admin may do this to someone else's object. */
  | 'not_owner';

export type Decision = { allowed: true; reason: AllowReason } | { allowed: false; reason: DenyReason };

const allow = (reason: AllowReason): Decision => ({ allowed: true, reason });
const deny = (reason: DenyReason): Decision => ({ allowed: false, reason });

/** operatorOnly: platform operators, nobody else. */
export function operatorOnly(p: Principal): Decision {
  return isOperator(p) ? allow('operator') : deny('not_operator');
}

/** canSeeOrg: operators see every organisation, tenants only their own. */
export function canSeeOrg(p: Principal, org: string | null): Decision {
  if (isOperator(p)) return allow('operator');
  return org !== null && p.org === org ? allow('own_org') : deny('other_org');
}

/** canReadJob: a job (or any object of an organisation) is readable by its tenant and by operators (metadata; the spec is the lockbox's). */
export const canReadJob = (p: Principal, jobOrg: string): Decision => canSeeOrg(p, jobOrg);

/** canAdminOrg: operators and the organisation's admins. */
export function canAdminOrg(p: Principal, org: string | null): Decision {
  const seen = canSeeOrg(p, org);
  if (!seen.allowed || seen.reason === 'operator') return seen;
  return p.role === 'admin' ? allow('org_admin') : deny('not_admin');
}

/** canAdminAsTenant: the organisation's own admins only; operators do not decide for a tenant. */
export function canAdminAsTenant(p: Principal, org: string | null): Decision {
  const seen = canSeeOrg(p, org);
  if (!seen.allowed) return seen;
  if (seen.reason === 'operator') return deny('operator_not_tenant');
  return p.role === 'admin' ? allow('org_admin') : deny('not_admin');
}

/** canSubmit: members and admins of the organisation run work in it; operators and viewers do not. */
export function canSubmit(p: Principal, org: string | null): Decision {
  const seen = canSeeOrg(p, org);
  if (!seen.allowed) return seen;
  if (seen.reason === 'operator') return deny('operator_not_tenant');
  return p.role === 'viewer' ? deny('viewer_read_only') : allow('org_member');
}

/**
 * canOpenWorkload: a session or a private service through the workload proxy is its organisation's:
 * members and admins (viewers too for a service, which they only call; a session runs their code).
 * Operators are denied as tenants; the lockbox may still let them in (an approved `open-session`).
 */
export function canOpenWorkload(p: Principal, org: string, kind: 'session' | 'service'): Decision {
  const seen = canSeeOrg(p, org);
  if (!seen.allowed) return seen;
  if (seen.reason === 'operator') return deny('operator_not_tenant');
  return kind === 'session' && p.role === 'viewer' ? deny('viewer_read_only') : allow('org_member');
}

/** canCancelJob: anyone who sees the job but a viewer (operators cancel for operations). */
export function canCancelJob(p: Principal, jobOrg: string): Decision {
  const seen = canSeeOrg(p, jobOrg);
  if (!seen.allowed || seen.reason === 'operator') return seen;
  return p.role === 'viewer' ? deny('viewer_read_only') : allow('org_member');
}

/** canActForUser: on one's own user (tokens, …), or as an admin of its organisation, or an operator. */
export function canActForUser(p: Principal, user: { id: string; org: string | null }): Decision {
  const seen = canSeeOrg(p, user.org);
  if (!seen.allowed || seen.reason === 'operator') return seen;
  if (p.role === 'admin') return allow('org_admin');
  return p.userId === user.id ? allow('self') : deny('not_owner');
}

/** canReadAudit: operators (everything, tenant payloads withheld) and organisation admins (their slice). */
export function canReadAudit(p: Principal): Decision {
  if (isOperator(p)) return allow('operator');
  return p.role === 'admin' ? allow('org_admin') : deny('not_admin');
}

/**
 * enforce throws for a denial: `other_org` as not found (when the caller names what was asked for),
 * anything else as forbidden with the caller's sentence.
 */
export function enforce(d: Decision, detail: string, hidden?: { kind: string; id: string }): void {
  if (d.allowed) return;
  if (d.reason === 'other_org' && hidden) throw notFound(hidden.kind, hidden.id);
  throw forbidden(detail);
}
