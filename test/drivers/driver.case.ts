/**
 * Conformance suite every real ExecutionDriver passes (run by local.test.ts and slurm.test.ts; not a
 * test file itself): start → started → exited with the exit code, output in logs(), stop →
 * cancelled, wall-clock limit → timed-out, checkpoint-file lines → checkpoint observations (drivers
 * with onCheckpoint), stop of an unknown job is harmless.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CheckpointObservation, ExecutionDriver } from '../../src/drivers/driver.js';
import type { NodeAllocation } from '../../src/model/job.js';
import { driverJob, Recorder, readAllLogs, uniqueId } from './fixtures.js';

export interface ConformanceHarness {
  name: string;
  /** Called once, after the surrounding suite's own set-up. */
  makeDriver(): Promise<ExecutionDriver>;
  /** A placement with one GPU on one node. */
  placement(): NodeAllocation[];
  /** How long a job may take to be seen starting and ending (Slurm schedules about once a second). */
  waitMs: number;
  /** A reason to skip the whole suite, printed. */
  skip?: () => string | false;
}

export function runDriverConformance(h: ConformanceHarness): void {
  describe(`${h.name}: driver conformance`, () => {
    let driver: ExecutionDriver;
    let rec: Recorder;
    let skipped: string | false = false;

    before(async () => {
      skipped = h.skip?.() ?? false;
      if (skipped) return;
      driver = await h.makeDriver();
      rec = new Recorder(driver);
    });
    after(async () => {
      if (!skipped) await driver.close();
    });

    test('start → started → exited completed with the exit code; output reaches logs()', async (t) => {
      if (skipped) return t.skip(skipped);
      const ok = uniqueId('conf-ok');
      const bad = uniqueId('conf-bad');
      await driver.start(driverJob(ok, ['sh', '-c', 'echo hello from $GIGAFAB_JOB_ID; echo to-stderr >&2'], h.placement()));
      await driver.start(driverJob(bad, ['sh', '-c', 'echo failing; exit 3'], h.placement()));
      const e1 = await rec.exited(ok, h.waitMs);
      const e2 = await rec.exited(bad, h.waitMs);
      for (const id of [ok, bad]) {
        const types = rec.of(id).map((o) => o.type);
        assert.deepEqual(types, ['started', 'exited'], `${id}: one started, then one exited`);
      }
      assert.equal(e1.outcome, 'completed');
      assert.equal(e1.exitCode, 0);
      assert.equal(e2.outcome, 'completed');
      assert.equal(e2.exitCode, 3);
      const out = await readAllLogs(driver, ok);
      assert.match(out, new RegExp(`hello from ${ok}`));
      assert.match(out, /to-stderr/);
      const chunk = await driver.logs?.(ok, 0, 1 << 20);
      assert.equal(chunk?.eof, true, 'a finished job’s log ends');
    });

    test('stop → cancelled', async (t) => {
      if (skipped) return t.skip(skipped);
      const id = uniqueId('conf-stop');
      await driver.start(driverJob(id, ['sleep', '300'], h.placement()));
      await rec.started(id, h.waitMs);
      const t0 = Date.now();
      await driver.stop(id, 5);
      const e = await rec.exited(id, h.waitMs);
      assert.equal(e.outcome, 'cancelled');
      assert.ok(Date.now() - t0 < 5000 + h.waitMs, 'a job that dies on SIGTERM ends well within the grace');
    });

    test('wall-clock limit → timed-out', async (t) => {
      if (skipped) return t.skip(skipped);
      const id = uniqueId('conf-limit');
      await driver.start(driverJob(id, ['sleep', '300'], h.placement(), { maxRuntimeSeconds: 2 }));
      const s = await rec.started(id, h.waitMs);
      const e = await rec.exited(id, h.waitMs + 5000);
      assert.equal(e.outcome, 'timed-out');
      assert.ok(e.at - s.at >= 1500, `ran about its limit (${e.at - s.at} ms)`);
    });

    test('checkpoint file: each complete line the job appends is one checkpoint, the last before exited', async (t) => {
      if (skipped) return t.skip(skipped);
      if (!driver.onCheckpoint) return t.skip(`${h.name} has no checkpoint file`);
      const id = uniqueId('conf-ckpt');
      const seen: CheckpointObservation[] = [];
      const order: string[] = [];
      driver.onCheckpoint((o) => {
        if (o.jobId !== id) return;
        seen.push(o);
        order.push('checkpoint');
      });
      driver.onObservation((o) => {
        if (o.jobId === id) order.push(o.type);
      });
      const script = [
        'echo "step=1200 label=epoch-3" >> "$GIGAFAB_CHECKPOINT_FILE"',
        'echo "no checkpoint here" >> "$GIGAFAB_CHECKPOINT_FILE"',
        'printf "step=13" >> "$GIGAFAB_CHECKPOINT_FILE"; sleep 0.5; printf "00\\n" >> "$GIGAFAB_CHECKPOINT_FILE"',
        // Written right before the exit: the read at the end must still report it.
        'echo "label=s3://ckpt/final" >> "$GIGAFAB_CHECKPOINT_FILE"',
      ].join('; ');
      await driver.start(driverJob(id, ['sh', '-c', script], h.placement()));
      await rec.exited(id, h.waitMs);
      assert.deepEqual(
        seen.map((c) => [c.step, c.label]),
        [
          [1200, 'epoch-3'],
          [1300, undefined],
          [undefined, 's3://ckpt/final'],
        ],
      );
      assert.deepEqual(order, ['started', 'checkpoint', 'checkpoint', 'checkpoint', 'exited']);
    });

    test('stop of a job the driver does not run is harmless', async (t) => {
      if (skipped) return t.skip(skipped);
      await driver.stop(uniqueId('conf-nothing'), 1);
    });
  });
}
