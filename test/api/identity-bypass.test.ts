/**
 * The operator cannot walk around the lockbox through identities (issue 11, defect 1): it cannot mint
 * a token for a tenant user, cannot plant a user in an onboarded organisation, onboards a first admin
 * only once and without ever seeing its token, and whatever it does to a tenant's identities is in
 * the tenant's audit chain and notices and yields no credential. Approvals by the requester or by a
 * user an operator may hold the credential of do not count.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from '../../src/store/migrations.js';
import { api, startTestServer, type TestServer } from '../helpers/server.js';
import { generateToken, onboardAdmin, tenantUser } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let ada: ReturnType<typeof api>;
let adaId: string;
let maxId: string;
let maxToken: string;
let jobId: string;
const MARKER = 'env-marker-7f3e';

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const accessRequest = (org: string) => ({
  org,
  cause: 'ticket 4711: the job fails with NCCL timeouts',
  scope: { objects: ['job:*'], verbs: ['read-spec'] },
  durationSeconds: 600,
  requesterCountry: 'DE',
  derivedDataRetentionDays: 0,
  approvalDeadline: inSeconds(3600),
});
const noCredentialIn = (body: unknown) => {
  const text = JSON.stringify(body);
  assert.ok(!/"token"\s*:/.test(text), `no token in ${text}`);
  assert.ok(!/gf_[A-Za-z0-9_-]{20,}/.test(text), `no token-shaped string in ${text}`);
};

before(async () => {
  server = await startTestServer();
  op = api(server.url, server.operatorToken);
  for (const org of ['lab', 'rival'])
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'research' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/lab/projects', { id: 'lab-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/lab-ml/quotas/B200', { gpus: 8 })).status, 200);
  const a = await tenantUser(op, 'lab', { name: 'Ada', role: 'admin' });
  ada = api(server.url, a.token);
  adaId = a.userId;
  const m = await tenantUser(op, 'lab', { name: 'Max', role: 'member' });
  maxId = m.userId;
  maxToken = m.token;
  const job = await api(server.url, maxToken)('POST', '/v1/jobs', {
    name: 'train',
    project: 'lab-ml',
    gpuType: 'B200',
    command: ['python', 'train.py'],
    env: { MARKER },
    simulation: { durationSeconds: 60 },
  });
  assert.equal(job.status, 201, JSON.stringify(job.body));
  jobId = job.body.id;
});

after(async () => {
  await server?.stop();
});

describe('an operator never acts as a tenant principal', () => {
  test("minting a token for a tenant's member or admin is refused, and nothing is issued", async () => {
    const tokensBefore = (await ada('GET', '/v1/tokens')).body.items.length;
    for (const user of [maxId, adaId]) {
      const r = await op('POST', `/v1/users/${user}/tokens`, { name: 'support' });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.code, 'operator_cannot_act_as_tenant');
      noCredentialIn(r.body);
    }
    assert.equal((await ada('GET', '/v1/tokens')).body.items.length, tokensBefore);
    // And so the job's spec stays withheld from the operator.
    const seen = await op('GET', `/v1/jobs/${jobId}`);
    assert.ok(!JSON.stringify(seen.body).includes(MARKER));
  });

  test('planting a user in an onboarded organisation is refused, whatever the role or token hash', async () => {
    const before = (await ada('GET', '/v1/orgs/lab/users')).body.items.length;
    for (const role of ['admin', 'member', 'viewer']) {
      const r = await op('POST', '/v1/orgs/lab/users', { name: 'Planted', role, tokenSha256: generateToken().sha256 });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.code, 'operator_cannot_create_tenant_users');
      noCredentialIn(r.body);
    }
    assert.equal((await ada('GET', '/v1/orgs/lab/users')).body.items.length, before);
  });

  test("operators list and revoke only operators' tokens", async () => {
    const listed = (await op('GET', '/v1/tokens')).body.items;
    assert.ok(listed.length >= 1);
    assert.ok(listed.every((t: { owner: string; org: string | null }) => t.org === null));
    const maxTokens = (await ada('GET', `/v1/tokens?user=${maxId}`)).body.items;
    assert.equal((await op('POST', `/v1/tokens/${maxTokens[0].id}/revoke`)).status, 404);
    assert.equal((await api(server.url, maxToken)('GET', '/v1/whoami')).status, 200);
  });
});

describe('onboarding an organisation', () => {
  test('needs the hash of a token the admin generated, returns no token, happens once, and is shown to the tenant', async () => {
    assert.equal((await op('POST', '/v1/orgs', { id: 'fresh', name: 'Fresh', kind: 'start-up' })).status, 201);
    const noHash = await op('POST', '/v1/orgs/fresh/users', { name: 'Fay', role: 'admin' });
    assert.equal(noHash.status, 422);
    assert.equal(noHash.body.code, 'token_hash_required');
    const { token, sha256 } = generateToken();
    const member = await op('POST', '/v1/orgs/fresh/users', { name: 'Fay', role: 'member', tokenSha256: sha256 });
    assert.equal(member.status, 403);
    assert.equal((await api(server.url, token)('GET', '/v1/whoami')).status, 401, 'refused onboarding leaves nothing behind');

    const r = await op('POST', '/v1/orgs/fresh/users', { name: 'Fay', role: 'admin', tokenSha256: sha256 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    noCredentialIn(r.body);
    assert.equal(r.body.user.createdBy, 'operator');
    assert.ok(Date.parse(r.body.tokenInfo.expiresAt) > Date.now());
    const fay = api(server.url, token);
    const me = await fay('GET', '/v1/whoami');
    assert.equal(me.status, 200);
    assert.equal(me.body.role, 'admin');

    const again = await op('POST', '/v1/orgs/fresh/users', { name: 'Eve', role: 'admin', tokenSha256: generateToken().sha256 });
    assert.equal(again.status, 403);
    assert.equal(again.body.code, 'operator_cannot_create_tenant_users');

    // The tenant sees it: an audit record in its own chain and a notice naming the token's fingerprint.
    const audit = (await fay('GET', '/v1/audit?limit=50')).body.items;
    const rec = audit.find((a: { action: string }) => a.action === 'user.onboard');
    assert.ok(rec, 'user.onboard is in the tenant slice');
    assert.equal(rec.actor, 'operator');
    assert.equal(rec.after.tokenFingerprint, sha256.slice(0, 16));
    const notices = (await fay('GET', '/v1/access-notifications')).body.items;
    assert.ok(
      notices.some((n: { kind: string; message: string }) => n.kind === 'onboarding' && n.message.includes(sha256.slice(0, 16))),
    );
    assert.ok(
      !(await ada('GET', '/v1/access-notifications')).body.items.some((n: { message: string }) => n.message.includes('fresh')),
    );
    const verify = await fay('GET', '/v1/audit/verify');
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body));

    // From now on users come from the organisation's admin, with a token shown to that admin only.
    const bo = await fay('POST', '/v1/orgs/fresh/users', { name: 'Bo', role: 'member' });
    assert.equal(bo.status, 201);
    assert.match(bo.body.token, /^gf_/);
    assert.equal(bo.body.user.createdBy, me.body.id);
    const hashByAdmin = await fay('POST', '/v1/orgs/fresh/users', { name: 'Cy', role: 'member', tokenSha256: sha256 });
    assert.equal(hashByAdmin.status, 422);
  });
});

describe("an operator acting on a tenant's identities", () => {
  test('disabling a compromised user revokes its tokens, is audited in the tenant chain and noticed, and yields no credential', async () => {
    const victim = await tenantUser(op, 'lab', { name: 'Compromised', role: 'member' });
    const v = api(server.url, victim.token);
    assert.equal((await v('GET', '/v1/whoami')).status, 200);
    assert.equal((await op('POST', `/v1/users/${victim.userId}/disable`, {})).status, 400, 'a reason is required');
    const r = await op('POST', `/v1/users/${victim.userId}/disable`, { reason: 'token leaked in a public repository' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    noCredentialIn(r.body);
    assert.ok(r.body.disabledAt);
    assert.equal((await v('GET', '/v1/whoami')).status, 401);

    const audit = (await ada('GET', '/v1/audit?limit=50')).body.items;
    const rec = audit.find(
      (a: { action: string; objectId: string }) => a.action === 'user.disable' && a.objectId === victim.userId,
    );
    assert.ok(rec);
    assert.equal(rec.actor, 'operator');
    assert.equal(rec.after.byOperator, true);
    assert.equal(rec.after.tokensRevoked, 1);
    const notice = (await ada('GET', '/v1/access-notifications')).body.items.find((n: { kind: string }) => n.kind === 'identity');
    assert.ok(notice);
    assert.match(notice.message, new RegExp(`operator disabled user ${victim.userId}.*leaked`));
    assert.equal(notice.accessRequest, null);

    // Enabling is the tenant's decision, and brings no old token back.
    assert.equal((await op('POST', `/v1/users/${victim.userId}/enable`)).status, 403);
    assert.equal((await ada('POST', `/v1/users/${victim.userId}/enable`)).status, 200);
    assert.equal((await v('GET', '/v1/whoami')).status, 401);
    const fresh = await ada('POST', `/v1/users/${victim.userId}/tokens`, {});
    assert.equal(fresh.status, 201);
    assert.equal((await api(server.url, fresh.body.token)('GET', '/v1/whoami')).status, 200);
  });
});

describe('which approvals count', () => {
  test('the requester cannot approve; an admin an operator may impersonate cannot either; an independent admin can', async () => {
    const dan = await tenantUser(op, 'lab', { name: 'Dan', role: 'admin' });
    const filed = await op('POST', '/v1/access-requests', accessRequest('lab'));
    assert.equal(filed.status, 201, JSON.stringify(filed.body));
    assert.equal((await op('POST', `/v1/access-requests/${filed.body.id}/approve`, {})).status, 403);

    // A database from before this version, in which the operator had minted Dan a token.
    await server.stop();
    const db = new SQLite(join(server.dataDir, 'gigafab.db'));
    db.prepare('UPDATE users SET operator_known = 1 WHERE id = ?').run(dan.userId);
    db.close();
    await server.restart();
    ada = api(server.url, ada.token);
    op = api(server.url, server.operatorToken);
    const danApi = api(server.url, dan.token);

    const refused = await danApi('POST', `/v1/access-requests/${filed.body.id}/approve`, {});
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'approver_not_independent');
    assert.equal((await ada('GET', `/v1/access-requests/${filed.body.id}`)).body.state, 'pending');
    // Whom such an admin creates, or issues a token for, is no more independent than it is.
    const cleo = await danApi('POST', '/v1/orgs/lab/users', { name: 'Cleo', role: 'admin' });
    const byCleo = await api(server.url, cleo.body.token)('POST', `/v1/access-requests/${filed.body.id}/approve`, {});
    assert.equal(byCleo.body.code, 'approver_not_independent');
    const forAda = await danApi('POST', `/v1/users/${adaId}/tokens`, {});
    assert.equal(forAda.status, 201);
    const byAdaViaDan = await api(server.url, forAda.body.token)('POST', `/v1/access-requests/${filed.body.id}/approve`, {});
    assert.equal(byAdaViaDan.body.code, 'approver_not_independent');
  });

  test('the onboarding admin, whose token the operator never held, approves', async () => {
    await op('POST', '/v1/orgs', { id: 'solo', name: 'Solo', kind: 'start-up' });
    const solo = await onboardAdmin(op, 'solo');
    const filed = await op('POST', '/v1/access-requests', accessRequest('solo'));
    const ok = await api(server.url, solo.token)('POST', `/v1/access-requests/${filed.body.id}/approve`, {});
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.decidedBy, solo.userId);
  });

  test('the migration marks users an operator created or minted a token for, and whom they created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gigafab-migrate-'));
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new SQLite(join(dir, 'old.db')) }) });
    const migrator = new Migrator({ db, provider: migrationProvider });
    assert.equal((await migrator.migrateTo('013_audit_seal')).error, undefined);
    const raw = db as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const at = new Date().toISOString();
    await raw.insertInto('orgs').values({ id: 'old', name: 'Old', kind: 'research', created_at: at }).execute();
    const users = [
      ['operator', null, 'operator'],
      ['u_planted', 'old', 'admin'],
      ['u_minted', 'old', 'member'],
      ['u_child', 'old', 'member'],
      ['u_idp', 'old', 'admin'],
      ['u_idp_child', 'old', 'viewer'],
    ] as const;
    for (const [id, org, role] of users)
      await raw.insertInto('users').values({ id, org_id: org, name: id, email: null, role, created_at: at }).execute();
    await raw
      .insertInto('tokens')
      .values({ hash: 'a'.repeat(64), user_id: 'u_idp', created_at: at })
      .execute();
    const audit = [
      ['operator', 'user.create', 'u_planted'],
      ['system:oidc', 'user.create', 'u_idp'],
      ['u_planted', 'user.create', 'u_child'],
      ['u_idp', 'user.create', 'u_idp_child'],
      ['u_idp', 'user.create', 'u_minted'],
      ['operator', 'token.create', 'u_minted'],
    ];
    let id = 0;
    for (const [actor, action, objectId] of audit) {
      id++;
      await raw
        .insertInto('audit')
        .values({ id, at, actor, org_id: 'old', action, object_type: 'user', object_id: objectId, prev_hash: '', hash: `h${id}` })
        .execute();
    }
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const marked = await raw.selectFrom('users').select(['id', 'operator_known']).orderBy('id').execute();
    assert.deepEqual(Object.fromEntries(marked.map((r) => [r.id, r.operator_known])), {
      operator: 0,
      u_child: 1,
      u_idp: 0,
      u_idp_child: 0,
      u_minted: 1,
      u_planted: 1,
    });
    const tok = await raw.selectFrom('tokens').selectAll().executeTakeFirstOrThrow();
    assert.equal(tok.id, `tok_${'a'.repeat(16)}`);
    assert.equal(tok.expires_at, null);
    await db.destroy();
  });
});
