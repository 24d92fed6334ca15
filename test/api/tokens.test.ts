/**
 * API tokens (issue 11, defect 6): they expire (default and maximum from the server's token policy),
 * are listed as metadata only with their last use, are revoked by their owner or an admin of the
 * owner's organisation, and die with a disabled user. `gigafab token list|revoke` drive the same API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cliRunner } from '../helpers/cli.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantUser } from '../helpers/tenants.js';

const DAY = 86400_000;
let server: TestServer;
let op: ReturnType<typeof api>;
let admin: ReturnType<typeof api>;
let member: ReturnType<typeof api>;
let memberId: string;
let memberToken: string;
let adminId: string;
let rival: ReturnType<typeof api>;

const whoami = async (token: string) => (await api(server.url, token)('GET', '/v1/whoami')).status;

before(async () => {
  // A token policy of 7 days by default and 30 at most.
  server = await startTestServer({ extraArgs: ['--token-days', '7', '--token-max-days', '30'] });
  op = api(server.url, server.operatorToken);
  for (const org of ['acme', 'rival']) await op('POST', '/v1/orgs', { id: org, name: org, kind: 'enterprise' });
  const a = await tenantUser(op, 'acme', { name: 'Ada', role: 'admin' });
  admin = api(server.url, a.token);
  adminId = a.userId;
  const m = await tenantUser(op, 'acme', { name: 'Max', role: 'member' });
  member = api(server.url, m.token);
  memberId = m.userId;
  memberToken = m.token;
  rival = api(server.url, (await tenantUser(op, 'rival', { name: 'Rita', role: 'admin' })).token);
});

after(async () => {
  await server?.stop();
});

describe('expiry', () => {
  test("new tokens get the policy's default lifetime; more than the maximum is refused", async () => {
    const t = await member('POST', `/v1/users/${memberId}/tokens`, { name: 'laptop' });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const lifetime = Date.parse(t.body.tokenInfo.expiresAt) - Date.parse(t.body.tokenInfo.createdAt);
    assert.equal(lifetime, 7 * DAY);
    const asked = await member('POST', `/v1/users/${memberId}/tokens`, { expiresInDays: 30 });
    assert.equal(asked.status, 201);
    const tooLong = await member('POST', `/v1/users/${memberId}/tokens`, { expiresInDays: 31 });
    assert.equal(tooLong.status, 422);
    assert.equal(tooLong.body.code, 'token_lifetime_too_long');
    assert.match(tooLong.body.detail, /at most 30 days/);
    const past = await member('POST', `/v1/users/${memberId}/tokens`, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    assert.equal(past.body.code, 'token_expiry_in_past');
    const both = await member('POST', `/v1/users/${memberId}/tokens`, { expiresInDays: 1, expiresAt: new Date().toISOString() });
    assert.equal(both.status, 400);
    // Users created by an admin get the default lifetime too.
    const made = await admin('POST', '/v1/orgs/acme/users', { name: 'Vi', role: 'viewer' });
    assert.equal(Date.parse(made.body.tokenInfo.expiresAt) - Date.parse(made.body.tokenInfo.createdAt), 7 * DAY);
  });

  test('an expired token is refused with a reason, and listed as expired', async () => {
    const t = await member('POST', `/v1/users/${memberId}/tokens`, {
      name: 'short',
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    assert.equal(t.status, 201);
    assert.equal(await whoami(t.body.token), 200);
    await waitFor(async () => (await whoami(t.body.token)) === 401, 'the token to expire', 10_000);
    const r = await api(server.url, t.body.token)('GET', '/v1/whoami');
    assert.equal(r.body.code, 'token_expired');
    const listed = (await member('GET', '/v1/tokens')).body.items.find((x: { id: string }) => x.id === t.body.tokenInfo.id);
    assert.equal(listed.state, 'expired');
  });
});

describe('listing', () => {
  test('metadata only, with the last use; members see their own, admins their organisation’s, nobody another’s', async () => {
    const t = await member('POST', `/v1/users/${memberId}/tokens`, { name: 'ci-pipeline' });
    const before = (await member('GET', '/v1/tokens')).body.items.find((x: { id: string }) => x.id === t.body.tokenInfo.id);
    assert.equal(before.lastUsedAt, null);
    assert.equal(before.name, 'ci-pipeline');
    assert.equal(before.owner, memberId);
    assert.equal(before.org, 'acme');
    assert.equal(before.state, 'active');
    assert.deepEqual(Object.keys(before).sort(), [
      'createdAt',
      'createdBy',
      'expiresAt',
      'id',
      'lastUsedAt',
      'name',
      'org',
      'owner',
      'revokedAt',
      'state',
    ]);
    const usedAt = Date.now();
    assert.equal(await whoami(t.body.token), 200);
    const afterUse = (await member('GET', '/v1/tokens')).body.items.find((x: { id: string }) => x.id === t.body.tokenInfo.id);
    assert.ok(Date.parse(afterUse.lastUsedAt) >= usedAt - 1000, afterUse.lastUsedAt);

    const mine = (await member('GET', '/v1/tokens')).body.items;
    assert.ok(mine.every((x: { owner: string }) => x.owner === memberId));
    const org = (await admin('GET', '/v1/tokens')).body.items;
    assert.ok(org.some((x: { owner: string }) => x.owner === memberId));
    assert.ok(org.some((x: { owner: string }) => x.owner === adminId));
    assert.equal((await rival('GET', `/v1/tokens?user=${memberId}`)).body.items.length, 0);
    const text = JSON.stringify(org);
    assert.ok(!/gf_|"hash"/.test(text), 'no token and no hash in a listing');
  });
});

describe('revocation', () => {
  test('by the owner, by an admin of the organisation; not by another member or another tenant', async () => {
    const own = await member('POST', `/v1/users/${memberId}/tokens`, { name: 'own' });
    const byAdmin = await member('POST', `/v1/users/${memberId}/tokens`, { name: 'admin-revokes' });
    const adminTok = await admin('POST', `/v1/users/${adminId}/tokens`, { name: 'admin-own' });
    assert.equal((await member('POST', `/v1/tokens/${adminTok.body.tokenInfo.id}/revoke`)).status, 403);
    assert.equal((await rival('POST', `/v1/tokens/${own.body.tokenInfo.id}/revoke`)).status, 404);
    assert.equal((await op('POST', `/v1/tokens/${own.body.tokenInfo.id}/revoke`)).status, 404);
    assert.equal(await whoami(own.body.token), 200);

    const r = await member('POST', `/v1/tokens/${own.body.tokenInfo.id}/revoke`);
    assert.equal(r.status, 200);
    assert.equal(r.body.state, 'revoked');
    assert.equal(await whoami(own.body.token), 401, 'a revoked token stops working at once');
    assert.equal((await admin('POST', `/v1/tokens/${byAdmin.body.tokenInfo.id}/revoke`)).status, 200);
    assert.equal(await whoami(byAdmin.body.token), 401);
    assert.equal(await whoami(memberToken), 200, "the member's other tokens still work");
    const audit = (await admin('GET', '/v1/audit?limit=50')).body.items;
    assert.ok(
      audit.some(
        (a: { action: string; objectId: string }) => a.action === 'token.revoke' && a.objectId === own.body.tokenInfo.id,
      ),
    );
  });
});

describe('disabling a user', () => {
  test("revokes all the user's tokens and refuses new ones until an admin enables it", async () => {
    const u = await tenantUser(op, 'acme', { name: 'Leaver', role: 'member' });
    const second = await api(server.url, u.token)('POST', `/v1/users/${u.userId}/tokens`, { name: 'second' });
    assert.equal((await member('POST', `/v1/users/${u.userId}/disable`, { reason: 'left the company' })).status, 403);
    assert.equal((await admin('POST', `/v1/users/${adminId}/disable`, { reason: 'oops' })).body.code, 'cannot_disable_self');
    const d = await admin('POST', `/v1/users/${u.userId}/disable`, { reason: 'left the company' });
    assert.equal(d.status, 200);
    assert.equal(await whoami(u.token), 401);
    assert.equal(await whoami(second.body.token), 401);
    const listed = (await admin('GET', `/v1/tokens?user=${u.userId}`)).body.items;
    assert.equal(listed.length, 2);
    assert.ok(listed.every((t: { state: string; revokedAt: string }) => t.state === 'revoked' && t.revokedAt));
    assert.equal((await admin('POST', `/v1/users/${u.userId}/tokens`, {})).body.code, 'user_disabled');
    const users = (await admin('GET', '/v1/orgs/acme/users')).body.items;
    assert.ok(users.find((x: { id: string; disabledAt: string | null }) => x.id === u.userId)?.disabledAt);
  });
});

test('the CLI: token list and revoke', async () => {
  const { gigafab } = cliRunner('gigafab-tokens-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: memberToken };
  const t = await member('POST', `/v1/users/${memberId}/tokens`, { name: 'cli-made' });
  const list = await gigafab(['token', 'list'], env);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^ID +NAME +OWNER +STATE +CREATED +EXPIRES +LAST USED$/m);
  assert.match(list.out, new RegExp(`^${t.body.tokenInfo.id} +cli-made +${memberId} +active `, 'm'));
  const json = JSON.parse((await gigafab(['token', 'list', '-o', 'json'], env)).out);
  assert.ok(json.some((x: { id: string }) => x.id === t.body.tokenInfo.id));
  const revoked = await gigafab(['token', 'revoke', t.body.tokenInfo.id], env);
  assert.equal(revoked.code, 0, revoked.err);
  assert.match(revoked.out, new RegExp(`token ${t.body.tokenInfo.id} of ${memberId} revoked at `));
  assert.equal(await whoami(t.body.token), 401);
  const missing = await gigafab(['token', 'revoke', 'tok_0000000000000000'], env);
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /token tok_0000000000000000 does not exist/);
});
