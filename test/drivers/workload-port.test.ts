/**
 * Sessions and services on the local driver get a loopback port (workload-port.ts): a host process
 * serves HTTP on $GIGAFAB_PORT and the `started` observation names where; a batch job gets no port;
 * an image's port is published on 127.0.0.1 only (podman, real containers).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LocalDriver } from '../../src/drivers/local-driver.js';
import { ensureTestImage, podmanAvailable } from '../helpers/podman.js';
import { driverJob, Recorder, readAllLogs, uniqueId } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gigafab-workload-port-'));
const driver = new LocalDriver({ baseDir: join(root, 'jobs'), gpus: [], pollIntervalMs: 100, timeoutGraceSeconds: 1 });
const rec = new Recorder(driver);
const box = [{ node: 'box', gpus: [] }];

after(async () => {
  await driver.close();
  rmSync(root, { recursive: true, force: true });
});

/** fetchEventually: GET url, retrying while the server is still starting (connection refused). */
async function fetchEventually(url: string, timeoutMs = 20_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** canConnect: whether a TCP connection to host:port is accepted within a second. */
function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/** A non-loopback IPv4 address of this machine, if it has one. */
const externalAddress = () =>
  Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe('local driver: the port of a session or service', () => {
  test('a host session serves on $GIGAFAB_PORT (= $PORT) at the endpoint its started observation names', async () => {
    const id = uniqueId('sess');
    const serve = 'echo "port=$GIGAFAB_PORT/$PORT"; exec python3 -m http.server "$GIGAFAB_PORT" --bind 127.0.0.1';
    await driver.start(driverJob(id, ['/bin/sh', '-c', serve], box, { kind: 'session', session: { preset: 'http' } }));
    const started = await rec.started(id);
    assert.ok(started.endpoint, 'the started observation carries the endpoint');
    assert.equal(started.endpoint.host, '127.0.0.1');
    assert.match(started.message, new RegExp(`serving on 127.0.0.1:${started.endpoint.port}`));
    const res = await fetchEventually(`http://127.0.0.1:${started.endpoint.port}/`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.match(await readAllLogs(driver, id), new RegExp(`port=${started.endpoint.port}/${started.endpoint.port}`));
    await driver.stop(id, 1);
    await rec.exited(id);
  });

  test('two sessions get different ports; a batch job gets none (no endpoint, no GIGAFAB_PORT)', async () => {
    const [a, b, batch] = [uniqueId('sa'), uniqueId('sb'), uniqueId('batch')];
    const sleep = ['/bin/sh', '-c', 'sleep 30'];
    await driver.start(driverJob(a, sleep, box, { kind: 'session', session: { preset: 'http' } }));
    await driver.start(driverJob(b, sleep, box, { kind: 'session', session: { preset: 'http' } }));
    await driver.start(driverJob(batch, ['/bin/sh', '-c', 'env | grep -c "^GIGAFAB_PORT=\\|^PORT=" || true'], box));
    const [sa, sb, sbatch] = [await rec.started(a), await rec.started(b), await rec.started(batch)];
    assert.ok(sa.endpoint && sb.endpoint);
    assert.notEqual(sa.endpoint.port, sb.endpoint.port);
    assert.equal(sbatch.endpoint, undefined);
    await rec.exited(batch);
    assert.equal((await readAllLogs(driver, batch)).trim(), '0');
    await driver.stop(a, 1);
    await driver.stop(b, 1);
    await rec.exited(a);
    await rec.exited(b);
  });

  test('an image session: its port is published on 127.0.0.1 only', {
    skip: !podmanAvailable() && 'podman missing (scripts/ensure-podman.sh)',
  }, async () => {
    const image = ensureTestImage();
    const id = uniqueId('isess');
    const serve =
      'mkdir -p /tmp/www && echo hello-from-the-image > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www';
    await driver.start(
      driverJob(id, ['/bin/sh', '-c', serve], box, { image, kind: 'session', session: { preset: 'http', port: 8080 } }),
    );
    const started = await rec.started(id);
    assert.ok(started.endpoint);
    const res = await fetchEventually(`http://127.0.0.1:${started.endpoint.port}/index.html`, 60_000);
    assert.equal((await res.text()).trim(), 'hello-from-the-image');
    const ext = externalAddress();
    if (ext) assert.equal(await canConnect(ext, started.endpoint.port), false, `not reachable on ${ext}`);
    await driver.stop(id, 1);
    await rec.exited(id);
  });
});
