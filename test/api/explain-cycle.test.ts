/**
 * Explain says which scheduling cycle it describes (issue 19), through the real server and CLI:
 * the cycle number grows from cycle to cycle; after a fill, while the reasons are newer than the
 * explanation (reasons every cycle, explanations every `explainIntervalSeconds`), the answer names
 * the cycle that computed the explanation, not a later one, and says it is stale; job show and
 * /metrics cite the newest cycle; `gigafab job explain` prints "as of scheduling cycle N".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cliRunner } from '../helpers/cli.js';
import { api, startTestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

interface Cycle {
  number: number;
  term?: number;
  startedAt: string;
}
interface Explanation {
  state: string;
  position: number | null;
  pendingReason: { code: string; details?: { freeFleetWide?: number } } | null;
  computedAt: string | null;
  cycle: Cycle | null;
  reasonCycle: Cycle | null;
  stale: boolean;
}

const dir = mkdtempSync(join(tmpdir(), 'gigafab-explain-cycle-'));
const fleetPath = join(dir, 'fleet.yaml');
writeFileSync(
  fleetPath,
  `name: one-node
sites:
  - { id: s1, name: S1, city: Munich, country: DE, certifications: [] }
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: 8, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }
pools:
  - { site: s1, nodeType: dgx, count: 1, unitSize: 1, namePrefix: s1-dgx }
`,
);

/** A server whose explanations are rebuilt every `explainSeconds`, with one tenant (acme). */
async function serve(explainSeconds: number) {
  const policy = join(dir, `policy-${explainSeconds}.yaml`);
  writeFileSync(
    policy,
    `fairShare: { enabled: false }\nbackfill: { enabled: false }\nexplainIntervalSeconds: ${explainSeconds}\n`,
  );
  const server = await startTestServer({ fleetPath, extraArgs: ['--policy', policy], timeScale: 60 });
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' });
  await op('POST', '/v1/orgs/acme/projects', { id: 'acme-p' });
  await op('PUT', '/v1/projects/acme-p/quotas/B200', { gpus: 64 });
  const token = await tenantToken(op, 'acme', { name: 'A', role: 'member' });
  const acme = api(server.url, token);
  const submit = async (name: string, gpus: number, priorityClass = 'normal') => {
    const r = await acme('POST', '/v1/jobs', {
      name,
      project: 'acme-p',
      gpuType: 'B200',
      gpusPerNode: gpus,
      nodes: 1,
      maxRuntimeSeconds: 24 * 3600,
      priorityClass,
      // Nothing ends during the test.
      simulation: { durationSeconds: 20 * 3600 },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  };
  const explain = async (id: string) => (await acme('GET', `/v1/jobs/${id}/explain`)).body as Explanation;
  return { server, op, token, submit, explain };
}

describe('explanations refreshed every 3 s', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    s = await serve(3);
  });
  after(async () => {
    await s?.server.stop();
  });

  test('after a fill the answer names the cycle that computed the explanation, then the refresh', async () => {
    const { op, submit, explain } = s;
    // The node drains while the jobs arrive, so one cycle fills it once it is back.
    const node = (await op('GET', '/v1/nodes')).body.items[0].id as string;
    assert.equal((await op('PUT', `/v1/nodes/${node}/state`, { state: 'draining' })).status, 200);
    const a = await submit('a', 4, 'high');
    const b = await submit('b', 8, 'normal');
    const c = await submit('c', 4, 'low');
    const before = await waitFor(async () => {
      const e = await explain(b);
      return e.cycle && !e.stale ? e : null;
    }, 'b explained while the node drains');
    // The explain interval passes, so the cycle that fills the node rebuilds the explanations too.
    await new Promise((r) => setTimeout(r, 3200));
    assert.equal((await op('PUT', `/v1/nodes/${node}/state`, { state: 'up' })).status, 200);
    // The cycle right after the fill (25 ms later) rebuilds the reasons only: the explanation is older.
    const stale = await waitFor(async () => {
      const e = await explain(b);
      return e.stale ? e : null;
    }, 'reasons newer than the explanation after the fill');
    const show = async (id: string) => (await op('GET', `/v1/jobs/${id}`)).body;
    assert.equal((await show(a)).state, 'running');
    assert.equal((await show(c)).state, 'running');
    assert.ok(stale.cycle && stale.reasonCycle);
    assert.ok(stale.cycle.number > before.cycle!.number, 'the fill cycle explained anew');
    assert.ok(stale.reasonCycle.number > stale.cycle.number, JSON.stringify(stale));
    // The explanation's cycle is the one that computed it (computedAt is when that cycle ran).
    assert.equal(stale.cycle.startedAt, stale.computedAt);
    assert.ok(Date.parse(stale.reasonCycle.startedAt) >= Date.parse(stale.cycle.startedAt));
    // Within the interval a cycle rebuilds the explanations: both name that cycle, not stale.
    const fresh = await waitFor(async () => {
      const e = await explain(b);
      return e.stale ? null : e;
    }, 'explanation refreshed after the fill');
    assert.ok(fresh.cycle && fresh.reasonCycle);
    assert.ok(fresh.cycle.number >= stale.reasonCycle.number, 'a later cycle than the stale answer named');
    assert.equal(fresh.cycle.number, fresh.reasonCycle.number);
    assert.equal(fresh.cycle.startedAt, fresh.computedAt);
    assert.equal(fresh.pendingReason?.details?.freeFleetWide, 0);
    // Job show cites the same newest cycle for the reason; running jobs have none.
    const shown = await show(b);
    assert.ok(shown.reasonCycle.number >= fresh.reasonCycle.number);
    assert.equal((await show(a)).reasonCycle, null);
  });

  test('the cycle number grows from cycle to cycle; /metrics has it', async () => {
    const { server, submit, explain } = s;
    const waiting = await submit('w', 8);
    const first = await waitFor(async () => {
      const e = await explain(waiting);
      return e.cycle && !e.stale && e.position !== null ? e : null;
    }, 'the waiting job explained');
    // A submission makes a cycle; its explanation waits out the interval, then a cycle rebuilds it.
    await submit('w2', 8);
    const later = await waitFor(async () => {
      const e = await explain(waiting);
      return e.cycle && e.cycle.number > first.cycle!.number ? e : null;
    }, 'a later cycle explained it');
    assert.ok(Date.parse(later.cycle!.startedAt) > Date.parse(first.cycle!.startedAt));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const m = /^gigafab_scheduler_cycle_number (\d+)$/m.exec(metrics);
    assert.ok(m, 'the cycle gauge is served');
    assert.ok(Number(m[1]) >= later.reasonCycle!.number, `gauge ${m[1]} vs reason cycle ${later.reasonCycle!.number}`);
  });
});

describe('explanations older than every later cycle (interval: an hour)', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    s = await serve(3600);
  });
  after(async () => {
    await s?.server.stop();
  });

  test('the answer keeps naming cycle 1 and says the reason is newer; the CLI prints both', async () => {
    const { server, submit, explain, token } = s;
    await submit('hog', 8);
    const b = await submit('b', 8);
    // Only the first cycle (at start-up, nothing queued) explained: it knows nothing of b.
    const e = await waitFor(async () => {
      const x = await explain(b);
      return x.reasonCycle ? x : null;
    }, 'b has a reason');
    assert.equal(e.cycle?.number, 1, JSON.stringify(e));
    // A term only where several replicas may lead (the lease's fencing token, 1 for the first leader).
    assert.equal(e.cycle?.term, process.env.GIGAFAB_TEST_STORE === 'postgres' ? 1 : undefined);
    assert.equal(e.position, null);
    assert.equal(e.stale, true);
    assert.ok(e.reasonCycle!.number > 1);

    const { gigafab } = cliRunner('gigafab-explain-cycle-cli-');
    const r = await gigafab(['job', 'explain', b], { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: token });
    assert.equal(r.code, 0, r.err);
    const term = e.cycle?.term !== undefined ? ` of leader term ${e.cycle.term}` : '';
    assert.match(
      r.out,
      new RegExp(`^Explained: +as of scheduling cycle 1${term} \\(\\d\\d:\\d\\d:\\d\\d UTC, \\d+s ago\\)$`, 'm'),
    );
    assert.match(
      r.out,
      /^Reason as of: +scheduling cycle (\d+)(?: of leader term \d+)? \(\d\d:\d\d:\d\d UTC, \d+s ago\), newer than the explanation/m,
    );
    const n = Number(/^Reason as of: +scheduling cycle (\d+)/m.exec(r.out)![1]);
    assert.ok(n >= e.reasonCycle!.number, r.out);
    const shown = await gigafab(['job', 'show', b], { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: token });
    assert.match(shown.out, /^Reason as of: +scheduling cycle \d+/m);
  });
});
