/**
 * The operator-bypass hunt: a tenant plants a unique marker in every field it writes (job name,
 * command, env, labels and output, a driver's failure message, checkpoint labels, dataset name and
 * manifest, secret value and description). Then the operator, without any access, calls every
 * route of the app (all methods, valid bodies) with the tenant's real ids, reads every job's event
 * stream, the audit log and its exports and /metrics, before and after its writes. No answer may
 * contain a marker, and no answer may hold a credential that authenticates as a tenant principal.
 * What each route must answer comes from its lockbox class (src/api/route-classes.ts): guarded
 * routes 403 lockbox_approval_required, redacted ones mark what they withheld, tenant-only writes 403.
 * Finally, with an approved access, every guarded route answers and each use is audited.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ROUTE_CLASSES, routeClass } from '../../src/api/route-classes.js';
import { ACCESS_VERBS } from '../../src/model/lockbox-schemas.js';
import { seedInvoice } from '../helpers/billing-history.js';
import { startLocalSiteServer } from '../helpers/local-site.js';
import { type TestServer, waitFor } from '../helpers/server.js';
import {
  type Answer,
  addTenant,
  bodyFor,
  type Call,
  caller,
  fill,
  key,
  type Operation,
  operations,
  operatorHeldToken,
  send,
  type Tenant,
  tokenIdOf,
} from './world.js';

const M = `mk${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
/** Where each marker was planted: a leak names the field. */
const FIELDS = [
  'jobname',
  'cmd',
  'env',
  'label',
  'output',
  'image',
  'ckpt',
  'apickpt',
  'dsname',
  'manifest',
  'secretvalue',
  'secretdesc',
] as const;
type Field = (typeof FIELDS)[number];
const mark = (f: Field) => `${M}${f}`;

let server: TestServer;
let op: Call;
let tenant: Tenant;
let ops: Operation[];
const jobs = { done: '', failed: '', running: '' };
let dataset = '';
const secret = 'vault';
let values: (o: Pick<Operation, 'path' | 'method'>) => Record<string, string>;

/** One operator answer: the route, how it was called, what came back. */
interface Seen {
  route: string;
  call: string;
  answer: Answer;
  /** A token the operator generated itself and asked the route to register (its SHA-256 in the body). */
  heldToken?: string;
}
const seen: Seen[] = [];
/** Token-looking strings from operator answers: true where one authenticated as a tenant principal. */
const credentials = new Map<string, boolean>();
/** The markers the tenant itself was shown. */
const planted = new Set<Field>();

before(async () => {
  server = await startLocalSiteServer('gigafab-bypass-');
  op = caller(server, server.operatorToken);
  tenant = await addTenant(server, op, 'hunt', 'L4');
  const admin = tenant.as.admin;
  assert.equal(
    (await admin('PUT', `/v1/orgs/hunt/secrets/${secret}`, { value: mark('secretvalue'), description: mark('secretdesc') }))
      .status,
    201,
  );
  const ds = await admin('POST', `/v1/projects/${tenant.project}/datasets`, {
    name: mark('dsname'),
    classification: 'internal',
    homeSite: 'lab1',
    sizeBytes: 1,
    checksum: `sha256:${createHash('sha256').update(M).digest('hex')}`,
    manifest: { uri: `s3://${mark('manifest')}` },
  });
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  dataset = ds.body.id;
  const submit = async (spec: Record<string, unknown>) => {
    const r = await tenant.as.member('POST', '/v1/jobs', { project: tenant.project, gpuType: 'L4', ...spec });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  };
  jobs.done = await submit({
    name: mark('jobname'),
    command: [
      'sh',
      '-c',
      `echo "label=${mark('ckpt')}" >> "$GIGAFAB_CHECKPOINT_FILE"; echo "${mark('output')} $X"; : ${mark('cmd')}`,
    ],
    env: { X: mark('env') },
    labels: { customer: mark('label') },
    secretEnv: { VAULT: secret },
    datasets: { reads: [dataset], writes: [] },
  });
  // The local driver has no container runtime: its refusal names the image, as an image-pull error would.
  jobs.failed = await submit({ name: `${mark('jobname')}-2`, image: `registry.example/${mark('image')}/trainer:v1` });
  jobs.running = await submit({ name: `${mark('jobname')}-3`, command: ['sh', '-c', `sleep 60; : ${mark('cmd')}`] });
  const state = async (id: string) => (await admin('GET', `/v1/jobs/${id}`)).body.state;
  await waitFor(async () => (await state(jobs.done)) === 'succeeded', 'the marked job to finish');
  await waitFor(async () => (await state(jobs.failed)) === 'failed', 'the image-only job to fail');
  await waitFor(async () => (await state(jobs.running)) === 'running', 'the long job to run');
  assert.equal(
    (await tenant.as.member('POST', `/v1/jobs/${jobs.running}/checkpoints`, { step: 1, label: mark('apickpt') })).status,
    201,
  );
  // Objects the operator's routes name: an access request, a reservation, a maintenance window.
  const req = await op('POST', '/v1/access-requests', bodyFor({ method: 'POST', path: '/v1/access-requests' }, { org: 'hunt' }));
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const res = await op(
    'POST',
    '/v1/reservations',
    bodyFor({ method: 'POST', path: '/v1/reservations' }, { org: 'hunt', gpuType: 'L4' }),
  );
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const mw = await op(
    'POST',
    '/v1/maintenance-windows',
    bodyFor({ method: 'POST', path: '/v1/maintenance-windows' }, { site: 'lab1' }),
  );
  assert.equal(mw.status, 201, JSON.stringify(mw.body));
  // A service whose template carries markers (scaled to zero: no replica runs), and one of its API keys.
  const svc = await tenant.as.member('POST', '/v1/services', {
    name: 'hunted',
    project: tenant.project,
    template: { gpuType: 'L4', command: ['sh', '-c', `: ${mark('cmd')}`], env: { X: mark('env') } },
    replicas: 0,
  });
  assert.equal(svc.status, 201, JSON.stringify(svc.body));
  const svcKey = await admin('POST', `/v1/services/${svc.body.id}/api-keys`, { name: 'hunted' });
  assert.equal(svcKey.status, 201, JSON.stringify(svcKey.body));
  const sshKey = await tenant.as.member('POST', '/v1/ssh-keys', {
    publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBYrBQoJCem2WycYYcfNYT6H7aaIgykGgVLhWFWIMN2 hunted',
  });
  assert.equal(sshKey.status, 201, JSON.stringify(sshKey.body));
  const node = (await op('GET', '/v1/nodes')).body.items[0].id as string;
  const invoice = await seedInvoice(server, 'hunt', tenant.project, 'L4', 'lab1');
  const token = await tokenIdOf(tenant);
  values = (o) => {
    const byPrefix: [string, string][] = [
      ['/v1/services/', svc.body.id],
      ['/v1/jobs/{id}/cancel', jobs.running],
      ['/v1/jobs/{id}/checkpoints', jobs.running],
      ['/v1/jobs/', jobs.done],
      ['/v1/sessions/', jobs.running],
      ['/v1/datasets/', dataset],
      ['/v1/reservations/', res.body.id],
      ['/v1/access-requests/', req.body.id],
      ['/v1/maintenance-windows/', mw.body.id],
      ['/v1/invoices/', invoice],
      ['/v1/nodes/', node],
      ['/v1/tokens/', token ?? ''],
      ['/v1/ssh-keys/', sshKey.body.id],
      ['/v1/orgs/', 'hunt'],
      ['/v1/projects/', tenant.project],
    ];
    const id = byPrefix.find(([p]) => o.path.startsWith(p))?.[1];
    // A new kind of object in a path needs a real one here, or the attack would only ever miss.
    assert.ok(id || !o.path.includes('{id}'), `${o.path}: add a real object of the tenant for {id} here`);
    return {
      id: id ?? 'none',
      org: 'hunt',
      project: tenant.project,
      name: secret,
      user: tenant.userIds.member,
      gpuType: 'L4',
      site: 'lab1',
      keyId: svcKey.body.id,
    };
  };
  ops = await operations(server.url);
  // The tenant's own reads through the guarded and redacted routes show its markers: the hunt is not blind.
  for (const o of ops.filter((x) => x.method === 'GET' && ['guarded', 'redacted'].includes(routeClass(key(x))?.lockbox ?? ''))) {
    for (const id of Object.values(jobs)) {
      const v = { ...values(o), ...(o.path.startsWith('/v1/jobs/') ? { id } : {}) };
      const r = await send(server.url, tenant.tokens.admin, 'GET', fill(o, v), undefined, 1500);
      for (const f of FIELDS) if (r.text.includes(mark(f))) planted.add(f);
    }
  }
});

after(async () => {
  await server?.stop();
});

/** Every route of the app as an operation: the OpenAPI document's plus the public ones it does not list. */
const everyRoute = (): Operation[] => {
  const documented = new Set(ops.map(key));
  const extra = Object.keys(ROUTE_CLASSES)
    .filter((k) => !documented.has(k))
    .map((k) => {
      const [method, path] = k.split(' ') as [string, string];
      return { method, path, params: [], bodyRequired: false, query: {} };
    });
  return [...ops, ...extra];
};

/** GETs beyond the plain URL: filters (a label probe too), the other export format. */
const VARIANTS: Record<string, string[]> = {
  'GET /v1/jobs': ['?limit=1000', '?project=hunt-ml', `?label=customer=${mark('label')}`],
  'GET /v1/datasets': ['?project=hunt-ml'],
  'GET /v1/audit': ['?limit=1000'],
  'GET /v1/audit/export': ['?format=csv'],
  'GET /v1/access-requests': ['?org=hunt'],
};

const call = async (o: Operation, id?: string) => {
  const v = values(o);
  if (id) v.id = id;
  const path = fill(o, v);
  const paths = o.method === 'GET' ? [path, ...(VARIANTS[key(o)] ?? []).map((q) => `${path}${q}`)] : [path];
  for (const p of paths) {
    const answer = await send(server.url, server.operatorToken, o.method, p, bodyFor(o, v), 1500);
    seen.push({ route: key(o), call: `${o.method} ${p}`, answer });
    // A token-looking string is tried at once as a tenant credential (a later erasure would revoke it).
    for (const t of tokensIn(answer.text)) {
      if (credentials.has(t)) continue;
      const who = await send(server.url, t, 'GET', '/v1/whoami');
      credentials.set(t, who.status === 200 && JSON.parse(who.text).org !== null);
    }
  }
};

/** The operator's writes, in an order that keeps the tenant's objects for the later ones; erasure last of all. */
const LATE = [
  'POST /v1/nodes/{id}/undrain',
  'POST /v1/jobs/{id}/cancel',
  'POST /v1/orgs/{org}/restriction',
  'DELETE /v1/orgs/{org}/restriction',
  'DELETE /v1/orgs/{org}/secrets/{name}',
  'DELETE /v1/datasets/{id}',
  'DELETE /v1/reservations/{id}',
  'DELETE /v1/maintenance-windows/{id}',
];
const ERASURE = 'POST /v1/orgs/{org}/erasure';

/** Known leaks that a fix on another branch removes: the defect, and which (route, field) it covers. */
const KNOWN: { defect: string; covers: (s: Seen, f: Field | 'credential') => boolean }[] = [];

/** around: the text near the first `needle`, to show where a leak is. */
const around = (text: string, needle: string) => {
  const i = Math.max(0, text.indexOf(needle));
  return text.slice(Math.max(0, i - 200), i + 100);
};

/** leaksOf: which markers (and tenant credentials) one answer shows. */
const leaksOf = (s: Seen): (Field | 'credential')[] => {
  const found: (Field | 'credential')[] = FIELDS.filter((f) => s.answer.text.includes(mark(f)));
  for (const t of [...tokensIn(s.answer.text), ...(s.heldToken ? [s.heldToken] : [])]) {
    if (credentials.get(t)) found.push('credential');
  }
  return found;
};
const tokensIn = (text: string) => [
  ...new Set([...text.matchAll(/gf_[A-Za-z0-9_-]{16,}|eyJ[\w-]+\.[\w-]+\.[\w-]+/g)].map((m) => m[0])),
];

describe('the operator walks every route', () => {
  before(async () => {
    const routes = everyRoute();
    const reads = routes.filter((o) => o.method === 'GET');
    const writes = routes.filter((o) => o.method !== 'GET' && !LATE.includes(key(o)) && key(o) !== ERASURE);
    const late = LATE.map((k) => routes.find((o) => key(o) === k)).filter((o) => o !== undefined);
    const readAll = async () => {
      for (const o of reads) await call(o);
      for (const id of [jobs.failed, jobs.running]) {
        for (const o of reads.filter((r) => r.path.startsWith('/v1/jobs/{id}'))) await call(o, id);
      }
    };
    await readAll();
    for (const o of writes) await call(o);
    for (const o of late) await call(o);
    // A credential need not be in an answer: the operator may register the hash of a token it made
    // itself (onboarding takes one). Each credential route is asked to, and the token tried at once.
    for (const o of routes.filter((r) => routeClass(key(r))?.lockbox === 'credential')) {
      const v = values(o);
      const own = operatorHeldToken();
      const body = { ...((bodyFor(o, v) as Record<string, unknown> | undefined) ?? {}), tokenSha256: own.sha256 };
      const answer = await send(server.url, server.operatorToken, o.method, fill(o, v), body);
      seen.push({
        route: key(o),
        call: `${o.method} ${fill(o, v)} with the operator's own token hash`,
        answer,
        heldToken: own.token,
      });
      const who = await send(server.url, own.token, 'GET', '/v1/whoami');
      credentials.set(own.token, who.status === 200 && JSON.parse(who.text).org !== null);
    }
    await readAll();
    const erasure = routes.find((o) => key(o) === ERASURE);
    if (erasure) await call(erasure);
    await readAll();
  });

  test('every operation of the app was called, reads before and after the writes', () => {
    const called = new Set(seen.map((s) => s.route));
    assert.deepEqual(
      Object.keys(ROUTE_CLASSES).filter((k) => !called.has(k)),
      [],
    );
    assert.ok(seen.length > 200, `${seen.length} calls`);
  });

  test('no answer is a server error', () => {
    assert.deepEqual(
      seen.filter((s) => s.answer.status >= 500).map((s) => `${s.call}: ${s.answer.text.slice(0, 200)}`),
      [],
    );
  });

  test('no answer shows a tenant-written marker or a tenant credential (known defects aside)', () => {
    const leaks = seen.flatMap((s) =>
      leaksOf(s)
        .filter((f) => !KNOWN.some((k) => k.covers(s, f)))
        .map((f) => `${s.call} shows ${f}: …${around(s.answer.text, f === 'credential' ? 'gf_' : mark(f))}…`),
    );
    assert.deepEqual(leaks, []);
  });

  for (const k of KNOWN) {
    test(`no answer shows what ${k.defect.split(':')[0]} leaks`, { todo: k.defect }, () => {
      const leaks = seen.flatMap((s) =>
        leaksOf(s)
          .filter((f) => k.covers(s, f))
          .map((f) => `${s.call} shows ${f}: …${around(s.answer.text, f === 'credential' ? 'gf_' : mark(f))}…`),
      );
      assert.deepEqual(leaks, []);
    });
  }

  test('each route answers as its lockbox class says: guarded 403, redacted and audit records marked, tenant-only writes refused', () => {
    const wrong: string[] = [];
    // The first round of reads and the writes, before erasure made the tenant's objects unreadable.
    const erasedAt = seen.findIndex((s) => s.route === ERASURE);
    const firstWrite = seen.findIndex((s) => !s.route.startsWith('GET '));
    for (const [i, s] of seen.slice(0, erasedAt < 0 ? seen.length : erasedAt).entries()) {
      const cls = routeClass(s.route);
      const code = s.answer.type.includes('json') && s.answer.status >= 400 ? JSON.parse(s.answer.text).code : null;
      if (cls?.lockbox === 'guarded' && (s.answer.status !== 403 || code !== 'lockbox_approval_required')) {
        wrong.push(`${s.call}: guarded, answered ${s.answer.status} ${code}`);
      }
      // Before the operator's writes (which cancel, delete and erase), every redacted read has tenant data to withhold.
      if (cls?.lockbox === 'redacted' && i < firstWrite && s.answer.status === 200 && !s.answer.text.includes('"redacted"')) {
        wrong.push(`${s.call}: redacted, but marks nothing withheld`);
      }
      // (The CSV export has fixed columns: it cannot say what it withheld.)
      const json = /json/.test(s.answer.type);
      if (cls?.lockbox === 'oversight' && json && i < firstWrite && !s.answer.text.includes('"redacted"')) {
        wrong.push(`${s.call}: oversight, but marks nothing withheld`);
      }
      if (cls?.lockbox === 'tenant-only' && s.answer.status !== 403) {
        wrong.push(`${s.call}: tenant-only, answered ${s.answer.status}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('the hunt reached real objects: the tenant saw its markers through the same read URLs', () => {
    // Never shown to anyone, not even the tenant: secret values and dataset manifests.
    assert.deepEqual(
      FIELDS.filter((f) => !planted.has(f) && f !== 'secretvalue' && f !== 'manifest'),
      [],
    );
  });
});

describe('with an approved access', () => {
  test('every guarded route answers the operator, and each use is recorded for the tenant', async () => {
    // A fresh tenant: the hunt above erased its organisation.
    const t = await addTenant(server, op, 'hunt2', 'L4');
    const j = await t.as.member('POST', '/v1/jobs', {
      name: 'j',
      project: t.project,
      gpuType: 'L4',
      command: ['sh', '-c', `echo ${M}-granted`],
    });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    await waitFor(async () => (await t.as.admin('GET', `/v1/jobs/${j.body.id}`)).body.state === 'succeeded', 'job');
    assert.equal((await t.as.admin('PUT', `/v1/orgs/hunt2/secrets/${secret}`, { value: 'v' })).status, 201);
    const filed = await op('POST', '/v1/access-requests', {
      org: 'hunt2',
      cause: 'bypass hunt: the guarded routes open under consent',
      scope: { objects: ['job:*', 'secret:*', 'dataset:*', 'report:*'], verbs: ACCESS_VERBS },
      durationSeconds: 600,
      requesterCountry: 'DE',
      derivedDataRetentionDays: 0,
      approvalDeadline: new Date(Date.now() + 600_000).toISOString(),
    });
    assert.equal(filed.status, 201, JSON.stringify(filed.body));
    assert.equal((await t.as.admin('POST', `/v1/access-requests/${filed.body.id}/approve`, {})).status, 200);
    const guarded = ops.filter((o) => o.method === 'GET' && routeClass(key(o))?.lockbox === 'guarded');
    assert.ok(guarded.length >= 6);
    for (const o of guarded) {
      const v = { id: j.body.id, org: 'hunt2', name: secret };
      const r = await send(server.url, server.operatorToken, 'GET', fill(o, v), undefined, 1500);
      assert.equal(r.status, 200, `${key(o)}: ${r.text.slice(0, 200)}`);
    }
    const logs = await send(server.url, server.operatorToken, 'GET', `/v1/jobs/${j.body.id}/logs`);
    assert.match(logs.text, new RegExp(`${M}-granted`));
    const detail = await t.as.admin('GET', `/v1/access-requests/${filed.body.id}`);
    const used = new Set(detail.body.uses.map((u: { verb: string; object: string }) => `${u.verb} ${u.object}`));
    for (const want of [
      `read-logs job:${j.body.id}`,
      `read-spec job:${j.body.id}`,
      'read-secret secret:*',
      `read-secret secret:${secret}`,
      'read-report report:residency',
      'read-report report:processing-record',
    ]) {
      assert.ok(used.has(want), `use ${want} recorded (have ${[...used].join(', ')})`);
    }
    const audit = await t.as.admin('GET', '/v1/audit?limit=200');
    assert.ok(
      audit.body.items.some(
        (a: { actor: string; action: string }) => a.actor === 'operator' && a.action === 'processing-record.export',
      ),
      'report exports by the operator are in the tenant’s audit slice',
    );
  });
});
