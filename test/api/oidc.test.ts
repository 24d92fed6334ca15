/**
 * OIDC login against a real issuer (oidc-provider on an ephemeral port, see helpers/oidc-issuer.ts;
 * tokens from its authorization-code flow and from client_credentials with JWT access tokens):
 * the server discovers the issuer, fetches its JWKS, checks signature, issuer, audience and expiry,
 * and maps groups to roles; users appear just in time under pseudonymous ids. `gf_` tokens keep working.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { JWK } from 'jose';
import { API_RESOURCE, CLI_CLIENT, signingKey, startIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';
import { api, BIN, startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
let idp: TestIssuer;
let rogue: TestIssuer;
let server: TestServer;
let key: JWK;

const clients = [
  { id: 'ops', groups: ['gigafab-operators'] },
  { id: 'ada', groups: ['/acme-admins', 'staff'], claims: { email: 'ada@acme.example', preferred_username: 'Ada Lovelace' } },
  { id: 'max', groups: ['acme-devs'] },
  { id: 'nobody', groups: ['marketing'] },
  { id: 'ghost', groups: ['ghost-admins'] },
  { id: 'short', groups: ['acme-devs'], ttl: 1 },
];

before(async () => {
  key = await signingKey();
  idp = await startIssuer(clients, key, {
    alice: { groups: ['acme-devs'], claims: { email: 'alice@acme.example', preferred_username: 'alice' } },
  });
  // A second issuer with the very same signing key: only the issuer check can tell its tokens apart.
  rogue = await startIssuer(clients, key);
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-oidc-'));
  const config = join(dir, 'oidc.yaml');
  writeFileSync(
    config,
    `issuer: ${idp.issuer}
audience: [${API_RESOURCE}, ${CLI_CLIENT}]
groupsClaim: groups
clockToleranceSeconds: 0
mappings:
  - { group: gigafab-operators, role: operator }
  - { group: acme-admins, role: admin, org: acme }
  - { group: acme-devs, role: member, org: acme }
  - { group: ghost-admins, role: admin, org: ghost }
`,
  );
  server = await startTestServer({ extraArgs: ['--oidc', config] });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'ACME', kind: 'enterprise' })).status, 201);
});

after(async () => {
  await server?.stop();
  await idp?.close();
  await rogue?.close();
});

test('tokens from the issuer log in with the role their groups map to', async () => {
  const ops = await idp.token('ops');
  assert.equal(ops.split('.').length, 3);
  const who = await api(server.url, ops)('GET', '/v1/whoami');
  assert.equal(who.status, 200, JSON.stringify(who.body));
  assert.equal(who.body.role, 'operator');
  assert.equal(who.body.org, null);
  assert.match(who.body.id, /^oidc_[0-9a-f]{20}$/);
  assert.equal((await api(server.url, ops)('POST', '/v1/orgs', { id: 'oidc-made', name: 'x', kind: 'research' })).status, 201);

  const ada = api(server.url, await idp.token('ada'));
  const me = await ada('GET', '/v1/whoami');
  assert.equal(me.body.role, 'admin', 'the highest role wins; a leading / (Keycloak group paths) is ignored');
  assert.equal(me.body.org, 'acme');
  assert.equal((await ada('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' })).status, 201);

  const max = api(server.url, await idp.token('max'));
  assert.equal((await max('GET', '/v1/whoami')).body.role, 'member');
  assert.equal((await max('POST', '/v1/orgs/acme/projects', { id: 'acme-x' })).status, 403);

  // Same person, new token: the same pseudonymous user, not a second one.
  const again = await api(server.url, await idp.token('ada'))('GET', '/v1/whoami');
  assert.equal(again.body.id, me.body.id);
  const users = await ada('GET', '/v1/orgs/acme/users');
  assert.equal(users.body.items.length, 2);
  assert.ok(users.body.items.every((u: { createdBy: string }) => u.createdBy === 'system:oidc'));
  // An admin admitted by the server's group mappings (the operator's configuration) is noticed to the tenant, once.
  const notices = (await ada('GET', '/v1/access-notifications')).body.items.filter(
    (n: { kind: string; message: string }) => n.kind === 'identity' && n.message.includes(me.body.id),
  );
  assert.equal(notices.length, 1);
  assert.match(notices[0].message, /became an admin of acme through OIDC login/);
});

test('a person logs in through the browser flow (authorization code + PKCE); the ID token works', async () => {
  const idToken = await idp.login('alice');
  const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString());
  assert.equal(claims.aud, CLI_CLIENT);
  assert.equal(claims.sub, 'alice');
  const who = await api(server.url, idToken)('GET', '/v1/whoami');
  assert.equal(who.status, 200, JSON.stringify(who.body));
  assert.equal(who.body.role, 'member');
  assert.equal(who.body.org, 'acme');
  assert.equal(who.body.name, 'alice');
});

test('audit records name OIDC users by pseudonymous id only', async () => {
  const audit = await api(server.url, server.operatorToken)('GET', '/v1/audit?limit=100');
  const text = JSON.stringify(audit.body);
  assert.ok(text.includes('user.create'));
  assert.ok(!text.includes('ada@acme.example') && !text.includes('alice@acme.example'), 'no email in audit');
  assert.ok(!text.includes('Lovelace'), 'no name in audit');
  const created = audit.body.items.filter((a: { actor: string }) => a.actor === 'system:oidc');
  assert.ok(created.length >= 3);
  for (const a of created) assert.match(a.objectId, /^oidc_/);
});

test('API tokens keep working beside OIDC', async () => {
  const who = await api(server.url, server.operatorToken)('GET', '/v1/whoami');
  assert.equal(who.status, 200);
  assert.equal(who.body.id, 'operator');
  assert.equal((await api(server.url, 'gf_not-a-real-token')('GET', '/v1/whoami')).status, 401);
});

test('tokens for another audience are rejected', async () => {
  const r = await api(server.url, await idp.token('ops', 'https://other.example/api'))('GET', '/v1/whoami');
  assert.equal(r.status, 401);
  assert.equal(r.body.code, 'invalid_token');
  assert.match(r.body.detail, /another audience/);
});

test('tokens from another issuer are rejected even when signed with the same key', async () => {
  const r = await api(server.url, await rogue.token('ops'))('GET', '/v1/whoami');
  assert.equal(r.status, 401);
  assert.match(r.body.detail, /another issuer/);
});

test('tampered tokens are rejected', async () => {
  const [h, p, s] = (await idp.token('max')).split('.');
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
  claims.groups = ['gigafab-operators'];
  const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  const r = await api(server.url, forged)('GET', '/v1/whoami');
  assert.equal(r.status, 401);
  assert.match(r.body.detail, /signature does not verify/);
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.x`;
  assert.equal((await api(server.url, unsigned)('GET', '/v1/whoami')).status, 401);
});

test('expired tokens are rejected', async () => {
  const token = await idp.token('short');
  assert.equal((await api(server.url, token)('GET', '/v1/whoami')).status, 200);
  await new Promise((r) => setTimeout(r, 2100));
  const r = await api(server.url, token)('GET', '/v1/whoami');
  assert.equal(r.status, 401, 'also when the first use was cached');
  assert.match(r.body.detail, /expired/);
});

test('valid tokens whose groups map to no role, or to an unknown org, are refused with 403', async () => {
  const r = await api(server.url, await idp.token('nobody'))('GET', '/v1/whoami');
  assert.equal(r.status, 403);
  assert.equal(r.body.code, 'oidc_no_role');
  assert.match(r.body.detail, /marketing/);
  const g = await api(server.url, await idp.token('ghost'))('GET', '/v1/whoami');
  assert.equal(g.status, 403);
  assert.equal(g.body.code, 'oidc_org_unknown');
});

test('a group change in the identity provider changes the role at the next token, audited', async () => {
  const dev = clients.find((c) => c.id === 'max')!;
  const before = await api(server.url, await idp.token('max'))('GET', '/v1/whoami');
  assert.equal(before.body.role, 'member');
  dev.groups = ['acme-admins'];
  try {
    const now = await api(server.url, await idp.token('max'))('GET', '/v1/whoami');
    assert.equal(now.body.id, before.body.id);
    assert.equal(now.body.role, 'admin');
  } finally {
    dev.groups = ['acme-devs'];
  }
  const audit = await api(server.url, server.operatorToken)('GET', '/v1/audit?limit=20');
  const update = audit.body.items.find(
    (a: { action: string; objectId: string }) => a.action === 'user.update' && a.objectId === before.body.id,
  );
  assert.deepEqual(update.before, { role: 'member', org: 'acme' });
  assert.equal(update.after.role, 'admin');
});

test('gigafab login stores an OIDC token; later commands use it', async () => {
  const cfg = join(mkdtempSync(join(tmpdir(), 'gigafab-oidc-cli-')), 'config.json');
  const env = { ...process.env, GIGAFAB_CONFIG: cfg, GIGAFAB_URL: '', GIGAFAB_TOKEN: '' };
  const token = await idp.token('ada');
  const login = await run(process.execPath, [BIN, 'login', '--url', server.url, '--token', token], { env });
  assert.match(login.stdout, /logged in .* as oidc_[0-9a-f]+ \(admin in acme\)/);
  assert.equal(JSON.parse(readFileSync(cfg, 'utf8')).token, token);
  const who = await run(process.execPath, [BIN, 'whoami', '-o', 'json'], { env });
  assert.equal(JSON.parse(who.stdout).role, 'admin');
});
