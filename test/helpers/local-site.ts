/**
 * startLocalSiteServer: the real server with a one-workstation fleet (4 fake L4 GPUs) whose site is
 * served by the `local` driver, and a stand-in nvidia-smi first on PATH (CI has no GPU).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeGpus, writeFakeNvidiaSmi } from '../drivers/fixtures.js';
import { type api, startTestServer, type TestServer } from './server.js';
import { tenantToken } from './tenants.js';

/**
 * driverExtra: more settings of the site's local driver, as YAML flow entries (e.g. `registries: [a.example]`);
 * extraArgs: more `gigafab server` flags (e.g. `--proxy-port 0`).
 */
export async function startLocalSiteServer(
  prefix: string,
  driverExtra = '',
  extraArgs: string[] = [],
  /** Another build's bin/gigafab.js (the benches compare builds); default: this checkout's. */
  bin?: string,
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const fleet = join(dir, 'fleet.yaml');
  writeFileSync(
    fleet,
    `name: workstation
sites:
  - { id: lab1, name: Lab, city: Munich, country: DE, certifications: [], driver: { kind: local, baseDir: ${join(dir, 'jobs')}, timeoutGraceSeconds: 1${driverExtra ? `, ${driverExtra}` : ''} } }
nodeTypes:
  - { id: ws, gpuType: L4, gpusPerNode: 4, gpuMemoryGiB: 24, interconnect: pcie, cpus: 16, memoryGiB: 64 }
pools:
  - { site: lab1, nodeType: ws, count: 1, unitSize: 1, namePrefix: lab1-ws }
`,
  );
  const fakeBin = join(dir, 'bin');
  writeFakeNvidiaSmi(fakeBin, 'gpus', fakeGpus(4, 'NVIDIA L4'));
  return startTestServer({
    fleetPath: fleet,
    env: { PATH: `${fakeBin}:${process.env.PATH}` },
    extraArgs,
    ...(bin ? { bin } : {}),
  });
}

/**
 * The tenant the local-site tests use: org lab with project lab-ml and 4 L4 GPUs of quota, and one
 * user of it. op is the operator's call; returns the user's token.
 */
export async function addLabTenant(
  op: ReturnType<typeof api>,
  user: { name: string; role: 'admin' | 'member' },
): Promise<string> {
  await op('POST', '/v1/orgs', { id: 'lab', name: 'Lab', kind: 'research' });
  await op('POST', '/v1/orgs/lab/projects', { id: 'lab-ml' });
  await op('PUT', '/v1/projects/lab-ml/quotas/L4', { gpus: 4 });
  return tenantToken(op, 'lab', user);
}

/**
 * recorder: wraps API calls so that every response body lands in `seen`, for tests that search
 * everything they were shown for a secret at the end.
 */
export function recorder(seen: string[]) {
  return (call: ReturnType<typeof api>): ReturnType<typeof api> =>
    Object.assign(
      async (...args: Parameters<typeof call>) => {
        const r = await call(...args);
        seen.push(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
        return r;
      },
      { url: call.url, token: call.token },
    );
}
