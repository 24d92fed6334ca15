/**
 * Secrets end to end on the real server with the `local` driver: stored only encrypted, delivered
 * to the job that references them (it prints a hash of the value), and never present in any API
 * response, error message, server output, audit export, job event or log, nor in the database
 * file. Also: validation at submission, key rotation between runs, the CLI.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { addLabTenant, recorder, startLocalSiteServer } from '../helpers/local-site.js';
import { api, BIN, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const run = promisify(execFile);
const SECRET = `gf-s3cr3t-${randomBytes(12).toString('hex')}`;
const SECRET2 = `cli-s3cr3t-${randomBytes(12).toString('hex')}`;
const SECRET3 = `stdin-s3cr3t-${randomBytes(12).toString('hex')}`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let server: TestServer;
let op: ReturnType<typeof api>;
let admin: ReturnType<typeof api>;
let member: ReturnType<typeof api>;
let adminToken: string;
/** Every response body this test saw, to search for the secret at the end. */
const seen: string[] = [];

const recorded = recorder(seen);

before(async () => {
  server = await startLocalSiteServer('gigafab-secrets-');
  op = recorded(api(server.url, server.operatorToken));
  adminToken = await addLabTenant(op, { name: 'Ada Admin', role: 'admin' });
  const memberToken = await tenantToken(op, 'lab', { name: 'Max Member', role: 'member' });
  admin = recorded(api(server.url, adminToken));
  member = recorded(api(server.url, memberToken));
});

after(async () => {
  await server?.stop();
});

const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [BIN, ...args], {
    env: { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: adminToken, GIGAFAB_CONFIG: '/nonexistent', ...env },
  });

const hashJob = (name: string, secretEnv: Record<string, string>) => ({
  name,
  project: 'lab-ml',
  gpuType: 'L4',
  gpusPerNode: 1,
  command: ['sh', '-c', 'printf "%s" "$TOKEN" | sha256sum | cut -c1-64; echo "len=$(printf "%s" "$TOKEN" | wc -c | tr -d " ")"'],
  secretEnv,
});

async function finished(id: string) {
  return waitFor(async () => {
    const j = (await member('GET', `/v1/jobs/${id}`)).body;
    return ['succeeded', 'failed', 'cancelled', 'timed-out'].includes(j.state) ? j : null;
  }, `job ${id} to finish`);
}

async function logsOf(id: string): Promise<string> {
  const r = await fetch(`${server.url}/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${adminToken}` } });
  const text = await r.text();
  seen.push(text);
  return text;
}

test('validation: names, unknown fields, roles; operators cannot touch tenant secrets', async () => {
  const bad = await admin('POST', '/v1/orgs/lab/secrets', { name: 'bad name!', value: SECRET });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'validation_failed');
  // PUT creates too: the name in the path obeys the same rule.
  const badPut = await admin('PUT', '/v1/orgs/lab/secrets/bad%20name!', { value: SECRET });
  assert.equal(badPut.status, 400);
  assert.equal(badPut.body.code, 'validation_failed');
  const extra = await admin('POST', '/v1/orgs/lab/secrets', { name: 'x1', value: SECRET, plaintext: true });
  assert.equal(extra.status, 400);
  const empty = await admin('POST', '/v1/orgs/lab/secrets', { name: 'x1', value: '' });
  assert.equal(empty.status, 400);
  const broken = await fetch(`${server.url}/v1/orgs/lab/secrets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: `{"name":"x1","value":"${SECRET}`,
  });
  const brokenText = await broken.text();
  seen.push(brokenText);
  assert.equal(broken.status, 400);
  assert.equal((await member('POST', '/v1/orgs/lab/secrets', { name: 'm1', value: SECRET })).status, 403);
  assert.equal((await op('POST', '/v1/orgs/lab/secrets', { name: 'o1', value: SECRET })).status, 403);
  assert.equal((await op('GET', '/v1/orgs/lab/secrets')).status, 403);
  assert.equal((await admin('GET', '/v1/orgs/other/secrets')).status, 404);
  assert.equal((await admin('GET', '/v1/orgs/lab/secrets/nope')).status, 404);
  assert.equal((await admin('DELETE', '/v1/orgs/lab/secrets/nope')).status, 404);
  const doc = await (await fetch(`${server.url}/v1/openapi.json`)).json();
  for (const path of [
    '/v1/orgs/{org}/secrets',
    '/v1/orgs/{org}/secrets/{name}',
    '/v1/orgs/{org}/keys/rotate',
    '/v1/orgs/{org}/erasure',
  ]) {
    assert.ok(doc.paths[path], `${path} is documented`);
  }
  assert.ok(doc.components.schemas.JobSpec.properties.secretEnv);
});

test('a secret is stored encrypted, shown as metadata only, and delivered to the job that references it', async () => {
  const created = await admin('POST', '/v1/orgs/lab/secrets', { name: 'hf-token', value: SECRET, description: 'model hub' });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'hf-token');
  assert.equal(created.body.version, 1);
  assert.equal('value' in created.body, false);
  assert.equal((await admin('POST', '/v1/orgs/lab/secrets', { name: 'hf-token', value: 'again' })).body.code, 'secret_exists');
  const list = await member('GET', '/v1/orgs/lab/secrets');
  assert.deepEqual(
    list.body.items.map((s: { name: string }) => s.name),
    ['hf-token'],
  );

  const unknown = await member('POST', '/v1/jobs', hashJob('unknown', { TOKEN: 'no-such-secret' }));
  assert.equal(unknown.status, 422);
  assert.equal(unknown.body.code, 'unknown_secret');
  assert.equal(unknown.body.errors[0].path, 'secretEnv.TOKEN');
  const clash = await member('POST', '/v1/jobs', { ...hashJob('clash', { TOKEN: 'hf-token' }), env: { TOKEN: 'x' } });
  assert.equal(clash.body.code, 'secret_env_conflict');

  const j = await member('POST', '/v1/jobs', hashJob('uses-secret', { TOKEN: 'hf-token' }));
  assert.equal(j.status, 201);
  assert.deepEqual(j.body.spec.secretEnv, { TOKEN: 'hf-token' });
  const done = await finished(j.body.id);
  assert.equal(done.state, 'succeeded');
  assert.equal((await logsOf(j.body.id)).trim(), `${sha(SECRET)}\nlen=${SECRET.length}`);
  await member('GET', `/v1/jobs/${j.body.id}/events`);

  const uses = (await admin('GET', '/v1/audit?limit=50')).body.items.filter((r: { action: string }) => r.action === 'key.use');
  assert.equal(uses.length, 1);
  assert.equal(uses[0].actor, 'system:secret-delivery');
  assert.equal(uses[0].objectId, 'hf-token');
  assert.equal(uses[0].after.job, j.body.id);
});

test('rotation (API and CLI) and value replacement: later jobs still get the right value', async () => {
  const rot = await admin('POST', '/v1/orgs/lab/keys/rotate', {});
  assert.equal(rot.status, 200);
  assert.equal(rot.body.version, 2);
  // The secret's data key and the organisation's key for its sealed job fields (tenant-keys.ts).
  assert.equal(rot.body.rewrappedDataKeys, 2);
  assert.deepEqual(rot.body.destroyedVersions, [1]);
  assert.equal((await admin('POST', '/v1/orgs/lab/keys/rotate', { provider: 'nowhere' })).body.code, 'unknown_key_provider');
  assert.equal((await member('POST', '/v1/orgs/lab/keys/rotate', {})).status, 403);

  const set = await cli(['secret', 'set', 'registry', '--from-env', 'MY_SECRET', '--description', 'registry pull'], {
    MY_SECRET: SECRET2,
  });
  assert.match(set.stdout, /secret registry created \(version 1\) in lab/);
  const r = await cli(['keys', 'rotate']);
  // Two secrets' data keys and the organisation's tenant-data key.
  assert.match(r.stdout, /rotated to version 3 .* 3 data keys re-wrapped; destroyed version\(s\) 2/);
  const shown = await cli(['keys', 'show']);
  assert.match(shown.stdout, /3\s+local \(local-file\)\s+lk_\w+\s+active/);
  const listed = await cli(['secret', 'list']);
  assert.match(listed.stdout, /hf-token\s+1/);
  assert.match(listed.stdout, /registry\s+1/);
  seen.push(set.stdout, set.stderr, r.stdout, shown.stdout, listed.stdout);

  const j = await member('POST', '/v1/jobs', hashJob('after-rotation', { TOKEN: 'registry' }));
  assert.equal((await finished(j.body.id)).state, 'succeeded');
  assert.equal((await logsOf(j.body.id)).trim(), `${sha(SECRET2)}\nlen=${SECRET2.length}`);

  const replaced = await admin('PUT', '/v1/orgs/lab/secrets/registry', { value: `${SECRET2}-v2` });
  assert.equal(replaced.status, 200);
  assert.equal(replaced.body.version, 2);
  const j2 = await member('POST', '/v1/jobs', hashJob('after-replace', { TOKEN: 'registry' }));
  await finished(j2.body.id);
  assert.equal((await logsOf(j2.body.id)).trim(), `${sha(`${SECRET2}-v2`)}\nlen=${SECRET2.length + 3}`);

  // The usual way to pass a value: on stdin, so it is in no argument list and no shell history.
  const piped = await run('sh', ['-c', `printf '%s\\n' "$V" | "${process.execPath}" "${BIN}" secret set piped`], {
    env: { ...process.env, V: SECRET3, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: adminToken, GIGAFAB_CONFIG: '/nonexistent' },
  });
  assert.match(piped.stdout, /secret piped created/);
  const j3 = await member('POST', '/v1/jobs', hashJob('piped', { TOKEN: 'piped' }));
  await finished(j3.body.id);
  assert.equal(
    (await logsOf(j3.body.id)).trim(),
    `${sha(SECRET3)}\nlen=${SECRET3.length}`,
    'the trailing newline is not part of the value',
  );

  const del = await cli(['secret', 'delete', 'registry']);
  assert.match(del.stdout, /deleted; its data key was shredded/);
  const gone = await member('POST', '/v1/jobs', hashJob('deleted', { TOKEN: 'registry' }));
  assert.equal(gone.body.code, 'unknown_secret');
});

test('the secret values appear nowhere: responses, errors, server output, audit export, database file', async () => {
  const exp = await fetch(`${server.url}/v1/audit/export`, { headers: { authorization: `Bearer ${server.operatorToken}` } });
  const exported = await exp.text();
  assert.ok(exported.includes('"key.use"'));
  const csv = await (
    await fetch(`${server.url}/v1/audit/export?format=csv`, { headers: { authorization: `Bearer ${adminToken}` } })
  ).text();
  const jobs = await admin('GET', '/v1/jobs?limit=100');
  const haystacks: [string, string][] = [
    ['API responses', seen.join('\n')],
    ['server output', server.output()],
    ['audit export', exported],
    ['audit csv', csv],
    ['jobs', JSON.stringify(jobs.body)],
  ];
  // The database and everything else under the data directory (keys, state files).
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
  for (const f of files(server.dataDir)) haystacks.push([f, readFileSync(f).toString('latin1')]);
  for (const s of [SECRET, SECRET2, SECRET3]) {
    for (const [where, text] of haystacks) {
      assert.ok(!text.includes(s), `a secret value leaked into ${where}`);
      assert.ok(!text.includes(Buffer.from(s).toString('base64')), `a secret value (base64) leaked into ${where}`);
    }
  }
  assert.ok(haystacks.length > 6);
});
