/**
 * The real CLI (child process) against the real server: reservation create|list|show|delete,
 * maintenance create|list|delete, node down|up, job submit constraint flags, and time parsing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseTime } from '../../src/cli/commands/scheduling.js';
import { mergeConstraintFlags } from '../../src/cli/constraint-flags.js';
import { CliError } from '../../src/cli/context.js';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const { home, gigafab } = cliRunner('gigafab-cli-res-');

let srv: TestServer;
let op: Record<string, string>;
let govUser: Record<string, string>;
let otherUser: Record<string, string>;

before(async () => {
  srv = await startTestServer({ fleetPath: writeSmallFleet(home) });
  op = { GIGAFAB_URL: srv.url, GIGAFAB_TOKEN: srv.operatorToken };
  const call = api(srv.url, srv.operatorToken);
  for (const org of ['gov', 'other']) await call('POST', '/v1/orgs', { id: org, name: org, kind: 'public-sector' });
  await call('POST', '/v1/orgs/gov/projects', { id: 'gov-p' });
  await call('PUT', '/v1/projects/gov-p/quotas/B200', { gpus: 16 });
  govUser = {
    GIGAFAB_URL: srv.url,
    GIGAFAB_TOKEN: await tenantToken(call, 'gov', { name: 'g', role: 'member' }),
  };
  otherUser = {
    GIGAFAB_URL: srv.url,
    GIGAFAB_TOKEN: await tenantToken(call, 'other', { name: 'o', role: 'member' }),
  };
});

after(async () => {
  await srv?.stop();
});

test('parseTime: now, +duration, ISO; anything else is a usage error', () => {
  const now = Date.parse('2026-11-23T10:00:00Z');
  assert.equal(parseTime('now', now, '--start'), '2026-11-23T10:00:00.000Z');
  assert.equal(parseTime('+1h30m', now, '--start'), '2026-11-23T11:30:00.000Z');
  assert.equal(parseTime('2026-12-01T08:00:00Z', now, '--end'), '2026-12-01T08:00:00.000Z');
  assert.throws(() => parseTime('tomorrow', now, '--end'), CliError);
  assert.throws(() => parseTime('+soon', now, '--end'), /invalid --end/);
});

test('reservation create, list (operator and tenants), show, delete; errors exit 1 with the reason', async () => {
  const created = await gigafab(
    [
      'reservation',
      'create',
      '--org',
      'gov',
      '--gpu-type',
      'B200',
      '--gpus',
      '16',
      '--site',
      's1',
      '--start',
      'now',
      '--end',
      '+2h',
      '--note',
      'pool',
    ],
    op,
  );
  assert.equal(created.code, 0, created.err);
  const id = /reservation (rsv_\w+) created: 16 B200 for gov/.exec(created.out)?.[1];
  assert.ok(id, created.out);

  const list = await gigafab(['reservation', 'list'], op);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`^${id} +gov +2×8 B200 +s1 `, 'm'));
  const json = await gigafab(['reservation', 'list', '-o', 'json'], govUser);
  assert.deepEqual(
    JSON.parse(json.out).map((r: { id: string }) => r.id),
    [id],
  );
  const none = await gigafab(['reservation', 'list'], otherUser);
  assert.equal(none.code, 0);
  assert.match(none.err, /no reservations/);
  const show = await gigafab(['reservation', 'show', id], govUser);
  assert.match(show.out, /^Window: .*\(active\)$/m);

  const shape = await gigafab(
    ['reservation', 'create', '--org', 'gov', '--gpu-type', 'B200', '--gpus', '12', '--start', 'now', '--end', '+1h'],
    op,
  );
  assert.equal(shape.code, 1);
  assert.match(shape.err, /multiple of 8 .*\(reservation_shape\)/);
  const badTime = await gigafab(
    ['reservation', 'create', '--org', 'gov', '--gpu-type', 'B200', '--gpus', '8', '--start', 'soon', '--end', '+1h'],
    op,
  );
  assert.equal(badTime.code, 1);
  assert.match(badTime.err, /invalid --start/);
  const denied = await gigafab(['reservation', 'delete', id], govUser);
  assert.equal(denied.code, 1);
  assert.match(denied.err, /\(forbidden\)/);

  const del = await gigafab(['reservation', 'delete', id], op);
  assert.equal(del.code, 0, del.err);
  assert.match((await gigafab(['reservation', 'list'], op)).err, /no reservations/);
});

test('maintenance create/list/delete and node down/up', async () => {
  const m = await gigafab(
    ['maintenance', 'create', '--node', 's1-dgx-0001', '--start', '+1h', '--end', '+3h', '--reason', 'BIOS'],
    op,
  );
  assert.equal(m.code, 0, m.err);
  const id = /maintenance (mw_\w+) scheduled: 1 node/.exec(m.out)?.[1];
  assert.ok(id, m.out);
  assert.match((await gigafab(['maintenance', 'list'], op)).out, new RegExp(`^${id} +s1-dgx-0001 .* BIOS$`, 'm'));
  assert.equal((await gigafab(['maintenance', 'delete', id], op)).code, 0);
  const down = await gigafab(['node', 'down', 's1-dgx-0002', '--reason', 'PSU'], op);
  assert.equal(down.code, 0, down.err);
  assert.match(down.out, /node s1-dgx-0002 down/);
  assert.match((await gigafab(['node', 'up', 's1-dgx-0002'], op)).out, /node s1-dgx-0002 up/);
});

test("constraint flags merge into the file's constraints", () => {
  const spec: Record<string, unknown> = {};
  mergeConstraintFlags(
    spec,
    { constraints: { requiredSites: ['a'], nodeLabels: { x: '1' } } },
    {
      site: ['b', 'a'],
      cert: ['BSI-C5'],
      nodeLabel: ['fabric=ndr'],
      singleUnit: true,
      onNodeFailure: 'fail',
    },
  );
  assert.deepEqual(spec, {
    onNodeFailure: 'fail',
    constraints: {
      requiredSites: ['a', 'b'],
      nodeLabels: { x: '1', fabric: 'ndr' },
      requiredCertifications: ['BSI-C5'],
      requireSingleUnit: true,
    },
  });
  const untouched: Record<string, unknown> = {};
  mergeConstraintFlags(untouched, {}, {});
  assert.deepEqual(untouched, {});
});

test('job submit with constraint flags; an impossible constraint exits 1 with the reason; job checkpoint', async () => {
  const bad = await gigafab(
    ['job', 'submit', '--project', 'gov-p', '--name', 'x', '--gpu-type', 'B200', '--site', 'mars'],
    govUser,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.err, /unknown site mars .*\(job_constraints_unsatisfiable\)/);
  const ok = await gigafab(
    [
      'job',
      'submit',
      '--project',
      'gov-p',
      '--name',
      'y',
      '--gpu-type',
      'B200',
      '--site',
      's1',
      '--single-unit',
      '--on-node-failure',
      'fail',
      '--sim-duration',
      '10h',
      '-o',
      'json',
    ],
    govUser,
  );
  assert.equal(ok.code, 0, ok.err);
  const job = JSON.parse(ok.out);
  assert.deepEqual(job.spec.constraints, { requiredSites: ['s1'], requireSingleUnit: true });
  assert.equal(job.spec.onNodeFailure, 'fail');
  const call = api(srv.url, govUser.GIGAFAB_TOKEN);
  for (let i = 0; i < 200 && (await call('GET', `/v1/jobs/${job.id}`)).body.state !== 'running'; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const ck = await gigafab(['job', 'checkpoint', job.id, '--step', '7'], govUser);
  assert.equal(ck.code, 0, ck.err);
  assert.match(ck.out, new RegExp(`^job ${job.id}: checkpoint at step 7`));
});
