/**
 * The residency CLI against the real server: policy set (and the 4xx for a looser project policy),
 * dataset create, and the residency report as table, JSON and CSV.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cliRunner } from '../helpers/cli.js';
import { residencyFleet, rtxJob } from '../helpers/residency.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const cli = cliRunner('gigafab-cli-residency-');
let server: TestServer;
let env: Record<string, string>;

const gigafab = (args: string[]) => cli.gigafab(args, env);
const policySet = (...args: string[]) => gigafab(['residency', 'policy', 'set', ...args]);

before(async () => {
  server = await startTestServer({ fleetPath: residencyFleet(), timeScale: 1 });
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'acme', name: 'Acme', kind: 'enterprise' });
  await op('POST', '/v1/orgs/acme/projects', { id: 'imaging' });
  await op('PUT', '/v1/projects/imaging/quotas/RTX', { gpus: 64 });
  const token = await tenantToken(op, 'acme', { name: 'A', role: 'admin' });
  env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: token };
});

after(async () => {
  await server?.stop();
});

test('gigafab residency: policies, a dataset, a placed job, and its report as table, JSON and CSV', async () => {
  const org = await policySet('--org', 'acme', '--name', 'eu-only', '--regions', 'EU', '--data-classes', 'internal,health');
  assert.equal(org.code, 0, org.err);
  assert.match(org.out, /policy eu-only v1 in force for org acme/);
  const looser = await policySet('--project', 'imaging', '--name', 'swiss', '--countries', 'CH', '--data-classes', 'health');
  assert.equal(looser.code, 1);
  assert.match(looser.err, /policy_looser_than_org/);
  const proj = await policySet('--project', 'imaging', '--name', 'eu-de-only', '--countries', 'DE', '--data-classes', 'health');
  assert.equal(proj.code, 0, proj.err);
  assert.match(proj.out, /allowed sites changed: de1, de2, at1 -> de1, de2/);
  const versions = await gigafab(['residency', 'policy', 'versions', '--project', 'imaging']);
  assert.match(versions.out, /eu-de-only/);

  const ds = await gigafab([
    '-o',
    'json',
    'dataset',
    'create',
    'imaging',
    'scans',
    '--class',
    'health',
    '--home-site',
    'de1',
    '--size',
    '42',
    '--checksum',
    `sha256:${'1'.repeat(64)}`,
  ]);
  assert.equal(ds.code, 0, ds.err);
  const dsId = JSON.parse(ds.out).id as string;

  const admin = api(server.url, env.GIGAFAB_TOKEN);
  const j = await admin('POST', '/v1/jobs', rtxJob('imaging', 'mri', [dsId]));
  await waitFor(async () => (await admin('GET', `/v1/jobs/${j.body.id}`)).body.state === 'running', 'job running');

  const period = [
    '--org',
    'acme',
    '--from',
    new Date(Date.now() - 3600_000).toISOString(),
    '--to',
    new Date(Date.now() + 3600_000).toISOString(),
  ];
  const table = await gigafab(['residency', 'report', ...period]);
  assert.equal(table.code, 0, table.err);
  assert.equal(
    table.out.trim(),
    `job ${j.body.id} ran in Munich, DE, BSI C5 Type 2 + ISO/IEC 27001, under policy eu-only v1 and eu-de-only v1, data classes health`,
  );
  const csv = await gigafab(['residency', 'report', ...period, '--format', 'csv']);
  const lines = csv.out.trim().split('\r\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^jobId,jobName,project,startedAt,finishedAt,state,site,city,country,eu,eea,operator,attestations/);
  assert.match(
    lines[1]!,
    new RegExp(
      `^${j.body.id},mri,imaging,.*,running,de1,Munich,DE,true,true,Cloud GmbH \\(DE\\),BSI C5 Type 2;ISO/IEC 27001,health,eu-only v1,eu-de-only v1,`,
    ),
  );
  const json = await gigafab(['residency', 'report', ...period, '--format', 'json']);
  assert.equal(JSON.parse(json.out).items[0].site, 'de1');

  const bad = await gigafab(['residency', 'report', '--org', 'acme', '--from', 'soon', '--to', 'later']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /invalid_period/);
  const ropa = await gigafab(['residency', 'ropa', '--org', 'acme']);
  assert.match(ropa.out, /Transfers outside EU\/EEA:\s+none/);
});
