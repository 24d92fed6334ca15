/**
 * Scratch and dataset mounts without a container engine: the mode rule (sovereignty/dataset-mounts.ts),
 * the volumes and variables a driver derives (job-mounts.ts), podman's argv, the Slurm task command,
 * and the Slurm node script's own checks, run with sh as a node would run them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  createStateDir,
  datasetEnvName,
  datasetVolumes,
  firstUnstaged,
  mountEnv,
  removeStateDir,
  scratchVolume,
  stateNotMounted,
  unstagedReason,
} from '../../src/drivers/job-mounts.js';
import { containerEnv, podmanRunArgs } from '../../src/drivers/podman.js';
import { containerEnding, NODE_SCRIPT, readDatasetNotStaged, slurmTaskCommand } from '../../src/drivers/slurm-containers.js';
import { jobDatasets, READ_ONLY_CLASSES } from '../../src/sovereignty/dataset-mounts.js';
import type { DataClass } from '../../src/sovereignty/residency.js';
import type { DatasetRecord } from '../../src/sovereignty/service.js';
import { jobSpec } from './fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'gigafab-job-mounts-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function dataset(id: string, classification: DataClass, org = 'org_a', deletedAt: string | null = null): DatasetRecord {
  return {
    id,
    org,
    project: 'p',
    name: id,
    classification,
    homeSite: 'muc1',
    sizeBytes: 1,
    checksum: 'sha256:0',
    createdAt: '2026-01-01T00:00:00Z',
    createdBy: 'u',
    deletedAt,
  };
}

describe('which datasets a job gets, and how (the control plane)', () => {
  const org = [dataset('ds_r', 'confidential'), dataset('ds_w', 'internal'), dataset('ds_h', 'health')];

  test('reads are read-only, writes read-write, a health dataset in writes still read-only', () => {
    const spec = jobSpec(['true'], { datasets: { reads: ['ds_r'], writes: ['ds_w', 'ds_h'] } });
    assert.deepEqual(jobDatasets(spec, org), [
      { id: 'ds_r', mode: 'ro' },
      { id: 'ds_w', mode: 'rw' },
      { id: 'ds_h', mode: 'ro' },
    ]);
    assert.deepEqual(READ_ONLY_CLASSES, ['health']);
  });

  test('a dataset in both lists is mounted once, read-write', () => {
    const spec = jobSpec(['true'], { datasets: { reads: ['ds_w'], writes: ['ds_w'] } });
    assert.deepEqual(jobDatasets(spec, org), [{ id: 'ds_w', mode: 'rw' }]);
  });

  test("a session's state dataset is mounted read-write, once, even if also declared as read", () => {
    const session = { kind: 'session' as const, session: { preset: 'jupyter' as const, stateDataset: 'ds_w' } };
    assert.deepEqual(jobDatasets(jobSpec(['true'], session), org), [{ id: 'ds_w', mode: 'rw' }]);
    const both = jobSpec(['true'], { ...session, datasets: { reads: ['ds_r', 'ds_w'], writes: [] } });
    assert.deepEqual(jobDatasets(both, org), [
      { id: 'ds_r', mode: 'ro' },
      { id: 'ds_w', mode: 'rw' },
    ]);
  });

  test('no datasets: nothing to mount', () => {
    assert.equal(jobDatasets(jobSpec(['true']), org), undefined);
  });

  test("another organisation's dataset, or an erased one, is never mounted: the hand-over fails", () => {
    assert.throws(
      () => jobDatasets(jobSpec(['true'], { datasets: { reads: ['ds_other'], writes: [] } }), org),
      /ds_other is not a dataset of the job's organisation/,
    );
    const erased = [dataset('ds_gone', 'public', 'org_a', '2026-02-01T00:00:00Z')];
    assert.throws(() => jobDatasets(jobSpec(['true'], { datasets: { reads: ['ds_gone'], writes: [] } }), erased), /ds_gone/);
  });
});

describe('volumes and variables on a node (job-mounts.ts)', () => {
  test('each dataset under datasetRoot at /datasets/<id>, with its mode; none without a datasetRoot', () => {
    const v = datasetVolumes('/srv/data', [
      { id: 'ds_r', mode: 'ro' },
      { id: 'ds_w', mode: 'rw' },
    ]);
    assert.deepEqual(v, [
      { host: '/srv/data/ds_r', container: '/datasets/ds_r', mode: 'ro', dataset: 'ds_r' },
      { host: '/srv/data/ds_w', container: '/datasets/ds_w', mode: 'rw', dataset: 'ds_w' },
    ]);
    assert.deepEqual(datasetVolumes(undefined, [{ id: 'ds_r', mode: 'ro' }]), []);
  });

  test("a session's state directory: made on first use under datasetRoot; without a read-write mount the run is refused", () => {
    const root = join(tmp, 'state-root');
    mkdirSync(root);
    const spec = jobSpec(['true'], { kind: 'session', session: { preset: 'ssh', stateDataset: 'ds_s' } });
    const volumes = datasetVolumes(root, [{ id: 'ds_s', mode: 'rw' }]);
    assert.equal(stateNotMounted(spec, volumes), null);
    createStateDir(spec, volumes);
    assert.ok(statSync(join(root, 'ds_s')).isDirectory());
    // Not made where the site's datasetRoot itself is missing (a misconfigured site, not a new dataset).
    const missing = datasetVolumes(join(tmp, 'no-such-root'), [{ id: 'ds_s', mode: 'rw' }]);
    createStateDir(spec, missing);
    assert.equal(existsSync(join(tmp, 'no-such-root')), false);
    assert.match(
      stateNotMounted(spec, []) ?? '',
      /^session_state_unavailable: the state dataset ds_s is not mounted read-write here/,
    );
    assert.match(stateNotMounted(spec, datasetVolumes(root, [{ id: 'ds_s', mode: 'ro' }])) ?? '', /session_state_unavailable/);
    assert.equal(stateNotMounted(jobSpec(['true']), []), null);
  });

  test("a deleted dataset's state directory is removed with what is in it; idempotent; no datasetRoot: nothing to do", () => {
    const root = join(tmp, 'removal-root');
    mkdirSync(join(root, 'ds_gone', 'sub'), { recursive: true });
    writeFileSync(join(root, 'ds_gone', 'sub', 'nb.ipynb'), '{}');
    mkdirSync(join(root, 'ds_kept'));
    assert.equal(removeStateDir(root, 'ds_gone'), true);
    assert.equal(existsSync(join(root, 'ds_gone')), false);
    assert.ok(existsSync(join(root, 'ds_kept')), 'only that dataset');
    assert.equal(removeStateDir(root, 'ds_gone'), true, 'nothing there: done');
    assert.equal(removeStateDir(undefined, 'ds_gone'), false);
    assert.throws(() => removeStateDir(root, '../removal-root'), /cannot name a directory/);
    assert.ok(existsSync(root));
  });

  test('ids that could leave datasetRoot or break --volume are refused', () => {
    for (const id of ['../etc', 'a/b', '.hidden', 'x:ro', 'a,b', 'a b', '']) {
      assert.throws(() => datasetVolumes('/srv/data', [{ id, mode: 'ro' }]), /cannot name a directory/, id);
    }
    assert.throws(() => datasetVolumes('/srv/da:ta', [{ id: 'ds', mode: 'ro' }]), /must not contain/);
  });

  test('firstUnstaged finds the missing directory; the reason names the dataset', () => {
    mkdirSync(join(tmp, 'root', 'ds_here'), { recursive: true });
    const v = datasetVolumes(join(tmp, 'root'), [
      { id: 'ds_here', mode: 'ro' },
      { id: 'ds_gone', mode: 'rw' },
    ]);
    const missing = firstUnstaged(v);
    assert.equal(missing?.dataset, 'ds_gone');
    assert.match(unstagedReason(missing!), /^dataset_not_staged: ds_gone \(no directory .*ds_gone on this node\)$/);
    assert.equal(firstUnstaged(v.slice(0, 1)), null);
  });

  test('variables: inside a container the mount points, on the host the host paths; clashes refused', () => {
    const volumes = datasetVolumes('/srv/data', [{ id: 'ds_1a', mode: 'ro' }]);
    assert.equal(datasetEnvName('ds_1a'), 'GIGAFAB_DATASET_DIR_DS_1A');
    assert.deepEqual(mountEnv({ scratch: '/run/x/scratch', volumes, inContainer: true }, {}), {
      GIGAFAB_SCRATCH: '/scratch',
      GIGAFAB_DATASET_DIR_DS_1A: '/datasets/ds_1a',
    });
    assert.deepEqual(mountEnv({ scratch: '/run/x/scratch', volumes, inContainer: false }, {}), {
      GIGAFAB_SCRATCH: '/run/x/scratch',
      GIGAFAB_DATASET_DIR_DS_1A: '/srv/data/ds_1a',
    });
    assert.throws(
      () => mountEnv({ scratch: '/s', volumes, inContainer: true }, { GIGAFAB_DATASET_DIR_DS_1A: 'mine' }),
      /clashes with a dataset's directory variable/,
    );
  });
});

describe("podman's argv", () => {
  test('scratch read-write at /scratch, datasets at /datasets/<id> with their modes, before the image', () => {
    const spec = jobSpec(['/bin/sh', '-c', 'true'], { image: 'localhost/img:1' });
    const volumes = [
      scratchVolume('/run/j/scratch'),
      ...datasetVolumes('/srv/data', [
        { id: 'ds_r', mode: 'ro' },
        { id: 'ds_w', mode: 'rw' },
      ]),
    ];
    const args = podmanRunArgs({
      spec,
      env: containerEnv({}, new Set()),
      gpus: [],
      checkpointFile: '/run/j/checkpoints',
      gpuPassthrough: 'none',
      volumes,
    });
    const vols = args.flatMap((a, i) => (args[i - 1] === '--volume' ? [a] : []));
    assert.deepEqual(vols, [
      '/run/j/checkpoints:/gigafab/checkpoints:rw',
      '/run/j/scratch:/scratch:rw',
      '/srv/data/ds_r:/datasets/ds_r:ro',
      '/srv/data/ds_w:/datasets/ds_w:rw',
    ]);
    assert.ok(args.lastIndexOf('--volume') < args.indexOf('localhost/img:1'), 'options come before the image');
  });
});

describe('Slurm: the task command and the node script', () => {
  const volumes = datasetVolumes('/srv/data', [{ id: 'ds_r', mode: 'ro' }]);

  test('an image job: dataset volumes and variables in the podman arguments, the staged list for the check', () => {
    const dir = join(tmp, 'slurm-img');
    mkdirSync(dir, { recursive: true });
    const plan = slurmTaskCommand({
      jobId: 'j1',
      attempt: 1,
      dir,
      spec: jobSpec(['true'], { image: 'localhost/img:1' }),
      vars: { GIGAFAB_JOB_ID: 'j1' },
      secretNames: new Set(),
      nodes: 1,
      gpuPassthrough: 'none',
      datasets: volumes,
    });
    assert.equal(plan.command[9], '/srv/data/ds_r', 'the sixth script argument lists the directories to check');
    assert.ok(plan.command.includes('/srv/data/ds_r:/datasets/ds_r:ro'));
    assert.equal(plan.env.GIGAFAB_SCRATCH, '/scratch');
    assert.equal(plan.env.GIGAFAB_DATASET_DIR_DS_R, '/datasets/ds_r');
  });

  test('a host job: dataset paths in its environment, GIGAFAB_SCRATCH left to each node', () => {
    const plan = slurmTaskCommand({
      jobId: 'j2',
      attempt: 1,
      dir: tmp,
      spec: jobSpec(['true']),
      vars: {},
      secretNames: new Set(),
      nodes: 1,
      gpuPassthrough: 'none',
      datasets: volumes,
    });
    assert.equal(plan.env.GIGAFAB_DATASET_DIR_DS_R, '/srv/data/ds_r');
    assert.equal(plan.env.GIGAFAB_SCRATCH, undefined);
  });

  // The node script as srun runs it on node 0 (no Slurm here: scontrol's lookups just come back empty).
  const runNode = (dir: string, datasets: string, command: string[]) =>
    spawnSync('/bin/sh', ['-c', NODE_SCRIPT, 'node', dir, '', '', '', 'none', datasets, ...command], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, SLURM_NODEID: '0' },
      timeout: 20_000,
    });

  test('a missing dataset directory stops the node before the command, and the ending names it', () => {
    const dir = join(tmp, 'node-missing');
    mkdirSync(join(dir, 'scratch'), { recursive: true, mode: 0o700 });
    const staged = join(tmp, 'staged', 'ds_ok');
    mkdirSync(staged, { recursive: true });
    const r = runNode(dir, `${staged} ${join(tmp, 'staged', 'ds_missing')}`, ['sh', '-c', 'echo RAN']);
    assert.equal(r.status, 125);
    assert.doesNotMatch(r.stdout, /RAN/);
    assert.match(r.stdout, /dataset_not_staged: ds_missing/);
    assert.equal(readDatasetNotStaged(dir)?.trim(), 'ds_missing');
    assert.equal(
      containerEnding({ pullFailed: null, datasetNotStaged: readDatasetNotStaged(dir) }, null, 125, false),
      'dataset_not_staged: ds_missing',
    );
  });

  test("all staged: the command runs with the node's own scratch directory", () => {
    const dir = join(tmp, 'node-ok');
    mkdirSync(join(dir, 'scratch'), { recursive: true, mode: 0o700 });
    const staged = join(tmp, 'staged', 'ds_ok');
    mkdirSync(staged, { recursive: true });
    const r = runNode(dir, staged, ['sh', '-c', 'echo "scratch=$GIGAFAB_SCRATCH"; echo data > "$GIGAFAB_SCRATCH/f"']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`scratch=${join(dir, 'scratch', 'node-0')}$`, 'm'));
    assert.equal(readFileSync(join(dir, 'scratch', 'node-0', 'f'), 'utf8'), 'data\n');
    assert.equal(statSync(join(dir, 'scratch')).mode & 0o777, 0o700, 'the parent keeps other users out');
    assert.equal(existsSync(join(dir, 'dataset_not_staged.0')), false);
  });
});
