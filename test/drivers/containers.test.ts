/**
 * The local driver running OCI images with real podman (runc): the job runs in its image, exit codes,
 * logs, args/workingDir, rendezvous variables, cancel with grace, memory limit, pull failure, and a
 * restart that finds the running container again. The image is built locally (test/helpers/podman.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalDriver, type LocalDriverOptions } from '../../src/drivers/local-driver.js';
import { containerName } from '../../src/drivers/podman.js';
import { ensureTestImage, IMAGE_MARKER } from '../helpers/podman.js';
import { driverJob, eventually, Recorder, readAllLogs, uniqueId } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gigafab-containers-'));
const drivers: LocalDriver[] = [];
let image = '';

function newDriver(over: Partial<LocalDriverOptions> = {}): { driver: LocalDriver; rec: Recorder } {
  const driver = new LocalDriver({ baseDir: join(root, 'jobs'), gpus: [], pollIntervalMs: 100, ...over });
  drivers.push(driver);
  return { driver, rec: new Recorder(driver) };
}

/** A CPU-only job in the test image (command replaces the image's entrypoint). */
const inImage = (id: string, command: string[], over: Parameters<typeof driverJob>[3] = {}, secrets?: Record<string, string>) => {
  const j = driverJob(id, command, [{ node: 'box', gpus: [] }], { image, ...over }, secrets);
  return j;
};

const containerExists = (name: string) => {
  try {
    execFileSync('podman', ['container', 'exists', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

before(() => {
  image = ensureTestImage();
});

after(async () => {
  for (const d of drivers) await d.close();
  rmSync(root, { recursive: true, force: true });
});

describe('local driver: OCI images with podman', () => {
  test('the job runs in its image: reads a file only the image has; env and secrets arrive; logs; exit 0', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('img');
    const script =
      'cat /etc/gigafab-image; echo "greeting=$GREETING token=$TOKEN"; echo "rdv=$MASTER_ADDR:$MASTER_PORT ws=$WORLD_SIZE rank=$NODE_RANK"';
    await driver.start(inImage(id, ['/bin/sh', '-c', script], { env: { GREETING: 'hello' } }, { TOKEN: 's3cret-value' }));
    const started = await rec.started(id);
    assert.match(started.message, new RegExp(`in container ${containerName(id, 1)}`));
    const exited = await rec.exited(id);
    assert.equal(exited.outcome, 'completed');
    assert.equal(exited.exitCode, 0);
    const log = await readAllLogs(driver, id);
    assert.match(log, new RegExp(IMAGE_MARKER));
    assert.match(log, /greeting=hello token=s3cret-value/);
    assert.match(log, /rdv=127\.0\.0\.1:\d+ ws=1 rank=0/);
    assert.equal(containerExists(containerName(id, 1)), false, 'the container is removed once the job ended');
  });

  test('a host has no such file: the same command outside the image fails', () => {
    assert.throws(() => execFileSync('cat', ['/etc/gigafab-image'], { stdio: 'ignore' }));
  });

  test("exit codes come from the container; args replace the image's CMD; workingDir", async () => {
    const { driver, rec } = newDriver();
    const failing = uniqueId('img-exit');
    await driver.start(inImage(failing, ['/bin/sh', '-c', 'echo about to fail; exit 7']));
    const e1 = await rec.exited(failing);
    assert.equal(e1.outcome, 'completed');
    assert.equal(e1.exitCode, 7);
    assert.match(await readAllLogs(driver, failing), /about to fail/);

    const withArgs = uniqueId('img-args');
    await driver.start(
      driverJob(withArgs, [], [{ node: 'box', gpus: [] }], { image, command: undefined, args: ['pwd'], workingDir: '/etc' }),
    );
    const e2 = await rec.exited(withArgs);
    assert.equal(e2.exitCode, 0, e2.message);
    assert.equal((await readAllLogs(driver, withArgs)).trim(), '/etc');
  });

  test('cancel with grace: SIGTERM reaches the process in the container, which exits cleanly', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('img-cancel');
    const script = "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done";
    await driver.start(inImage(id, ['/bin/sh', '-c', script]));
    await rec.started(id);
    const deadline = Date.now() + 20_000;
    while (!(await readAllLogs(driver, id)).includes('ready') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await driver.stop(id, 10);
    const exited = await rec.exited(id);
    assert.equal(exited.outcome, 'cancelled');
    assert.equal(exited.exitCode, 0, exited.message);
    assert.match(await readAllLogs(driver, id), /got-term/);
  });

  test('a job that ignores SIGTERM is killed at the end of the grace', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('img-kill');
    await driver.start(inImage(id, ['/bin/sh', '-c', "trap '' TERM; echo ready; while true; do sleep 0.1; done"]));
    await rec.started(id);
    const deadline = Date.now() + 20_000;
    while (!(await readAllLogs(driver, id)).includes('ready') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await driver.stop(id, 1);
    const exited = await rec.exited(id);
    assert.equal(exited.outcome, 'cancelled');
    assert.equal(exited.exitCode, 137, exited.message);
    assert.ok(Date.now() - t0 >= 900, 'the grace was given');
  });

  test('memory limit hit: the job fails with oom_killed', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('img-oom');
    await driver.start(
      inImage(id, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1'], {
        resources: { memory: '32m', shmSize: '16m', cpus: 1 },
      }),
    );
    const exited = await rec.exited(id);
    assert.equal(exited.outcome, 'completed');
    assert.equal(exited.exitCode, 137);
    assert.match(exited.message, /^oom_killed: the container exceeded its memory limit of 32m/);
  });

  test('an image that cannot be pulled ends the job with image_pull_failed and a reason; pulling is a visible phase', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('img-pull');
    await driver.start(inImage(id, ['/bin/true'], { image: '127.0.0.1:9/nothing/here:1' }));
    const exited = await rec.exited(id);
    assert.equal(exited.outcome, 'completed');
    assert.equal(exited.exitCode, null);
    assert.match(exited.message, /^image_pull_failed: unreachable: /);
    const phases = rec.of(id).filter((o) => o.type === 'phase');
    assert.equal(phases.length, 1);
    assert.match(phases[0].message, /^pulling image 127\.0\.0\.1:9\/nothing\/here:1/);
    assert.equal(rec.of(id).filter((o) => o.type === 'started').length, 0, 'never started, never on the host');
  });

  test('a restarted driver reattaches to the running container and reports its exit', async () => {
    const first = newDriver();
    const id = uniqueId('img-reattach');
    const job = inImage(id, ['/bin/sh', '-c', 'sleep 2; echo finished; exit 4']);
    await first.driver.start(job);
    await first.rec.started(id);
    await eventually(() => containerExists(containerName(id, 1)), 10_000, 'the container to exist');
    await first.driver.close();
    const second = newDriver();
    await second.driver.reattach([job]);
    assert.equal(second.driver.isRunning(id), true);
    const exited = await second.rec.exited(id);
    assert.equal(exited.exitCode, 4, exited.message);
    assert.equal(containerExists(containerName(id, 1)), false, 'the container outlived the control plane, not the job');
    assert.match(await readAllLogs(second.driver, id), /finished/);
  });

  test('the run policy: images where podman is, host jobs by default, the configured registries', async () => {
    const { driver } = newDriver({ registries: ['registry.eu.example'] });
    assert.deepEqual(driver.runPolicy('lab1'), {
      site: 'lab1',
      images: true,
      hostJobs: true,
      registries: ['registry.eu.example'],
    });
    const { driver: noImages, rec } = newDriver({ images: false, hostJobs: false });
    assert.equal(noImages.runPolicy('lab1').images, false);
    assert.equal(noImages.runPolicy('lab1').hostJobs, false);
    // Whatever reaches it anyway is refused, never run on the host.
    const id = uniqueId('img-refused');
    await assert.rejects(
      noImages.start(inImage(id, ['/bin/true'])),
      /has an image .* no container runtime .*not run on the host/,
    );
    await assert.rejects(
      noImages.start(driverJob(uniqueId('host'), ['/bin/true'], [{ node: 'box', gpus: [] }])),
      /runs no host jobs/,
    );
    assert.equal(rec.of(id).length, 0);
  });
});
