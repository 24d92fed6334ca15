/**
 * The sessions tests' server: a one-workstation fleet on the `local` driver (fake L4 GPUs) with the
 * workload proxy on its own port, an org `lab` with a member, and a rival org with an admin.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeGpus, writeFakeNvidiaSmi } from '../../drivers/fixtures.js';
import { api, startTestServer, type TestServer } from '../../helpers/server.js';
import { tenantToken } from '../../helpers/tenants.js';

export interface SessionWorld {
  server: TestServer;
  jobsDir: string;
  member: string;
  stranger: string;
  /** The proxy's port as the server's latest banner announced it (it changes on restart). */
  proxyPort(): number;
}

/** A site that may keep health data (a German operator with a current C5 Type 2), for tests that register some. */
const HEALTH_READY =
  'operator: { name: Lab GmbH, establishment: DE }, attestations: [{ name: BSI C5 Type 2, validFrom: 2025-01-01, validUntil: 2099-01-01, issuer: Example Audit AG }], ';

/**
 * Options: `datasetRoot` stages datasets at lab1 (`<datasetRoot>/<id>`); `secondSite` adds a site lab2
 * (its own jobs directory and, with datasetRoot, `<datasetRoot>-lab2`) with the same workstation;
 * `database` a PostgreSQL URL to run on instead of SQLite.
 */
export async function startSessionWorld(
  prefix: string,
  opts: { datasetRoot?: string; secondSite?: boolean; database?: string } = {},
): Promise<SessionWorld> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const jobsDir = join(dir, 'jobs');
  const fleet = join(dir, 'fleet.yaml');
  const site = (id: string, jobs: string, root: string | undefined) =>
    `  - { id: ${id}, name: Lab, city: Munich, country: DE, certifications: [], ${root ? HEALTH_READY : ''}driver: { kind: local, baseDir: ${jobs}, timeoutGraceSeconds: 2, gpuPassthrough: none${root ? `, datasetRoot: ${root}` : ''} } }\n`;
  const pool = (id: string) => `  - { site: ${id}, nodeType: ws, count: 1, unitSize: 1, namePrefix: ${id}-ws }\n`;
  const root2 = opts.datasetRoot ? `${opts.datasetRoot}-lab2` : undefined;
  writeFileSync(
    fleet,
    `name: workstation
sites:
${site('lab1', jobsDir, opts.datasetRoot)}${opts.secondSite ? site('lab2', join(dir, 'jobs-lab2'), root2) : ''}nodeTypes:
  - { id: ws, gpuType: L4, gpusPerNode: 4, gpuMemoryGiB: 24, interconnect: pcie, cpus: 16, memoryGiB: 64 }
pools:
${pool('lab1')}${opts.secondSite ? pool('lab2') : ''}`,
  );
  const bin = join(dir, 'bin');
  writeFakeNvidiaSmi(bin, 'gpus', fakeGpus(4, 'NVIDIA L4'));
  const server = await startTestServer({
    fleetPath: fleet,
    extraArgs: ['--proxy-port', '0', ...(opts.database ? ['--database', opts.database] : [])],
    env: { PATH: `${bin}:${process.env.PATH}` },
  });
  const proxyPort = () => {
    const all = [...server.output().matchAll(/workload proxy: http:\/\/\*\.localhost:(\d+)/g)];
    const port = Number(all.at(-1)?.[1]);
    assert.ok(port > 0, `the server announces its proxy: ${server.output()}`);
    return port;
  };
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'lab', name: 'Lab', kind: 'research' });
  await op('POST', '/v1/orgs/lab/projects', { id: 'lab-ml' });
  await op('PUT', '/v1/projects/lab-ml/quotas/L4', { gpus: 4 });
  const member = await tenantToken(op, 'lab', { name: 'ada', role: 'member' });
  await op('POST', '/v1/orgs', { id: 'rival', name: 'Rival', kind: 'start-up' });
  const stranger = await tenantToken(op, 'rival', { name: 'eve', role: 'admin' });
  return { server, jobsDir, member, stranger, proxyPort };
}

/** proxyGet: GET path on a workload's host at the proxy (node:http: fetch cannot set Host). */
export function proxyGet(
  port: number,
  id: string,
  path: string,
  token?: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { host: `${id}.localhost:${port}`, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
