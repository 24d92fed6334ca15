/**
 * The isolation matrix, generated from the OpenAPI document: every operation whose path names an
 * object (an id or a name) is called by the admin, the member and the viewer of another
 * organisation, with a valid body, once with the victim's real ids and once with ids that do not
 * exist. Both answers must be the same (status, problem code, body shape and sentence, the ids
 * aside): 404 for organisations' and users' objects, 403 for operator-only objects. Afterwards
 * everything the victim's admin can read of its organisation is unchanged (a state digest).
 * A new route with a path parameter joins the matrix by itself; one with a required body fails
 * until it has a valid body in world.ts. The same server checks that every route is classified and
 * that the tenancy classes hold: public routes need no token, all others refuse a caller without
 * one, operator-only routes refuse every tenant role.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROUTE_CLASSES, routeClass } from '../../src/api/route-classes.js';
import { seedInvoice } from '../helpers/billing-history.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import {
  type Answer,
  addTenant,
  bodyFor,
  type Call,
  caller,
  digest,
  fill,
  key,
  type Operation,
  operations,
  ROLES,
  send,
  type Tenant,
  tokenIdOf,
} from './world.js';

let server: TestServer;
let op: Call;
let victim: Tenant;
let attacker: Tenant;
let ops: Operation[];
/** Real values of the victim's objects, by path parameter (per path prefix where names collide). */
let real: (o: Operation) => Record<string, string>;
let ids: { jobs: string[]; datasets: string[]; secrets: string[]; reservations: string[] };
const GPU = 'B200';
const inHours = (h: number) => new Date(Date.now() + h * 3600_000).toISOString();

const VICTIM_SPEC = {
  name: 'victim-job',
  project: 'victim-ml',
  gpuType: GPU,
  command: ['train'],
  env: { TOKEN: 'victim-env' },
  labels: { team: 'victim' },
  simulation: { durationSeconds: 10_000_000 },
};

/** A value of the same shape that names nothing: job 812 → 100812, ds_3f9a… → ds_0000…, a name → no-such-name. */
const fake = (v: string) =>
  /^\d+$/.test(v)
    ? String(Number(v) + 100_000)
    : /^[a-z]+_[0-9a-f]+$/.test(v)
      ? v.replace(/_[0-9a-f]+$/, (m) => `_${'0'.repeat(m.length - 1)}`)
      : `no-such-${v}`;

before(async () => {
  // A small simulated fleet: the demo fleet's 10,000 GPUs would cost every request time for nothing here.
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-isolation-'));
  // Calling each route once without a token is a check here, not brute force: the failed-auth limit is raised.
  const limits = join(dir, 'limits.yaml');
  writeFileSync(limits, 'rateLimits: { failedAuthPerIp: { requests: 100000, perSeconds: 60 } }\n');
  server = await startTestServer({ fleetPath: writeSmallFleet(dir), extraArgs: ['--limits', limits] });
  op = caller(server, server.operatorToken);
  victim = await addTenant(server, op, 'victim', GPU);
  attacker = await addTenant(server, op, 'attacker', GPU);
  const v = victim.as.admin;
  // The victim's objects: a running job, a secret, a dataset, a reservation, an access request.
  const job = await victim.as.member('POST', '/v1/jobs', VICTIM_SPEC, { 'idempotency-key': 'shared-key' });
  assert.equal(job.status, 201, JSON.stringify(job.body));
  await waitFor(async () => (await v('GET', `/v1/jobs/${job.body.id}`)).body.state === 'running', 'victim job to run');
  assert.equal((await v('PUT', '/v1/orgs/victim/secrets/victim-secret', { value: 'v', description: 'victim' })).status, 201);
  const ds = await v('POST', `/v1/projects/${victim.project}/datasets`, {
    name: 'victim-data',
    classification: 'internal',
    homeSite: 's1',
    sizeBytes: 1,
    checksum: `sha256:${'a'.repeat(64)}`,
  });
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  const res = await op('POST', '/v1/reservations', {
    org: 'victim',
    gpuType: GPU,
    gpus: 8,
    start: inHours(48),
    end: inHours(50),
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const req = await op('POST', '/v1/access-requests', {
    org: 'victim',
    cause: 'isolation matrix',
    scope: { objects: [`job:${job.body.id}`], verbs: ['read-logs'] },
    durationSeconds: 600,
    requesterCountry: 'DE',
    derivedDataRetentionDays: 0,
    approvalDeadline: inHours(24),
  });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const node = (await op('GET', '/v1/nodes?limit=1')).body.items[0].id as string;
  const mw = await op('POST', '/v1/maintenance-windows', { nodes: [node], start: inHours(72), end: inHours(73), reason: 'x' });
  assert.equal(mw.status, 201, JSON.stringify(mw.body));
  const svc = await victim.as.member('POST', '/v1/services', {
    name: 'victim-svc',
    project: victim.project,
    template: { gpuType: GPU, command: ['true'] },
    replicas: 0,
  });
  assert.equal(svc.status, 201, JSON.stringify(svc.body));
  const svcKey = await v('POST', `/v1/services/${svc.body.id}/api-keys`, { name: 'victim-key' });
  assert.equal(svcKey.status, 201, JSON.stringify(svcKey.body));
  const sshKey = await victim.as.member('POST', '/v1/ssh-keys', {
    publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBYrBQoJCem2WycYYcfNYT6H7aaIgykGgVLhWFWIMN2 victim',
  });
  assert.equal(sshKey.status, 201, JSON.stringify(sshKey.body));
  ids = { jobs: [job.body.id], datasets: [ds.body.id], secrets: ['victim-secret'], reservations: [res.body.id] };
  const invoice = await seedInvoice(server, 'victim', victim.project, GPU, 's1');
  const token = await tokenIdOf(victim);
  real = (o) => {
    const byPrefix: [string, string][] = [
      ['/v1/services/', svc.body.id],
      ['/v1/jobs/', job.body.id],
      ['/v1/sessions/', job.body.id],
      ['/v1/datasets/', ds.body.id],
      ['/v1/reservations/', res.body.id],
      ['/v1/access-requests/', req.body.id],
      ['/v1/maintenance-windows/', mw.body.id],
      ['/v1/invoices/', invoice],
      ['/v1/nodes/', node],
      ['/v1/tokens/', token ?? ''],
      ['/v1/ssh-keys/', sshKey.body.id],
      ['/v1/orgs/', 'victim'],
      ['/v1/projects/', victim.project],
    ];
    const id = byPrefix.find(([p]) => o.path.startsWith(p))?.[1];
    // A new kind of object in a path needs a real one here, or the attack would only ever miss.
    assert.ok(id || !o.path.includes('{id}'), `${o.path}: add a real object of the tenant for {id} here`);
    return {
      id: id ?? 'none',
      org: 'victim',
      project: victim.project,
      name: 'victim-secret',
      user: victim.userIds.member,
      gpuType: GPU,
      site: 's1',
      keyId: svcKey.body.id,
    };
  };
  // A clean restart signs an audit checkpoint, so the verify and export routes have chain heads to show.
  await server.restart();
  ops = await operations(server.url);
});

after(async () => {
  await server?.stop();
});

/** The answer to the non-existent ids with them put back to the real ones, to compare with the real answer whole. */
const asIfReal = (a: Answer, fakes: Record<string, string>, reals: Record<string, string>) => {
  let text = a.text;
  for (const k of Object.keys(fakes).sort((x, y) => fakes[y]!.length - fakes[x]!.length)) {
    text = text.replaceAll(fakes[k]!, reals[k]!);
  }
  return { ...a, text };
};

/** The non-existent twin of each path value (the GPU type and site are no objects: kept). */
const fakesOf = (values: Record<string, string>) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, k === 'gpuType' || k === 'site' ? v : fake(v)]));

/** inBatches: run the calls a few at a time (one server; batching overlaps their latency). */
async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

test('every operation with a path parameter: another organisation gets what a non-existent id gets, and the victim is unchanged', async () => {
  const before = await digest(victim, ids);
  const targets = ops.filter((o) => o.params.length > 0);
  assert.ok(targets.length >= 40, `the matrix covers the API (${targets.length} operations)`);
  const failures: string[] = [];
  const cases = targets.flatMap((o) => ROLES.map((role) => ({ o, role })));
  await inBatches(cases, 6, async ({ o, role }) => {
    const cls = routeClass(key(o));
    assert.ok(cls, `${key(o)} is classified`);
    const realValues = real(o);
    const fakeValues = fakesOf(realValues);
    const token = attacker.tokens[role];
    const [r, f] = await Promise.all([
      send(server.url, token, o.method, fill(o, realValues), bodyFor(o, realValues)),
      send(server.url, token, o.method, fill(o, fakeValues), bodyFor(o, fakeValues)),
    ]);
    const want = cls.tenancy === 'operator' ? 403 : 404;
    const where = `${key(o)} as another org's ${role}`;
    if (r.status !== want) failures.push(`${where}: ${r.status} for the victim's object (want ${want}): ${r.text.slice(0, 200)}`);
    try {
      assert.deepEqual(r, asIfReal(f, fakeValues, realValues));
    } catch {
      failures.push(`${where}: the victim's object answers ${r.text.slice(0, 200)}, a non-existent one ${f.text.slice(0, 200)}`);
    }
  });
  // Methods a path does not document answer alike too, whether the object exists or not.
  const undocumented = [...new Set(targets.map((o) => o.path))].flatMap((path) => {
    const documented = new Set(targets.filter((o) => o.path === path).map((o) => o.method));
    const template = targets.find((t) => t.path === path)!;
    return ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => !documented.has(m)).map((method) => ({ ...template, method }));
  });
  await inBatches(undocumented, 6, async (o) => {
    const realValues = real(o);
    const fakeValues = fakesOf(realValues);
    const body = ['POST', 'PUT', 'PATCH'].includes(o.method) ? {} : undefined;
    const [r, f] = await Promise.all([
      send(server.url, attacker.tokens.admin, o.method, fill(o, realValues), body),
      send(server.url, attacker.tokens.admin, o.method, fill(o, fakeValues), body),
    ]);
    try {
      assert.deepEqual(r, asIfReal(f, fakeValues, realValues));
    } catch {
      failures.push(`${key(o)} (undocumented): ${r.text.slice(0, 200)} vs ${f.text.slice(0, 200)}`);
    }
  });
  assert.deepEqual(failures, []);
  const afterwards = await digest(victim, ids);
  assert.deepEqual(afterwards.seen, before.seen, 'the victim organisation is unchanged');
  assert.equal(afterwards.hash, before.hash);
});

test("ids in request bodies: another organisation's project, dataset or Idempotency-Key work like ones that do not exist", async () => {
  const before = await digest(victim, ids);
  const member = attacker.tokens.member;
  const spec = { name: 'attack', project: attacker.project, gpuType: GPU, command: ['x'], simulation: { durationSeconds: 5 } };
  const submit = (over: Record<string, unknown>, headers?: string) =>
    fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${member}`,
        'content-type': 'application/json',
        ...(headers ? { 'idempotency-key': headers } : {}),
      },
      body: JSON.stringify({ ...spec, ...over }),
    }).then(async (r) => ({ status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() }));
  const pairs: [string, Record<string, unknown>, Record<string, unknown>, Record<string, string>, Record<string, string>][] = [
    ['project', { project: victim.project }, { project: 'no-such-victim-ml' }, { v: 'no-such-victim-ml' }, { v: victim.project }],
    [
      'dataset',
      { project: attacker.project, datasets: { reads: [ids.datasets[0]!], writes: [] } },
      { project: attacker.project, datasets: { reads: [fake(ids.datasets[0]!)], writes: [] } },
      { v: fake(ids.datasets[0]!) },
      { v: ids.datasets[0]! },
    ],
  ];
  for (const [what, realOver, fakeOver, fakes, reals] of pairs) {
    const [r, f] = await Promise.all([submit(realOver), submit(fakeOver)]);
    assert.ok(r.status >= 400 && r.status < 500, `a job on the victim's ${what}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.deepEqual(r, asIfReal(f, fakes, reals), `the victim's ${what} answers as a non-existent one`);
  }
  // The victim's Idempotency-Key is the attacker's own key: it creates the attacker's job, never replays the victim's.
  const replay = await submit({ project: attacker.project }, 'shared-key');
  assert.equal(replay.status, 201, replay.text.slice(0, 200));
  assert.equal(JSON.parse(replay.text).org, 'attacker');
  assert.ok(!replay.text.includes('victim'), replay.text.slice(0, 200));
  await api(server.url, attacker.tokens.admin)('POST', `/v1/jobs/${JSON.parse(replay.text).id}/cancel`);
  assert.deepEqual((await digest(victim, ids)).seen, before.seen, 'the victim organisation is unchanged');
});

/** Every list (a GET without path parameters) as each role of another organisation: what names the victim. */
const findListLeaks = async () => {
  const lists = ops.filter((o) => o.method === 'GET' && o.params.length === 0 && routeClass(key(o))?.tenancy === 'caller');
  assert.ok(lists.length >= 10, `lists covered (${lists.length})`);
  const leaks: { route: string; leak: string }[] = [];
  for (const o of lists) {
    for (const role of ROLES) {
      const get = (q: string) => send(server.url, attacker.tokens[role], 'GET', `${fill(o, {})}${q}`);
      const plain = await get('');
      if (/victim/.test(plain.text)) leaks.push({ route: key(o), leak: `as another org's ${role}: ${plain.text.slice(0, 300)}` });
      // A filter naming the victim's organisation or project answers as one naming nothing.
      for (const [name, value] of [
        ['org', 'victim'],
        ['project', victim.project],
      ] as const) {
        const [r, f] = await Promise.all([get(`?${name}=${value}`), get(`?${name}=no-such-${value}`)]);
        try {
          assert.deepEqual(r, asIfReal(f, { v: `no-such-${value}` }, { v: value }));
        } catch {
          leaks.push({
            route: key(o),
            leak: `?${name}=${value} as another org's ${role}: ${r.text.slice(0, 200)} (none: ${f.text.slice(0, 200)})`,
          });
        }
      }
    }
  }
  return leaks;
};

test("lists and filters show another organisation none of the victim's objects (the audit chain heads included)", async () => {
  assert.deepEqual(await findListLeaks(), []);
});

describe('the route classes hold on the real server', () => {
  const values = { id: 'x1', org: 'attacker', project: 'attacker-ml', name: 'n', user: 'u_1', gpuType: GPU, site: 's1' };

  test('every operation of the OpenAPI document is classified, every classification names a served route', async () => {
    assert.deepEqual(
      ops.map(key).filter((k) => !routeClass(k)),
      [],
    );
    const documented = new Set(ops.map(key));
    for (const route of Object.keys(ROUTE_CLASSES).filter((k) => !documented.has(k))) {
      const [method, path] = route.split(' ') as [string, string];
      const r = await send(server.url, '', method, path);
      assert.ok(!r.text.includes('route_not_found'), `${route} is classified but not served: ${r.status}`);
    }
  });

  test('public routes answer without a token; every other route answers 401 without one', async () => {
    for (const [route, cls] of Object.entries(ROUTE_CLASSES)) {
      const [method, path] = route.split(' ') as [string, string];
      const filled = path.replace(/\{(\w+)\}/g, (_, k: string) => values[k as keyof typeof values] ?? 'x');
      const r = await fetch(`${server.url}${filled}`, { method });
      await r.arrayBuffer();
      if (cls.tenancy === 'public') assert.equal(r.status, 200, route);
      else assert.equal(r.status, 401, `${route} without a token: ${r.status}`);
    }
  });

  test("operator-only routes refuse every role of an organisation with 403, its own organisation's ids and valid bodies", async () => {
    const operatorOnly = ops.filter((o) => routeClass(key(o))?.tenancy === 'operator');
    assert.ok(operatorOnly.length >= 10, `${operatorOnly.length} operator-only operations`);
    const node = (await op('GET', '/v1/nodes?limit=1')).body.items[0].id as string;
    for (const o of operatorOnly) {
      for (const role of ROLES) {
        const r = await send(server.url, attacker.tokens[role], o.method, fill(o, { ...values, id: node }), bodyFor(o, values));
        assert.equal(r.status, 403, `${key(o)} as the ${role}: ${r.text.slice(0, 200)}`);
      }
    }
  });
});
