/**
 * Three API replicas on one PostgreSQL database (real server processes, throwaway cluster on
 * loopback): one holds the scheduler lease, all take submissions. 16 clients submit a bounded load
 * across the replicas; the leader is killed with SIGKILL mid-load → a follower takes over and
 * schedules within 5 s; every acknowledged job is in the store exactly once and no GPU is held by
 * two running jobs at once. Then the new leader is paused (SIGSTOP) until its lease runs out, a
 * follower takes over, and once resumed the old leader's decisions are refused (stale fencing
 * token) and it steps down.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type PostgresCluster, startPostgres } from '../helpers/postgres.js';
import { health, leaderOf, startReplicas } from '../helpers/replicas.js';
import { api, type TestServer, waitFor } from '../helpers/server.js';
import { adminOf, tenantToken } from '../helpers/tenants.js';

let cluster: PostgresCluster;
let url: string;
let replicas: TestServer[];
let token: string;
let db: pg.Client;

const spec = (name: string, seconds: number) => ({
  name,
  project: 'ha-ml',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 1,
  simulation: { durationSeconds: seconds },
});

before(async () => {
  cluster = await startPostgres();
  url = await cluster.createDatabase('gigafab');
  replicas = await startReplicas(url, 3);
  const op = api(replicas[0]!.url, replicas[0]!.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'haorg', name: 'HA AG', kind: 'enterprise' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/haorg/projects', { id: 'ha-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/ha-ml/quotas/B200', { gpus: 256 })).status, 200);
  token = await tenantToken(op, 'haorg', { name: 'Hana', role: 'member' });
  db = new pg.Client({ connectionString: url });
  await db.connect();
});

after(async () => {
  const keep = process.env.GIGAFAB_TEST_KEEP_LOGS;
  if (keep) for (const [i, r] of (replicas ?? []).entries()) writeFileSync(`${keep}-${i}.log`, r.output());
  for (const r of replicas ?? []) {
    try {
      process.kill(r.pid, 'SIGCONT');
    } catch {}
    await r.stop('SIGKILL');
  }
  await db?.end();
  await cluster?.remove();
});

/** Replicas a test killed on purpose. */
const killed = new Set<TestServer>();

/** No GPU in two running jobs' placements, read from the store. */
async function assertNoGpuTwice(): Promise<void> {
  const rows = await db.query<{ id: string; placement: string }>("SELECT id, placement FROM jobs WHERE state = 'running'");
  const holder = new Map<string, string>();
  for (const r of rows.rows) {
    const placement: unknown = JSON.parse(r.placement);
    const nodes = placement && typeof placement === 'object' && 'nodes' in placement ? placement.nodes : [];
    for (const n of Array.isArray(nodes) ? nodes : []) {
      for (const g of n.gpus ?? []) {
        const key = `${n.node}/${g}`;
        assert.equal(holder.get(key), undefined, `GPU ${key} held by jobs ${holder.get(key)} and ${r.id}`);
        holder.set(key, r.id);
      }
    }
  }
}

test('replicas: one leader; kill -9 of the leader under load from 16 clients → a follower schedules within 5 s, nothing lost or doubled', async () => {
  const roles = await Promise.all(replicas.map((r) => health(r)));
  assert.deepEqual(roles.map((h) => h?.role).sort(), ['follower', 'follower', 'leader'], JSON.stringify(roles));
  const leader = (await leaderOf(replicas))!;
  const followers = replicas.filter((r) => r !== leader);

  // 16 clients, 12 submissions each, round-robin over the replicas; a refused or cut request is retried
  // on the next replica with the same Idempotency-Key (what a client behind a load balancer does).
  const acked = new Map<string, string>(); // idempotency key → job id
  let killedAt = 0;
  const client = async (c: number) => {
    for (let i = 0; i < 12; i++) {
      const key = `c${c}-${i}`;
      for (let attempt = 0; ; attempt++) {
        const target = replicas[(c + i + attempt) % replicas.length]!;
        const r = await api(target.url, token)('POST', '/v1/jobs', spec(key, 1200), { 'idempotency-key': key }).catch(() => null);
        if (r && (r.status === 201 || r.status === 200)) {
          const prior = acked.get(key);
          assert.ok(!prior || prior === r.body.id, `key ${key} answered with two job ids`);
          acked.set(key, r.body.id);
          break;
        }
        assert.ok(
          attempt < 20,
          `submission ${key} never acknowledged: ${r ? `${r.status} ${JSON.stringify(r.body)}` : 'no answer'}`,
        );
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  };
  const load = Promise.all(Array.from({ length: 16 }, (_, c) => client(c)));
  await waitFor(async () => acked.size >= 60, 'a third of the load acknowledged');
  await leader.stop('SIGKILL');
  killed.add(leader);
  killedAt = Date.now();
  // Leader death → first new placement: the first job.start audited after the dead leader's last record.
  const lastBefore = (await db.query('SELECT max(id)::int AS id FROM audit')).rows[0].id;
  await waitFor(
    async () => (await db.query("SELECT 1 FROM audit WHERE id > $1 AND action = 'job.start'", [lastBefore])).rows.length > 0,
    'a job started by the new leader',
    5_000,
  );
  const failoverMs = Date.now() - killedAt;
  assert.ok(failoverMs < 5000, `failover took ${failoverMs} ms`);
  const newLeader = await waitFor(() => leaderOf(followers), 'a follower to say it leads');
  assert.ok(((await health(newLeader))?.fencingToken ?? 0) >= 2, 'the new leader holds a newer fencing token');
  await load;
  await assertNoGpuTwice();

  // Every acknowledged job is in the store exactly once (by its key), and each runs to its end.
  const rows = await db.query<{ id: string; idempotency_key: string }>(
    'SELECT id::text AS id, idempotency_key FROM jobs WHERE idempotency_key IS NOT NULL',
  );
  assert.equal(acked.size, 16 * 12);
  const byKey = new Map<string, string[]>();
  for (const r of rows.rows) byKey.set(r.idempotency_key, [...(byKey.get(r.idempotency_key) ?? []), r.id]);
  for (const [key, id] of acked) assert.deepEqual(byKey.get(key), [id], `job ${key} present exactly once`);
  let samples = 0;
  const allDone = waitFor(
    async () => {
      await assertNoGpuTwice();
      samples++;
      const left = await db.query("SELECT count(*)::int AS n FROM jobs WHERE state IN ('queued', 'running')");
      return left.rows[0].n === 0;
    },
    'every job to finish on the surviving replicas',
    90_000,
  );
  await allDone;
  assert.ok(samples > 0);
  const ends = await db.query(
    "SELECT job_id, count(*)::int AS n FROM job_events WHERE type IN ('succeeded', 'failed', 'cancelled', 'timed-out') GROUP BY job_id HAVING count(*) > 1",
  );
  assert.deepEqual(ends.rows, [], 'no job ended twice');
  console.log(`# failover (kill -9 → first new placement): ${failoverMs} ms`);
});

test('replicas: a paused leader (SIGSTOP) loses its lease; resumed, its decisions are refused (stale token) and it steps down', async () => {
  // The survivors of the first test (not a health probe: a dead replica's port may already serve
  // another process's server on a shared machine).
  const alive = replicas.filter((r) => !killed.has(r));
  assert.equal(alive.length, 2);
  for (const r of alive) assert.ok(await health(r), 'a survivor answers');
  const old = (await waitFor(() => leaderOf(alive), 'a leader'))!;
  const other = alive.find((r) => r !== old)!;
  const oldToken = (await health(old))!.fencingToken!;
  // Jobs that run on the old leader's drivers and end while it is paused: it will try to record their end.
  const running = [];
  for (let i = 0; i < 4; i++) {
    const r = await api(other.url, token)('POST', '/v1/jobs', spec(`paused-${i}`, 2400));
    assert.equal(r.status, 201, `submission paused-${i} through the follower: ${r.status} ${JSON.stringify(r.body)}`);
    running.push(r.body.id);
  }
  const ids = running.map(Number);
  await waitFor(async () => {
    const r = await db.query("SELECT count(*)::int AS n FROM jobs WHERE state = 'running' AND id = ANY($1)", [ids]);
    return r.rows[0].n === 4;
  }, 'the jobs to run on the old leader');
  process.kill(old.pid, 'SIGSTOP');
  const pausedAt = Date.now();
  const tookOver = await waitFor(async () => (await health(other))?.role === 'leader', 'the follower to take over', 8_000);
  assert.ok(tookOver);
  const newToken = (await health(other))!.fencingToken!;
  assert.ok(newToken > oldToken, `new token ${newToken} > old ${oldToken}`);
  await new Promise((r) => setTimeout(r, Math.max(0, 5000 - (Date.now() - pausedAt)))); // the jobs (4 s) end meanwhile
  const before = await db.query('SELECT max(id)::int AS id FROM audit');
  process.kill(old.pid, 'SIGCONT');
  await waitFor(async () => (await health(old))?.role === 'follower', 'the resumed old leader to step down', 5_000);
  await waitFor(async () => /stepped down/.test(old.output()), 'it to say it stepped down');
  // Its drivers reported the ends it saw while paused: every such commit was refused by the fence.
  await waitFor(async () => /no longer holds the scheduler lease/.test(old.output()), 'a refused decision', 5_000);
  assert.equal((await health(old))!.fencingToken, oldToken, 'it still knows only its old token');
  // The new leader records those ends, each exactly once.
  await waitFor(async () => {
    const r = await db.query("SELECT count(*)::int AS n FROM jobs WHERE state = 'succeeded' AND id = ANY($1)", [ids]);
    return r.rows[0].n === 4;
  }, 'the new leader to record the ends');
  const ends = await db.query(
    "SELECT job_id, count(*)::int AS n FROM job_events WHERE job_id = ANY($1) AND type = 'succeeded' GROUP BY job_id",
    [ids],
  );
  assert.deepEqual(
    ends.rows.map((r) => r.n),
    [1, 1, 1, 1],
  );
  const starts = await db.query("SELECT count(*)::int AS n FROM audit WHERE id > $1 AND action = 'job.start'", [
    before.rows[0].id ?? 0,
  ]);
  assert.equal(starts.rows[0].n, 0, 'nothing was started since the resume (nothing was queued)');
  await assertNoGpuTwice();
  // And the stepped-down replica still serves the API: a submission there is scheduled by the leader,
  // and its live event stream there (SSE) carries the leader's start and end as they happen.
  const viaOld = await api(old.url, token)('POST', '/v1/jobs', spec('via-old', 1200));
  assert.equal(viaOld.status, 201);
  const stream = await fetch(`${old.url}/v1/jobs/${viaOld.body.id}/events/stream`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(stream.status, 200);
  const text = await stream.text(); // ends once the job has ended
  const types = [...text.matchAll(/"type":"([a-z-]+)"/g)].map((m) => m[1]);
  assert.deepEqual([types[0], types.includes('running'), types.at(-1)], ['queued', true, 'succeeded'], text);
  assert.match(text, /event: end\ndata: \{"state":"succeeded"\}/);
  const metrics = await (await fetch(`${other.url}/metrics`)).text();
  assert.match(metrics, /^gigafab_scheduler_leader 1$/m);
  assert.match(metrics, new RegExp(`^gigafab_scheduler_fencing_token ${newToken}$`, 'm'));
  assert.match(await (await fetch(`${old.url}/metrics`)).text(), /^gigafab_scheduler_leader 0$/m);

  // A quota set through a follower binds the leader (re-read every 2 s): 8 GPUs, so one 8-GPU job at a time.
  const viaFollower = api(old.url, old.operatorToken);
  assert.equal((await viaFollower('PUT', '/v1/projects/ha-ml/quotas/B200', { gpus: 8 })).status, 200);
  await new Promise((r) => setTimeout(r, 2500));
  const pair: number[] = [];
  for (const n of ['q1', 'q2']) pair.push(Number((await api(other.url, token)('POST', '/v1/jobs', spec(n, 1200))).body.id));
  // Explanations name the leader's term: the new leader's cycles cite its fencing token.
  const explained = await waitFor(async () => {
    const e = (await api(other.url, token)('GET', `/v1/jobs/${pair[0]}/explain`)).body;
    return e.cycle ? e : null;
  }, 'an explanation from the new leader');
  assert.equal(explained.cycle.term, newToken, JSON.stringify(explained.cycle));
  let most = 0;
  await waitFor(
    async () => {
      const r = await db.query(
        "SELECT count(*) FILTER (WHERE state = 'running')::int AS running, count(*) FILTER (WHERE state = 'succeeded')::int AS done FROM jobs WHERE id = ANY($1)",
        [pair],
      );
      most = Math.max(most, r.rows[0].running);
      return r.rows[0].done === 2;
    },
    'both to run, one after the other',
    20_000,
  );
  assert.equal(most, 1, 'the leader kept to the quota set through the follower');

  // A restriction (GDPR Art. 18) set through the follower: the leader stops and holds the org's running
  // job within seconds, and the other replica refuses its new jobs; lifted, the job runs again.
  const long = Number((await api(other.url, token)('POST', '/v1/jobs', spec('restricted', 60_000))).body.id);
  await waitFor(
    async () => (await db.query('SELECT state FROM jobs WHERE id = $1', [long])).rows[0].state === 'running',
    'it to run',
  );
  const admin = api(old.url, adminOf(api(replicas[0]!.url, replicas[0]!.operatorToken), 'haorg'));
  assert.equal((await admin('POST', '/v1/orgs/haorg/restriction', { reason: 'contested' })).status, 200);
  await waitFor(
    async () => (await db.query('SELECT state FROM jobs WHERE id = $1', [long])).rows[0].state === 'queued',
    'the leader to stop and requeue the restricted job',
    10_000,
  );
  const refused = await waitFor(
    async () => {
      const r = await api(other.url, token)('POST', '/v1/jobs', spec('while-restricted', 60));
      return r.status === 409 ? r : null;
    },
    'the leader replica to refuse new jobs',
    10_000,
  );
  assert.equal(refused.body.code, 'processing_restricted');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await db.query('SELECT state FROM jobs WHERE id = $1', [long])).rows[0].state, 'queued', 'held while restricted');
  assert.equal((await admin('DELETE', '/v1/orgs/haorg/restriction')).status, 200);
  await waitFor(
    async () => (await db.query('SELECT state FROM jobs WHERE id = $1', [long])).rows[0].state === 'running',
    'it to run again once lifted',
    10_000,
  );
});
