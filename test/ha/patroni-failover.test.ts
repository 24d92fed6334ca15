/**
 * The store's reference HA deployment under load: a real `gigafab server` on the libpq multi-host URL
 * of a Patroni cluster (etcd + two PostgreSQL members, synchronous_mode; test/helpers/patroni.ts).
 * 8 clients submit jobs with Idempotency-Keys throughout; (a) `patronictl switchover`, (b) a
 * `kill -9` of the primary's postmaster (Patroni restarts it in place) and (c) the primary's machine
 * lost — its Patroni and postmaster killed together, so the leader key runs out (ttl) and the
 * synchronous standby is promoted: what was acknowledged must be there. During each, a client may only meet retriable answers — 503
 * `store_unavailable` with Retry-After, or a cut connection — and retries with the same key. After
 * each: every acknowledged job is in the database exactly once, the scheduler places jobs again
 * within a bound (measured and printed), and the audit chain verifies. At the end every job has run
 * to its end: none is left "running" or "queued" by a scheduler whose view drifted from the store.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type PatroniCluster, startPatroni } from '../helpers/patroni.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let cluster: PatroniCluster;
let server: TestServer;
let token: string;
/** What a client can see: acknowledged keys → job id; answers that are not retriable. */
const acked = new Map<string, string>();
const violations: string[] = [];
let retriable = { unavailable: 0, cut: 0 };
/** When requests were refused or cut, and when acknowledged ones were sent and answered (for the timings). */
let refusedAt: number[] = [];
let acks: { sent: number; at: number }[] = [];

const spec = (name: string) => ({
  name,
  project: 'ha-ml',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 1,
  simulation: { durationSeconds: 300 }, // 0.5 s at --time-scale 600
});

/** q: one query on whichever member is the writable primary now (a fresh connection each time). */
async function q<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const leader = await cluster.leader();
  if (!leader) throw new Error('no leader');
  const u = new URL(cluster.url.replace(/@[^/]+\//, `@127.0.0.1:${leader.pgPort}/`));
  u.searchParams.delete('target_session_attrs');
  const c = new pg.Client({ connectionString: u.href, connectionTimeoutMillis: 2000 });
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

before(async () => {
  cluster = await startPatroni({ members: 2 });
  server = await startTestServer({ extraArgs: ['--database', cluster.url] });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'haorg', name: 'HA AG', kind: 'enterprise' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/haorg/projects', { id: 'ha-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/ha-ml/quotas/B200', { gpus: 256 })).status, 200);
  token = await tenantToken(op, 'haorg', { name: 'Hana', role: 'member' });
});

after(async () => {
  const keep = process.env.GIGAFAB_TEST_KEEP_LOGS;
  if (keep) {
    writeFileSync(`${keep}-server.log`, server?.output() ?? '');
    writeFileSync(`${keep}-patroni.log`, cluster?.logs() ?? '');
  }
  await server?.stop('SIGKILL');
  await cluster?.remove();
});

/**
 * load: 8 clients submitting until `stop()`, each retrying a refused or cut request with the same
 * Idempotency-Key (the Retry-After is honoured up to 250 ms, to keep the test short).
 */
function load(phase: string): { stop: () => Promise<void> } {
  let stopping = false;
  const client = async (c: number) => {
    for (let i = 0; !stopping; i++) {
      const key = `${phase}-c${c}-${i}`;
      for (let attempt = 0; ; attempt++) {
        let r: Awaited<ReturnType<ReturnType<typeof api>>> | null = null;
        const sent = Date.now();
        try {
          r = await api(server.url, token)('POST', '/v1/jobs', spec(key), { 'idempotency-key': key });
        } catch {
          retriable.cut++; // connection refused or cut: retry
          refusedAt.push(Date.now());
        }
        if (r && (r.status === 201 || r.status === 200)) {
          const prior = acked.get(key);
          if (prior && prior !== r.body.id) violations.push(`${key} answered with jobs ${prior} and ${r.body.id}`);
          acked.set(key, r.body.id);
          acks.push({ sent, at: Date.now() });
          break;
        }
        if (r) {
          if (r.status === 503 && r.body?.code === 'store_unavailable' && Number(r.headers.get('retry-after')) > 0) {
            retriable.unavailable++;
            refusedAt.push(Date.now());
          } else {
            violations.push(`${key}: ${r.status} ${JSON.stringify(r.body)}`);
            break;
          }
        }
        if (attempt > 200) {
          violations.push(`${key} never acknowledged`);
          break;
        }
        await new Promise((res) => setTimeout(res, Math.min(250, Number(r?.headers.get('retry-after') ?? 0) * 1000 || 100)));
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  const running = Promise.all(Array.from({ length: 8 }, (_, c) => client(c)));
  return {
    stop: async () => {
      stopping = true;
      await running;
    },
  };
}

/** Every acknowledged job is in the database exactly once, under its key, with its id. */
async function assertAckedOnce(): Promise<void> {
  assert.deepEqual(violations, [], 'clients met only retriable answers');
  const rows = await q<{ id: string; idempotency_key: string }>(
    'SELECT id::text AS id, idempotency_key FROM jobs WHERE idempotency_key IS NOT NULL',
  );
  const byKey = new Map<string, string[]>();
  for (const r of rows) byKey.set(r.idempotency_key, [...(byKey.get(r.idempotency_key) ?? []), r.id]);
  for (const [key, id] of acked) assert.deepEqual(byKey.get(key), [id], `acknowledged job ${key} present exactly once`);
}

async function maxAuditId(): Promise<number> {
  return (await q<{ id: number | null }>('SELECT max(id)::int AS id FROM audit'))[0]?.id ?? 0;
}

/**
 * disrupt: under load, `act` takes the primary away; measures when the database takes writes again
 * (the server acknowledges a submission) and when the scheduler places a job again (a job.start
 * audited after that), both from the start of `act`.
 */
async function disrupt(phase: string, act: () => Promise<void>): Promise<{ writableMs: number; placingMs: number }> {
  retriable = { unavailable: 0, cut: 0 };
  refusedAt = [];
  acks = [];
  const clients = load(phase);
  await waitFor(async () => [...acked.keys()].filter((k) => k.startsWith(phase)).length >= 24, `${phase}: load running`, 15_000);
  const t0 = Date.now();
  await act();
  // Writable again: the first acknowledgement of a request sent after the first refusal (a request in
  // flight when the primary went may still be acknowledged by it). No refusal at all: no gap.
  const back = await waitFor(
    async () => {
      const firstRefusal = refusedAt.find((t) => t >= t0);
      if (firstRefusal === undefined) return Date.now() - t0 > 3000 ? t0 : null;
      return acks.find((a) => a.sent > firstRefusal)?.at ?? null;
    },
    `${phase}: a submission acknowledged again`,
    30_000,
  );
  const writableMs = Math.max(0, back - t0);
  const mark = await waitFor(async () => maxAuditId().catch(() => null), `${phase}: the audit log readable`, 10_000);
  await waitFor(
    async () =>
      (await q("SELECT 1 FROM audit WHERE id > $1 AND action = 'job.start' LIMIT 1", [mark]).catch(() => [])).length > 0,
    `${phase}: the scheduler placing jobs again`,
    15_000,
  );
  const placingMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 500)); // a little load on the new primary
  await clients.stop();
  await assertAckedOnce();
  const verify = await api(server.url, server.operatorToken)('GET', '/v1/audit/verify');
  assert.equal(verify.status, 200, JSON.stringify(verify.body));
  assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
  console.log(
    `# ${phase}: writable again after ${writableMs} ms, placing jobs after ${placingMs} ms; ` +
      `${acked.size} acknowledged so far; retried: ${retriable.unavailable} × 503 store_unavailable, ${retriable.cut} × cut`,
  );
  return { writableMs, placingMs };
}

test('patroni: a switchover under load — only retriable errors, nothing acknowledged lost, scheduling resumes', async () => {
  let moved = { from: '', to: '' };
  const { placingMs } = await disrupt('switchover', async () => {
    moved = await cluster.switchover();
  });
  assert.notEqual(moved.from, moved.to);
  assert.ok(placingMs < 20_000, `placing again after ${placingMs} ms`);
});

test('patroni: kill -9 of the primary postmaster under load — only retriable errors, nothing acknowledged lost, scheduling resumes', async () => {
  await cluster.waitForSyncStandby(30_000);
  const { placingMs } = await disrupt('kill-9', async () => {
    const leader = await cluster.leader();
    assert.ok(leader, await cluster.list());
    const pid = cluster.postmasterPid(leader);
    assert.ok(pid, 'the primary postmaster runs');
    process.kill(pid, 'SIGKILL');
  });
  assert.ok(placingMs < 25_000, `placing again after ${placingMs} ms`);
});

test('patroni: the primary machine lost (Patroni and PostgreSQL killed) under load — the synchronous standby takes over with every acknowledged job', async () => {
  await cluster.waitForSyncStandby(30_000);
  let lost = '';
  const { placingMs } = await disrupt('failover', async () => {
    const leader = await cluster.leader();
    assert.ok(leader, await cluster.list());
    lost = leader.name;
    cluster.loseMember(leader);
  });
  const now = await cluster.leader();
  assert.ok(now && now.name !== lost, `the standby leads now: ${await cluster.list()}`);
  assert.ok(placingMs < 30_000, `placing again after ${placingMs} ms`);
});

test('patroni: afterwards every job runs to its end (the scheduler view matches the store)', async () => {
  await waitFor(
    async () => {
      const left = await q<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE state IN ('queued', 'running')").catch(
        () => [{ n: -1 }],
      );
      return left[0]?.n === 0;
    },
    'every job to end',
    30_000,
  );
  const twice = await q("SELECT job_id FROM job_events WHERE type = 'succeeded' GROUP BY job_id HAVING count(*) > 1");
  assert.deepEqual(twice, [], 'no job ended twice');
  const starts = await q<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE state = 'succeeded'");
  assert.equal(starts[0]?.n, acked.size, 'every acknowledged job succeeded');
});
