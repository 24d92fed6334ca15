/**
 * Containers through the whole product on a `local` site: an image job runs in its image (podman), a
 * private registry (real docker-registry with htpasswd) pulls with the org's registry secret and fails
 * without it (image_pull_failed, the pull a visible event), and what a site cannot run — a registry
 * outside its allow-list — is refused at submission with 422 and the reason. The site's GPUs are stand-ins
 * (a fake nvidia-smi), so GPUs reach containers as variables only (gpuPassthrough: none).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addLabTenant, startLocalSiteServer } from '../helpers/local-site.js';
import { ensureTestImage, IMAGE_MARKER } from '../helpers/podman.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { api, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let registry: TestRegistry;
let user: ReturnType<typeof api>;
let admin: ReturnType<typeof api>;
let token: string;
let image = '';
let privateImage = '';

before(async () => {
  image = ensureTestImage();
  registry = await startRegistry();
  privateImage = registry.pushImage(image, 'team/private:1');
  server = await startLocalSiteServer(
    'gigafab-containers-api-',
    `registries: [localhost, '${registry.host}'], gpuPassthrough: none`,
  );
  const op = api(server.url, server.operatorToken);
  token = await addLabTenant(op, { name: 'R', role: 'member' });
  user = api(server.url, token);
  admin = api(server.url, await tenantToken(op, 'lab', { name: 'A', role: 'admin' }));
});

after(async () => {
  await server?.stop();
  await registry?.stop();
});

const spec = (name: string, extra: Record<string, unknown>) => ({
  name,
  project: 'lab-ml',
  gpuType: 'L4',
  gpusPerNode: 1,
  ...extra,
});

async function finished(id: string): Promise<{ state: string; exitCode: number | null }> {
  return waitFor(async () => {
    const r = (await user('GET', `/v1/jobs/${id}`)).body;
    return ['succeeded', 'failed', 'cancelled', 'timed-out'].includes(r.state) ? r : null;
  }, `job ${id} to end`);
}

async function logsOf(id: string): Promise<string> {
  const r = await fetch(`${server.url}/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${token}` } });
  return r.text();
}

async function eventsOf(id: string): Promise<{ type: string; message: string; data: Record<string, unknown> | null }[]> {
  return (await user('GET', `/v1/jobs/${id}/events`)).body.items;
}

describe('containers on a local site', () => {
  test('an image job runs in its image and its output comes back', async () => {
    const j = await user('POST', '/v1/jobs', spec('in-image', { image, command: ['cat', '/etc/gigafab-image'] }));
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const done = await finished(j.body.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(await eventsOf(j.body.id)));
    assert.equal((await logsOf(j.body.id)).trim(), IMAGE_MARKER);
  });

  test('a registry outside the site allow-list is refused at submission with 422 and the reason', async () => {
    const r = await user('POST', '/v1/jobs', spec('outside', { image: 'nvcr.io/nvidia/pytorch:25.01-py3' }));
    assert.equal(r.status, 422);
    assert.equal(r.body.code, 'registry_not_allowed');
    assert.match(r.body.detail, /site lab1 does not pull from nvcr\.io/);
    const bad = await user('POST', '/v1/jobs', spec('bad-size', { image, resources: { memory: 'lots' } }));
    assert.equal(bad.status, 400);
  });

  test('a private image fails to pull without credentials, with a reason; the pull is a visible event', async () => {
    const j = await user('POST', '/v1/jobs', spec('no-creds', { image: privateImage, command: ['true'] }));
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const done = await finished(j.body.id);
    assert.equal(done.state, 'failed');
    const events = await eventsOf(j.body.id);
    const pull = events.find((e) => e.type === 'image-pull');
    assert.ok(pull, `an image-pull event: ${JSON.stringify(events)}`);
    assert.match(pull.message, new RegExp(`pulling image ${privateImage}`));
    const end = events.at(-1);
    assert.match(end?.message ?? '', /image_pull_failed: unauthorized/);
  });

  test("with the org's registry secret it pulls (bytes reported) and runs; the password reaches no one", async () => {
    const secret = await admin('POST', '/v1/orgs/lab/secrets', {
      name: 'registry',
      value: `${registry.user}:${registry.password}`,
    });
    assert.equal(secret.status, 201, JSON.stringify(secret.body));
    const j = await user(
      'POST',
      '/v1/jobs',
      spec('with-creds', {
        image: privateImage,
        registryCredentials: 'registry',
        command: ['sh', '-c', 'cat /etc/gigafab-image; env'],
      }),
    );
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const done = await finished(j.body.id);
    assert.equal(done.state, 'succeeded');
    const log = await logsOf(j.body.id);
    assert.match(log, new RegExp(IMAGE_MARKER));
    assert.doesNotMatch(log, new RegExp(registry.password), 'registry credentials are not part of the job environment');
    const events = await eventsOf(j.body.id);
    const pulled = events.find((e) => e.type === 'image-pull' && /^pulled/.test(e.message));
    assert.ok(pulled, JSON.stringify(events));
    assert.ok(Number(pulled.data?.bytes) > 100_000, 'the image size is reported');
    assert.doesNotMatch(JSON.stringify(events), new RegExp(registry.password));
  });

  test('an unknown registry secret is refused at submission', async () => {
    const r = await user('POST', '/v1/jobs', spec('unknown-secret', { image: privateImage, registryCredentials: 'nope' }));
    assert.equal(r.status, 422);
    assert.equal(r.body.code, 'unknown_secret');
  });
});
