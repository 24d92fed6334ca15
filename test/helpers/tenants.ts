/**
 * Tenant users the way the product makes them: an operator onboards an organisation's first admin
 * with the SHA-256 of a token generated on the tenant's side (the operator never sees the token),
 * and that admin creates every further user.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { api } from './server.js';

type Api = ReturnType<typeof api>;

/** generateToken: what `gigafab token generate` does on the future admin's machine. */
export function generateToken(): { token: string; sha256: string } {
  const token = `gf_${randomBytes(24).toString('base64url')}`;
  return { token, sha256: createHash('sha256').update(token).digest('hex') };
}

/** Admin tokens of onboarded organisations, by operator token (one per server) and organisation. */
const admins = new Map<string, string>();

/** onboardAdmin: the operator onboards the first admin of `org`; returns the admin's token and user. */
export async function onboardAdmin(
  op: Api,
  org: string,
  user: { name: string; email?: string } = { name: `${org} admin` },
): Promise<{ token: string; userId: string }> {
  const { token, sha256 } = generateToken();
  const r = await op('POST', `/v1/orgs/${org}/users`, { ...user, role: 'admin', tokenSha256: sha256 });
  assert.equal(r.status, 201, `onboarding ${org}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.token, undefined, 'onboarding never returns a token to the operator');
  admins.set(`${op.token} ${org}`, token);
  return { token, userId: r.body.user.id };
}

/**
 * tenantUser: a user of `org` with `role`. The organisation's first admin is onboarded by the
 * operator when there is none yet (and is the answer when an admin was asked for); every other user
 * is created by that admin.
 */
export async function tenantUser(
  op: Api,
  org: string,
  user: { name: string; role: 'admin' | 'member' | 'viewer'; email?: string },
): Promise<{ token: string; userId: string }> {
  const key = `${op.token} ${org}`;
  let adminToken = admins.get(key);
  if (!adminToken) {
    const first =
      user.role === 'admin' ? await onboardAdmin(op, org, { name: user.name, email: user.email }) : await onboardAdmin(op, org);
    if (user.role === 'admin') return first;
    adminToken = first.token;
  }
  const r = await api(op.url, adminToken)('POST', `/v1/orgs/${org}/users`, user);
  assert.equal(r.status, 201, `creating a user in ${org}: ${JSON.stringify(r.body)}`);
  return { token: r.body.token, userId: r.body.user.id };
}

/** tenantToken: tenantUser's token only. */
export async function tenantToken(
  op: Api,
  org: string,
  user: { name: string; role: 'admin' | 'member' | 'viewer'; email?: string },
): Promise<string> {
  return (await tenantUser(op, org, user)).token;
}

/** adminOf: the token of the admin that tenantUser onboarded for `org` on this server. */
export function adminOf(op: Api, org: string): string {
  const t = admins.get(`${op.token} ${org}`);
  assert.ok(t, `no admin onboarded for ${org}`);
  return t;
}
