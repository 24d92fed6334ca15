/**
 * A stand-in control plane for the restart tests (not a test file): it starts one job with a
 * LocalDriver, prints `started <pid>`, and then waits to be killed — as a crashed control plane would.
 *   node dist/test/drivers/local-child.js '<json {baseDir, job, gpus?}>'
 */
import type { DriverJob } from '../../src/drivers/driver.js';
import { LocalDriver } from '../../src/drivers/local-driver.js';

interface Args {
  baseDir: string;
  job: DriverJob;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const driver = new LocalDriver({ baseDir: args.baseDir, gpus: [] });
driver.onObservation((o) => {
  if (o.type === 'started') process.stdout.write(`started ${o.message}\n`);
});
driver.start(args.job).then(
  () => setInterval(() => {}, 1 << 30),
  (err: unknown) => {
    process.stderr.write(`start failed: ${String(err)}\n`);
    process.exit(2);
  },
);
