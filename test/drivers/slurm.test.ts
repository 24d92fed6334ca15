/**
 * SlurmDriver end to end against a real Slurm 22.05 on this machine (scripts/slurm/setup.sh: 4 nodes
 * × 8 fake GPUs, one slurmd each). Skipped — with the reason printed — only where that cluster cannot
 * run: not Linux, not root, or no Slurm and no apt-get. A failing setup.sh fails the tests.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CheckpointObservation } from '../../src/drivers/driver.js';
import {
  type LocalhostSlurm,
  localhostSlurmUnavailable,
  slurmCommand,
  startLocalhostSlurm,
} from '../../src/drivers/slurm/localhost.js';
import { SlurmDriver, type SlurmDriverOptions } from '../../src/drivers/slurm-driver.js';
import { runDriverConformance } from './driver.case.js';
import { driverJob, eventually, Recorder, readAllLogs, repoRoot, uniqueId } from './fixtures.js';

const unavailable = localhostSlurmUnavailable();
if (unavailable) console.log(`# SKIPPING the Slurm driver tests: ${unavailable}`);

const NODE_MAP = { 'muc-a': 'gpu01', 'muc-b': 'gpu02', 'muc-c': 'gpu03', 'muc-d': 'gpu04' };
const instance = `test-${process.pid}`;
const jobRoot = mkdtempSync(join(tmpdir(), 'gigafab-slurm-jobs-'));
let cluster: LocalhostSlurm | null = null;
const drivers: SlurmDriver[] = [];

function newDriver(over: Partial<SlurmDriverOptions> = {}): { driver: SlurmDriver; rec: Recorder } {
  if (!cluster) throw new Error('no cluster');
  const driver = new SlurmDriver({
    nodeMap: NODE_MAP,
    jobDir: join(jobRoot, 'jobs'),
    slurmConf: cluster.slurmConf,
    instance,
    pollIntervalMs: 200,
    nodePollIntervalMs: 0,
    timeoutGraceSeconds: 1,
    ...over,
  });
  drivers.push(driver);
  return { driver, rec: new Recorder(driver) };
}

before(() => {
  if (unavailable) return;
  cluster = startLocalhostSlurm(repoRoot());
  console.log(
    `# localhost Slurm ready in ${cluster.setupSeconds.toFixed(1)} s (${cluster.startedHere ? 'started' : 'already running'}): ${cluster.nodes.join(' ')}`,
  );
});

after(async () => {
  for (const d of drivers) await d.close();
  cluster?.stop();
  rmSync(jobRoot, { recursive: true, force: true });
});

runDriverConformance({
  name: 'slurm',
  skip: () => unavailable,
  makeDriver: async () => newDriver().driver,
  placement: () => [{ node: 'muc-c', gpus: [0] }],
  waitMs: 20_000,
});

describe('slurm driver on a localhost cluster', { skip: unavailable || false }, () => {
  test('a job on 2 nodes × 4 GPUs: one task per node, each with its node’s CUDA_VISIBLE_DEVICES; output in the log', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('gang');
    const cmd = [
      'sh',
      '-c',
      'echo "node=$SLURMD_NODENAME cvd=$CUDA_VISIBLE_DEVICES job=$GIGAFAB_JOB_ID foo=$FOO token=$TOKEN"; sleep 1.5',
    ];
    const job = driverJob(
      id,
      cmd,
      [
        { node: 'muc-a', gpus: [0, 1, 2, 3] },
        { node: 'muc-b', gpus: [0, 1, 2, 3] },
      ],
      { env: { FOO: 'bar' } },
      { TOKEN: 'tok-123' },
    );
    await driver.start(job);
    const s = await rec.started(id, 20_000);
    const e = await rec.exited(id, 20_000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 0);
    assert.match(s.message, /muc-a=gpu01 GPUs 0,1,2,3; muc-b=gpu02 GPUs 0,1,2,3/);
    const out = await readAllLogs(driver, id);
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('node='))
      .sort();
    assert.deepEqual(lines, [
      `node=gpu01 cvd=0,1,2,3 job=${id} foo=bar token=tok-123`,
      `node=gpu02 cvd=0,1,2,3 job=${id} foo=bar token=tok-123`,
    ]);
    assert.equal(driver.logPath(id), join(driver.workDir(id), 'output.log'));
    // The secret is in no file of ours (it reaches the job through sbatch's environment only).
    for (const f of ['slurm.json', 'result.json', 'job.sh']) {
      assert.doesNotMatch(readFileSync(join(driver.workDir(id), f), 'utf8'), /tok-123/);
    }
    // The exact sbatch request, as Slurm recorded it.
    const sid = driver.slurmJobId(id);
    const show = slurmCommand(cluster!, 'scontrol', ['show', 'job', String(sid)]);
    assert.match(show, new RegExp(`JobName=gigafab-${id}`));
    assert.match(show, /NumNodes=2 /);
    assert.match(show, /TimeLimit=01:00:00/);
    assert.match(show, /ReqNodeList=gpu\[01-02\]/);
  });

  test('a failing command ends with its exit code; one failing node ends the whole gang', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('gang-fail');
    const cmd = ['sh', '-c', 'if [ "$SLURMD_NODENAME" = gpu02 ]; then exit 42; fi; sleep 60'];
    await driver.start(
      driverJob(id, cmd, [
        { node: 'muc-a', gpus: [0] },
        { node: 'muc-b', gpus: [0] },
      ]),
    );
    const e = await rec.exited(id, 30_000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 42);
  });

  test('stop: tasks that trap SIGTERM checkpoint and exit → cancelled; a task ignoring SIGTERM is killed after the grace', async () => {
    const { driver, rec } = newDriver();
    const polite = uniqueId('ckpt');
    const stubborn = uniqueId('stubborn');
    const ckpt =
      "trap 'echo checkpointing on $SLURMD_NODENAME; sleep 0.5; echo saved > checkpoint-$SLURMD_NODENAME; exit 0' TERM; echo ready; while :; do sleep 0.1; done";
    await driver.start(
      driverJob(
        polite,
        ['sh', '-c', ckpt],
        [
          { node: 'muc-a', gpus: [0] },
          { node: 'muc-b', gpus: [0] },
        ],
      ),
    );
    await driver.start(
      driverJob(stubborn, ['sh', '-c', "trap '' TERM; echo ready; while :; do sleep 0.1; done"], [{ node: 'muc-c', gpus: [0] }]),
    );
    await rec.started(polite, 20_000);
    await rec.started(stubborn, 20_000);
    await eventually(() => (readAllLogsSync(driver, polite).match(/ready/g) ?? []).length === 2, 10_000, 'both tasks ready');
    await eventually(() => readAllLogsSync(driver, stubborn).includes('ready'), 10_000, 'stubborn task ready');

    const t0 = Date.now();
    await Promise.all([driver.stop(polite, 20), driver.stop(stubborn, 2)]);
    const e1 = await rec.exited(polite, 20_000);
    const e2 = await rec.exited(stubborn, 20_000);
    assert.equal(e1.outcome, 'cancelled');
    assert.equal(e1.exitCode, 0, 'the tasks exited 0 after checkpointing');
    assert.ok(e1.at - t0 < 10_000, `the polite job ended well before its 20 s grace (${e1.at - t0} ms)`);
    for (const n of ['gpu01', 'gpu02'])
      assert.equal(readFileSync(join(driver.workDir(polite), `checkpoint-${n}`), 'utf8'), 'saved\n');
    assert.equal(e2.outcome, 'cancelled');
    assert.ok(e2.at - t0 >= 1900, `the stubborn job outlived the SIGTERM until the 2 s grace (${e2.at - t0} ms)`);
  });

  test('stop of a job still pending in Slurm removes it → cancelled', async () => {
    const { driver, rec } = newDriver();
    const blocker = uniqueId('blocker');
    const waiting = uniqueId('pending');
    await driver.start(driverJob(blocker, ['sleep', '120'], [{ node: 'muc-d', gpus: [0, 1, 2, 3, 4, 5, 6, 7] }]));
    await rec.started(blocker, 20_000);
    // Slurm has no free GPU on gpu04 for it, so it waits (gigafab would not place this; Slurm still must be handled).
    await driver.start(driverJob(waiting, ['true'], [{ node: 'muc-d', gpus: [0] }]));
    await driver.pollNow();
    await driver.stop(waiting, 5);
    const e = await rec.exited(waiting, 10_000);
    assert.equal(e.outcome, 'cancelled');
    assert.equal(
      rec.of(waiting).some((o) => o.type === 'started'),
      false,
    );
    await driver.stop(blocker, 1);
    await rec.exited(blocker, 20_000);
  });

  test('node states: down and drain in Slurm become node-state observations', async () => {
    const { rec } = newDriver({ nodePollIntervalMs: 200 });
    try {
      await rec.nodeState((o) => o.node === 'muc-d' && o.state === 'up', 5000, 'initial up of muc-d');
      slurmCommand(cluster!, 'scontrol', ['update', 'nodename=gpu04', 'state=down', 'reason=test']);
      const down = await rec.nodeState((o) => o.node === 'muc-d' && o.state === 'down', 5000, 'muc-d down');
      assert.match(down.reason, /gpu04 is down: test/);
      slurmCommand(cluster!, 'scontrol', ['update', 'nodename=gpu03', 'state=drain', 'reason=maintenance']);
      const drain = await rec.nodeState((o) => o.node === 'muc-c' && o.state === 'draining', 5000, 'muc-c draining');
      assert.match(drain.reason, /maintenance/);
      assert.equal(
        rec.nodes.some((o) => o.node === 'muc-a' && o.state !== 'up'),
        false,
      );
    } finally {
      slurmCommand(cluster!, 'scontrol', ['update', 'nodename=gpu[03-04]', 'state=resume']);
    }
    await rec.nodeState((o) => o.node === 'muc-d' && o.state === 'up' && rec.nodes.indexOf(o) > 0, 15_000, 'muc-d up again');
    await eventually(
      () =>
        slurmCommand(cluster!, 'sinfo', ['-h', '-N', '-n', 'gpu[03-04]', '-o', '%t'])
          .trim()
          .split('\n')
          .every((s) => s === 'idle'),
      15_000,
      'gpu03-04 idle',
    );
  });

  test('restart: running jobs are followed again, ended ones report their code, orphans are cancelled, unknown ones are lost', async () => {
    const a = newDriver();
    const running = driverJob(uniqueId('re-run'), ['sh', '-c', 'sleep 3; exit 6'], [{ node: 'muc-a', gpus: [0] }]);
    const ended = driverJob(uniqueId('re-ended'), ['sh', '-c', 'exit 5'], [{ node: 'muc-a', gpus: [1] }]);
    const orphan = driverJob(uniqueId('re-orphan'), ['sleep', '120'], [{ node: 'muc-b', gpus: [0] }]);
    for (const j of [running, ended, orphan]) await a.driver.start(j);
    await a.rec.started(running.id, 20_000);
    await a.rec.started(orphan.id, 20_000);
    await a.driver.close(); // the control plane goes down; the jobs go on
    const endedFile = join(a.driver.workDir(ended.id), 'exit_code');
    await eventually(() => existsSync(endedFile), 20_000, 'the short job to end while "down"');

    const never = driverJob(uniqueId('re-never'), ['true'], [{ node: 'muc-a', gpus: [0] }]);
    const b = newDriver();
    await b.driver.reattach([running, ended, never]);
    const orphanSid = a.driver.slurmJobId(orphan.id);
    assert.deepEqual(b.driver.lastReconcile?.orphans, [
      { jobId: orphan.id, attempt: 1, slurmJobId: orphanSid, state: 'RUNNING', action: 'cancelled' },
    ]);
    assert.deepEqual(b.driver.lastReconcile?.lost, [never.id]);
    assert.equal((await b.rec.exited(never.id, 1000)).outcome, 'lost');
    const e1 = await b.rec.exited(ended.id, 5000);
    assert.deepEqual([e1.outcome, e1.exitCode], ['completed', 5]);
    const e2 = await b.rec.exited(running.id, 20_000);
    assert.deepEqual([e2.outcome, e2.exitCode], ['completed', 6]);
    assert.equal(
      b.rec.of(running.id).filter((o) => o.type === 'started').length,
      0,
      'started was reported before the restart, not again',
    );
    await eventually(
      () => /CANCELLED/.test(slurmCommand(cluster!, 'squeue', ['-h', '-t', 'all', '-j', String(orphanSid), '-o', '%T'])),
      10_000,
      'orphan cancelled in Slurm',
    );
    assert.equal(b.rec.of(orphan.id).length, 0, 'no observations for a job the control plane does not know');
  });

  test('checkpoint file across a restart: lines written while the control plane was down are reported once, at reattach', async () => {
    const seenBy = (driver: SlurmDriver) => {
      const seen: CheckpointObservation[] = [];
      driver.onCheckpoint((o) => seen.push(o));
      return seen;
    };
    const a = newDriver();
    const aSeen = seenBy(a.driver);
    // Both nodes run the command; only rank 0 writes, so each checkpoint is one line. The job
    // writes its second line and ends when the test creates `go` (while no driver follows it).
    const script = [
      'if [ "$SLURM_PROCID" = 0 ]; then echo "step=1 label=$SLURMD_NODENAME" >> "$GIGAFAB_CHECKPOINT_FILE"; fi',
      'while [ ! -e "$GIGAFAB_WORKDIR/go" ]; do sleep 0.1; done',
      'if [ "$SLURM_PROCID" = 0 ]; then echo "step=2" >> "$GIGAFAB_CHECKPOINT_FILE"; fi',
    ].join('; ');
    const job = driverJob(
      uniqueId('ckpt-re'),
      ['sh', '-c', script],
      [
        { node: 'muc-a', gpus: [2] },
        { node: 'muc-b', gpus: [2] },
      ],
    );
    await a.driver.start(job);
    await eventually(() => aSeen.length === 1, 20_000, 'the first checkpoint, reported while the job runs');
    assert.deepEqual([aSeen[0].jobId, aSeen[0].step, aSeen[0].label], [job.id, 1, 'gpu01']);
    await a.driver.close(); // the control plane goes down; the job goes on
    const dir = a.driver.workDir(job.id);
    writeFileSync(join(dir, 'go'), '');
    await eventually(() => existsSync(join(dir, 'exit_code')), 20_000, 'the job to end while "down"');
    assert.equal(readFileSync(join(dir, 'checkpoints'), 'utf8'), 'step=1 label=gpu01\nstep=2\n');

    const b = newDriver();
    const bSeen = seenBy(b.driver);
    const order: string[] = [];
    b.driver.onCheckpoint((o) => order.push(`checkpoint ${o.step}`));
    b.driver.onObservation((o) => order.push(o.type));
    await b.driver.reattach([job]);
    const e = await b.rec.exited(job.id, 20_000);
    assert.deepEqual([e.outcome, e.exitCode], ['completed', 0]);
    assert.deepEqual(
      bSeen.map((c) => [c.jobId, c.step, c.label]),
      [[job.id, 2, undefined]],
      'step=1 was reported before the restart, not again',
    );
    assert.deepEqual(order, ['checkpoint 2', 'exited'], 'the last checkpoint comes before the end');
    assert.equal(aSeen.length, 1, 'the closed driver reports nothing more');
  });
});

function readAllLogsSync(driver: SlurmDriver, id: string): string {
  try {
    return readFileSync(driver.logPath(id), 'utf8');
  } catch {
    return '';
  }
}
