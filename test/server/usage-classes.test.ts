/**
 * Usage classes of sessions and service replicas: a session's run segment is metered as
 * `interactive`, a service replica's as `service`, a batch job's by its priority class; a class the
 * price version does not price is billed at the on-demand price (PRICE_FALLBACK), one it prices at
 * its own price. The report's cost per class is checked by hand.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { JobSpec } from '../../src/model/schemas.js';
import { type Harness, harness } from './harness.js';

let h: Harness;
const op = () => ({ principal: h.operator, requestId: 'req-op' });

before(async () => {
  h = await harness(); // 2026-01-05T09:00:00Z; four 8-GPU B200 nodes; acme/vision
});
after(() => h.close());

const classes = async () =>
  (await h.store.db.selectFrom('usage_records').select(['job_id', 'class']).orderBy('job_id').execute()).map((r) => [
    String(r.job_id),
    r.class,
  ]);

test('sessions meter as interactive, service replicas as service, batch by priority; unpriced ones at the on-demand price', async () => {
  // 36 EUR per GPU-hour on demand (one cent per GPU-second), 18 preemptible; service priced at 72; interactive not priced.
  await h.cp.prices.set(op(), {
    granularity: 'second',
    prices: [
      { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 3600 },
      { gpuType: 'B200', class: 'preemptible', centsPerGpuHour: 1800 },
      { gpuType: 'B200', class: 'service', centsPerGpuHour: 7200 },
    ],
  });
  const submit = async (spec: Partial<JobSpec>) =>
    (await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 1, maxRuntimeSeconds: 3600, ...spec }), undefined)).job.id;
  const session = await submit({ kind: 'session', session: { preset: 'http', idleTimeoutMinutes: 30 }, command: ['serve'] });
  const batch = await submit({ command: ['train'] });
  const cheap = await submit({ command: ['train'], priorityClass: 'preemptible' });
  const replica = await submit({ kind: 'service', command: ['serve'] });
  await h.cp.runCycle();
  assert.deepEqual(await classes(), [
    [session, 'interactive'],
    [batch, 'on-demand'],
    [cheap, 'preemptible'],
    [replica, 'service'],
  ]);
  h.clock.t += 100_000; // 100 s each, one GPU each
  const report = await h.cp.usage.report(h.tenant.principal, {
    from: '2026-01-05T00:00:00Z',
    to: '2026-01-06T00:00:00Z',
    groupBy: 'class',
  });
  const cost = Object.fromEntries(report.items.map((i) => [i.class, [i.gpuSeconds, i.cost, i.unpricedGpuSeconds]]));
  assert.deepEqual(cost, {
    interactive: [100, 100, 0], // not priced: the on-demand price, 1 cent per GPU-second
    'on-demand': [100, 100, 0],
    preemptible: [100, 50, 0],
    service: [100, 200, 0], // its own price, 2 cents per GPU-second
  });
});
