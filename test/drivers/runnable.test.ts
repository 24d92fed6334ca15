/** whyNotRunnable: which sites may run a job, and the typed reason where one may not. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  imageRegistry,
  registryAllowed,
  type SiteRunPolicy,
  whyNotRunnable,
  whyNotRunnableAnywhere,
  withoutUnrunnableSites,
} from '../../src/drivers/runnable.js';
import { jobSpec } from './fixtures.js';

const podmanSite: SiteRunPolicy = { site: 'lab1', images: true, hostJobs: true };
const noRuntime: SiteRunPolicy = { site: 'old1', images: false, hostJobs: true };
const imagesOnly: SiteRunPolicy = {
  site: 'k8s1',
  images: true,
  hostJobs: false,
  registries: ['registry.eu.example', '*.eu.example'],
};

const hostJob = jobSpec(['python', 'train.py']);
const imageJob = (image: string) => jobSpec([], { command: undefined, image });

describe('imageRegistry and registryAllowed', () => {
  test('the registry host of a reference, as podman resolves it', () => {
    assert.equal(imageRegistry('nvcr.io/nvidia/pytorch:25.01-py3'), 'nvcr.io');
    assert.equal(imageRegistry('localhost:5000/team/app@sha256:abc'), 'localhost:5000');
    assert.equal(imageRegistry('localhost/gigafab-test:busybox'), 'localhost');
    assert.equal(imageRegistry('library/ubuntu:24.04'), 'docker.io');
    assert.equal(imageRegistry('ubuntu'), 'docker.io');
  });

  test('an allow-list matches exact hosts and *.domain subdomains; none allows any', () => {
    assert.equal(registryAllowed('nvcr.io', undefined), true);
    assert.equal(registryAllowed('harbor.eu.example', ['*.eu.example']), true);
    assert.equal(registryAllowed('eu.example.evil.com', ['*.eu.example']), false);
    assert.equal(registryAllowed('nvcr.io', ['registry.eu.example']), false);
    assert.equal(registryAllowed('nvcr.io', []), false);
  });
});

describe('whyNotRunnable', () => {
  test('a host command runs where host jobs are allowed, and nowhere else', () => {
    assert.equal(whyNotRunnable(hostJob, podmanSite), null);
    assert.equal(whyNotRunnable(hostJob, imagesOnly)?.code, 'host_jobs_denied');
  });

  test('an image needs a container runtime: never the host instead', () => {
    const why = whyNotRunnable(imageJob('nvcr.io/nvidia/pytorch:25.01-py3'), noRuntime);
    assert.equal(why?.code, 'image_unsupported');
    assert.match(why?.message ?? '', /site old1 cannot run container images/);
  });

  test("registries: the site's allow-list, then the organisation's", () => {
    assert.equal(whyNotRunnable(imageJob('nvcr.io/nvidia/pytorch:25.01-py3'), imagesOnly)?.code, 'registry_not_allowed');
    assert.equal(whyNotRunnable(imageJob('harbor.eu.example/ml/train:1'), imagesOnly), null);
    const org = whyNotRunnable(imageJob('nvcr.io/nvidia/pytorch:25.01-py3'), podmanSite, ['harbor.eu.example']);
    assert.equal(org?.code, 'registry_not_allowed');
    assert.match(org?.message ?? '', /your organisation does not allow pulls from nvcr\.io/);
  });

  test('neither image nor command', () => {
    assert.equal(whyNotRunnable(jobSpec([], { command: undefined }), podmanSite)?.code, 'no_command');
  });
});

describe('over all sites', () => {
  test('refused only when no site can run it; the others are excluded at enqueue', () => {
    const spec = imageJob('nvcr.io/nvidia/pytorch:25.01-py3');
    assert.equal(whyNotRunnableAnywhere(spec, [noRuntime, podmanSite]), null);
    assert.equal(whyNotRunnableAnywhere(spec, [noRuntime])?.code, 'image_unsupported');
    assert.equal(whyNotRunnableAnywhere(spec, []), null, 'no site policies known (simulated fleet): nothing to refuse');
    // ... except what the organisation's own list refuses, which needs no site to apply.
    assert.equal(whyNotRunnableAnywhere(spec, [], ['harbor.eu.example'])?.code, 'registry_not_allowed');
    assert.equal(whyNotRunnableAnywhere(spec, [], ['nvcr.io']), null);
    assert.equal(whyNotRunnableAnywhere(jobSpec([]), [], ['harbor.eu.example']), null, 'a host job pulls nothing');
    const job = withoutUnrunnableSites({ id: 'j', forbiddenSites: ['x'] }, spec, [noRuntime, podmanSite, imagesOnly]);
    assert.deepEqual(job.forbiddenSites, ['x', 'old1', 'k8s1']);
    const same: { id: string; forbiddenSites?: string[] } = { id: 'k' };
    assert.equal(withoutUnrunnableSites(same, spec, [podmanSite]), same);
  });
});
