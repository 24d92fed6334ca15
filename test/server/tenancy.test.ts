/**
 * Tenancy as a library, without a server process: everything it needs comes through the
 * constructor (the store, the quota ledger, the token policy, the OIDC login), and the services
 * decide authorisation through src/model/authz.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DomainError } from '../../src/model/errors.js';
import type { Principal, RequestContext } from '../../src/model/principal.js';
import { bootstrapOperator, type QuotaLedger, Tenancy } from '../../src/server/tenancy/index.js';
import { openSqliteStore } from '../../src/store/open-store.js';

const operator: Principal = { userId: 'operator', role: 'operator', org: null };
const as = (principal: Principal): RequestContext => ({ principal, requestId: 'req_test' });

/** A quota ledger standing in for the control plane's in-memory one (plain data, not a mock). */
function ledger(): QuotaLedger & { set: Map<string, number> } {
  const set = new Map<string, number>();
  return {
    set,
    fleet: { gpuTypes: ['H100'] },
    quotaUsage: () => 0,
    setQuotaInMemory: (project, gpuType, gpus) => set.set(`${project}/${gpuType}`, gpus),
  };
}

const kindOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (e instanceof DomainError ? `${e.kind}:${e.code}` : String(e)),
  );

test('tenancy: bootstrap, org, project and quota, a tenant admin creating a member, and the 404-not-403 rule', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-tenancy-'));
  const store = await openSqliteStore(dir);
  try {
    const quotas = ledger();
    const tenancy = new Tenancy({ store, quotas, tokenPolicy: { defaultDays: 7, maxDays: 30 } });
    const boot = await bootstrapOperator(store, dir);
    assert.ok(boot.token && existsSync(boot.path));
    assert.equal(readFileSync(boot.path, 'utf8').trim(), boot.token);
    assert.equal((await bootstrapOperator(store, dir)).token, null, 'a second start issues no token');
    assert.deepEqual(await tenancy.auth.authenticate(boot.token), {
      userId: 'operator',
      role: 'operator',
      org: null,
      tokenId: (await tenancy.auth.authenticate(boot.token))?.tokenId,
    });

    await tenancy.orgs.create(as(operator), { id: 'acme', name: 'Acme', kind: 'enterprise' });
    await tenancy.orgs.create(as(operator), { id: 'globex', name: 'Globex', kind: 'enterprise' });
    await tenancy.projects.create(as(operator), 'acme', { id: 'vision' });
    await tenancy.projects.setQuota(as(operator), 'vision', 'H100', 16);
    assert.equal(quotas.set.get('vision/H100'), 16);

    // Admins come from their organisation: an in-process stand-in, as the demo load does.
    const acmeAdmin: Principal = { userId: 'system:test', role: 'admin', org: 'acme' };
    const made = await tenancy.users.create(as(acmeAdmin), 'acme', { name: 'Ada', role: 'member' });
    assert.ok(made.token);
    const member = await tenancy.auth.authenticate(made.token);
    assert.equal(member?.org, 'acme');
    assert.equal(member?.role, 'member');
    // The token policy came in through the constructor: 7 days by default.
    const days = (Date.parse(made.tokenInfo.expiresAt ?? '') - Date.now()) / 86400_000;
    assert.ok(days > 6.9 && days <= 7, `expires in ${days} days`);

    const m = member!;
    assert.equal(await kindOf(tenancy.orgs.get(m, 'globex')), 'not_found:org_not_found');
    assert.equal(await kindOf(tenancy.projects.create(as(m), 'acme', { id: 'x' })), 'forbidden:forbidden');
    assert.equal(await kindOf(tenancy.projects.setQuota(as(m), 'vision', 'H100', 1)), 'forbidden:forbidden');
    assert.equal(await kindOf(tenancy.orgs.create(as(m), { id: 'evil', name: 'E', kind: 'enterprise' })), 'forbidden:forbidden');
    assert.deepEqual(
      (await tenancy.orgs.list(m)).map((o) => o.id),
      ['acme'],
    );
    // Operators do not hold tenant credentials; a member revokes its own token, and it stops working.
    assert.equal(await kindOf(tenancy.tokens.create(as(operator), made.user.id, {})), 'forbidden:operator_cannot_act_as_tenant');
    await tenancy.tokens.revoke(as(m), made.tokenInfo.id);
    assert.equal(await tenancy.auth.authenticate(made.token), null);
  } finally {
    await store.close();
  }
});

test('tenancy: the OIDC login comes in through the constructor; a disabled user is refused there too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-tenancy-oidc-'));
  const store = await openSqliteStore(dir);
  try {
    const seen: string[] = [];
    const oidc = {
      async authenticate(token: string): Promise<Principal> {
        seen.push(token);
        return { userId: 'operator', role: 'operator', org: null };
      },
    };
    const tenancy = new Tenancy({ store, quotas: ledger(), oidc });
    await bootstrapOperator(store, dir);
    const jwt = 'aaa.bbb.ccc';
    assert.equal((await tenancy.auth.authenticate(jwt))?.userId, 'operator');
    assert.deepEqual(seen, [jwt]);
    assert.equal(await tenancy.auth.authenticate('gf_not_a_token'), null, 'an opaque token is looked up, not sent to OIDC');
    await store.write((trx) =>
      trx.updateTable('users').set({ disabled_at: new Date().toISOString() }).where('id', '=', 'operator').execute(),
    );
    assert.equal(await kindOf(tenancy.auth.authenticate(jwt)), 'unauthenticated:user_disabled');
  } finally {
    await store.close();
  }
});
