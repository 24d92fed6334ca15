/**
 * Per-project series at /metrics against the real server, with a cap of two (org, project) label
 * sets (`metrics.maxProjectLabelSets: 2` in a limits file): allocated GPUs and queued jobs follow
 * jobs as they start, wait and end; GPU-seconds grow while a job runs and hold a finished job's
 * whole run; a job that waited for capacity shows its wait in the histogram; the third and fourth
 * projects are added into org="other",project="other" and no further label set appears.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let acme: ReturnType<typeof api>;
const dir = mkdtempSync(join(tmpdir(), 'gigafab-metrics-'));

before(async () => {
  const limits = join(dir, 'limits.yaml');
  writeFileSync(limits, 'metrics:\n  maxProjectLabelSets: 2\n');
  server = await startTestServer({ fleetPath: writeSmallFleet(dir), extraArgs: ['--limits', limits] });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' })).status, 201);
  for (const p of ['p1', 'p2', 'p3', 'p4']) {
    assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: p })).status, 201);
    assert.equal((await op('PUT', `/v1/projects/${p}/quotas/B200`, { gpus: 32 })).status, 200);
  }
  acme = api(server.url, await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' }));
});
after(async () => {
  await server?.stop();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** value: the sample `name{org="…",project="…"}`, or undefined when the series is absent. */
function value(text: string, name: string, project: string, org = project === 'other' ? 'other' : 'acme'): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{org="${org}",project="${project}"} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function submit(project: string, gpus: number, seconds: number, nodes = 1): Promise<string> {
  const r = await acme('POST', '/v1/jobs', {
    name: `${project}-job`,
    project,
    gpuType: 'B200',
    gpusPerNode: gpus,
    nodes,
    simulation: { durationSeconds: seconds, exitCode: 0 },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
}

const state = async (id: string) => (await acme('GET', `/v1/jobs/${id}`)).body;
const running = (id: string) => waitFor(async () => (await state(id)).state === 'running', `job ${id} to run`);

test('the series follow jobs as they run, wait and end; the cap holds with the rest in other', async () => {
  // A short job of p1 ends: its whole run is in the counter.
  const short = await submit('p1', 8, 600); // 1 s at time scale 600
  const done = await waitFor(async () => {
    const j = await state(short);
    return j.state === 'succeeded' ? j : null;
  }, 'the short job to succeed');
  const ran = (Date.parse(done.finishedAt) - Date.parse(done.startedAt)) / 1000;
  let m = await scrape();
  assert.ok(Math.abs((value(m, 'gigafab_project_gpu_seconds_total', 'p1') ?? 0) - 8 * ran) < 0.01, m);
  assert.equal(value(m, 'gigafab_project_gpus_allocated', 'p1'), undefined, 'nothing of p1 runs');
  assert.equal(value(m, 'gigafab_project_job_wait_seconds_count', 'p1'), 1);

  // p1 runs 8 GPUs: allocated, and GPU-seconds grow between scrapes by about 8 per second.
  const long1 = await submit('p1', 8, 6_000_000);
  await running(long1);
  m = await scrape();
  assert.equal(value(m, 'gigafab_project_gpus_allocated', 'p1'), 8);
  const before = value(m, 'gigafab_project_gpu_seconds_total', 'p1') ?? 0;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 1200));
  m = await scrape();
  const grew = (value(m, 'gigafab_project_gpu_seconds_total', 'p1') ?? 0) - before;
  const elapsed = (Date.now() - t0) / 1000;
  assert.ok(grew >= 8 * 1.1 && grew <= 8 * (elapsed + 0.5), `grew ${grew} in ${elapsed} s`);

  // p2 takes 16 GPUs, p3 and p4 4 each: the fleet (32 B200) is full.
  const big = await submit('p2', 8, 6_000_000, 2);
  await running(big);
  m = await scrape(); // p2 gets the second label set of its own
  assert.equal(value(m, 'gigafab_project_gpus_allocated', 'p2'), 16);
  for (const id of [await submit('p3', 4, 6_000_000), await submit('p4', 4, 6_000_000)]) await running(id);
  // p2's next job waits for capacity.
  const waiting = await submit('p2', 8, 6_000_000);
  await waitFor(async () => (await state(waiting)).state === 'queued', 'the job to queue');
  await new Promise((r) => setTimeout(r, 1000));
  m = await scrape();
  assert.equal(value(m, 'gigafab_project_jobs_queued', 'p2'), 1);
  assert.equal(value(m, 'gigafab_project_gpus_allocated', 'other'), 8, 'p3 and p4 together');
  assert.equal(value(m, 'gigafab_project_gpus_allocated', 'p3'), undefined);
  assert.equal(value(m, 'gigafab_project_gpus_allocated', 'p4'), undefined);
  assert.equal(value(m, 'gigafab_project_job_wait_seconds_count', 'other'), 2);

  // Room frees: the waiting job starts, its wait (over a second) is observed; it leaves the queue.
  const queuedAt = Date.now();
  assert.equal((await acme('POST', `/v1/jobs/${big}/cancel`)).status < 300, true);
  await running(waiting);
  m = await scrape();
  assert.equal(value(m, 'gigafab_project_jobs_queued', 'p2'), undefined);
  assert.equal(value(m, 'gigafab_project_gpus_allocated', 'p2'), 8);
  assert.equal(value(m, 'gigafab_project_job_wait_seconds_count', 'p2'), 2);
  const waitSum = value(m, 'gigafab_project_job_wait_seconds_sum', 'p2') ?? 0;
  assert.ok(waitSum >= 1, `the wait sum ${waitSum} holds the second job's wait`);
  assert.ok(waitSum <= (Date.now() - queuedAt) / 1000 + 60, `wait sum ${waitSum}`);

  // No label set beyond the cap and other, in any per-project series.
  const sets = new Set(
    m
      .split('\n')
      .filter((l) => l.startsWith('gigafab_project_'))
      .map((l) => /org="([^"]*)",project="([^"]*)"/.exec(l)?.slice(1, 3).join('/')),
  );
  assert.deepEqual([...sets].sort(), ['acme/p1', 'acme/p2', 'other/other']);
});
