/**
 * Sessions and services on a Slurm site (the real localhost Slurm 22.05 cluster of
 * scripts/slurm/setup.sh), through the workload proxy: the Slurm driver gives each a port from the
 * site's range and reports its node's address (Slurm's NodeAddr) as the endpoint, so the proxy
 * reaches an `http` session and both replicas of a 2-replica service running as Slurm jobs, and
 * the real `ssh` reaches an `ssh` session's sshd in a Slurm job through the proxy's tunnel.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type LocalhostSlurm, localhostSlurmUnavailable, startLocalhostSlurm } from '../../src/drivers/slurm/localhost.js';
import { api, BIN, REPO, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const unavailable = localhostSlurmUnavailable();
if (unavailable) console.log(`# skipping the Slurm sessions and services test: ${unavailable}`);
const MODEL_SERVER = join(REPO, 'test/fixtures/model-server.mjs');

let cluster: LocalhostSlurm | undefined;
let server: TestServer | undefined;
let user: ReturnType<typeof api>;
let token: string;
let proxyPort = 0;

/** call: GET path on a workload's host at the proxy (node:http: fetch cannot set Host). */
function call(id: string, path: string): Promise<{ status: number; body: string; replica: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path,
        headers: { host: `${id}.localhost:${proxyPort}`, authorization: `Bearer ${token}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, replica: String(res.headers['x-replica-job'] ?? '') }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('sessions and services on a Slurm site, through the proxy', { skip: unavailable || false }, () => {
  before(async () => {
    cluster = startLocalhostSlurm(REPO);
    const dir = mkdtempSync(join(tmpdir(), 'gigafab-slurm-workloads-'));
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
      images: false
      workloadPorts: { from: 41000, to: 41999 }
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: ${cluster.gpusPerNode}, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 8, memoryGiB: 64 }
pools:
  - { site: hpc1, nodeType: dgx, count: ${cluster.nodes.length}, unitSize: ${cluster.nodes.length}, namePrefix: hpc1-dgx }
`,
    );
    server = await startTestServer({ fleetPath: fleet, env: cluster.env, extraArgs: ['--proxy-port', '0'] });
    const m = /workload proxy: http:\/\/\*\.localhost:(\d+)/.exec(server.output());
    assert.ok(m, `the proxy's address in the banner:\n${server.output()}`);
    proxyPort = Number(m[1]);
    const op = api(server.url, server.operatorToken);
    await op('POST', '/v1/orgs', { id: 'carmaker', name: 'Carmaker', kind: 'enterprise' });
    await op('POST', '/v1/orgs/carmaker/projects', { id: 'twin' });
    await op('PUT', '/v1/projects/twin/quotas/B200', { gpus: 64 });
    token = await tenantToken(op, 'carmaker', { name: 'C', role: 'member' });
    user = api(server.url, token);
  });

  after(async () => {
    await server?.stop();
    cluster?.stop();
  });

  test('an http session runs as a Slurm job and answers through the proxy at its node’s address', async () => {
    const serve =
      'mkdir -p www; echo "hello from $GIGAFAB_JOB_ID on $SLURMD_NODENAME" > www/index.html; exec python3 -m http.server "$GIGAFAB_PORT" --bind "$GIGAFAB_BIND" --directory www';
    const r = await user('POST', '/v1/jobs', {
      name: 'web',
      project: 'twin',
      gpuType: 'B200',
      gpusPerNode: 1,
      kind: 'session',
      session: { preset: 'http' },
      command: ['/bin/sh', '-c', serve],
      maxRuntimeSeconds: 600,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id: string = r.body.id;
    const page = await waitFor(
      async () => {
        const g = await call(id, '/');
        return g.status === 200 ? g : null;
      },
      'the session page through the proxy',
      90_000,
    );
    assert.match(page.body.trim(), new RegExp(`^hello from ${id} on ${cluster!.nodes.join('|')}$`));
    const started = (await user('GET', `/v1/jobs/${id}/events`)).body.items.find((e: { type: string }) => e.type === 'started');
    assert.match(started.message, /^started as Slurm job \d+ on .*; serving at 127\.0\.0\.1:41\d\d\d$/);
    assert.equal((await user('POST', `/v1/jobs/${id}/cancel`)).status, 202);
    await waitFor(async () => (await user('GET', `/v1/jobs/${id}`)).body.state === 'cancelled', 'the session to end', 60_000);
    assert.equal((await call(id, '/')).status, 404);
  });

  test('a 2-replica service: both replicas run as Slurm jobs on distinct nodes and serve through the proxy', async () => {
    const created = await user('POST', '/v1/services', {
      name: 'echo',
      project: 'twin',
      template: { gpuType: 'B200', gpusPerNode: 1, command: [process.execPath, MODEL_SERVER], env: { MODEL_VERSION: 'v1' } },
      readiness: { path: '/healthz', periodSeconds: 0.3, timeoutSeconds: 2, failureThreshold: 1 },
      replicas: 2,
      spread: 'required',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id: string = created.body.id;
    const replicas = await waitFor(
      async () => {
        const rs = (await user('GET', `/v1/services/${id}`)).body.replicas as {
          jobId: string;
          phase: string;
          endpoint: string | null;
        }[];
        return rs.filter((x) => x.phase === 'ready').length === 2 ? rs : null;
      },
      'two ready replicas',
      120_000,
    );
    const endpoints = replicas.map((x) => x.endpoint ?? '');
    assert.equal(new Set(endpoints).size, 2, `two endpoints: ${endpoints.join(', ')}`);
    for (const e of endpoints) assert.match(e, /^127\.0\.0\.1:41\d\d\d$/);
    const nodes = new Set<string>();
    for (const x of replicas) {
      const j = (await user('GET', `/v1/jobs/${x.jobId}`)).body;
      nodes.add(j.placement.nodes[0].node);
    }
    assert.equal(nodes.size, 2, 'spread: required puts the replicas on two nodes');
    // Through the proxy, both replicas answer (least in-flight balancing spreads concurrent requests).
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => call(id, `/v1/predict?x=${i}&ms=200`)));
    for (const a of answers) assert.equal(a.status, 200, a.body);
    assert.deepEqual([...new Set(answers.map((a) => JSON.parse(a.body).model))], ['v1']);
    assert.deepEqual(
      [...new Set(answers.map((a) => a.replica))].sort(),
      replicas.map((x) => x.jobId).sort(),
      'both replicas answered through the proxy',
    );
    assert.equal((await user('DELETE', `/v1/services/${id}`)).status, 204);
    for (const x of replicas) {
      await waitFor(
        async () => (await user('GET', `/v1/jobs/${x.jobId}`)).body.state === 'cancelled',
        `${x.jobId} stopped`,
        60_000,
      );
    }
  });

  test('an ssh session in a Slurm job: the real ssh logs in through the tunnel with the key of the profile', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gigafab-slurm-ssh-'));
    const key = join(home, 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const pub = execFileSync('cat', [`${key}.pub`], { encoding: 'utf8' });
    assert.equal((await user('POST', '/v1/ssh-keys', { publicKey: pub })).status, 201);
    const r = await user('POST', '/v1/jobs', {
      name: 'shell',
      project: 'twin',
      gpuType: 'B200',
      gpusPerNode: 1,
      kind: 'session',
      session: { preset: 'ssh' },
      maxRuntimeSeconds: 600,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id: string = r.body.id;
    const ssh = () =>
      spawnSync(
        'ssh',
        [
          '-F',
          '/dev/null',
          '-i',
          key,
          '-o',
          'IdentitiesOnly=yes',
          '-o',
          'BatchMode=yes',
          '-o',
          `ProxyCommand=${process.execPath} ${BIN} session tunnel ${id}`,
          '-o',
          `HostKeyAlias=gigafab-session-${id}`,
          '-o',
          'StrictHostKeyChecking=accept-new',
          '-o',
          `UserKnownHostsFile=${join(home, 'known_hosts')}`,
          `${userInfo().username}@session-${id}`,
          'echo "hello from $GIGAFAB_JOB_ID"',
        ],
        {
          encoding: 'utf8',
          timeout: 30_000,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: home,
            GIGAFAB_CONFIG: join(home, 'none.json'),
            GIGAFAB_URL: server!.url,
            GIGAFAB_TOKEN: token,
          },
        },
      );
    const out = await waitFor(
      async () => {
        const s = ssh();
        return s.status === 0 ? s.stdout : null;
      },
      'ssh to log in',
      90_000,
    );
    assert.equal(out, `hello from ${id}\n`);
    const started = (await user('GET', `/v1/jobs/${id}/events`)).body.items.find((e: { type: string }) => e.type === 'started');
    assert.match(started.message, /^started as Slurm job \d+ .*; serving at 127\.0\.0\.1:41\d\d\d$/);
    assert.equal((await user('POST', `/v1/jobs/${id}/cancel`)).status, 202);
    await waitFor(async () => (await user('GET', `/v1/jobs/${id}`)).body.state === 'cancelled', 'the session to end', 60_000);
  });
});
