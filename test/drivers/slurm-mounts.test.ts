/**
 * Scratch and dataset mounts on the Slurm driver (podman in the step) against the localhost Slurm
 * (scripts/slurm/setup.sh): the job in the test image reads its read-only dataset and cannot write
 * there, writes its `writes` dataset and its node's /scratch; a dataset the node has not staged ends
 * the job with `dataset_not_staged: <id>`; forget() removes the run with its scratch.
 * Skipped, with the reason printed, only where that cluster cannot run (as slurm.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type LocalhostSlurm, localhostSlurmUnavailable, startLocalhostSlurm } from '../../src/drivers/slurm/localhost.js';
import { SlurmDriver } from '../../src/drivers/slurm-driver.js';
import { ensureTestImage } from '../helpers/podman.js';
import { driverJob, Recorder, readAllLogs, repoRoot, uniqueId } from './fixtures.js';

const unavailable = localhostSlurmUnavailable();
if (unavailable) console.log(`# SKIPPING the Slurm mount tests: ${unavailable}`);

const jobRoot = mkdtempSync(join(tmpdir(), 'gigafab-slurm-mounts-'));
const datasetRoot = join(jobRoot, 'datasets');
let cluster: LocalhostSlurm | null = null;
let driver: SlurmDriver;
let rec: Recorder;
let image = '';

before(() => {
  if (unavailable) return;
  image = ensureTestImage();
  for (const id of ['ds_read', 'ds_write']) mkdirSync(join(datasetRoot, id), { recursive: true });
  writeFileSync(join(datasetRoot, 'ds_read', 'hello.txt'), 'staged on the nodes\n');
  cluster = startLocalhostSlurm(repoRoot());
  driver = new SlurmDriver({
    nodeMap: { 'muc-a': 'gpu01' },
    jobDir: join(jobRoot, 'jobs'),
    slurmConf: cluster.slurmConf,
    instance: `mounts-${process.pid}`,
    pollIntervalMs: 200,
    nodePollIntervalMs: 0,
    timeoutGraceSeconds: 1,
    gpuPassthrough: 'none',
    datasetRoot,
  });
  rec = new Recorder(driver);
});

after(async () => {
  await driver?.close();
  cluster?.stop();
  rmSync(jobRoot, { recursive: true, force: true });
});

const one = [{ node: 'muc-a', gpus: [0] }];

describe('Slurm driver: scratch and dataset mounts', { skip: unavailable || undefined }, () => {
  test('read-only dataset (EROFS), writable dataset, the node scratch at /scratch; forget removes it', async () => {
    const id = uniqueId('slurm-mnt');
    const script = [
      'cat /datasets/ds_read/hello.txt',
      'echo nope > /datasets/ds_read/x || echo "read-only write failed"',
      'echo result > /datasets/ds_write/out.txt',
      'echo "scratch=$GIGAFAB_SCRATCH"; echo tmp > /scratch/s.txt',
    ].join('; ');
    const job = driverJob(id, ['/bin/sh', '-c', script], one, { image });
    await driver.start({
      ...job,
      datasets: [
        { id: 'ds_read', mode: 'ro' },
        { id: 'ds_write', mode: 'rw' },
      ],
    });
    const exited = await rec.exited(id, 60_000);
    const log = await readAllLogs(driver, id);
    assert.equal(exited.exitCode, 0, `${exited.message}\n${log}`);
    assert.match(log, /staged on the nodes/);
    assert.match(log, /Read-only file system/);
    assert.match(log, /read-only write failed/);
    assert.match(log, /scratch=\/scratch/);
    assert.equal(existsSync(join(datasetRoot, 'ds_read', 'x')), false);
    assert.equal(readFileSync(join(datasetRoot, 'ds_write', 'out.txt'), 'utf8'), 'result\n');
    const scratch = join(driver.workDir(id), 'scratch', 'node-0');
    assert.equal(readFileSync(join(scratch, 's.txt'), 'utf8'), 'tmp\n');
    await driver.forget(id);
    assert.equal(existsSync(scratch), false);
  });

  test('a dataset the node has not staged ends the job with dataset_not_staged, before it runs', async () => {
    const id = uniqueId('slurm-unstaged');
    const job = driverJob(id, ['/bin/sh', '-c', 'echo SHOULD-NOT-RUN'], one, { image });
    await driver.start({ ...job, datasets: [{ id: 'ds_absent', mode: 'ro' }] });
    const exited = await rec.exited(id, 60_000);
    assert.equal(exited.message, 'dataset_not_staged: ds_absent');
    assert.notEqual(exited.exitCode, 0);
    assert.doesNotMatch(await readAllLogs(driver, id), /SHOULD-NOT-RUN/);
  });
});
