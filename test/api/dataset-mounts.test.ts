/**
 * Dataset mounts through the whole product on a `local` site with a datasetRoot: the control plane
 * tells the driver each declared dataset's mode (a health dataset in `writes` stays read-only), the
 * job in the test image (podman) sees them at /datasets/<id>, and a dataset the site has not staged
 * fails the job with `dataset_not_staged: <id>` before it runs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fakeGpus, writeFakeNvidiaSmi } from '../drivers/fixtures.js';
import { addLabTenant } from '../helpers/local-site.js';
import { ensureTestImage } from '../helpers/podman.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';

const datasetRoot = mkdtempSync(join(tmpdir(), 'gigafab-dataset-root-'));
let server: TestServer;
let user: ReturnType<typeof api>;
let token: string;
let image = '';
const ids: Record<string, string> = {};

/**
 * The local-site fleet (test/helpers/local-site.ts) with what health data needs of its site (§ 393
 * SGB V: an operator established in DE, a current C5 Type 2 attestation) and the dataset root.
 */
async function startSite(): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-dataset-mounts-'));
  const fleet = join(dir, 'fleet.yaml');
  const until = new Date(Date.now() + 365 * 86400_000).toISOString().slice(0, 10);
  writeFileSync(
    fleet,
    `name: workstation
sites:
  - id: lab1
    name: Lab
    city: Munich
    country: DE
    certifications: [bsi-c5]
    operator: { name: Lab GmbH, establishment: DE }
    attestations: [{ name: BSI C5 Type 2, validFrom: 2025-01-01, validUntil: ${until}, issuer: Example Audit AG }]
    driver: { kind: local, baseDir: ${join(dir, 'jobs')}, timeoutGraceSeconds: 1, gpuPassthrough: none, datasetRoot: ${datasetRoot} }
nodeTypes:
  - { id: ws, gpuType: L4, gpusPerNode: 4, gpuMemoryGiB: 24, interconnect: pcie, cpus: 16, memoryGiB: 64 }
pools:
  - { site: lab1, nodeType: ws, count: 1, unitSize: 1, namePrefix: lab1-ws }
`,
  );
  const bin = join(dir, 'bin');
  writeFakeNvidiaSmi(bin, 'gpus', fakeGpus(4, 'NVIDIA L4'));
  return startTestServer({ fleetPath: fleet, env: { PATH: `${bin}:${process.env.PATH}` } });
}

before(async () => {
  image = ensureTestImage();
  server = await startSite();
  const op = api(server.url, server.operatorToken);
  token = await addLabTenant(op, { name: 'D', role: 'member' });
  user = api(server.url, token);
  for (const [name, classification] of [
    ['scans', 'health'],
    ['results', 'internal'],
    ['unstaged', 'public'],
  ] as const) {
    const r = await user('POST', '/v1/projects/lab-ml/datasets', {
      name,
      classification,
      homeSite: 'lab1',
      sizeBytes: 1,
      checksum: `sha256:${'b'.repeat(64)}`,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ids[name] = r.body.id;
  }
  // The site stages two of them (the third stays missing).
  mkdirSync(join(datasetRoot, ids.scans));
  writeFileSync(join(datasetRoot, ids.scans, 'scan.txt'), 'scan 1\n');
  mkdirSync(join(datasetRoot, ids.results));
});

after(async () => {
  await server?.stop();
  rmSync(datasetRoot, { recursive: true, force: true });
});

const job = (name: string, script: string, writes: string[]) => ({
  name,
  project: 'lab-ml',
  gpuType: 'L4',
  gpusPerNode: 1,
  image,
  command: ['/bin/sh', '-c', script],
  datasets: { reads: [], writes },
});

async function finished(id: string): Promise<{ state: string; exitCode: number | null }> {
  return waitFor(async () => {
    const r = (await user('GET', `/v1/jobs/${id}`)).body;
    return ['succeeded', 'failed', 'cancelled', 'timed-out'].includes(r.state) ? r : null;
  }, `job ${id} to end`);
}

async function logsOf(id: string): Promise<string> {
  const r = await fetch(`${server.url}/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${token}` } });
  return r.text();
}

describe('dataset mounts on a local site', () => {
  test('a health dataset in writes is read-only in the container; an internal one is writable', async () => {
    const script = [
      `cat /datasets/${ids.scans}/scan.txt`,
      `echo out > /datasets/${ids.results}/out.txt`,
      `echo changed > /datasets/${ids.scans}/scan.txt`,
    ].join('; ');
    const j = await user('POST', '/v1/jobs', job('health-ro', script, [ids.scans, ids.results]));
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const done = await finished(j.body.id);
    const log = await logsOf(j.body.id);
    assert.equal(done.state, 'failed', log);
    assert.match(log, /scan 1/);
    assert.match(log, /Read-only file system/);
    assert.equal(readFileSync(join(datasetRoot, ids.results, 'out.txt'), 'utf8'), 'out\n');
    assert.equal(readFileSync(join(datasetRoot, ids.scans, 'scan.txt'), 'utf8'), 'scan 1\n');
  });

  test('a dataset the site has not staged fails the job with dataset_not_staged, before it runs', async () => {
    const j = await user('POST', '/v1/jobs', job('unstaged', 'echo SHOULD-NOT-RUN', [ids.unstaged]));
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const done = await finished(j.body.id);
    assert.equal(done.state, 'failed');
    const events: { message: string }[] = (await user('GET', `/v1/jobs/${j.body.id}/events`)).body.items;
    assert.match(events.at(-1)?.message ?? '', new RegExp(`dataset_not_staged: ${ids.unstaged}`));
    assert.doesNotMatch(await logsOf(j.body.id), /SHOULD-NOT-RUN/);
  });
});
