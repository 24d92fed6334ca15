/** Users as callers see them, and the lookups the tenancy services share. */
import type { Selectable } from 'kysely';
import type { Role, User } from '../../model/schemas.js';
import type { Store } from '../../store/open-store.js';
import type { UsersTable } from '../../store/schema.js';

export type UserRow = Selectable<UsersTable>;

export function toUser(u: UserRow): User {
  return {
    id: u.id,
    org: u.org_id,
    name: u.name,
    email: u.email,
    role: u.role as Role,
    createdAt: u.created_at,
    createdBy: u.created_by,
    disabledAt: u.disabled_at,
  };
}

/**
 * userForOperator: a user as an operator sees it. Names and e-mails of tenant users are written by
 * the tenant's admins or come from its identity provider, so operators get the id, role and state;
 * only the onboarding admin's, which an operator typed in, stay visible.
 */
export function userForOperator(u: UserRow, operators: ReadonlySet<string>): User & { redacted?: string[] } {
  if (u.org_id === null || (u.created_by !== null && operators.has(u.created_by))) return toUser(u);
  return { ...toUser(u), name: 'withheld', email: null, redacted: ['name', 'email'] };
}

/** operatorIds: the users who are platform operators (their audit records are operator-written). */
export async function operatorIds(store: Store): Promise<Set<string>> {
  const rows = await store.db.selectFrom('users').select('id').where('role', '=', 'operator').execute();
  return new Set(rows.map((r) => r.id));
}

/** uniqueOr runs an insert and turns a unique-key violation into `problem`. */
export async function uniqueOr(fn: () => Promise<void>, problem: Error): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (/UNIQUE|duplicate key|PRIMARY KEY/i.test(String(err))) throw problem;
    throw err;
  }
}
