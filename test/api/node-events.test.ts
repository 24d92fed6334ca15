/**
 * GET /v1/nodes/{id}/events through the real server, and `gigafab node events`: a MIG start
 * re-partitions an idle GPU as a node event (reason mig_repartition, GPU, whole → mig, the job),
 * drain/undrain are node events too, GET /v1/nodes shows the GPU in MIG mode. Operators only: a
 * tenant token gets 403 with a code; an unknown node is a 404 problem; the CLI exits non-zero with
 * the API's sentence.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cliRunner } from '../helpers/cli.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
const dir = mkdtempSync(join(tmpdir(), 'gigafab-node-events-'));
const NODE = 's1-dgx-0001';
const { gigafab } = cliRunner('gigafab-node-events-cli-');

before(async () => {
  const fleet = join(dir, 'fleet.yaml');
  writeFileSync(
    fleet,
    `name: mig
sites:
  - { id: s1, name: S1, city: Munich, country: DE, certifications: [], gpuSharing: true }
nodeTypes:
  - id: dgx
    gpuType: B200
    gpusPerNode: 2
    gpuMemoryGiB: 180
    interconnect: nvlink
    cpus: 112
    memoryGiB: 2048
    mig:
      computeSlices: 7
      memorySlices: 8
      profiles:
        - { name: 1g.23gb, computeSlices: 1, memorySlices: 1, memoryGiB: 23, maxInstances: 7 }
pools:
  - { site: s1, nodeType: dgx, count: 1, unitSize: 1, namePrefix: s1-dgx }
`,
  );
  server = await startTestServer({ fleetPath: fleet, timeScale: 60 });
  op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' });
  await op('POST', '/v1/orgs/acme/projects', { id: 'acme-p' });
  await op('PUT', '/v1/projects/acme-p/quotas/B200', { gpus: 2 });
  acme = api(server.url, await tenantToken(op, 'acme', { name: 'A', role: 'member' }));
});

after(async () => {
  await server?.stop();
});

test('a MIG start and a drain are node events; operators read them, tenants get 403, unknown nodes 404', async () => {
  const spec = { name: 'inf', project: 'acme-p', gpuType: 'B200', migProfile: '1g.23gb', command: ['sleep', '600'] };
  const sub = await acme('POST', '/v1/jobs', spec);
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  const id = sub.body.id as string;
  await waitFor(async () => (await acme('GET', `/v1/jobs/${id}`)).body.state === 'running', 'the MIG job to run');
  assert.equal((await op('POST', `/v1/nodes/${NODE}/drain`, { reason: 'firmware' })).status, 200);
  assert.equal((await op('POST', `/v1/nodes/${NODE}/undrain`)).status, 200);

  const r = await op('GET', `/v1/nodes/${NODE}/events`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const items = r.body.items as { type: string; reason: string | null; data: Record<string, unknown> }[];
  assert.deepEqual(
    items.map((e) => [e.type, e.reason, e.data]),
    [
      ['gpu_repartitioned', 'mig_repartition', { gpu: 0, from: 'whole', to: 'mig', job: id, carriedOut: true }],
      ['state_changed', 'firmware', { from: 'up', to: 'draining', source: 'operator' }],
      ['state_changed', null, { from: 'draining', to: 'up', source: 'operator' }],
    ],
  );
  const nodes = (await op('GET', '/v1/nodes')).body.items as { id: string; migGpus: number[] }[];
  assert.deepEqual(nodes.find((n) => n.id === NODE)?.migGpus, [0]);
  assert.deepEqual((await op('GET', '/v1/fleet/gpus')).body.gpuMig, [1, 0], "the console's fleet map: GPU 0 in MIG mode");
  const jobEvents = (await acme('GET', `/v1/jobs/${id}/events`)).body.items as { type: string; message: string }[];
  assert.match(jobEvents.find((e) => e.type === 'gpu_repartitioned')?.message ?? '', /node operation mig_repartition/);

  const tenant = await acme('GET', `/v1/nodes/${NODE}/events`);
  assert.equal(tenant.status, 403);
  assert.equal(tenant.body.code, 'forbidden');
  const unknown = await op('GET', '/v1/nodes/nope-0001/events');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.code, 'node_not_found');
  assert.match(unknown.body.detail, /node nope-0001 does not exist/);
  const bad = await op('GET', `/v1/nodes/${NODE}/events?limit=0`);
  assert.equal(bad.status, 400);
  assert.equal(typeof bad.body.code, 'string');
  assert.match(bad.body.detail, /limit/);

  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: server.operatorToken };
  const cli = await gigafab(['node', 'events', NODE], env);
  assert.equal(cli.code, 0, cli.err);
  assert.match(cli.out, /gpu_repartitioned\s+mig_repartition\s+GPU 0: whole -> mig for job /);
  assert.match(cli.out, /state_changed\s+firmware\s+up -> draining \(operator\)/);
  const list = await gigafab(['node', 'list'], env);
  assert.match(list.out, /MIG GPUS/);
  assert.match(list.out, new RegExp(`${NODE}.*\\b0\\s+up`));
  const missing = await gigafab(['node', 'events', 'nope-0001'], env);
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /node nope-0001 does not exist/);
  await acme('POST', `/v1/jobs/${id}/cancel`);
});
