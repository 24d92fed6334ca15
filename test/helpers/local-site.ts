/**
 * startLocalSiteServer: the real server with a one-workstation fleet (4 fake L4 GPUs) whose site is
 * served by the `local` driver, and a stand-in nvidia-smi first on PATH (CI has no GPU).
 */
import { existsSync, mkdtempSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeGpus, writeFakeNvidiaSmi } from '../drivers/fixtures.js';
import { type api, startTestServer, type TestServer } from './server.js';
import { tenantToken } from './tenants.js';

/**
 * The local driver leaves its workloads running when the server stops (by design: a restarted server
 * finds them again). A test file's are ended when its process exits: every process whose working
 * directory is under one of this file's job directories, with its process group. Left running they
 * loaded the next test files' cores (services' replicas above all).
 */
const jobDirs: string[] = [];
function endWorkloadsOnExit(dir: string): void {
  if (jobDirs.push(dir) > 1 || !existsSync('/proc')) return;
  process.once('exit', () => {
    for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        continue;
      }
      if (!jobDirs.some((d) => cwd.startsWith(`${d}/`))) continue;
      for (const target of [-Number(pid), Number(pid)]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // gone already, or not a group leader
        }
      }
    }
  });
}

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
  endWorkloadsOnExit(join(dir, 'jobs'));
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
