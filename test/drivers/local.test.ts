/**
 * LocalDriver with real child processes: GPU discovery through a fake nvidia-smi, environment
 * isolation, logs, exit codes, wall-clock limit, stop with grace, and restart reconciliation (with a
 * separate control-plane process that is SIGKILLed).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { procStat } from '../../src/drivers/common.js';
import type { CheckpointObservation, DriverJob } from '../../src/drivers/driver.js';
import { discoverGpus, LocalDriver, type LocalDriverOptions } from '../../src/drivers/local-driver.js';
import { runDriverConformance } from './driver.case.js';
import { driverJob, eventually, fakeGpus, Recorder, readAllLogs, uniqueId, writeFakeNvidiaSmi } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gigafab-local-driver-'));
const fakeBin = join(root, 'bin');
writeFakeNvidiaSmi(fakeBin, 'gpus', fakeGpus(4));
const withFakeSmi = { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` };
/** PATH without any nvidia-smi: only system directories. */
const withoutSmi = { ...process.env, PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
const drivers: LocalDriver[] = [];

function newDriver(over: Partial<LocalDriverOptions> = {}): { driver: LocalDriver; rec: Recorder } {
  const driver = new LocalDriver({ baseDir: join(root, 'jobs'), discoveryEnv: withFakeSmi, pollIntervalMs: 100, ...over });
  drivers.push(driver);
  return { driver, rec: new Recorder(driver) };
}

const box = (gpus: number[] = [0]) => [{ node: 'box', gpus }];

after(async () => {
  for (const d of drivers) await d.close();
  rmSync(root, { recursive: true, force: true });
});

runDriverConformance({
  name: 'local',
  makeDriver: async () => newDriver({ timeoutGraceSeconds: 1 }).driver,
  placement: () => box([0]),
  waitMs: 10_000,
});

describe('GPU discovery (nvidia-smi on PATH)', () => {
  test('lists the GPUs of a (fake) nvidia-smi', async () => {
    const d = await discoverGpus({ env: withFakeSmi });
    assert.equal(d.kind, 'gpus');
    if (d.kind !== 'gpus') return;
    assert.equal(d.gpus.length, 4);
    assert.deepEqual(
      d.gpus.map((g) => g.index),
      [0, 1, 2, 3],
    );
    assert.equal(d.gpus[2].name, 'NVIDIA H100 80GB HBM3');
    assert.equal(d.gpus[2].memoryMiB, 81559);
    assert.match(d.gpus[2].uuid, /^GPU-/);
    assert.equal(d.gpus[0].driverVersion, '570.133.20');
  });

  test('without nvidia-smi: a clear CPU-only result', async () => {
    const d = await discoverGpus({ env: withoutSmi });
    assert.equal(d.kind, 'cpu-only');
    if (d.kind === 'cpu-only') assert.match(d.reason, /no NVIDIA GPUs found: CPU-only node/);
  });

  test('"No devices were found" is CPU-only; a failing nvidia-smi is an error', async () => {
    const none = join(root, 'bin-none');
    const broken = join(root, 'bin-broken');
    writeFakeNvidiaSmi(none, 'none');
    writeFakeNvidiaSmi(broken, 'broken');
    const d1 = await discoverGpus({ env: { ...process.env, PATH: `${none}:${withoutSmi.PATH}` } });
    assert.equal(d1.kind, 'cpu-only');
    const d2 = await discoverGpus({ env: { ...process.env, PATH: `${broken}:${withoutSmi.PATH}` } });
    assert.equal(d2.kind, 'error');
    if (d2.kind === 'error') assert.match(d2.reason, /couldn't communicate with the NVIDIA driver/);
  });

  test('a driver on a CPU-only node refuses GPU jobs but runs CPU jobs', async () => {
    const { driver, rec } = newDriver({ discoveryEnv: withoutSmi });
    const gpuJob = uniqueId('cpu-only-gpu');
    await assert.rejects(driver.start(driverJob(gpuJob, ['true'], box([0]))), /CPU-only node/);
    const cpuJob = uniqueId('cpu-only-cpu');
    await driver.start(driverJob(cpuJob, ['sh', '-c', 'echo "cvd=[$CUDA_VISIBLE_DEVICES]"'], box([])));
    assert.equal((await rec.exited(cpuJob)).exitCode, 0);
    assert.match(await readAllLogs(driver, cpuJob), /cvd=\[\]/);
  });

  test('a GPU index the node does not have is refused', async () => {
    const { driver } = newDriver();
    await assert.rejects(driver.start(driverJob(uniqueId('no-gpu-7'), ['true'], box([7]))), /GPU 7 does not exist/);
  });
});

describe('local driver: environment, logs, exit codes', () => {
  test('the job sees its env, secrets and exactly its GPUs — not the parent’s environment', async () => {
    process.env.GIGAFAB_PARENT_SECRET = 'parent-secret-value';
    try {
      const { driver, rec } = newDriver();
      const id = uniqueId('env');
      const job = driverJob(
        id,
        ['sh', '-c', 'env | sort; echo "pwd=$(pwd)"'],
        box([1, 3]),
        { env: { FOO: 'bar', CUDA_VISIBLE_DEVICES: '0,1,2,3' } },
        { API_TOKEN: 's3cret-token-value' },
      );
      await driver.start(job);
      const e = await rec.exited(id);
      assert.equal(e.exitCode, 0);
      const out = await readAllLogs(driver, id);
      assert.match(out, /^FOO=bar$/m);
      assert.match(out, /^API_TOKEN=s3cret-token-value$/m);
      assert.match(out, /^CUDA_VISIBLE_DEVICES=1,3$/m, 'exactly the placed GPUs; the job cannot widen them');
      assert.match(out, /^CUDA_DEVICE_ORDER=PCI_BUS_ID$/m);
      assert.match(out, new RegExp(`^GIGAFAB_JOB_ID=${id}$`, 'm'));
      assert.match(out, new RegExp(`^pwd=${driver.workDir(id)}$`, 'm'));
      assert.doesNotMatch(out, /parent-secret-value/);
      assert.doesNotMatch(out, /GIGAFAB_PARENT_SECRET/);
      // The secret is in no file of ours and in no observation.
      for (const f of ['state.json', 'result.json']) {
        assert.doesNotMatch(readFileSync(join(driver.workDir(id), f), 'utf8'), /s3cret/);
      }
      assert.doesNotMatch(JSON.stringify(rec.all), /s3cret/);
    } finally {
      delete process.env.GIGAFAB_PARENT_SECRET;
    }
  });

  test('CUDA_VISIBLE_DEVICES by UUID', async () => {
    const { driver, rec } = newDriver({ cudaDevices: 'uuid' });
    const id = uniqueId('uuid');
    await driver.start(driverJob(id, ['sh', '-c', 'echo "cvd=$CUDA_VISIBLE_DEVICES"'], box([2])));
    await rec.exited(id);
    assert.match(await readAllLogs(driver, id), new RegExp(`cvd=${fakeGpus(4)[2].uuid}$`, 'm'));
  });

  test('logs can be followed from an offset while the job runs', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('follow');
    await driver.start(driverJob(id, ['sh', '-c', 'echo one; sleep 0.5; echo two >&2; sleep 0.5; echo three'], box()));
    const decoder = new TextDecoder();
    let offset = 0;
    let text = '';
    let sawPartial = false;
    for (let i = 0; i < 100; i++) {
      const c = await driver.logs(id, offset, 1 << 16);
      assert.ok(c);
      text += decoder.decode(c.data, { stream: true });
      offset = c.nextOffset;
      if (!c.eof && text.includes('one') && !text.includes('three')) sawPartial = true;
      if (c.eof) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(text, 'one\ntwo\nthree\n');
    assert.ok(sawPartial, 'output was readable before the job ended');
    assert.equal((await rec.exited(id)).exitCode, 0);
    assert.equal(driver.logPath(id), join(driver.workDir(id), 'output.log'));
    assert.equal(await driver.logs(uniqueId('never'), 0), null);
  });

  test('exit codes: 0, 42, command not found (127), killed by a signal (128+N)', async () => {
    const { driver, rec } = newDriver();
    const cases: [string[], number][] = [
      [['true'], 0],
      [['sh', '-c', 'exit 42'], 42],
      [['/nonexistent/gigafab-no-such-command'], 127],
      [['sh', '-c', 'kill -USR1 $$'], 128 + 10],
    ];
    const ids = cases.map(() => uniqueId('exit'));
    await Promise.all(cases.map(([cmd], i) => driver.start(driverJob(ids[i], cmd, box()))));
    for (const [i, [, code]] of cases.entries()) {
      const e = await rec.exited(ids[i]);
      assert.equal(e.outcome, 'completed');
      assert.equal(e.exitCode, code, `${cases[i][0].join(' ')}`);
    }
  });

  test('a job without a command, a multi-node placement and a second start are refused', async () => {
    const { driver } = newDriver();
    const noCmd = driverJob(uniqueId('nocmd'), [], box());
    noCmd.spec.command = undefined;
    await assert.rejects(driver.start(noCmd), /has no command/);
    // An image where no container runtime is configured is refused, never run on the host (containers.test.ts runs them).
    const imageOnly = { ...noCmd, id: uniqueId('image'), spec: { ...noCmd.spec, image: 'nvcr.io/nvidia/pytorch:25.01-py3' } };
    await assert.rejects(newDriver({ images: false }).driver.start(imageOnly), /no container runtime/);
    await assert.rejects(
      driver.start(
        driverJob(
          uniqueId('gang'),
          ['true'],
          [
            { node: 'a', gpus: [0] },
            { node: 'b', gpus: [0] },
          ],
        ),
      ),
      /single-node/,
    );
    const other = newDriver({ node: 'box-1' }).driver;
    await assert.rejects(other.start(driverJob(uniqueId('other-node'), ['true'], box())), /this local driver runs node box-1/);
    const id = uniqueId('twice');
    await driver.start(driverJob(id, ['sleep', '5'], box()));
    await assert.rejects(driver.start(driverJob(id, ['sleep', '5'], box())), /already running/);
    await driver.stop(id, 0);
  });
});

describe('local driver: wall-clock limit and stop', () => {
  test('a job over its limit gets SIGTERM, then SIGKILL after the grace → timed-out', async () => {
    const { driver, rec } = newDriver({ timeoutGraceSeconds: 1 });
    const polite = uniqueId('limit-polite');
    const stubborn = uniqueId('limit-stubborn');
    await driver.start(driverJob(polite, ['sleep', '60'], box(), { maxRuntimeSeconds: 1 }));
    await driver.start(
      driverJob(stubborn, ['sh', '-c', "trap '' TERM; while :; do sleep 0.1; done"], box(), { maxRuntimeSeconds: 1 }),
    );
    const e1 = await rec.exited(polite, 5000);
    const e2 = await rec.exited(stubborn, 6000);
    const s1 = await rec.started(polite);
    const s2 = await rec.started(stubborn);
    assert.equal(e1.outcome, 'timed-out');
    assert.equal(e1.exitCode, 143, 'sleep died of SIGTERM');
    assert.ok(e1.at - s1.at >= 900 && e1.at - s1.at < 1900, `polite: ${e1.at - s1.at} ms`);
    assert.equal(e2.outcome, 'timed-out');
    assert.equal(e2.exitCode, 137, 'SIGKILLed after the grace');
    assert.ok(e2.at - s2.at >= 1900 && e2.at - s2.at < 4000, `stubborn: ${e2.at - s2.at} ms`);
    assert.match(e2.message, /wall-clock limit of 1s/);
  });

  test('stop: a job that traps SIGTERM writes its checkpoint and exits → cancelled with its code', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('ckpt');
    const script =
      "trap 'echo checkpointing; sleep 0.3; echo step-1200 > checkpoint; exit 0' TERM; echo ready; while :; do sleep 0.1; done";
    await driver.start(driverJob(id, ['sh', '-c', script], box()));
    await rec.started(id);
    await eventually(() => readFileSync(driver.logPath(id), 'utf8').includes('ready'), 5000, 'job ready');
    const t0 = Date.now();
    await driver.stop(id, 10);
    const took = Date.now() - t0;
    const e = await rec.exited(id);
    assert.equal(e.outcome, 'cancelled');
    assert.equal(e.exitCode, 0);
    assert.ok(took < 3000, `stop returned when the job ended, not after the grace (${took} ms)`);
    assert.equal(readFileSync(join(driver.workDir(id), 'checkpoint'), 'utf8'), 'step-1200\n');
    assert.match(await readAllLogs(driver, id), /checkpointing/);
  });

  test('stop: a job that ignores SIGTERM is SIGKILLed after the grace, children included', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('stubborn');
    // A child in the background that also ignores SIGTERM: the whole process group must go.
    const script = "trap '' TERM; (trap '' TERM; while :; do sleep 0.1; done) & echo child=$!; while :; do sleep 0.1; done";
    await driver.start(driverJob(id, ['sh', '-c', script], box()));
    await rec.started(id);
    await eventually(() => /child=\d+/.test(readFileSync(driver.logPath(id), 'utf8')), 5000, 'child pid');
    const childPid = Number(/child=(\d+)/.exec(readFileSync(driver.logPath(id), 'utf8'))?.[1]);
    const t0 = Date.now();
    await driver.stop(id, 1);
    const took = Date.now() - t0;
    const e = await rec.exited(id);
    assert.equal(e.outcome, 'cancelled');
    assert.equal(e.exitCode, 137);
    assert.ok(took >= 950 && took < 3000, `killed after the 1 s grace (${took} ms)`);
    await eventually(() => procStat(childPid) === null || procStat(childPid)?.state === 'Z', 2000, 'background child gone');
  });
});

// ---------------------------------------------------------------- restart

const childScript = join(fileURLToPath(new URL('.', import.meta.url)), 'local-child.js');

/** Starts a job from a separate "control plane" process, then SIGKILLs that process. */
async function startInDoomedControlPlane(baseDir: string, job: DriverJob): Promise<void> {
  const cp: ChildProcess = spawn(process.execPath, [childScript, JSON.stringify({ baseDir, job })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  cp.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  cp.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  await eventually(() => out.includes('started') || cp.exitCode !== null, 10_000, 'the job to start in the child control plane');
  assert.ok(out.includes('started'), `child control plane failed: ${err}`);
  const exited = new Promise((r) => cp.once('exit', r));
  cp.kill('SIGKILL');
  await exited;
}

describe('local driver: control-plane restart', () => {
  const base = join(root, 'restart');

  test('a job still running is found again and its exit is seen', async () => {
    const id = uniqueId('re-running');
    const job = driverJob(id, ['sh', '-c', 'sleep 1.5; echo done; exit 4'], box([]));
    await startInDoomedControlPlane(base, job);
    const { driver, rec } = newDriver({ baseDir: base });
    await driver.reattach([job]);
    assert.ok(driver.isRunning(id), 'reattached while running');
    const e = await rec.exited(id, 10_000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 4);
    assert.deepEqual(
      rec.of(id).map((o) => o.type),
      ['exited'],
    );
    assert.match(await readAllLogs(driver, id), /done/);
  });

  test('a job that ended while the control plane was down reports its recorded exit code', async () => {
    const id = uniqueId('re-ended');
    const job = driverJob(id, ['sh', '-c', 'exit 5'], box([]));
    await startInDoomedControlPlane(base, job);
    const { driver, rec } = newDriver({ baseDir: base });
    await eventually(() => existsSync(join(driver.workDir(id), 'exit_code')), 5000, 'exit_code file');
    await driver.reattach([job]);
    const e = await rec.exited(id, 1000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 5);
  });

  test('a job whose process vanished without an exit code, and one never started, are lost', async () => {
    const id = uniqueId('re-vanished');
    const job = driverJob(id, ['sleep', '60'], box([]));
    await startInDoomedControlPlane(base, job);
    const { driver, rec } = newDriver({ baseDir: base });
    const state = JSON.parse(readFileSync(join(driver.workDir(id), 'state.json'), 'utf8')) as { pgid: number };
    process.kill(-state.pgid, 'SIGKILL'); // killed from outside: no exit code is written
    await eventually(() => procStat(state.pgid) === null || procStat(state.pgid)?.state === 'Z', 5000, 'job gone');
    const never = driverJob(uniqueId('re-never'), ['true'], box([]));
    await driver.reattach([job, never]);
    const e1 = await rec.exited(id, 1000);
    assert.equal(e1.outcome, 'lost');
    assert.match(e1.message, /without recording an exit code/);
    const e2 = await rec.exited(never.id, 1000);
    assert.equal(e2.outcome, 'lost');
    assert.match(e2.message, /no trace/);
    assert.deepEqual(driver.lastReconcile?.lost, [never.id]);
  });

  test('the wall-clock limit still holds after a restart', async () => {
    const id = uniqueId('re-limit');
    const job = driverJob(id, ['sleep', '60'], box([]), { maxRuntimeSeconds: 2 });
    await startInDoomedControlPlane(base, job);
    const { driver, rec } = newDriver({ baseDir: base, timeoutGraceSeconds: 1 });
    await driver.reattach([job]);
    const e = await rec.exited(id, 6000);
    assert.equal(e.outcome, 'timed-out');
  });

  test('an orphan (running, unknown to the control plane) is stopped and reported; report-only mode leaves it', async () => {
    const id = uniqueId('re-orphan');
    const job = driverJob(id, ['sleep', '60'], box([]));
    await startInDoomedControlPlane(base, job);
    const state = JSON.parse(readFileSync(join(base, id, 'attempt-1', 'state.json'), 'utf8')) as { pid: number };

    const reporter = newDriver({ baseDir: base, orphans: 'report' }).driver;
    await reporter.reattach([]);
    assert.deepEqual(
      reporter.lastReconcile?.orphans.filter((o) => o.jobId === id),
      [{ jobId: id, attempt: 1, pid: state.pid, action: 'reported' }],
    );
    assert.ok(procStat(state.pid) && procStat(state.pid)?.state !== 'Z', 'report-only leaves it running');

    const { driver, rec } = newDriver({ baseDir: base, timeoutGraceSeconds: 1 });
    await driver.reattach([]);
    assert.deepEqual(
      driver.lastReconcile?.orphans.filter((o) => o.jobId === id),
      [{ jobId: id, attempt: 1, pid: state.pid, action: 'stopped' }],
    );
    await eventually(() => existsSync(join(base, id, 'attempt-1', 'result.json')), 5000, 'orphan stopped');
    assert.equal(rec.of(id).length, 0, 'no observation for a job the control plane does not know');
    const result = JSON.parse(readFileSync(join(base, id, 'attempt-1', 'result.json'), 'utf8')) as { outcome: string };
    assert.equal(result.outcome, 'cancelled');
  });

  test('an in-process restart: close() leaves the job running; a new driver sees it end', async () => {
    const { driver: a } = newDriver({ baseDir: base });
    const id = uniqueId('re-inproc');
    const job = driverJob(id, ['sh', '-c', 'sleep 1; exit 9'], box([]));
    await a.start(job);
    await a.close();
    const { driver: b, rec } = newDriver({ baseDir: base });
    await b.reattach([job]);
    const e = await rec.exited(id, 5000);
    assert.equal(e.exitCode, 9);
  });
});

describe('local driver: attempts (a requeued job is started again)', () => {
  const base = join(root, 'attempts');

  test('attempt 2 starts in a directory of its own; each attempt keeps its log; the same attempt twice is refused', async () => {
    const { driver, rec } = newDriver({ baseDir: base });
    const id = uniqueId('again');
    await driver.start({ ...driverJob(id, ['sh', '-c', 'echo "first in $GIGAFAB_WORKDIR"'], box([])), attempt: 1 });
    assert.equal((await rec.exited(id)).exitCode, 0);
    const second = { ...driverJob(id, ['sh', '-c', 'echo "second in $GIGAFAB_WORKDIR"; exit 2'], box([])), attempt: 2 };
    await driver.start(second);
    await eventually(() => rec.of(id).filter((o) => o.type === 'exited').length === 2, 10_000, 'second exit');
    const ends = rec.of(id).filter((o) => o.type === 'exited');
    assert.deepEqual(
      ends.map((o) => (o.type === 'exited' ? o.exitCode : null)),
      [0, 2],
    );
    assert.deepEqual(driver.attempts(id), [1, 2]);
    assert.equal(driver.workDir(id), join(base, id, 'attempt-2'));
    assert.equal(await readAllLogs(driver, id), `second in ${join(base, id, 'attempt-2')}\n`);
    const first = await driver.logs(id, 0, 4096, 1);
    assert.equal(Buffer.from(first?.data ?? []).toString(), `first in ${join(base, id, 'attempt-1')}\n`);
    assert.equal(first?.eof, true);
    assert.equal(await driver.logs(id, 0, 4096, 3), null, 'no such attempt: no log');
    await assert.rejects(driver.start(second), /attempt 2 of job .* was already started here/);
  });

  test('restart: the current attempt is reattached; an earlier attempt still running is an orphan and stopped', async () => {
    const id = uniqueId('re-attempt');
    const one = { ...driverJob(id, ['sleep', '60'], box([])), attempt: 1 };
    const two = { ...driverJob(id, ['sleep', '60'], box([])), attempt: 2 };
    await startInDoomedControlPlane(base, one);
    await startInDoomedControlPlane(base, two);
    const pid1 = (JSON.parse(readFileSync(join(base, id, 'attempt-1', 'state.json'), 'utf8')) as { pid: number }).pid;
    const { driver, rec } = newDriver({ baseDir: base, timeoutGraceSeconds: 1 });
    await driver.reattach([two]);
    assert.ok(driver.isRunning(id), 'attempt 2 followed again');
    assert.deepEqual(driver.lastReconcile, { lost: [], orphans: [{ jobId: id, attempt: 1, pid: pid1, action: 'stopped' }] });
    await eventually(() => existsSync(join(base, id, 'attempt-1', 'result.json')), 5000, 'attempt 1 stopped');
    assert.ok(driver.isRunning(id), 'stopping attempt 1 leaves attempt 2 running');
    assert.equal(rec.of(id).length, 0, 'the orphaned attempt reports nothing');
    await driver.stop(id, 1);
    const e = await rec.exited(id, 5000);
    assert.equal(e.outcome, 'cancelled');
  });

  test('a run kept in the job directory itself (before attempts had directories) is read as attempt 1', async () => {
    const { driver, rec } = newDriver({ baseDir: base });
    const id = uniqueId('legacy');
    const dir = join(base, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'output.log'), 'old layout\n');
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ version: 1, jobId: id, pid: 1, pgid: 1 }));
    writeFileSync(join(dir, 'result.json'), JSON.stringify({ outcome: 'completed', exitCode: 0, at: 1, message: 'done' }));
    assert.deepEqual(driver.attempts(id), [1]);
    assert.equal(await readAllLogs(driver, id), 'old layout\n');
    await driver.reattach([driverJob(id, ['true'], box([]))]);
    const e = await rec.exited(id, 1000);
    assert.equal(e.message, 'done');
  });
});

describe('local driver: checkpoint file', () => {
  const record = (driver: LocalDriver) => {
    const seen: CheckpointObservation[] = [];
    const order: string[] = [];
    driver.onCheckpoint((o) => {
      seen.push(o);
      order.push(`checkpoint ${o.step ?? ''}`);
    });
    driver.onObservation((o) => order.push(o.type));
    return { seen, order };
  };

  test('each complete line the job writes is one checkpoint, reported before the job ends', async () => {
    const { driver, rec } = newDriver({ checkpointPollMs: 50 });
    const { seen, order } = record(driver);
    const id = uniqueId('ckpt');
    const script = [
      'echo "step=1200 label=epoch-3" >> "$GIGAFAB_CHECKPOINT_FILE"',
      'echo "no checkpoint here" >> "$GIGAFAB_CHECKPOINT_FILE"',
      'printf "step=13" >> "$GIGAFAB_CHECKPOINT_FILE"; sleep 0.3; printf "00\\n" >> "$GIGAFAB_CHECKPOINT_FILE"',
      'echo "label=s3://ckpt/final" >> "$GIGAFAB_CHECKPOINT_FILE"',
    ].join('; ');
    await driver.start(driverJob(id, ['sh', '-c', script], box([])));
    await rec.exited(id);
    assert.deepEqual(
      seen.map((c) => [c.jobId, c.step, c.label]),
      [
        [id, 1200, 'epoch-3'],
        [id, 1300, undefined],
        [id, undefined, 's3://ckpt/final'],
      ],
    );
    assert.equal(order.at(-1), 'exited', 'the last checkpoint is reported while the job still runs');
  });

  test('after a control-plane restart only new lines are reported', async () => {
    const base = join(root, 'ckpt-restart');
    const first = newDriver({ baseDir: base, checkpointPollMs: 50 });
    const a = record(first.driver);
    const id = uniqueId('ckpt-re');
    const job = driverJob(
      id,
      ['sh', '-c', 'echo "step=1" >> "$GIGAFAB_CHECKPOINT_FILE"; sleep 1.5; echo "step=2" >> "$GIGAFAB_CHECKPOINT_FILE"'],
      box([]),
    );
    await first.driver.start(job);
    await eventually(() => a.seen.length === 1, 5000, 'first checkpoint');
    await first.driver.close();
    const second = newDriver({ baseDir: base, checkpointPollMs: 50 });
    const b = record(second.driver);
    await second.driver.reattach([job]);
    await second.rec.exited(id, 10_000);
    assert.deepEqual(
      b.seen.map((c) => c.step),
      [2],
    );
  });
});

describe('local driver: sealed output (a log key given)', () => {
  test('output is written only encrypted; any range reads back with the key; the exit code is the job’s', async () => {
    const { driver, rec } = newDriver();
    const id = uniqueId('sealed');
    const key = randomBytes(32);
    const marker = `sealed-marker-${randomBytes(6).toString('hex')}`;
    // ~6 KB over stdout and stderr, the marker assembled by the shell (not on the command line); then the job's env.
    const script = `i=0; while [ $i -lt 200 ]; do echo "line $i sealed-""marker-${marker.slice(14)}"; i=$((i+1)); done; echo err >&2; env; exit 7`;
    const job = { ...driverJob(id, ['sh', '-c', script], box([])), logKey: key };
    await driver.start(job);
    const e = await rec.exited(id, 10_000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 7, 'the sealer does not mask the exit status');
    const dir = driver.workDir(id);
    assert.equal(existsSync(join(dir, 'output.log')), false, 'no clear output file');
    // Every file the driver wrote (scratch/ is the job's own space, empty here).
    for (const f of readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()))
      assert.ok(!readFileSync(join(dir, f.name)).includes(marker), `marker in clear in ${f.name}`);

    // Without the key nothing is readable; with it, reads in odd-sized pieces (not block-aligned) give the whole output.
    assert.equal(await driver.logs(id, 0, 4096), null);
    let text = '';
    let offset = 0;
    let eof = false;
    const decoder = new TextDecoder();
    await eventually(() => existsSync(join(dir, 'output.log.sealed.done')), 5000, 'the sealer to finish');
    while (!eof) {
      const c = await driver.logs(id, offset, 37, undefined, key);
      assert.ok(c);
      assert.equal(c.offset, offset);
      text += decoder.decode(c.data, { stream: true });
      offset = c.nextOffset;
      eof = c.eof;
    }
    const lines = text.split('\n');
    assert.equal(lines.filter((l) => l.includes(marker)).length, 200);
    assert.ok(lines.includes('err'));
    assert.ok(!text.includes(key.toString('hex')) && !text.includes(key.toString('base64')), 'the key is not in the job env');
    // A read from the middle of a block decrypts exactly that range.
    const mid = await driver.logs(id, 1001, 50, undefined, key);
    assert.equal(Buffer.from(mid?.data ?? []).toString(), Buffer.from(text).subarray(1001, 1051).toString());
    // Another key does not open it.
    const wrong = await driver.logs(id, 0, 4096, undefined, randomBytes(32));
    assert.ok(!Buffer.from(wrong?.data ?? []).includes(marker));
  });
});
