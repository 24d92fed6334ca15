/**
 * A site backed by a real (localhost) Slurm 22.05 cluster, through the whole product: the server
 * places a 2-node × 4-GPU gang, the Slurm driver runs it on exactly those nodes, output reaches
 * `GET /v1/jobs/{id}/logs`, a failing command ends failed with its exit code, cancel works, checkpoint-
 * file lines become checkpoints, and a node set down in Slurm shows down in gigafab.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type LocalhostSlurm,
  localhostSlurmUnavailable,
  slurmCommand,
  startLocalhostSlurm,
} from '../../src/drivers/slurm/localhost.js';
import { api, REPO, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const unavailable = localhostSlurmUnavailable();
if (unavailable) console.log(`# skipping the Slurm end-to-end test: ${unavailable}`);
let cluster: LocalhostSlurm | undefined;
let server: TestServer | undefined;
let user: ReturnType<typeof api>;
let op: ReturnType<typeof api>;
let token: string;

describe('a Slurm-backed site end to end', { skip: unavailable || false }, () => {
  before(async () => {
    cluster = startLocalhostSlurm(REPO);
    const dir = mkdtempSync(join(tmpdir(), 'gigafab-slurm-e2e-'));
    const nodeMap = Object.fromEntries(cluster.nodes.map((n, i) => [`hpc1-dgx-${String(i + 1).padStart(4, '0')}`, n]));
    const fleet = join(dir, 'fleet.yaml');
    writeFileSync(
      fleet,
      `name: slurm-site
sites:
  - id: hpc1
    name: HPC 1
    city: Stuttgart
    country: DE
    certifications: [bsi-c5]
    driver:
      kind: slurm
      jobDir: ${join(dir, 'jobs')}
      slurmConf: ${cluster.slurmConf}
      nodeMap: ${JSON.stringify(nodeMap)}
      pollIntervalMs: 300
      nodePollIntervalMs: 1000
      timeoutGraceSeconds: 2
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: ${cluster.gpusPerNode}, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 8, memoryGiB: 64 }
pools:
  - { site: hpc1, nodeType: dgx, count: ${cluster.nodes.length}, unitSize: ${cluster.nodes.length}, namePrefix: hpc1-dgx }
`,
    );
    server = await startTestServer({ fleetPath: fleet, env: cluster.env });
    op = api(server.url, server.operatorToken);
    await op('POST', '/v1/orgs', { id: 'carmaker', name: 'Carmaker', kind: 'enterprise' });
    await op('POST', '/v1/orgs/carmaker/projects', { id: 'twin' });
    await op('PUT', '/v1/projects/twin/quotas/B200', { gpus: 64 });
    token = await tenantToken(op, 'carmaker', { name: 'C', role: 'member' });
    user = api(server.url, token);
  });

  after(async () => {
    if (cluster) slurmCommand(cluster, 'scontrol', ['update', `nodename=${cluster.nodes.at(-1)}`, 'state=resume']);
    await server?.stop();
    cluster?.stop();
  });

  const spec = (name: string, command: string[], nodes = 1, gpusPerNode = 1) => ({
    name,
    project: 'twin',
    gpuType: 'B200',
    nodes,
    gpusPerNode,
    command,
  });

  test('a 2-node × 4-GPU gang runs under Slurm; each node sees its 4 GPUs; output reaches the logs API', async () => {
    const j = await user(
      'POST',
      '/v1/jobs',
      spec('gang', ['sh', '-c', 'echo "node=$SLURMD_NODENAME cvd=$CUDA_VISIBLE_DEVICES"'], 2, 4),
    );
    const done = await waitFor(
      async () => {
        const r = (await user('GET', `/v1/jobs/${j.body.id}`)).body;
        return ['succeeded', 'failed'].includes(r.state) ? r : null;
      },
      'gang to finish',
      60_000,
    );
    assert.equal(done.state, 'succeeded');
    assert.equal(done.placement.nodes.length, 2);
    const logs = await (
      await fetch(`${server!.url}/v1/jobs/${j.body.id}/logs`, { headers: { authorization: `Bearer ${token}` } })
    ).text();
    const lines = logs.trim().split('\n').sort();
    assert.equal(lines.length, 2, logs);
    const expected = done.placement.nodes.map((n: { node: string }) => cluster!.nodes[Number(n.node.slice(-4)) - 1]).sort();
    for (const [i, line] of lines.entries()) {
      assert.match(line, new RegExp(`^node=${expected[i]} cvd=\\d+,\\d+,\\d+,\\d+$`));
    }
  });

  test('a failing command ends failed with its exit code; cancel stops a running job', async () => {
    const f = await user('POST', '/v1/jobs', spec('fail', ['sh', '-c', 'exit 7']));
    const failed = await waitFor(
      async () => {
        const r = (await user('GET', `/v1/jobs/${f.body.id}`)).body;
        return r.state === 'failed' ? r : null;
      },
      'failure',
      60_000,
    );
    assert.equal(failed.exitCode, 7);
    const s = await user('POST', '/v1/jobs', spec('sleeper', ['sleep', '300']));
    await waitFor(
      async () =>
        (await user('GET', `/v1/jobs/${s.body.id}/events`)).body.items.some((e: { type: string }) => e.type === 'started'),
      'started',
      60_000,
    );
    assert.equal((await user('POST', `/v1/jobs/${s.body.id}/cancel`)).status, 202);
    await waitFor(async () => (await user('GET', `/v1/jobs/${s.body.id}`)).body.state === 'cancelled', 'cancelled', 60_000);
  });

  test('checkpoints a gang writes to GIGAFAB_CHECKPOINT_FILE (rank 0) become job events and audit records of the Slurm driver', async () => {
    const script =
      'if [ "$SLURM_PROCID" = 0 ]; then echo "step=1200 label=epoch-3" >> "$GIGAFAB_CHECKPOINT_FILE"; sleep 1; echo "step=1300" >> "$GIGAFAB_CHECKPOINT_FILE"; fi';
    const j = await user('POST', '/v1/jobs', spec('checkpointer', ['sh', '-c', script], 2, 1));
    assert.equal(j.status, 201);
    const done = await waitFor(
      async () => {
        const r = (await user('GET', `/v1/jobs/${j.body.id}`)).body;
        return ['succeeded', 'failed'].includes(r.state) ? r : null;
      },
      'checkpointer to finish',
      60_000,
    );
    assert.equal(done.state, 'succeeded');
    const events = (await user('GET', `/v1/jobs/${j.body.id}/events`)).body.items as { type: string; data: unknown }[];
    // The last line, written just before the exit, is recorded too: the driver reads once more at the end.
    assert.deepEqual(
      events.filter((e) => e.type === 'checkpoint').map((e) => e.data),
      [{ step: 1200, label: 'epoch-3' }, { step: 1300 }],
    );
    const audit = await op('GET', '/v1/audit?limit=200');
    const actors = audit.body.items
      .filter((a: { action: string; objectId: string }) => a.action === 'job.checkpoint' && a.objectId === j.body.id)
      .map((a: { actor: string }) => a.actor);
    assert.deepEqual(actors, ['system:driver:slurm', 'system:driver:slurm']);
  });

  test('a node set down in Slurm shows down in gigafab, with the reason, in the audit log', async () => {
    const slurmNode = cluster!.nodes.at(-1)!;
    const ours = `hpc1-dgx-${String(cluster!.nodes.length).padStart(4, '0')}`;
    slurmCommand(cluster!, 'scontrol', ['update', `nodename=${slurmNode}`, 'state=down', 'reason=psu-failure']);
    await waitFor(
      async () => {
        const n = (await op('GET', '/v1/nodes?site=hpc1')).body.items.find((x: { id: string }) => x.id === ours);
        return n?.state === 'down';
      },
      'node down in gigafab',
      30_000,
    );
    const audit = await op('GET', '/v1/audit?limit=200');
    assert.ok(
      audit.body.items.some((a: { action: string; objectId: string }) => a.action === 'node.down' && a.objectId === ours),
    );
  });
});
