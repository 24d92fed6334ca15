/**
 * The organisation's registry allow-list at enqueue, on sites that say what they run: a job queued
 * before its organisation restricted its registries is, once recovered after a restart, kept off
 * every site (the list is loaded before the queue is rebuilt); another organisation's jobs are not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SiteRunPolicy } from '../../src/drivers/runnable.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { ControlPlane } from '../../src/server/control-plane.js';
import { SchedulingState } from '../../src/server/cycle/scheduling-state.js';
import { EventBus } from '../../src/server/event-bus.js';
import { type Harness, harness } from './harness.js';

/** The simulated driver on sites that run images from any registry (as podman sites without a list). */
class ImageSites extends SimDriver {
  runPolicy(site: string): SiteRunPolicy {
    return { site, images: true, hostJobs: true };
  }
}

test("a recovered queued job from a registry outside its organisation's list is kept off every site", async () => {
  let h: Harness | null = null;
  let second: ControlPlane | null = null;
  const driver = new ImageSites(1);
  try {
    h = await harness({ driver: (timers) => new ImageSites(1, timers) });
    const hub = h.spec({ image: 'pytorch/pytorch:2.5', gpusPerNode: 8 });
    const { job } = await h.cp.jobs.submit(h.tenant, hub, undefined);
    assert.deepEqual(h.cp.state.queue.get(job.id)?.forbiddenSites ?? [], [], 'no list yet: every site may run it');

    const admin = { principal: { userId: 'ada', role: 'admin' as const, org: 'acme' }, requestId: 'req-set' };
    await h.cp.registries.set(admin, 'acme', ['registry.eu.example']);
    await assert.rejects(h.cp.jobs.submit(h.tenant, { ...hub, name: 'k' }, undefined), { code: 'registry_not_allowed' });

    await h.cp.stop();
    second = new ControlPlane({
      state: new SchedulingState(h.cp.fleet, driver, null, () => h!.clock.t),
      store: h.store,
      driver,
      bus: new EventBus(),
      metrics: null,
      policy: h.cp.policy,
    });
    assert.equal((await second.recover()).queued, 1);
    const sites = h.cp.fleet.sites.map((s) => s.id).sort();
    assert.deepEqual([...(second.state.queue.get(job.id)?.forbiddenSites ?? [])].sort(), sites);
    assert.deepEqual((await second.registries.get(admin.principal, 'acme')).registries, ['registry.eu.example']);
    assert.equal(second.state.whyNotRunnable(hub, 'another-org'), null, "another organisation is not bound by acme's list");
  } finally {
    await second?.stop();
    await driver.close();
    await h?.close();
  }
});

test("a queued job is kept off every site as soon as its organisation's list leaves out its registry", async () => {
  const h = await harness({ driver: (timers) => new ImageSites(1, timers) });
  try {
    const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ image: 'pytorch/pytorch:2.5', gpusPerNode: 8 }), undefined);
    const admin = { principal: { userId: 'ada', role: 'admin' as const, org: 'acme' }, requestId: 'req-set' };
    await h.cp.registries.set(admin, 'acme', ['registry.eu.example']);
    const sites = h.cp.fleet.sites.map((s) => s.id).sort();
    assert.deepEqual([...(h.cp.state.queue.get(job.id)?.forbiddenSites ?? [])].sort(), sites, 'no restart needed');
    await h.cp.runCycle();
    assert.equal(await h.stateOf(job.id), 'queued', 'it does not start');
  } finally {
    await h.close();
  }
});
