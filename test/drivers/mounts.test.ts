/**
 * Scratch and dataset mounts on the local driver with real podman (runc) and the test image: a job
 * reads its read-only dataset and cannot write there (EROFS), writes its `writes` dataset and its
 * /scratch; a health-class dataset declared in `writes` is still read-only (the control plane's rule,
 * jobDatasets, decides the mode); an unstaged dataset ends the job before it runs; a host job gets the
 * same directories as paths; forget() removes the scratch with the job's other files.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalDriver } from '../../src/drivers/local-driver.js';
import type { JobDataset } from '../../src/model/job-datasets.js';
import { jobDatasets } from '../../src/sovereignty/dataset-mounts.js';
import type { DatasetRecord } from '../../src/sovereignty/service.js';
import { ensureTestImage } from '../helpers/podman.js';
import { driverJob, Recorder, readAllLogs, uniqueId } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gigafab-mounts-'));
const datasetRoot = join(root, 'datasets');
let driver: LocalDriver;
let rec: Recorder;
let image = '';

before(() => {
  image = ensureTestImage();
  for (const id of ['ds_read', 'ds_write', 'ds_scans']) mkdirSync(join(datasetRoot, id), { recursive: true });
  writeFileSync(join(datasetRoot, 'ds_read', 'hello.txt'), 'staged by the site\n');
  writeFileSync(join(datasetRoot, 'ds_scans', 'scan-1.dcm'), 'patient scan\n');
  driver = new LocalDriver({ baseDir: join(root, 'jobs'), gpus: [], pollIntervalMs: 100, datasetRoot });
  rec = new Recorder(driver);
});

after(async () => {
  await driver?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A CPU-only job with these datasets: in the test image, or (inImage false) as a host process. */
const withDatasets = (id: string, script: string, datasets: JobDataset[], inImage = true) => {
  const j = driverJob(id, ['/bin/sh', '-c', script], [{ node: 'box', gpus: [] }], inImage ? { image } : {});
  return { ...j, datasets };
};

describe('local driver: scratch and dataset mounts in the container', () => {
  test('reads its read-only dataset, cannot write there (EROFS); writes its `writes` dataset and /scratch', async () => {
    const id = uniqueId('mnt');
    const script = [
      'cat /datasets/ds_read/hello.txt',
      'echo "dir=$GIGAFAB_DATASET_DIR_DS_READ scratch=$GIGAFAB_SCRATCH"',
      'echo nope > /datasets/ds_read/new.txt || echo "read-only write failed"',
      'echo result > /datasets/ds_write/out.txt',
      'echo tmp > /scratch/work.txt',
      'cat /scratch/work.txt',
    ].join('; ');
    await driver.start(
      withDatasets(id, script, [
        { id: 'ds_read', mode: 'ro' },
        { id: 'ds_write', mode: 'rw' },
      ]),
    );
    const exited = await rec.exited(id);
    const log = await readAllLogs(driver, id);
    assert.equal(exited.exitCode, 0, `${exited.message}\n${log}`);
    assert.match(log, /staged by the site/);
    assert.match(log, /dir=\/datasets\/ds_read scratch=\/scratch/);
    assert.match(log, /Read-only file system/);
    assert.match(log, /read-only write failed/);
    assert.equal(existsSync(join(datasetRoot, 'ds_read', 'new.txt')), false);
    assert.equal(readFileSync(join(datasetRoot, 'ds_write', 'out.txt'), 'utf8'), 'result\n');
    assert.equal(readFileSync(join(driver.workDir(id), 'scratch', 'work.txt'), 'utf8'), 'tmp\n');
  });

  test('a health dataset the job declares in `writes` is mounted read-only all the same', async () => {
    const scans: DatasetRecord = {
      id: 'ds_scans',
      org: 'org_a',
      project: 'p',
      name: 'scans',
      classification: 'health',
      homeSite: 'box',
      sizeBytes: 1,
      checksum: 'sha256:0',
      createdAt: '2026-01-01T00:00:00Z',
      createdBy: 'u',
      deletedAt: null,
    };
    const id = uniqueId('mnt-health');
    const base = withDatasets(id, 'cat /datasets/ds_scans/scan-1.dcm; echo changed > /datasets/ds_scans/scan-1.dcm', []);
    const spec = { ...base.spec, datasets: { reads: [], writes: ['ds_scans'] } };
    const datasets = jobDatasets(spec, [scans]);
    assert.deepEqual(datasets, [{ id: 'ds_scans', mode: 'ro' }]);
    await driver.start({ ...base, spec, datasets });
    const exited = await rec.exited(id);
    const log = await readAllLogs(driver, id);
    assert.notEqual(exited.exitCode, 0, log);
    assert.match(log, /patient scan/);
    assert.match(log, /Read-only file system/);
    assert.equal(readFileSync(join(datasetRoot, 'ds_scans', 'scan-1.dcm'), 'utf8'), 'patient scan\n');
  });

  test('a dataset that is not staged ends the job before it runs: dataset_not_staged', async () => {
    const id = uniqueId('mnt-missing');
    await driver.start(
      withDatasets(id, 'echo SHOULD-NOT-RUN', [
        { id: 'ds_read', mode: 'ro' },
        { id: 'ds_absent', mode: 'ro' },
      ]),
    );
    const exited = await rec.exited(id);
    assert.match(exited.message, /^dataset_not_staged: ds_absent /);
    assert.equal(exited.exitCode, null);
    assert.equal(
      rec.of(id).some((o) => o.type === 'started'),
      false,
      'never started',
    );
    assert.doesNotMatch(await readAllLogs(driver, id), /SHOULD-NOT-RUN/);
  });

  test('a host job gets the paths; forget() removes its scratch with its other files', async () => {
    const id = uniqueId('mnt-host');
    const script =
      'cat "$GIGAFAB_DATASET_DIR_DS_READ/hello.txt"; echo host > "$GIGAFAB_SCRATCH/h.txt"; echo "scratch=$GIGAFAB_SCRATCH"';
    await driver.start(withDatasets(id, script, [{ id: 'ds_read', mode: 'ro' }], false));
    const exited = await rec.exited(id);
    const log = await readAllLogs(driver, id);
    assert.equal(exited.exitCode, 0, log);
    const scratch = join(driver.workDir(id), 'scratch');
    assert.match(log, /staged by the site/);
    assert.ok(log.includes(`scratch=${scratch}`), log);
    assert.equal(readFileSync(join(scratch, 'h.txt'), 'utf8'), 'host\n');
    await driver.forget(id);
    assert.equal(existsSync(scratch), false);
  });
});
