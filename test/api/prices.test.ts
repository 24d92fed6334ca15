/**
 * The price book, costs and estimates against the real server: an operator sets prices (tenants
 * cannot), everyone reads the version in effect, bad versions answer 422 with a code; a finished
 * job's cost in GET /v1/usage (JSON, CSV, `gigafab usage`) is its GPUs × its run time rounded up to
 * the second × the price; POST /v1/jobs/estimate and `job submit --dry-run` price a spec and store
 * nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
let acmeToken: string;
const SINCE = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
/** 3.60 EUR per B200-hour on demand: one cent per GPU-second. */
const PRICES = {
  granularity: 'second',
  prices: [
    { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 3600 },
    { gpuType: 'B200', class: 'preemptible', centsPerGpuHour: 1800 },
  ],
};

before(async () => {
  server = await startTestServer({ fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-prices-'))) });
  op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 16 })).status, 200);
  acmeToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' });
  acme = api(server.url, acmeToken);
});
after(async () => {
  await server?.stop();
});

test('an operator sets prices, audited; tenants read the version in effect but cannot set one', async () => {
  assert.equal((await acme('GET', '/v1/prices')).body.code, 'no_prices');
  const set = await op('POST', '/v1/price-versions', PRICES);
  assert.equal(set.status, 201, JSON.stringify(set.body));
  assert.equal(set.body.version, 1);
  const denied = await acme('POST', '/v1/price-versions', PRICES);
  assert.equal(denied.status, 403);
  const now = await acme('GET', '/v1/prices');
  assert.equal(now.status, 200);
  assert.deepEqual(now.body.prices, PRICES.prices);
  const audit = await op('GET', '/v1/audit?limit=1000');
  assert.equal(audit.status, 200, JSON.stringify(audit.body));
  assert.ok(
    audit.body.items.some((a: { action: string; objectId: string }) => a.action === 'price.set' && a.objectId === '1'),
    JSON.stringify(audit.body.items),
  );
  const list = await acme('GET', '/v1/price-versions');
  assert.deepEqual(
    list.body.items.map((v: { version: number }) => v.version),
    [1],
  );
});

test('bad versions and instants answer 422 with a code; a malformed body 400', async () => {
  const cases: [unknown, string][] = [
    [{ ...PRICES, effectiveFrom: '2020-01-01T00:00:00Z' }, 'price_retroactive'],
    [{ ...PRICES, effectiveFrom: 'next-week' }, 'invalid_instant'],
    [{ prices: [{ gpuType: 'Z9000', class: 'on-demand', centsPerGpuHour: 1 }] }, 'unknown_gpu_type'],
    [{ prices: [{ gpuType: 'B200', class: 'gold', centsPerGpuHour: 1 }] }, 'unknown_price_class'],
  ];
  for (const [body, code] of cases) {
    const r = await op('POST', '/v1/price-versions', body);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.code, code);
    assert.ok(r.body.detail.length > 10);
  }
  for (const body of [
    { prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 1.5 }] },
    { prices: [] },
    { ...PRICES, granularity: 'hour' },
  ]) {
    const r = await op('POST', '/v1/price-versions', { granularity: 'second', ...body });
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  const at = await acme('GET', '/v1/prices?at=tomorrow');
  assert.deepEqual([at.status, at.body.code], [422, 'invalid_instant']);
  const before = await acme('GET', '/v1/prices?at=2020-01-01');
  assert.deepEqual([before.status, before.body.code], [404, 'no_prices']);
});

test("a finished job's cost is its GPUs × its run time (rounded up to the second) × the price", async () => {
  const r = await acme('POST', '/v1/jobs', {
    name: 'short',
    project: 'acme-ml',
    gpuType: 'B200',
    gpusPerNode: 8,
    simulation: { durationSeconds: 600, exitCode: 0 },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const done = await waitFor(async () => {
    const j = (await acme('GET', `/v1/jobs/${r.body.id}`)).body;
    return j.state === 'succeeded' ? j : null;
  }, 'the job to succeed');
  const ms = Date.parse(done.finishedAt) - Date.parse(done.startedAt);
  const cents = 8 * Math.ceil(ms / 1000); // one cent per GPU-second
  const usage = await acme('GET', `/v1/usage?from=${SINCE}&groupBy=project,class`);
  assert.equal(usage.status, 200, JSON.stringify(usage.body));
  assert.deepEqual(
    usage.body.items.map((i: { project: string; class: string; cost: number; unpricedGpuSeconds: number }) => [
      i.project,
      i.class,
      i.cost,
      i.unpricedGpuSeconds,
    ]),
    [['acme-ml', 'on-demand', cents, 0]],
  );
  assert.equal(usage.body.total.cost, cents);
  const res = await fetch(`${server.url}/v1/usage?from=${SINCE}&groupBy=org&format=csv`, {
    headers: { authorization: `Bearer ${acmeToken}` },
  });
  assert.match(
    await res.text(),
    new RegExp(
      `^org,gpuSeconds,gpuHours,segments,openSegments,cost,unpricedGpuSeconds,itKwh,measuredKwh\\r\\nacme,[0-9.]+,[0-9.]+,1,0,${cents},0,[0-9.]+,0\\r\\n$`,
    ),
  );
  const { gigafab } = cliRunner('gigafab-prices-cli-');
  const table = await gigafab(['usage', '--from', SINCE], { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken });
  assert.equal(table.code, 0, table.err);
  const eur = (cents / 100).toFixed(2);
  // The row ends with its EUR and its kWh at the GPUs.
  assert.match(table.out, new RegExp(`^acme-ml\\s.*\\s${eur.replace('.', '\\.')}\\s+[0-9]+\\.[0-9]{3}$`, 'm'));
  assert.match(table.out, new RegExp(`EUR ${eur.replace('.', '\\.')}, [0-9.]+ kWh at the GPUs`));
});

test('POST /v1/jobs/estimate and job submit --dry-run price the spec and submit nothing', async () => {
  const jobsBefore = (await acme('GET', '/v1/jobs')).body.items.length;
  const spec = { name: 'big', project: 'acme-ml', gpuType: 'B200', gpusPerNode: 8, nodes: 2, maxRuntimeSeconds: 7200 };
  const e = await acme('POST', '/v1/jobs/estimate', spec);
  assert.equal(e.status, 200, JSON.stringify(e));
  // 16 GPUs × 7200 s × 1 cent = EUR 1152.00
  assert.deepEqual([e.body.gpus, e.body.class, e.body.cost, e.body.priceVersion], [16, 'on-demand', 115_200, 1]);
  const pre = await acme('POST', '/v1/jobs/estimate', { ...spec, priorityClass: 'preemptible' });
  assert.deepEqual([pre.body.class, pre.body.cost], ['preemptible', 57_600]);
  const unknown = await acme('POST', '/v1/jobs/estimate', { ...spec, gpuType: 'Z9000' });
  assert.deepEqual([unknown.status, unknown.body.code], [422, 'unknown_gpu_type']);
  const high = await acme('POST', '/v1/jobs/estimate', { ...spec, priorityClass: 'high' });
  assert.deepEqual([high.status, high.body.class], [200, 'on-demand'], 'every class above preemptible is on demand');
  const { gigafab } = cliRunner('gigafab-estimate-cli-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const dry = await gigafab(
    [
      'job',
      'submit',
      '--project',
      'acme-ml',
      '--name',
      'big',
      '--gpu-type',
      'B200',
      '--nodes',
      '2',
      '--gpus-per-node',
      '8',
      '--max-runtime',
      '2h',
      '--dry-run',
      '--',
      'python',
      'train.py',
    ],
    env,
  );
  assert.equal(dry.code, 0, dry.err);
  assert.equal(
    dry.out.trim(),
    'estimate: EUR 1152.00 for 16 B200 GPUs (on-demand) × 2h at EUR 36.00 per GPU-hour (price version 1, billed per second); nothing submitted',
  );
  assert.equal((await acme('GET', '/v1/jobs')).body.items.length, jobsBefore, 'nothing was submitted');
});

test('gigafab prices set adds a version from --price flags (operators); show and list print them in EUR', async () => {
  const { gigafab } = cliRunner('gigafab-prices-set-');
  const asOp = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: server.operatorToken };
  const future = new Date(Date.now() + 30 * 86_400_000).toISOString();
  const set = await gigafab(
    ['prices', 'set', '--price', 'B200:on-demand=450', '--granularity', 'minute', '--from', future],
    asOp,
  );
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /^price version 2, in effect from .*, billed per minute\n/);
  assert.match(set.out, /B200\s+on-demand\s+4\.50/);
  const bad = await gigafab(['prices', 'set', '--price', 'B200-on-demand'], asOp);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--price takes TYPE:CLASS=CENTS/);
  const asAda = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const show = await gigafab(['prices', 'show'], asAda);
  assert.equal(show.code, 0, show.err);
  assert.match(show.out, /^price version 1, .* billed per second\n/);
  assert.match(show.out, /B200\s+on-demand\s+36\.00/);
  const later = await gigafab(['prices', 'show', '--at', future], asAda);
  assert.match(later.out, /^price version 2,/);
  const list = await gigafab(['prices', 'list'], asAda);
  assert.equal(list.out.match(/^price version/gm)?.length, 2);
  const denied = await gigafab(['prices', 'set', '--price', 'B200:on-demand=1'], asAda);
  assert.equal(denied.code, 1);
});

test("an organisation's admin sets a monthly budget; a job that could pass it is refused 422 budget_exhausted", async () => {
  const none = await acme('GET', '/v1/orgs/acme/budget');
  assert.deepEqual([none.status, none.body.code], [404, 'budget_not_found']);
  const set = await acme('PUT', '/v1/orgs/acme/budget', { capCents: 50_000 });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const { spentCents, committedCents } = set.body;
  assert.equal(set.body.remainingCents, 50_000 - spentCents - committedCents);
  assert.equal(set.body.month, new Date().toISOString().slice(0, 7));
  const big = { name: 'big', project: 'acme-ml', gpuType: 'B200', gpusPerNode: 8, maxRuntimeSeconds: 7200 }; // EUR 576.00
  const refused = await acme('POST', '/v1/jobs', big);
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'budget_exhausted');
  assert.match(
    refused.body.detail,
    /could cost EUR 576\.00, but organisation acme has EUR [0-9.]+ left of its EUR 500\.00 budget/,
  );
  const small = await acme('POST', '/v1/jobs', { ...big, name: 'small', gpusPerNode: 1, maxRuntimeSeconds: 60 });
  assert.equal(small.status, 201, JSON.stringify(small.body));
  const bad = await acme('PUT', '/v1/orgs/acme/budget', { capCents: -1 });
  assert.equal(bad.status, 400);
  const viewer = api(server.url, await tenantToken(op, 'acme', { name: 'Vic', role: 'viewer' }));
  assert.equal((await viewer('PUT', '/v1/orgs/acme/budget', { capCents: 1 })).status, 403);
  assert.equal((await viewer('GET', '/v1/orgs/acme/budget')).status, 200);
});

test('gigafab budget set takes EUR (exactly, to the cent) and show prints the month’s figures', async () => {
  const { gigafab } = cliRunner('gigafab-budget-cli-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const set = await gigafab(['budget', 'set', 'acme', '1234.5'], env);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /^Cap:\s+EUR 1234\.50$/m);
  assert.equal((await acme('GET', '/v1/orgs/acme/budget')).body.capCents, 123_450);
  const show = await gigafab(['budget', 'show', 'acme'], env);
  assert.match(show.out, /^Remaining:\s+EUR [0-9]+\.[0-9]{2}$/m);
  const bad = await gigafab(['budget', 'set', 'acme', '12,50'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /an amount in EUR such as 5000 or 5000\.50/);
  const other = await gigafab(['budget', 'show', 'no-such-org'], env);
  assert.equal(other.code, 1);
});

test('project budgets over HTTP and the CLI: under the org cap, listed; a wait budget queues a job that waits with budget_exhausted', async () => {
  const { gigafab } = cliRunner('gigafab-budget-wait-cli-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  assert.equal((await acme('PUT', '/v1/orgs/acme/budget', { capCents: 200_000 })).status, 200);
  const set = await gigafab(['budget', 'set', 'acme/acme-ml', '100', '--policy', 'wait'], env);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /^Project:\s+acme-ml$/m);
  assert.match(set.out, /^Policy:\s+wait/m);
  const over = await acme('PUT', '/v1/projects/acme-ml/budget', { capCents: 300_000 });
  assert.deepEqual([over.status, over.body.code], [422, 'budget_exceeds_org_cap']);
  const badPolicy = await acme('PUT', '/v1/projects/acme-ml/budget', { capCents: 1, policy: 'maybe' });
  assert.equal(badPolicy.status, 400);
  assert.equal((await acme('GET', '/v1/projects/nope/budget')).body.code, 'project_not_found');
  assert.equal((await gigafab(['budget', 'set', 'acme/acme-ml', '100', '--policy', 'maybe'], env)).code, 1);
  const big = { name: 'waits', project: 'acme-ml', gpuType: 'B200', gpusPerNode: 8, maxRuntimeSeconds: 7200 }; // EUR 576.00
  const sub = await acme('POST', '/v1/jobs', big);
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  const reason = await waitFor(async () => {
    const j = await acme('GET', `/v1/jobs/${sub.body.id}`);
    return j.body.pendingReason?.code === 'budget_exhausted' ? j.body.pendingReason : null;
  }, 'the job waits for budget');
  assert.match(
    reason.message,
    /^waiting: the job needs EUR 576\.00, EUR [0-9.]+ left of project acme-ml's EUR 100\.00 budget for \d{4}-\d{2}/,
  );
  const list = await acme('GET', '/v1/orgs/acme/budgets');
  assert.deepEqual(
    list.body.items.map((b: { project?: string; policy: string }) => [b.project ?? '-', b.policy]),
    [
      ['-', 'refuse'],
      ['acme-ml', 'wait'],
    ],
  );
  const shown = await gigafab(['budget', 'list', 'acme'], env);
  assert.equal(shown.code, 0, shown.err);
  assert.match(shown.out, /^acme\/acme-ml\s+wait\s+\d{4}-\d{2}\s+100\.00\s/m);
  // A raised cap lets it start.
  assert.equal((await acme('PUT', '/v1/projects/acme-ml/budget', { capCents: 100_000 })).status, 200);
  await waitFor(async () => (await acme('GET', `/v1/jobs/${sub.body.id}`)).body.state === 'running', 'the job starts');
  assert.equal((await acme('POST', `/v1/jobs/${sub.body.id}/cancel`)).status < 300, true);
});
