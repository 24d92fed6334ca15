/**
 * End-to-end: the real `gigafab server` (via test/helpers/server.ts) driven by the real CLI as a child
 * process (`node bin/gigafab.js ...`), through the whole operator + user story.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Job } from '../../src/model/schemas.js';
import { cliRunner, type CliRun as Run } from '../helpers/cli.js';
import { startTestServer, type TestServer, waitFor } from '../helpers/server.js';

const { home, gigafab } = cliRunner('gigafab-cli-e2e-');

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.err}${r.out}`);
  return r;
}

let srv: TestServer;
let op: Record<string, string>;
let user: Record<string, string>;
let userToken = '';
let bigJob = '';

before(async () => {
  // Time scale 60: a simulated minute takes one real second.
  srv = await startTestServer({ timeScale: 60 });
  op = { GIGAFAB_URL: srv.url, GIGAFAB_TOKEN: srv.operatorToken };
});

after(async () => {
  await srv?.stop();
});

async function showJob(id: string): Promise<Job> {
  return JSON.parse(ok(await gigafab(['job', 'show', id, '-o', 'json'], user), 'job show').out) as Job;
}

test('operator: whoami, fleet, org, project, user (token from --output json), quota 16 B200', async () => {
  const who = ok(await gigafab(['whoami'], op), 'whoami');
  assert.match(who.out, /^Role: +operator$/m);
  const fleet = ok(await gigafab(['fleet', 'show'], op), 'fleet show');
  assert.match(fleet.out, /B200/);

  ok(await gigafab(['org', 'create', 'acme', '--name', 'Acme Robotics', '--kind', 'enterprise'], op), 'org create');
  const orgs = ok(await gigafab(['org', 'list'], op), 'org list');
  assert.match(orgs.out, /^acme +Acme Robotics +enterprise/m);
  ok(await gigafab(['project', 'create', 'robo', '--org', 'acme', '--name', 'Robo'], op), 'project create');

  // Onboarding: the future admin generates a token and gives the operator only its sha256.
  const generated = JSON.parse(ok(await gigafab(['token', 'generate', '-o', 'json'], {}), 'token generate').out);
  assert.match(generated.token, /^gf_/);
  const onboarded = ok(
    await gigafab(
      ['user', 'create', '--org', 'acme', '--name', 'ada', '--role', 'admin', '--token-sha256', generated.sha256, '-o', 'json'],
      op,
    ),
    'onboard the first admin',
  );
  assert.equal(JSON.parse(onboarded.out).token, undefined, 'the operator never sees the token');
  const admin = { GIGAFAB_URL: srv.url, GIGAFAB_TOKEN: generated.token };
  const created = ok(
    await gigafab(['user', 'create', '--org', 'acme', '--name', 'alice', '--role', 'member', '-o', 'json'], admin),
    'user create',
  );
  const issued = JSON.parse(created.out) as { token: string; user: { id: string; role: string } };
  assert.equal(issued.user.role, 'member');
  assert.ok(issued.token.length > 10);
  userToken = issued.token;
  user = { GIGAFAB_URL: srv.url, GIGAFAB_TOKEN: userToken };

  const q = ok(await gigafab(['quota', 'set', 'robo', 'B200', '16'], op), 'quota set');
  assert.match(q.out, /16 GPUs/);
  const show = ok(await gigafab(['project', 'show', 'robo'], op), 'project show');
  assert.match(show.out, /B200 +0 +16 +16/);
});

test('user: login writes a 0600 config that later commands use', async () => {
  const cfg = join(home, 'alice', 'config.json');
  const login = ok(await gigafab(['login', '--url', srv.url, '--token', userToken], { GIGAFAB_CONFIG: cfg }), 'login');
  assert.match(login.out, /logged in to .* as \S+ \(member in acme\)/);
  assert.equal(statSync(cfg).mode & 0o777, 0o600);
  const who = ok(await gigafab(['whoami', '-o', 'json'], { GIGAFAB_CONFIG: cfg }), 'whoami from config');
  assert.equal(JSON.parse(who.out).name, 'alice');
});

test('user: an unknown GPU type is refused as unknown_gpu_type, naming the field, with no stray lines', async () => {
  const r = await gigafab(['job', 'submit', '--project', 'robo', '--name', 'x', '--gpu-type', 'H100', '--', 'true'], user);
  assert.equal(r.code, 1, r.err);
  assert.equal(r.out, '');
  const lines = r.err.trimEnd().split('\n');
  assert.match(lines[0], /^error: the job can never run: unknown GPU type H100 \(fleet has .*B200.*\) \(unknown_gpu_type\)$/);
  assert.deepEqual(lines.slice(1), ['  gpuType: not in this fleet']);
});

test('user: a 4×8 B200 job over quota waits with the quota reason', async () => {
  const sub = ok(
    await gigafab(
      [
        'job',
        'submit',
        '--project',
        'robo',
        '--name',
        'pretrain',
        '--gpu-type',
        'B200',
        '--nodes',
        '4',
        '--gpus-per-node',
        '8',
        '--sim-duration',
        '90s',
        '--label',
        'team=vision',
        '-o',
        'json',
        '--',
        'torchrun',
        'train.py',
      ],
      user,
    ),
    'job submit',
  );
  const job = JSON.parse(sub.out) as Job;
  bigJob = job.id;
  assert.equal(job.state, 'queued');
  assert.deepEqual(job.spec.command, ['torchrun', 'train.py']);

  await waitFor(async () => (await showJob(bigJob)).pendingReason?.code === 'quota_exhausted', 'quota reason');
  const show = ok(await gigafab(['job', 'show', bigJob], user), 'job show');
  assert.match(show.out, /^State: +queued$/m);
  assert.match(show.out, /^Waiting: +.*quota.*$/m);

  const list = ok(await gigafab(['job', 'list', '--label', 'team=vision'], user), 'job list');
  assert.match(list.out, new RegExp(`^${bigJob} +pretrain +robo +queued +4×8 B200 .*quota`, 'm'));
});

test('operator raises the quota to 64: the job runs and succeeds; events --follow ends', async () => {
  ok(await gigafab(['quota', 'set', 'robo', 'B200', '64'], op), 'quota set 64');
  const follow = ok(await gigafab(['job', 'events', bigJob, '--follow'], user, 30_000), 'events --follow');
  assert.match(follow.out, /running|started/);
  assert.match(follow.out, /succeeded/);
  assert.match(follow.err, new RegExp(`job ${bigJob} succeeded`));

  const job = await showJob(bigJob);
  assert.equal(job.state, 'succeeded');
  assert.equal(job.exitCode, 0);
  assert.equal(job.placement?.nodes.length, 4);
  assert.ok(job.startedAt && job.finishedAt);
  const show = ok(await gigafab(['job', 'show', bigJob], user), 'job show');
  assert.match(show.out, /^Placement: +\S+ \(B200\)$/m);
  assert.doesNotMatch(show.out, /Waiting/);

  const events = ok(await gigafab(['job', 'events', bigJob], user), 'events');
  assert.match(events.out, /^TIME +TYPE +MESSAGE$/m);
  const list = ok(await gigafab(['job', 'list', '--state', 'succeeded'], user), 'job list');
  assert.match(list.out, new RegExp(`^${bigJob} .* succeeded `, 'm'));
});

test('job submit --wait: exit 0 when the job succeeds, non-zero when it fails', async () => {
  const good = await gigafab(
    ['job', 'submit', '--project', 'robo', '--name', 'quick', '--gpu-type', 'B200', '--sim-duration', '30s', '--wait'],
    user,
    30_000,
  );
  assert.equal(good.code, 0, good.err + good.out);
  assert.match(good.out, /succeeded/);
  const bad = await gigafab(
    [
      'job',
      'submit',
      '--project',
      'robo',
      '--name',
      'crash',
      '--gpu-type',
      'B200',
      '--sim-duration',
      '30s',
      '--sim-exit-code',
      '3',
      '--wait',
    ],
    user,
    30_000,
  );
  assert.notEqual(bad.code, 0);
  assert.match(bad.out, /failed \(exit code 3\)/);
});

test('job cancel on a long job ends cancelled', async () => {
  const sub = ok(
    await gigafab(
      ['job', 'submit', '--project', 'robo', '--name', 'long', '--gpu-type', 'B200', '--sim-duration', '10h', '-o', 'json'],
      user,
    ),
    'submit long',
  );
  const id = (JSON.parse(sub.out) as Job).id;
  await waitFor(async () => (await showJob(id)).state === 'running', 'long job running');
  const cancel = ok(await gigafab(['job', 'cancel', id], user), 'job cancel');
  assert.match(cancel.out, new RegExp(`job ${id} `));
  ok(await gigafab(['job', 'events', id, '--follow'], user, 60_000), 'events --follow after cancel');
  assert.equal((await showJob(id)).state, 'cancelled');
});

test('bad input exits non-zero with the API message', async () => {
  const unknownProject = await gigafab(['job', 'submit', '--project', 'nope', '--name', 'x'], user);
  assert.equal(unknownProject.code, 1);
  assert.match(unknownProject.err, /^error: .*nope.* \([a-z_]+\)$/m);

  const zeroGpus = await gigafab(['job', 'submit', '--project', 'robo', '--name', 'x', '--gpus-per-node', '0'], user);
  assert.equal(zeroGpus.code, 1);
  assert.match(zeroGpus.err, /^error: invalid job spec: gpusPerNode must be at least 1 \(validation_failed\)$/m);

  const badOrg = await gigafab(['org', 'create', 'Bad_Id', '--name', 'x', '--kind', 'research'], op);
  assert.equal(badOrg.code, 1);
  assert.equal(
    badOrg.err,
    'error: invalid request body: id must be lower-case letters, digits and dashes, starting with a letter (validation_failed)\n',
  );

  const unknownFlag = await gigafab(['job', 'list', '--bogus'], user);
  assert.equal(unknownFlag.code, 1);
  assert.match(unknownFlag.err, /unknown option '--bogus'/);

  const wrongToken = await gigafab(['whoami'], { GIGAFAB_URL: srv.url, GIGAFAB_TOKEN: 'gf_wrong' });
  assert.equal(wrongToken.code, 1);
  assert.match(wrongToken.err, /^error: .+ \(unauthenticated\)$/m);

  const forbidden = await gigafab(['quota', 'set', 'robo', 'B200', '1000'], user);
  assert.equal(forbidden.code, 1);
  assert.match(forbidden.err, /\(forbidden\)/);

  const missingJob = await gigafab(['job', 'show', 'does-not-exist'], user);
  assert.equal(missingJob.code, 1);
  assert.match(missingJob.err, /^error: /m);
});

test('audit log shows the operator actions', async () => {
  const audit = ok(await gigafab(['audit', 'list', '--limit', '50'], op), 'audit list');
  assert.match(audit.out, /^ID +TIME +ACTOR +ORG +ACTION +OBJECT$/m);
  assert.match(audit.out, /robo/);
});

test('a stopped server gives exit 2 and a clear message', async () => {
  const url = srv.url;
  await srv.stop();
  const r = await gigafab(['job', 'list'], { GIGAFAB_URL: url, GIGAFAB_TOKEN: userToken });
  assert.equal(r.code, 2);
  assert.match(r.err, new RegExp(`cannot reach gigafab at ${url.replace(/[.]/g, '\\.')}`));
});
