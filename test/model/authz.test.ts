import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canActForUser,
  canAdminAsTenant,
  canAdminOrg,
  canCancelJob,
  canReadAudit,
  canReadJob,
  canSeeOrg,
  canSubmit,
  type Decision,
  enforce,
  operatorOnly,
} from '../../src/model/authz.js';
import { DomainError } from '../../src/model/errors.js';
import type { Principal } from '../../src/model/principal.js';

const operator: Principal = { userId: 'operator', role: 'operator', org: null };
const admin: Principal = { userId: 'u_admin', role: 'admin', org: 'acme' };
const member: Principal = { userId: 'u_member', role: 'member', org: 'acme' };
const viewer: Principal = { userId: 'u_viewer', role: 'viewer', org: 'acme' };
const stranger: Principal = { userId: 'u_other', role: 'admin', org: 'globex' };

const reason = (d: Decision) => (d.allowed ? `allow:${d.reason}` : `deny:${d.reason}`);

const table: [string, (p: Principal) => Decision, [Principal, string][]][] = [
  [
    'canSeeOrg(acme)',
    (p) => canSeeOrg(p, 'acme'),
    [
      [operator, 'allow:operator'],
      [admin, 'allow:own_org'],
      [viewer, 'allow:own_org'],
      [stranger, 'deny:other_org'],
    ],
  ],
  ['canSeeOrg(null) for a tenant', (p) => canSeeOrg(p, null), [[admin, 'deny:other_org']]],
  [
    'canReadJob(acme)',
    (p) => canReadJob(p, 'acme'),
    [
      [operator, 'allow:operator'],
      [member, 'allow:own_org'],
      [stranger, 'deny:other_org'],
    ],
  ],
  [
    'canAdminOrg(acme)',
    (p) => canAdminOrg(p, 'acme'),
    [
      [operator, 'allow:operator'],
      [admin, 'allow:org_admin'],
      [member, 'deny:not_admin'],
      [viewer, 'deny:not_admin'],
      [stranger, 'deny:other_org'],
    ],
  ],
  [
    'canAdminAsTenant(acme)',
    (p) => canAdminAsTenant(p, 'acme'),
    [
      [operator, 'deny:operator_not_tenant'],
      [admin, 'allow:org_admin'],
      [member, 'deny:not_admin'],
      [stranger, 'deny:other_org'],
    ],
  ],
  [
    'canSubmit(acme)',
    (p) => canSubmit(p, 'acme'),
    [
      [operator, 'deny:operator_not_tenant'],
      [admin, 'allow:org_member'],
      [member, 'allow:org_member'],
      [viewer, 'deny:viewer_read_only'],
      [stranger, 'deny:other_org'],
    ],
  ],
  [
    'canCancelJob(acme)',
    (p) => canCancelJob(p, 'acme'),
    [
      [operator, 'allow:operator'],
      [member, 'allow:org_member'],
      [viewer, 'deny:viewer_read_only'],
      [stranger, 'deny:other_org'],
    ],
  ],
  [
    'canActForUser(u_member of acme)',
    (p) => canActForUser(p, { id: 'u_member', org: 'acme' }),
    [
      [operator, 'allow:operator'],
      [admin, 'allow:org_admin'],
      [member, 'allow:self'],
      [viewer, 'deny:not_owner'],
      [stranger, 'deny:other_org'],
    ],
  ],
  [
    'canReadAudit',
    canReadAudit,
    [
      [operator, 'allow:operator'],
      [admin, 'allow:org_admin'],
      [member, 'deny:not_admin'],
    ],
  ],
  [
    'operatorOnly',
    operatorOnly,
    [
      [operator, 'allow:operator'],
      [admin, 'deny:not_operator'],
    ],
  ],
];

for (const [rule, decide, rows] of table) {
  test(`authz: ${rule}`, () => {
    for (const [p, want] of rows) assert.equal(reason(decide(p)), want, `${rule} for ${p.userId}`);
  });
}

test('enforce: other_org becomes not found when the object is named, every other denial forbidden', () => {
  const thrown = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof DomainError);
      return `${err.kind}:${err.code}`;
    }
    return 'none';
  };
  assert.equal(
    thrown(() => enforce(canSeeOrg(stranger, 'acme'), 'no', { kind: 'org', id: 'acme' })),
    'not_found:org_not_found',
  );
  assert.equal(
    thrown(() => enforce(canSeeOrg(stranger, 'acme'), 'no')),
    'forbidden:forbidden',
  );
  assert.equal(
    thrown(() => enforce(canAdminOrg(member, 'acme'), 'admins only', { kind: 'org', id: 'acme' })),
    'forbidden:forbidden',
  );
  assert.equal(
    thrown(() => enforce(canAdminOrg(admin, 'acme'), 'admins only')),
    'none',
  );
});
