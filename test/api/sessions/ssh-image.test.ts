/**
 * An `ssh` session in a container image end to end, with real processes: the server on the `local`
 * driver, podman, an image holding OpenSSH's server (built offline from this machine's Debian files by
 * test/helpers/podman.ts), and the real ssh client through `gigafab session tunnel ID`. sshd runs in the
 * image as its user (root here), on the container's port published on the host's loopback only, with
 * the keys of the owner's profile; the login starts in the session's state dataset.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureSshdImage, IMAGE_MARKER, sshdImageBuildable } from '../../helpers/podman.js';
import { api, waitFor } from '../../helpers/server.js';
import { type SessionWorld, startSessionWorld } from './fixture.js';
import { sshThroughTunnel } from './ssh-client.js';

const skip =
  !sshdImageBuildable() &&
  'podman, busybox-static or openssh-server missing: run scripts/ensure-podman.sh and scripts/ensure-openssh-server.sh (as root)';

let w: SessionWorld;
let image = '';
const root = mkdtempSync(join(tmpdir(), 'gigafab-ssh-image-'));
const datasetRoot = join(root, 'datasets');
const home = join(root, 'home');
let dataset = '';

/** The real ssh client through the tunnel, as `login`. */
const ssh = (id: string, key: string, login: string, remote: string) =>
  sshThroughTunnel({ id, key, login, remote, token: w.member, url: w.server.url, home });

before(async () => {
  if (skip) return;
  image = ensureSshdImage();
  mkdirSync(datasetRoot);
  mkdirSync(home);
  w = await startSessionWorld('gigafab-ssh-image-', { datasetRoot });
  const me = api(w.server.url, w.member);
  const r = await me('POST', '/v1/projects/lab-ml/datasets', {
    name: 'home',
    classification: 'internal',
    homeSite: 'lab1',
    sizeBytes: 1,
    checksum: `sha256:${'d'.repeat(64)}`,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  dataset = r.body.id;
});

after(async () => {
  await w?.server.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('an ssh session in a container image', { skip }, () => {
  test('sshd runs in the image: the owner’s key logs in as the image’s user, in the state dataset; other keys are refused', async () => {
    const key = join(home, 'id_ada');
    const other = join(home, 'id_other');
    for (const k of [key, other]) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ada@laptop', '-f', k]);
    const me = api(w.server.url, w.member);
    assert.equal((await me('POST', '/v1/ssh-keys', { publicKey: readFileSync(`${key}.pub`, 'utf8') })).status, 201);
    const r = await me('POST', '/v1/jobs', {
      name: 'shell-in-image',
      project: 'lab-ml',
      gpuType: 'L4',
      kind: 'session',
      image,
      session: { preset: 'ssh', stateDataset: dataset },
      maxRuntimeSeconds: 900,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    await waitFor(
      async () =>
        (await me('GET', '/v1/sessions')).body.items.find((s: { jobId: string; ready: boolean }) => s.jobId === id && s.ready),
      'the session to report its endpoint',
      60_000,
    );
    const res = await waitFor(
      async () => {
        const x = await ssh(
          id,
          key,
          'root',
          'cat /etc/gigafab-image; id -un; pwd; echo "home=$HOME"; echo "$GIGAFAB_JOB_ID"; echo kept > in-image.txt',
        );
        return x.code === 0 ? x : null;
      },
      'an ssh login into the image',
      45_000,
    );
    assert.deepEqual(res.out.trim().split('\n'), [IMAGE_MARKER, 'root', `/datasets/${dataset}`, `home=/datasets/${dataset}`, id]);
    // Written in the container, kept in the dataset on the host.
    assert.equal(readFileSync(join(datasetRoot, dataset, 'in-image.txt'), 'utf8'), 'kept\n');
    const refused = await ssh(id, other, 'root', 'true');
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /Permission denied \(publickey\)/);
    // Published on the host's loopback only (the proxy's tunnel is the one way in).
    const ports = execFileSync('podman', ['port', `gigafab-${id}-a1`], { encoding: 'utf8' })
      .trim()
      .split('\n');
    assert.ok(ports.length > 0 && ports.every((p) => / -> 127\.0\.0\.1:\d+$/.test(p)), ports.join('; '));
    assert.equal((await me('POST', `/v1/jobs/${id}/cancel`)).status, 202);
    await waitFor(async () => ((await me('GET', `/v1/jobs/${id}`)).body.state === 'cancelled' ? true : null), 'the stop');
  });
});
