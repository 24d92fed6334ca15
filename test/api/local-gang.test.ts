/**
 * A 2-node gang through the whole product on a `local` site whose two nodes are both this machine
 * (driver.nodes): the server places the job on both nodes, the local driver runs one rank per node in
 * the test image, and the ranks rendezvous over TCP with the variables gigafab gave them — the job
 * succeeds only if rank 0 received rank 1's line. GPUs are stand-ins (fake nvidia-smi): variables only.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fakeGpus, writeFakeNvidiaSmi } from '../drivers/fixtures.js';
import { addLabTenant } from '../helpers/local-site.js';
import { ensureTestImage } from '../helpers/podman.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';

let server: TestServer;
let user: ReturnType<typeof api>;
let token: string;
let image = '';

before(async () => {
  image = ensureTestImage();
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-local-gang-api-'));
  const fleet = join(dir, 'fleet.yaml');
  writeFileSync(
    fleet,
    `name: rig
sites:
  - id: lab1
    name: Lab
    city: Munich
    country: DE
    certifications: []
    driver: { kind: local, baseDir: ${join(dir, 'jobs')}, nodes: [lab1-ws-0001, lab1-ws-0002], timeoutGraceSeconds: 1, gpuPassthrough: none }
nodeTypes:
  - { id: ws, gpuType: L4, gpusPerNode: 2, gpuMemoryGiB: 24, interconnect: pcie, cpus: 16, memoryGiB: 64 }
pools:
  - { site: lab1, nodeType: ws, count: 2, unitSize: 2, namePrefix: lab1-ws }
`,
  );
  const bin = join(dir, 'bin');
  // Both nodes are this machine: its (stand-in) GPUs are what each node's indices refer to.
  writeFakeNvidiaSmi(bin, 'gpus', fakeGpus(2, 'NVIDIA L4'));
  server = await startTestServer({ fleetPath: fleet, env: { PATH: `${bin}:${process.env.PATH}` } });
  const op = api(server.url, server.operatorToken);
  token = await addLabTenant(op, { name: 'R', role: 'member' });
  user = api(server.url, token);
});

after(async () => {
  await server?.stop();
});

test('a 2-node job on two local nodes: its ranks connect over TCP via MASTER_ADDR/MASTER_PORT and it succeeds', async () => {
  const script = [
    'echo "rank=$RANK of $WORLD_SIZE on $GIGAFAB_NODES master=$MASTER_ADDR:$MASTER_PORT cvd=$CUDA_VISIBLE_DEVICES"',
    // nc -e: the line is read by a program on the connection (a plain `nc -l` with no input may quit before the line arrives).
    `if [ "$RANK" = 0 ]; then f=/tmp/gigafab-rdv-$GIGAFAB_JOB_ID; nc -l -p "$MASTER_PORT" -w 30 -e /bin/sh -c 'read line; printf "%s\\n" "$line" > '"$f"; got=$(cat "$f"); rm -f "$f"`,
    '  echo "rank0 got: $got"; [ "$got" = "hello from rank 1" ]; else',
    '  i=0; until echo "hello from rank $RANK" | nc -w 2 "$MASTER_ADDR" "$MASTER_PORT"; do i=$((i+1)); [ $i -gt 150 ] && exit 9; sleep 0.2; done; fi',
  ].join('\n');
  const j = await user('POST', '/v1/jobs', {
    name: 'ddp-rendezvous',
    project: 'lab-ml',
    gpuType: 'L4',
    gpusPerNode: 1,
    nodes: 2,
    image,
    command: ['/bin/sh', '-c', script],
  });
  assert.equal(j.status, 201, JSON.stringify(j.body));
  const done = await waitFor(
    async () => {
      const r = (await user('GET', `/v1/jobs/${j.body.id}`)).body;
      return ['succeeded', 'failed', 'cancelled', 'timed-out'].includes(r.state) ? r : null;
    },
    `job ${j.body.id} to end`,
    90_000,
  );
  const logs = await (
    await fetch(`${server.url}/v1/jobs/${j.body.id}/logs`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  assert.equal(done.state, 'succeeded', `${JSON.stringify(done)}\n${logs}`);
  const placed: { node: string; gpus: number[] }[] = done.placement.nodes;
  assert.deepEqual(
    placed.map((n) => n.node),
    ['lab1-ws-0001', 'lab1-ws-0002'],
  );
  assert.match(
    logs,
    new RegExp(`rank=0 of 2 on lab1-ws-0001,lab1-ws-0002 master=127\\.0\\.0\\.1:\\d+ cvd=${placed[0].gpus[0]}\\b`),
  );
  assert.match(
    logs,
    new RegExp(`rank=1 of 2 on lab1-ws-0001,lab1-ws-0002 master=127\\.0\\.0\\.1:\\d+ cvd=${placed[1].gpus[0]}\\b`),
  );
  assert.match(logs, /rank0 got: hello from rank 1/);
});
