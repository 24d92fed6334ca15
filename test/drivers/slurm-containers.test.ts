/**
 * The Slurm driver running OCI images with podman inside each node's step, against the localhost Slurm
 * (scripts/slurm/setup.sh: 4 nodes on this machine): the job runs in its image, exit codes, a pull
 * failure's reason, the memory limit, cancel with grace, and a 2-node gang whose ranks find each
 * other through the rendezvous variables and connect over TCP (rank 0 listens on MASTER_ADDR:MASTER_PORT),
 * and an `ssh` session in an image (the image's own sshd, on the node's address only, the real ssh client).
 * Skipped, with the reason printed, only where that cluster cannot run (as slurm.test.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { masterPort } from '../../src/drivers/rendezvous.js';
import { SSH_KEYS_ENV } from '../../src/drivers/session-command.js';
import { type LocalhostSlurm, localhostSlurmUnavailable, startLocalhostSlurm } from '../../src/drivers/slurm/localhost.js';
import { SlurmDriver } from '../../src/drivers/slurm-driver.js';
import { ensureSshdImage, ensureTestImage, IMAGE_MARKER, sshdImageBuildable } from '../helpers/podman.js';
import { driverJob, Recorder, readAllLogs, repoRoot, uniqueId } from './fixtures.js';

const unavailable = localhostSlurmUnavailable();
if (unavailable) console.log(`# SKIPPING the Slurm container tests: ${unavailable}`);

const NODE_MAP = { 'muc-a': 'gpu01', 'muc-b': 'gpu02', 'muc-c': 'gpu03', 'muc-d': 'gpu04' };
const jobRoot = mkdtempSync(join(tmpdir(), 'gigafab-slurm-containers-'));
let cluster: LocalhostSlurm | null = null;
let driver: SlurmDriver;
let rec: Recorder;
let image = '';

before(() => {
  if (unavailable) return;
  image = ensureTestImage();
  cluster = startLocalhostSlurm(repoRoot());
  driver = new SlurmDriver({
    nodeMap: NODE_MAP,
    jobDir: join(jobRoot, 'jobs'),
    slurmConf: cluster.slurmConf,
    instance: `containers-${process.pid}`,
    pollIntervalMs: 200,
    nodePollIntervalMs: 0,
    timeoutGraceSeconds: 1,
    // The localhost cluster's GPUs are stand-ins: they reach containers as variables only.
    gpuPassthrough: 'none',
  });
  rec = new Recorder(driver);
});

after(async () => {
  await driver?.close();
  cluster?.stop();
  rmSync(jobRoot, { recursive: true, force: true });
});

const one = (gpus = [0]) => [{ node: 'muc-a', gpus }];

describe('Slurm driver: OCI images with podman in the step', { skip: unavailable || undefined }, () => {
  test('the job runs in its image on its node; env, exit code and logs come back', async () => {
    const id = uniqueId('slurm-img');
    const script =
      'cat /etc/gigafab-image; echo "greeting=$GREETING rank=$NODE_RANK of $WORLD_SIZE cvd=$CUDA_VISIBLE_DEVICES"; exit 5';
    await driver.start(driverJob(id, ['/bin/sh', '-c', script], one(), { image, env: { GREETING: 'servus' } }));
    const exited = await rec.exited(id, 60_000);
    assert.equal(exited.outcome, 'completed');
    assert.equal(exited.exitCode, 5, exited.message);
    const log = await readAllLogs(driver, id);
    assert.match(log, new RegExp(IMAGE_MARKER));
    assert.match(log, /greeting=servus rank=0 of 1 cvd=\d/);
  });

  test('a pull failure ends the job with image_pull_failed and the reason', async () => {
    const id = uniqueId('slurm-pull');
    await driver.start(driverJob(id, ['true'], one(), { image: '127.0.0.1:9/nothing/here:1' }));
    const exited = await rec.exited(id, 60_000);
    assert.match(exited.message, /^image_pull_failed: unreachable: /);
    assert.notEqual(exited.exitCode, 0);
  });

  test('memory limit hit: oom_killed', async () => {
    const id = uniqueId('slurm-oom');
    await driver.start(
      driverJob(id, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1'], one(), { image, resources: { memory: '32m' } }),
    );
    const exited = await rec.exited(id, 60_000);
    assert.equal(exited.exitCode, 137, exited.message);
    assert.match(exited.message, /^oom_killed: /);
  });

  test('cancel with grace: SIGTERM reaches the process in the container', async () => {
    const id = uniqueId('slurm-cancel');
    const script = "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done";
    await driver.start(driverJob(id, ['/bin/sh', '-c', script], one(), { image }));
    await rec.started(id, 60_000);
    const deadline = Date.now() + 30_000;
    while (!(await readAllLogs(driver, id)).includes('ready') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    await driver.stop(id, 10);
    const exited = await rec.exited(id, 60_000);
    assert.equal(exited.outcome, 'cancelled');
    assert.match(await readAllLogs(driver, id), /got-term/);
  });

  test('a 2-node gang: the ranks get the rendezvous variables and connect over TCP', async () => {
    const id = uniqueId('slurm-rdv');
    // Rank 0 listens on MASTER_PORT and prints what rank 1 sends; rank 1 retries until it connects.
    const script = [
      'echo "rank=$NODE_RANK world=$WORLD_SIZE master=$MASTER_ADDR:$MASTER_PORT index=$GIGAFAB_NODE_INDEX/$GIGAFAB_NODE_COUNT nodes=$GIGAFAB_NODES"',
      // Not `nc -l | sed`: the pipe's status is sed's, so a port rank 0 cannot listen on ended in 0.
      'if [ "$NODE_RANK" = 0 ]; then got=$(nc -l -p "$MASTER_PORT" -w 30) || { echo "rank0: nc -l failed"; exit 8; }; echo "rank0 got: $got"; else',
      '  i=0; until echo "hello from rank $RANK" | nc -w 2 "$MASTER_ADDR" "$MASTER_PORT"; do i=$((i+1)); [ $i -gt 100 ] && exit 9; sleep 0.2; done; fi',
    ].join('\n');
    const nodes = [
      { node: 'muc-a', gpus: [0] },
      { node: 'muc-b', gpus: [0] },
    ];
    await driver.start(driverJob(id, ['/bin/sh', '-c', script], nodes, { image }));
    const exited = await rec.exited(id, 90_000);
    const log = await readAllLogs(driver, id);
    assert.equal(exited.exitCode, 0, `${exited.message}\n${log}`);
    const port = masterPort(id);
    assert.match(log, new RegExp(`rank=0 world=2 master=127\\.0\\.0\\.1:${port} index=0/2 nodes=muc-a,muc-b`));
    assert.match(log, new RegExp(`rank=1 world=2 master=127\\.0\\.0\\.1:${port} index=1/2`));
    assert.match(log, /rank0 got: hello from rank 1/);
  });
  test('an ssh session in an image: the image’s sshd listens on the node’s address only; the owner’s key logs in, another is refused', async () => {
    assert.ok(
      sshdImageBuildable(),
      'podman, busybox-static and openssh-server are needed (scripts/ensure-podman.sh, ensure-openssh-server.sh)',
    );
    const sshdImage = ensureSshdImage();
    const home = mkdtempSync(join(tmpdir(), 'gigafab-slurm-ssh-image-'));
    const [key, other] = [join(home, 'id'), join(home, 'other')];
    for (const k of [key, other]) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', k]);
    const id = uniqueId('slurm-sshimg');
    const spec = { image: sshdImage, kind: 'session' as const, session: { preset: 'ssh' as const } };
    await driver.start(driverJob(id, [], one(), spec, { [SSH_KEYS_ENV]: readFileSync(`${key}.pub`, 'utf8').trim() }));
    const started = await rec.started(id, 90_000);
    assert.ok(started.endpoint, 'the session reports its endpoint');
    const { host, port } = started.endpoint;
    assert.equal(host, '127.0.0.1', 'the localhost cluster’s NodeAddr');
    const ssh = (k: string) =>
      spawnSync(
        'ssh',
        [
          ...['-F', '/dev/null', '-i', k, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5'],
          ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-p', String(port)],
          `root@${host}`,
          'cat /etc/gigafab-image; echo "job=$GIGAFAB_JOB_ID"',
        ],
        { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '', HOME: home } },
      );
    let out = '';
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = ssh(key);
      if (r.status === 0) {
        out = r.stdout;
        break;
      }
      if (Date.now() > deadline) assert.fail(`ssh did not log in: ${r.stderr}\n${await readAllLogs(driver, id)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    assert.match(out, new RegExp(IMAGE_MARKER), 'the login runs in the image');
    assert.match(out, new RegExp(`job=${id}`));
    // The container shares the node's network: sshd must bind the node's address, not every address.
    const listening = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.trim().split(/\s+/)[3]);
    assert.deepEqual(listening, [`127.0.0.1:${port}`]);
    assert.notEqual(ssh(other).status, 0, 'a key that is not the owner’s is refused');
    await driver.stop(id, 5);
    assert.equal((await rec.exited(id, 60_000)).outcome, 'cancelled');
    rmSync(home, { recursive: true, force: true });
  });
});
