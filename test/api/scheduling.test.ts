/**
 * Scheduling operations through the real server: placement constraints (checked at submission),
 * checkpoints feeding preemption, node down (requeue / fail), drain, maintenance windows and
 * advance reservations (only the org uses them; idle parts lent to preemptible work, evicted).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let gov: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
const dir = mkdtempSync(join(tmpdir(), 'gigafab-sched-'));
const HOUR = 3600_000;

before(async () => {
  const fleet = join(dir, 'fleet.yaml');
  writeFileSync(
    fleet,
    `name: two-sites
sites:
  - { id: s1, name: S1, city: Munich, country: DE, certifications: [] }
  - { id: s2, name: S2, city: Berlin, country: DE, certifications: [BSI-C5] }
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: 8, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }
pools:
  - { site: s1, nodeType: dgx, count: 4, unitSize: 2, namePrefix: s1-dgx, labels: { fabric: ndr } }
  - { site: s2, nodeType: dgx, count: 2, unitSize: 2, namePrefix: s2-dgx }
`,
  );
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `preemption: { enabled: true, minRuntimeSeconds: 0, maxEvictedGpusPerRequestedGpu: 2 }
explainIntervalSeconds: 0
stopGraceSeconds: 0
`,
  );
  server = await startTestServer({ fleetPath: fleet, extraArgs: ['--policy', policy], timeScale: 60 });
  op = api(server.url, server.operatorToken);
  for (const [org, kind] of [
    ['gov', 'public-sector'],
    ['acme', 'start-up'],
  ]) {
    await op('POST', '/v1/orgs', { id: org, name: org, kind });
    await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-p` });
    await op('PUT', `/v1/projects/${org}-p/quotas/B200`, { gpus: 64 });
  }
  gov = api(server.url, await tenantToken(op, 'gov', { name: 'G', role: 'member' }));
  acme = api(server.url, await tenantToken(op, 'acme', { name: 'A', role: 'member' }));
});

after(async () => {
  await server?.stop();
});

/** Every test leaves an idle fleet: jobs cancelled, nodes up, windows removed. */
afterEach(async () => {
  // Rounds until nothing is left: a victim stopping at cleanup time is requeued after the first round.
  await waitFor(async () => {
    let left = 0;
    for (const q of ['state=queued', 'state=running']) {
      for (const j of (await op('GET', `/v1/jobs?${q}&limit=1000`)).body.items) {
        left++;
        const who = j.org === 'gov' ? gov : acme;
        await who('POST', `/v1/jobs/${j.id}/cancel`);
      }
    }
    return left === 0;
  }, 'no queued or running jobs');
  for (const n of (await op('GET', '/v1/nodes')).body.items) {
    if (n.state !== 'up') await op('PUT', `/v1/nodes/${n.id}/state`, { state: 'up' });
  }
  for (const r of (await op('GET', '/v1/reservations')).body.items) await op('DELETE', `/v1/reservations/${r.id}`);
  for (const m of (await op('GET', '/v1/maintenance-windows')).body.items) await op('DELETE', `/v1/maintenance-windows/${m.id}`);
});

interface JobOpts {
  nodes?: number;
  hours?: number;
  minutes?: number;
  priorityClass?: string;
  constraints?: Record<string, unknown>;
  onNodeFailure?: string;
}
const spec = (org: string, name: string, o: JobOpts = {}) => ({
  name,
  project: `${org}-p`,
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: o.nodes ?? 1,
  maxRuntimeSeconds: Math.round((o.hours ?? 0) * 3600 + (o.minutes ?? 0) * 60) || 3600,
  priorityClass: o.priorityClass ?? 'normal',
  simulation: { durationSeconds: 3000 },
  ...(o.constraints ? { constraints: o.constraints } : {}),
  ...(o.onNodeFailure ? { onNodeFailure: o.onNodeFailure } : {}),
});

async function submit(who: ReturnType<typeof api>, body: unknown): Promise<string> {
  const r = await who('POST', '/v1/jobs', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}
const show = async (id: string) => (await op('GET', `/v1/jobs/${id}`)).body;
const running = (id: string) =>
  waitFor(async () => ((await show(id)).state === 'running' ? show(id) : null), `job ${id} running`);
const events = async (id: string) => (await op('GET', `/v1/jobs/${id}/events`)).body.items as { type: string; message: string }[];
/** reason: the pending reason once a cycle has looked at the job. */
const reason = (id: string) =>
  waitFor(async () => {
    const r = (await show(id)).pendingReason;
    return r && r.code !== 'not_yet_scheduled' ? r : null;
  }, `job ${id} considered`);
const nodesOf = (job: { placement: { nodes: { node: string }[] } }) => job.placement.nodes.map((n) => n.node);

test('constraints: impossible ones are refused at submission with the reason; possible ones steer placement', async () => {
  const unknown = await acme('POST', '/v1/jobs', spec('acme', 'x', { constraints: { requiredSites: ['nowhere'] } }));
  assert.equal(unknown.status, 422);
  assert.equal(unknown.body.code, 'job_constraints_unsatisfiable');
  assert.match(unknown.body.detail, /unknown site nowhere/);
  const tooBig = await acme(
    'POST',
    '/v1/jobs',
    spec('acme', 'x', { nodes: 3, constraints: { requiredCertifications: ['BSI-C5'] } }),
  );
  assert.equal(tooBig.status, 422);
  assert.match(tooBig.body.detail, /3 x 8 B200/);
  const unit = await acme('POST', '/v1/jobs', spec('acme', 'x', { nodes: 3, constraints: { requireSingleUnit: true } }));
  assert.equal(unit.status, 422, 'units hold 2 nodes');
  assert.match(unit.body.detail, /scalable unit/);
  const labels = await acme('POST', '/v1/jobs', spec('acme', 'x', { constraints: { nodeLabels: { fabric: 'hdr' } } }));
  assert.equal(labels.status, 422);

  const c5 = await submit(acme, spec('acme', 'c5', { constraints: { requiredCertifications: ['BSI-C5'] } }));
  const ndr = await submit(
    acme,
    spec('acme', 'ndr', { nodes: 2, constraints: { nodeLabels: { fabric: 'ndr' }, requireSingleUnit: true } }),
  );
  assert.equal((await running(c5)).placement.site, 's2');
  const j = await running(ndr);
  assert.equal(j.placement.site, 's1');
  assert.deepEqual(j.spec.constraints, { nodeLabels: { fabric: 'ndr' }, requireSingleUnit: true });
});

test('checkpoints: recorded as events; preemption evicts the job that loses least work (the one just checkpointed)', async () => {
  const s2 = { requiredSites: ['s2'] };
  const a = await submit(acme, spec('acme', 'a', { priorityClass: 'preemptible', constraints: s2 }));
  const b = await submit(acme, spec('acme', 'b', { priorityClass: 'preemptible', constraints: s2 }));
  await running(a);
  await running(b);
  await new Promise((r) => setTimeout(r, 30));
  const ck = await acme('POST', `/v1/jobs/${b}/checkpoints`, { step: 1200, label: 'ckpt-1200' });
  assert.equal(ck.status, 201, JSON.stringify(ck.body));
  assert.equal(ck.body.type, 'checkpoint');
  assert.match(ck.body.message, /step 1200 \(ckpt-1200\)/);
  assert.ok((await events(b)).some((e) => e.type === 'checkpoint'));
  assert.equal((await gov('POST', `/v1/jobs/${a}/checkpoints`, {})).status, 404, 'another org cannot see the job');
  assert.equal((await op('POST', `/v1/jobs/${a}/checkpoints`, {})).status, 403);
  // Without checkpoints a (lower id, same start) would be the victim; b, just checkpointed, loses least.
  const urgent = await submit(gov, spec('gov', 'urgent', { constraints: s2 }));
  await running(urgent);
  assert.equal((await show(a)).state, 'running');
  const bEvents = await events(b);
  assert.ok(
    bEvents.some((e) => e.type === 'preempting' && e.message.includes(`job ${urgent}`)),
    JSON.stringify(bEvents),
  );
  const queued = await submit(acme, spec('acme', 'q', { constraints: s2 }));
  const notRunning = await acme('POST', `/v1/jobs/${queued}/checkpoints`, {});
  assert.equal(notRunning.status, 409);
  assert.equal(notRunning.body.code, 'job_not_running');
});

test('a job reports its own checkpoints through the driver (simulated: every checkpointEverySeconds)', async () => {
  const body = { ...spec('acme', 'self'), simulation: { durationSeconds: 3000, checkpointEverySeconds: 30 } };
  const id = await submit(acme, body);
  await running(id);
  const ev = await waitFor(async () => {
    // As the tenant: a checkpoint's step and label are withheld from operators (lockbox.test.ts).
    const e = ((await acme('GET', `/v1/jobs/${id}/events`)).body.items as { type: string; message: string }[]).filter(
      (x) => x.type === 'checkpoint',
    );
    return e.length >= 2 ? e : null;
  }, 'two checkpoints from the job');
  assert.match(ev[0]!.message, /^checkpoint at step 1:/);
  assert.match(ev[1]!.message, /^checkpoint at step 2:/);
  const audit = (await op('GET', '/v1/audit?limit=1000')).body.items as { action: string; actor: string; objectId: string }[];
  assert.ok(audit.some((a) => a.action === 'job.checkpoint' && a.objectId === id && a.actor.startsWith('system:driver:')));
});

test('node down: a gang on it is stopped and requeued as a whole (attempt 2); onNodeFailure fail fails the job', async () => {
  const gang = await submit(acme, spec('acme', 'gang', { nodes: 2, constraints: { requiredSites: ['s1'] } }));
  const first = nodesOf(await running(gang));
  const down = first[1]!;
  const r = await op('PUT', `/v1/nodes/${down}/state`, { state: 'down', reason: 'PSU failure' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.state, 'down');
  const requeued = await waitFor(async () => {
    const ev = await events(gang);
    return ev.some((e) => e.type === 'queued' && e.message === `node ${down} went down: requeued (attempt 2)`) ? ev : null;
  }, 'requeue event');
  assert.ok(requeued.some((e) => e.type === 'node-failure' && /PSU failure/.test(e.message)));
  const again = await waitFor(async () => {
    const j = await show(gang);
    return j.state === 'running' && j.startedAt ? j : null;
  }, 'gang running again');
  assert.equal(again.placement.nodes.length, 2);
  assert.ok(!nodesOf(again).includes(down), 'not on the down node');

  const fragile = await submit(acme, spec('acme', 'fragile', { onNodeFailure: 'fail', constraints: { requiredSites: ['s2'] } }));
  const node = nodesOf(await running(fragile))[0]!;
  await op('PUT', `/v1/nodes/${node}/state`, { state: 'down' });
  await waitFor(async () => (await show(fragile)).state === 'failed', 'fragile failed');
  assert.ok((await events(fragile)).some((e) => e.type === 'failed' && e.message.startsWith(`node ${node} went down: failed`)));
  const audit = (await op('GET', '/v1/audit?limit=500')).body.items as { action: string; objectId: string }[];
  assert.ok(audit.some((a) => a.action === 'job.node-failure' && a.objectId === fragile));
  assert.equal((await acme('PUT', `/v1/nodes/${node}/state`, { state: 'up' })).status, 403);
});

test('drain: running jobs keep running, the node takes no new work', async () => {
  const j = await submit(acme, spec('acme', 'stay', { constraints: { requiredSites: ['s2'] } }));
  const node = nodesOf(await running(j))[0]!;
  const other = node === 's2-dgx-0001' ? 's2-dgx-0002' : 's2-dgx-0001';
  await op('PUT', `/v1/nodes/${node}/state`, { state: 'draining', reason: 'firmware' });
  await op('PUT', `/v1/nodes/${other}/state`, { state: 'draining' });
  const waiting = await submit(acme, spec('acme', 'new', { constraints: { requiredSites: ['s2'] } }));
  assert.equal((await reason(waiting)).code, 'insufficient_capacity');
  assert.equal((await show(j)).state, 'running');
  assert.deepEqual((await op('GET', '/v1/nodes?site=s2')).body.items.find((n: { id: string }) => n.id === node).jobs, [j]);
});

test('maintenance: a job whose limit reaches into the window waits (explained); a short one runs; cancelling frees it', async () => {
  const start = new Date(Date.now() + HOUR).toISOString();
  const end = new Date(Date.now() + 3 * HOUR).toISOString();
  assert.equal((await op('POST', '/v1/maintenance-windows', { nodes: ['nope'], start, end, reason: 'x' })).status, 422);
  assert.equal((await acme('POST', '/v1/maintenance-windows', { site: 's2', start, end, reason: 'x' })).status, 403);
  const mw = await op('POST', '/v1/maintenance-windows', { site: 's2', start, end, reason: 'cooling upgrade' });
  assert.equal(mw.status, 201, JSON.stringify(mw.body));
  assert.deepEqual(mw.body.nodes, ['s2-dgx-0001', 's2-dgx-0002']);
  assert.equal((await acme('GET', '/v1/maintenance-windows')).body.items.length, 1);

  const s2 = { requiredSites: ['s2'] };
  // At --time-scale 60 a limit passes 60 times faster than the window's clock: 100 h reach 100 min on.
  const long = await submit(acme, spec('acme', 'long', { hours: 100, constraints: s2 }));
  const short = await submit(acme, spec('acme', 'short', { minutes: 30, constraints: s2 }));
  await running(short);
  const e = await waitFor(async () => {
    const x = (await acme('GET', `/v1/jobs/${long}/explain`)).body;
    return x.pendingReason?.code === 'reserved' ? x : null;
  }, 'long job explained');
  assert.match(e.pendingReason.message, new RegExp(`maintenance:${mw.body.id}`));
  assert.ok(e.blockedBy.includes(`maintenance:${mw.body.id}`));
  assert.equal((await op('DELETE', `/v1/maintenance-windows/${mw.body.id}`)).status, 200);
  await running(long);
});

test('reservations: operator creates, tenants see their own; only the org uses it; idle part lent to preemptible work, evicted for the org', async () => {
  const start = new Date(Date.now() - 60_000).toISOString();
  const end = new Date(Date.now() + 2 * HOUR).toISOString();
  const base = { org: 'gov', gpuType: 'B200', site: 's1', start, end };
  assert.equal((await gov('POST', '/v1/reservations', { ...base, gpus: 16 })).status, 403);
  const shape = await op('POST', '/v1/reservations', { ...base, gpus: 12 });
  assert.equal(shape.status, 422);
  assert.equal(shape.body.code, 'reservation_shape');
  assert.equal((await op('POST', '/v1/reservations', { ...base, gpus: 48 })).body.code, 'reservation_unplaceable');
  assert.equal((await op('POST', '/v1/reservations', { ...base, gpus: 16, end: start })).body.code, 'invalid_window');
  const res = await op('POST', '/v1/reservations', { ...base, gpus: 16, note: 'public-sector pool' });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.nodes, 2);
  assert.equal(res.body.status, 'active');
  const overlap = await op('POST', '/v1/reservations', { ...base, gpus: 24 });
  assert.equal(overlap.status, 409);
  assert.equal(overlap.body.code, 'reservation_capacity');
  assert.deepEqual(
    (await gov('GET', '/v1/reservations')).body.items.map((r: { id: string }) => r.id),
    [res.body.id],
  );
  assert.deepEqual((await acme('GET', '/v1/reservations')).body.items, []);
  assert.equal((await acme('GET', `/v1/reservations/${res.body.id}`)).status, 404);

  const s1 = { requiredSites: ['s1'] };
  const acmeBig = await submit(acme, spec('acme', 'big', { nodes: 2, constraints: s1 }));
  await running(acmeBig);
  const acmeMore = await submit(acme, spec('acme', 'more', { constraints: s1 }));
  const why = await reason(acmeMore);
  assert.equal(why.code, 'reserved');
  assert.match(why.message, new RegExp(res.body.id));
  const held = (await op('GET', `/v1/reservations/${res.body.id}`)).body.held;
  assert.equal(held.site, 's1');
  assert.equal(held.nodes.length, 2);

  // Lent: acme's preemptible gang runs on the reserved nodes while gov does not need them.
  const spot = await submit(acme, spec('acme', 'spot', { nodes: 2, priorityClass: 'preemptible', constraints: s1 }));
  assert.deepEqual(nodesOf(await running(spot)).sort(), [...held.nodes].sort());
  const mine = await submit(gov, spec('gov', 'mine', { nodes: 2, constraints: s1 }));
  const g = await running(mine);
  assert.deepEqual(nodesOf(g).sort(), [...held.nodes].sort());
  assert.ok((await events(spot)).some((e) => e.type === 'preempting'));
  assert.equal((await show(acmeMore)).state, 'queued');
  const del = await op('DELETE', `/v1/reservations/${res.body.id}`);
  assert.equal(del.status, 200);
  assert.equal((await op('GET', `/v1/reservations/${res.body.id}`)).status, 404);
});

test('the OpenAPI document describes the scheduling routes and the JobSpec fields', async () => {
  const doc = (await api(server.url)('GET', '/v1/openapi.json')).body;
  for (const path of [
    '/v1/reservations',
    '/v1/reservations/{id}',
    '/v1/maintenance-windows',
    '/v1/nodes/{id}/state',
    '/v1/jobs/{id}/checkpoints',
  ]) {
    assert.ok(doc.paths[path], `${path} documented`);
  }
  const props = doc.components.schemas.JobSpec.properties;
  assert.ok(props.constraints && props.onNodeFailure);
  assert.deepEqual(Object.keys(doc.components.schemas.JobConstraints.properties).sort(), [
    'forbiddenSites',
    'nodeLabels',
    'requireSingleUnit',
    'requiredCertifications',
    'requiredSites',
  ]);
});

test('backfill reads wall-clock limits in the clock of the site: at --time-scale 60 a 1 h limit ends in a minute', async () => {
  // Two 1-node jobs (limit 1 h) hold half of s1; a 3-node gang fits only s1, so it waits for them.
  const a = await submit(acme, spec('acme', 'a', { hours: 1, constraints: { requiredSites: ['s1'] } }));
  const b = await submit(acme, spec('acme', 'b', { hours: 1, constraints: { requiredSites: ['s1'] } }));
  const started = Date.parse((await running(a)).startedAt);
  await running(b);
  const gang = await submit(gov, spec('gov', 'gang', { nodes: 3, hours: 1 }));
  const x = await waitFor(async () => {
    const e = (await gov('GET', `/v1/jobs/${gang}/explain`)).body;
    return e.expectedStart ? e : null;
  }, 'the gang has an expected start');
  const eta = Date.parse(x.expectedStart) - started;
  // 3,600 simulated seconds at 60 per second: about 60 s after the start, not an hour.
  assert.ok(eta > 30_000 && eta < 120_000, `expected start ${x.expectedStart} is ${eta} ms after the start`);
});
