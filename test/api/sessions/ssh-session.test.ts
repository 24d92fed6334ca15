/**
 * An `ssh` session end to end with the real OpenSSH client and server: the member's public key goes
 * into their profile (CLI `gigafab ssh-key add`, audited), the session runs Debian's sshd on its
 * loopback port, and `ssh` reaches it only through the workload proxy's tunnel, with
 * `gigafab session tunnel ID` as its ProxyCommand. Another organisation gets 404, the operator 403
 * until the tenant approves `open-session`; a key that is not in the profile is refused by sshd;
 * every open is audited. Needs /usr/sbin/sshd (scripts/ensure-openssh-server.sh).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cliRunner } from '../../helpers/cli.js';
import { api, waitFor } from '../../helpers/server.js';
import { adminOf } from '../../helpers/tenants.js';
import { proxyGet, type SessionWorld, startSessionWorld } from './fixture.js';
import { sshThroughTunnel } from './ssh-client.js';

let w: SessionWorld;
const { home, gigafab } = cliRunner('gigafab-ssh-cli-');
const login = userInfo().username;

function keygen(path: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ada@laptop', '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8');
}

/** ssh: the real client through the tunnel (the CLI as ProxyCommand), as a user of `token` would run it. */
const ssh = (id: string, key: string, token: string, remote: string, proxy?: string) =>
  sshThroughTunnel({ id, key, login, token, remote, url: w.server.url, home, ...(proxy ? { proxy } : {}) });

before(async () => {
  w = await startSessionWorld('gigafab-ssh-session-');
});

after(async () => {
  await w?.server.stop();
});

describe('an ssh session through the workload proxy tunnel', () => {
  let id = '';
  const key = join(home, 'id_ada');
  const otherKey = join(home, 'id_other');
  let pub = '';

  test('keys in the profile: added with the CLI (audited), listed with their fingerprint; bad keys refused', async () => {
    pub = keygen(key);
    keygen(otherKey);
    const env = { GIGAFAB_URL: w.server.url, GIGAFAB_TOKEN: w.member };
    const added = await gigafab(['ssh-key', 'add', `${key}.pub`], env);
    assert.equal(added.code, 0, added.err);
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1];
    assert.match(added.out, new RegExp(`added ssh-ed25519 key ${fp!.replace(/[+/]/g, '\\$&')} \\(ada@laptop\\)`));
    const listed = await gigafab(['ssh-key', 'list', '-o', 'json'], env);
    const items = JSON.parse(listed.out).items;
    assert.equal(items.length, 1);
    assert.equal(items[0].fingerprint, fp);
    assert.equal(items[0].publicKey, pub.trim().split(' ').slice(0, 2).join(' '));

    const me = api(w.server.url, w.member);
    const dup = await me('POST', '/v1/ssh-keys', { publicKey: pub });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 'ssh_key_exists');
    const priv = await me('POST', '/v1/ssh-keys', { publicKey: readFileSync(key, 'utf8') });
    assert.equal(priv.status, 422);
    assert.equal(priv.body.code, 'ssh_key_invalid');
    assert.match(priv.body.detail, /private key/);
    const opts = await me('POST', '/v1/ssh-keys', { publicKey: `command="/bin/sh" ${pub}` });
    assert.equal(opts.status, 422);
    const garbled = await me('POST', '/v1/ssh-keys', { publicKey: 'ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x' });
    assert.equal(garbled.status, 422);
    // Another user never sees them.
    assert.deepEqual((await api(w.server.url, w.stranger)('GET', '/v1/ssh-keys')).body.items, []);
    const audit = (
      await api(w.server.url, adminOf(api(w.server.url, w.server.operatorToken), 'lab'))('GET', '/v1/audit?action=ssh-key.add')
    ).body.items;
    assert.ok(
      audit.some(
        (a: { action: string; after: { fingerprint: string } }) => a.action === 'ssh-key.add' && a.after.fingerprint === fp,
      ),
      JSON.stringify(audit),
    );
  });

  test('ssh -o ProxyCommand="gigafab session tunnel ID" runs a command in the session', async () => {
    const me = api(w.server.url, w.member);
    const r = await me('POST', '/v1/jobs', {
      name: 'shell',
      project: 'lab-ml',
      gpuType: 'L4',
      gpusPerNode: 2,
      kind: 'session',
      session: { preset: 'ssh' },
      maxRuntimeSeconds: 600,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    id = r.body.id;
    await waitFor(
      async () =>
        (await me('GET', '/v1/sessions')).body.items.find((s: { jobId: string; ready: boolean }) => s.jobId === id && s.ready),
      'the session to run',
    );
    const res = await waitFor(
      async () => {
        const s = await ssh(id, key, w.member, 'echo hello; echo "job=$GIGAFAB_JOB_ID gpus=$CUDA_VISIBLE_DEVICES"');
        return s.code === 0 ? s : null;
      },
      'ssh to log in',
      30_000,
    );
    assert.equal(res.out, `hello\njob=${id} gpus=0,1\n`);
  });

  test('`gigafab session ssh` runs ssh with the same tunnel', async () => {
    const env = { GIGAFAB_URL: w.server.url, GIGAFAB_TOKEN: w.member };
    const r = await gigafab(['session', 'ssh', id, '-l', login, '-i', key, '--', 'echo', 'via-cli'], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'via-cli\n');
    const printed = await gigafab(['session', 'ssh', id, '--print'], env);
    assert.match(
      printed.out,
      new RegExp(`^ssh -o "ProxyCommand=.* session tunnel ${id}" -o HostKeyAlias=gigafab-session-${id} `),
    );
  });

  test('a key that is not in the profile is refused by the session’s sshd', async () => {
    const r = await ssh(id, otherKey, w.member, 'echo nope');
    assert.notEqual(r.code, 0);
    assert.equal(r.out, '');
    assert.match(r.err, /Permission denied \(publickey\)/);
  });

  test('another organisation gets 404, the operator 403 until the tenant approves; plain HTTP answers 400', async () => {
    const origin = `http://${id}.localhost:${w.proxyPort()}`;
    const eve = await ssh(id, key, w.stranger, 'echo nope', origin);
    assert.notEqual(eve.code, 0);
    assert.equal(eve.out, '');
    assert.match(eve.err, /workload_not_found/);
    const op = await ssh(id, key, w.server.operatorToken, 'echo nope', origin);
    assert.notEqual(op.code, 0);
    assert.match(op.err, /lockbox_approval_required/);
    const none = await ssh(id, key, 'gf_not_a_token', 'echo nope', origin);
    assert.match(none.err, /unauthenticated|not valid/);
    const http = await proxyGet(w.proxyPort(), id, '/', w.member);
    assert.equal(http.status, 400);
    assert.equal(JSON.parse(http.body).code, 'tunnel_only');

    // Approved, the operator gets through the tunnel (sshd still wants a key the owner put in the profile).
    const opApi = api(w.server.url, w.server.operatorToken);
    const filed = await opApi('POST', '/v1/access-requests', {
      org: 'lab',
      cause: 'ticket 4713: the shell hangs',
      scope: { objects: [`job:${id}`], verbs: ['open-session'] },
      durationSeconds: 600,
      requesterCountry: 'DE',
      derivedDataRetentionDays: 0,
      approvalDeadline: new Date(Date.now() + 3600_000).toISOString(),
    });
    assert.equal(filed.status, 201, JSON.stringify(filed.body));
    const ok = await api(w.server.url, adminOf(opApi, 'lab'))('POST', `/v1/access-requests/${filed.body.id}/approve`, {});
    assert.equal(ok.status, 200);
    const through = await ssh(id, otherKey, w.server.operatorToken, 'echo nope', origin);
    assert.match(through.err, /Permission denied \(publickey\)/, 'the tunnel opened; sshd refused the key');
  });

  test('every tunnel open is audited and is a job event', async () => {
    const admin = adminOf(api(w.server.url, w.server.operatorToken), 'lab');
    const audit = (await api(w.server.url, admin)('GET', `/v1/audit?action=session.open`)).body.items.filter(
      (a: { objectId: string; after: { via: string } }) => a.objectId === id && a.after?.via === 'tunnel',
    );
    // The member's successful logins (at least 2), the refused key (1), each with its own record.
    assert.ok(audit.length >= 3, JSON.stringify(audit));
    const events = (await api(w.server.url, w.member)('GET', `/v1/jobs/${id}/events`)).body.items;
    assert.ok(events.some((e: { type: string; message: string }) => e.type === 'session-opened' && /SSH tunnel/.test(e.message)));
  });

  test('stopped, the tunnel answers 404', async () => {
    const me = api(w.server.url, w.member);
    assert.equal((await me('POST', `/v1/jobs/${id}/cancel`)).status, 202);
    await waitFor(async () => (await me('GET', `/v1/jobs/${id}`)).body.state === 'cancelled', 'the session to end');
    const r = await ssh(id, key, w.member, 'echo nope', `http://${id}.localhost:${w.proxyPort()}`);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /workload_not_found/);
  });

  test('without a key in the profile the session ends at once, its log saying what to do (removal audited)', async () => {
    const env = { GIGAFAB_URL: w.server.url, GIGAFAB_TOKEN: w.member };
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1] ?? '';
    const removed = await gigafab(['ssh-key', 'remove', fp], env);
    assert.equal(removed.code, 0, removed.err);
    assert.match(removed.out, /^removed ssh-ed25519 key /);
    assert.match((await gigafab(['ssh-key', 'list'], env)).out, /no SSH keys/);
    const me = api(w.server.url, w.member);
    const r = await me('POST', '/v1/jobs', {
      name: 'keyless',
      project: 'lab-ml',
      gpuType: 'L4',
      kind: 'session',
      session: { preset: 'ssh' },
      maxRuntimeSeconds: 600,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const done = await waitFor(async () => {
      const j = (await me('GET', `/v1/jobs/${r.body.id}`)).body;
      return j.state === 'failed' ? j : null;
    }, 'the keyless session to fail');
    assert.equal(done.exitCode, 2);
    const logs = await (
      await fetch(`${w.server.url}/v1/jobs/${r.body.id}/logs`, { headers: { authorization: `Bearer ${w.member}` } })
    ).text();
    assert.match(logs, /no SSH key in the profile of the session's owner: add one with 'gigafab ssh-key add/);
    const admin = adminOf(api(w.server.url, w.server.operatorToken), 'lab');
    const audit = (await api(w.server.url, admin)('GET', '/v1/audit?action=ssh-key.remove')).body.items;
    assert.ok(
      audit.some((a: { before: { fingerprint: string } }) => a.before?.fingerprint === fp),
      JSON.stringify(audit),
    );
  });
});
