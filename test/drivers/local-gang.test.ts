/**
 * Gangs on the local driver (local-gang.ts): a 2-node job on two gigafab nodes that are both this
 * machine runs one rank per node. The ranks really rendezvous: rank 0 listens on
 * MASTER_ADDR:MASTER_PORT, rank 1 connects and sends a line, and the job succeeds only if rank 0 got
 * it — in the locally built test image (real podman) and as host processes. Also: the first failing
 * rank ends the gang with its status, cancel stops every rank's container, and gangs on nodes the
 * driver does not serve are refused.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSiteDriver } from '../../src/drivers/config.js';
import { LocalDriver, type LocalDriverOptions } from '../../src/drivers/local-driver.js';
import { rankContainer } from '../../src/drivers/local-gang.js';
import { containerName } from '../../src/drivers/podman.js';
import { masterPort } from '../../src/drivers/rendezvous.js';
import { ensureTestImage, IMAGE_MARKER } from '../helpers/podman.js';
import { driverJob, Recorder, readAllLogs, uniqueId } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gigafab-local-gang-'));
const drivers: LocalDriver[] = [];
let image = '';

/** Two gigafab nodes, both this machine. */
const NODES = ['rig-a', 'rig-b'];
const gang = NODES.map((node) => ({ node, gpus: [] }));

function newDriver(over: Partial<LocalDriverOptions> = {}): { driver: LocalDriver; rec: Recorder } {
  const driver = new LocalDriver({ baseDir: join(root, 'jobs'), gpus: [], nodes: NODES, pollIntervalMs: 100, ...over });
  drivers.push(driver);
  return { driver, rec: new Recorder(driver) };
}

/** Rank 0 listens and prints what it got; rank 1 retries until rank 0 listens, then sends a line. */
const rendezvous = (nc: string) =>
  [
    'echo "rank=$RANK node_rank=$NODE_RANK world=$WORLD_SIZE master=$MASTER_ADDR:$MASTER_PORT index=$GIGAFAB_NODE_INDEX/$GIGAFAB_NODE_COUNT nodes=$GIGAFAB_NODES"',
    // nc -e: the line is read by a program on the connection (a plain `nc -l` with no input may quit before the line arrives).
    `if [ "$RANK" = 0 ]; then f=/tmp/gigafab-rdv-$GIGAFAB_JOB_ID; ${nc} -l -p "$MASTER_PORT" -w 30 -e /bin/sh -c 'read line; printf "%s\\n" "$line" > '"$f"; got=$(cat "$f"); rm -f "$f"`,
    '  echo "rank0 got: $got"; [ "$got" = "hello from rank 1" ]; else',
    `  i=0; until echo "hello from rank $RANK" | ${nc} -w 2 "$MASTER_ADDR" "$MASTER_PORT"; do i=$((i+1)); [ $i -gt 150 ] && exit 9; sleep 0.2; done; echo "rank1 sent"; fi`,
  ].join('\n');

const containerExists = (name: string) => {
  try {
    execFileSync('podman', ['container', 'exists', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

function assertRendezvous(log: string, id: string): void {
  const port = masterPort(id);
  assert.match(log, new RegExp(`rank=0 node_rank=0 world=2 master=127\\.0\\.0\\.1:${port} index=0/2 nodes=rig-a,rig-b`));
  assert.match(log, new RegExp(`rank=1 node_rank=1 world=2 master=127\\.0\\.0\\.1:${port} index=1/2 nodes=rig-a,rig-b`));
  assert.match(log, /rank1 sent/);
  assert.match(log, /rank0 got: hello from rank 1/);
}

before(() => {
  image = ensureTestImage();
});

after(async () => {
  for (const d of drivers) await d.close();
  rmSync(root, { recursive: true, force: true });
});

describe('local driver: a 2-node gang on one machine', () => {
  test('in the image: rank 0 listens on MASTER_PORT, rank 1 connects over TCP and sends a line; both succeed', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('gang-img');
    await driver.start(driverJob(id, ['/bin/sh', '-c', `cat /etc/gigafab-image; ${rendezvous('nc')}`], gang, { image }));
    const started = await rec.started(id);
    assert.match(started.message, /started 2 ranks on rig-a,rig-b/);
    const exited = await rec.exited(id, 90_000);
    const log = await readAllLogs(driver, id);
    assert.equal(exited.outcome, 'completed');
    assert.equal(exited.exitCode, 0, `${exited.message}\n${log}`);
    assertRendezvous(log, id);
    assert.equal(log.split(IMAGE_MARKER).length - 1, 2, 'both ranks ran in the image');
    for (const r of [0, 1])
      assert.equal(containerExists(rankContainer(containerName(id, 1), r)), false, `rank ${r}'s container is removed`);
  });

  test('as host processes: the same rendezvous over TCP', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('gang-host');
    await driver.start(driverJob(id, ['/bin/sh', '-c', rendezvous('/bin/busybox nc')], gang));
    const exited = await rec.exited(id, 90_000);
    const log = await readAllLogs(driver, id);
    assert.equal(exited.exitCode, 0, `${exited.message}\n${log}`);
    assertRendezvous(log, id);
  });

  test('no rendezvous, no success: rank 0 fails when it got the wrong line, and its status is the job’s', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('gang-wrong');
    const script = rendezvous('nc').replace('echo "hello from rank $RANK"', 'echo "something else"');
    await driver.start(driverJob(id, ['/bin/sh', '-c', script], gang, { image }));
    const exited = await rec.exited(id, 90_000);
    assert.equal(exited.exitCode, 1, exited.message);
    assert.match(exited.message, /exited with code 1 \(rank 0 failed first\)/);
  });

  test('the first failing rank ends the gang: the other rank is stopped, the job gets the failing status', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('gang-fail');
    const script = [
      "trap 'echo rank $RANK stopped; exit 0' TERM",
      'if [ "$RANK" = 1 ]; then sleep 0.5; echo rank 1 fails; exit 3; fi',
      'echo rank 0 waits; while true; do sleep 0.1; done',
    ].join('\n');
    const t0 = Date.now();
    await driver.start(driverJob(id, ['/bin/sh', '-c', script], gang, { image }));
    const exited = await rec.exited(id, 60_000);
    assert.equal(exited.outcome, 'completed');
    assert.equal(exited.exitCode, 3, exited.message);
    assert.match(exited.message, /rank 1 failed first/);
    assert.match(await readAllLogs(driver, id), /rank 0 stopped/);
    assert.ok(Date.now() - t0 < 30_000, 'rank 0 did not run on until a limit');
  });

  test('cancel stops every rank’s container with the grace', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('gang-cancel');
    const script = "trap 'echo rank $RANK got-term; exit 0' TERM; echo rank $RANK ready; while true; do sleep 0.1; done";
    await driver.start(driverJob(id, ['/bin/sh', '-c', script], gang, { image }));
    await rec.started(id);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const log = await readAllLogs(driver, id);
      if ((log.includes('rank 0 ready') && log.includes('rank 1 ready')) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await driver.stop(id, 10);
    const exited = await rec.exited(id);
    assert.equal(exited.outcome, 'cancelled');
    assert.equal(exited.exitCode, 0, exited.message);
    const log = await readAllLogs(driver, id);
    assert.match(log, /rank 0 got-term/);
    assert.match(log, /rank 1 got-term/);
    for (const r of [0, 1]) assert.equal(containerExists(rankContainer(containerName(id, 1), r)), false);
  });

  test('a restarted driver reattaches to a running gang and reports its status', async () => {
    const first = newDriver();
    const id = uniqueId('gang-reattach');
    const job = driverJob(id, ['/bin/sh', '-c', 'sleep 2; echo rank $RANK finished; [ "$RANK" = 1 ] && exit 4; exit 0'], gang, {
      image,
    });
    await first.driver.start(job);
    await first.rec.started(id);
    await first.driver.close();
    const second = newDriver();
    await second.driver.reattach([job]);
    assert.equal(second.driver.isRunning(id), true);
    const exited = await second.rec.exited(id, 60_000);
    assert.equal(exited.exitCode, 4, exited.message);
    assert.match(exited.message, /rank 1 failed first/);
    const log = await readAllLogs(second.driver, id);
    assert.match(log, /rank 0 finished/);
    assert.match(log, /rank 1 finished/);
    for (const r of [0, 1]) assert.equal(containerExists(rankContainer(containerName(id, 1), r)), false);
  });

  test('a gang on nodes the driver does not serve is refused', async () => {
    const { driver } = newDriver();
    const other = [
      { node: 'rig-a', gpus: [] },
      { node: 'elsewhere', gpus: [] },
    ];
    await assert.rejects(
      driver.start(driverJob(uniqueId('gang-out'), ['true'], other)),
      /single-node jobs, or gangs on the nodes/,
    );
    const twice = [
      { node: 'rig-a', gpus: [] },
      { node: 'rig-a', gpus: [] },
    ];
    await assert.rejects(driver.start(driverJob(uniqueId('gang-twice'), ['true'], twice)), /placed on rig-a,rig-a/);
    const { driver: single } = newDriver({ nodes: undefined });
    await assert.rejects(single.start(driverJob(uniqueId('gang-single'), ['true'], gang)), /single-node/);
  });

  test("site configuration: driver.nodes lists this machine's nodes of the site; a several-node site needs node or nodes", async () => {
    const baseDir = join(root, 'config');
    const site = { site: 'lab1', nodes: ['rig-a', 'rig-b', 'rig-c'] };
    const rig = createSiteDriver(
      { ...site, driver: { kind: 'local', baseDir, nodes: NODES, gpuPassthrough: 'none' } },
      { timeScale: 1 },
    );
    assert.ok(rig instanceof LocalDriver);
    drivers.push(rig);
    await assert.rejects(
      rig.start(driverJob(uniqueId('cfg-c'), ['true'], [{ node: 'rig-c', gpus: [] }])),
      /runs nodes rig-a,rig-b/,
    );
    assert.throws(
      () => createSiteDriver({ ...site, driver: { kind: 'local', baseDir, nodes: ['rig-a', 'nowhere'] } }, { timeScale: 1 }),
      /driver\.nodes names nowhere, which is not a node of this site/,
    );
    assert.throws(
      () => createSiteDriver({ ...site, driver: { kind: 'local', baseDir } }, { timeScale: 1 }),
      /set driver\.node, or driver\.nodes/,
    );
  });
});
