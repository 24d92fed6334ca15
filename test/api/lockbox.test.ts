/**
 * Lockbox through the real server (local driver, so jobs have real output): an operator sees a
 * tenant's job metadata but not its command, env, labels or logs until an admin of the tenant
 * approves a scoped request; every use is audited and listed for the tenant; access ends by
 * itself; break-glass works at once and leaves a notice for the tenant.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startLocalSiteServer } from '../helpers/local-site.js';
import { api, BIN, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const run = promisify(execFile);
let server: TestServer;
let op: ReturnType<typeof api>;
let admin: ReturnType<typeof api>;
let member: ReturnType<typeof api>;
let otherAdmin: ReturnType<typeof api>;
let adminToken: string;
let jobId: string;
let job2Id: string;
const SECRET = 'TOPSECRET-hunter2';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const request = (extra: Record<string, unknown> = {}) => ({
  org: 'lab',
  cause: 'ticket 4711: the job fails with NCCL timeouts',
  scope: { objects: [`job:${jobId}`], verbs: ['read-spec', 'read-logs'] },
  durationSeconds: 3600,
  requesterCountry: 'DE',
  derivedDataRetentionDays: 30,
  approvalDeadline: inSeconds(3600),
  ...extra,
});
const logs = (token: string, id: string) =>
  fetch(`${server.url}/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${token}` } });

before(async () => {
  server = await startLocalSiteServer('gigafab-lockbox-');
  op = api(server.url, server.operatorToken);
  for (const org of ['lab', 'other']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'research' })).status, 201);
  }
  await op('POST', '/v1/orgs/lab/projects', { id: 'lab-ml' });
  await op('PUT', '/v1/projects/lab-ml/quotas/L4', { gpus: 4 });
  adminToken = await tenantToken(op, 'lab', { name: 'Ada', role: 'admin' });
  admin = api(server.url, adminToken);
  member = api(server.url, await tenantToken(op, 'lab', { name: 'Max', role: 'member' }));
  otherAdmin = api(server.url, await tenantToken(op, 'other', { name: 'Oz', role: 'admin' }));
  const submit = async (name: string) => {
    const r = await member('POST', '/v1/jobs', {
      name,
      project: 'lab-ml',
      gpuType: 'L4',
      command: ['sh', '-c', 'echo "secret is $API_KEY"'],
      env: { API_KEY: SECRET },
      labels: { customer: 'bigpharma' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await waitFor(async () => (await member('GET', `/v1/jobs/${r.body.id}`)).body.state === 'succeeded', `${name} to finish`);
    return r.body.id as string;
  };
  jobId = await submit('one');
  job2Id = await submit('two');
});

after(async () => {
  await server?.stop();
});

describe('by default an operator sees operational metadata only', () => {
  test('job show and list withhold command, image, env and labels; the tenant sees everything', async () => {
    const seen = await op('GET', `/v1/jobs/${jobId}`);
    assert.equal(seen.status, 200);
    assert.equal(seen.body.state, 'succeeded');
    assert.equal(seen.body.spec.gpuType, 'L4');
    assert.ok(seen.body.placement.site);
    assert.deepEqual(seen.body.redacted, [
      'name',
      'spec.name',
      'spec.command',
      'spec.image',
      'spec.env',
      'spec.secretEnv',
      'spec.labels',
    ]);
    assert.equal(seen.body.name, `job ${jobId}`);
    assert.equal(seen.body.spec.command, undefined);
    assert.equal(seen.body.spec.env, undefined);
    assert.deepEqual(seen.body.spec.labels, {});
    const list = await op('GET', '/v1/jobs');
    assert.ok(!JSON.stringify(list.body).includes(SECRET));
    assert.ok(!JSON.stringify(list.body).includes('bigpharma'));
    const own = await member('GET', `/v1/jobs/${jobId}`);
    assert.equal(own.body.spec.env.API_KEY, SECRET);
    assert.equal(own.body.redacted, undefined);
  });

  test('logs answer 403 lockbox_approval_required with how to ask; the label filter is closed too', async () => {
    const r = await logs(server.operatorToken, jobId);
    assert.equal(r.status, 403);
    const p = (await r.json()) as { code: string; detail: string };
    assert.equal(p.code, 'lockbox_approval_required');
    assert.match(p.detail, /gigafab access request --org lab --object job:\d+ --verb read-logs/);
    const probe = await op('GET', '/v1/jobs?label=customer=bigpharma');
    assert.equal(probe.status, 403);
    assert.equal(probe.body.code, 'lockbox_approval_required');
    assert.equal((await logs(adminToken, jobId)).status, 200);
  });
});

test('bypass hunt: no job route shows an operator the spec, env or labels', async () => {
  const long = await member('POST', '/v1/jobs', {
    name: 'long',
    project: 'lab-ml',
    gpuType: 'L4',
    command: ['sh', '-c', 'sleep 30'],
    env: { API_KEY: SECRET },
    labels: { customer: 'bigpharma' },
  });
  const id = long.body.id as string;
  await waitFor(async () => (await member('GET', `/v1/jobs/${id}`)).body.state === 'running', 'long job to run');
  const bodies = [
    await op('GET', '/v1/jobs'),
    await op('GET', `/v1/jobs?project=lab-ml&state=running`),
    await op('GET', `/v1/jobs/${id}`),
    await op('GET', `/v1/jobs/${id}/explain`),
    await op('GET', `/v1/jobs/${id}/events`),
    await op('POST', `/v1/jobs/${id}/cancel`),
    await op('GET', '/v1/audit?limit=200'),
  ];
  for (const r of bodies) {
    assert.ok(r.status < 300, JSON.stringify(r.body));
    const text = JSON.stringify(r.body);
    assert.ok(!text.includes(SECRET) && !text.includes('bigpharma') && !text.includes('sleep 30'), text.slice(0, 300));
  }
  assert.equal((await logs(server.operatorToken, id)).status, 403);
});

describe('request → approve → use → expiry', () => {
  test('only operators file requests; inputs are checked', async () => {
    assert.equal((await admin('POST', '/v1/access-requests', request())).status, 403);
    const past = await op('POST', '/v1/access-requests', request({ approvalDeadline: inSeconds(-10) }));
    assert.equal(past.status, 422);
    assert.equal(past.body.code, 'invalid_deadline');
    const bad = await op('POST', '/v1/access-requests', request({ requesterCountry: 'Germany' }));
    assert.equal(bad.status, 400);
    assert.equal((await op('POST', '/v1/access-requests', request({ org: 'nope' }))).status, 404);
  });

  test('the full flow, audited and visible to the tenant', async () => {
    const filed = await op('POST', '/v1/access-requests', request({ durationSeconds: 3 }));
    assert.equal(filed.status, 201, JSON.stringify(filed.body));
    const id = filed.body.id as string;
    assert.equal(filed.body.state, 'pending');
    assert.equal(filed.body.requesterCountry, 'DE');

    // Before approval: still denied.
    assert.equal((await logs(server.operatorToken, jobId)).status, 403);

    // A member cannot approve; another org's admin cannot even see it; the operator cannot approve its own.
    const byMember = await member('POST', `/v1/access-requests/${id}/approve`, {});
    assert.equal(byMember.status, 403);
    assert.equal((await otherAdmin('POST', `/v1/access-requests/${id}/approve`, {})).status, 404);
    assert.equal((await otherAdmin('GET', `/v1/access-requests/${id}`)).status, 404);
    assert.equal((await otherAdmin('GET', '/v1/access-requests')).body.items.length, 0);
    assert.equal((await op('POST', `/v1/access-requests/${id}/approve`, {})).status, 403);
    // The tenant (any member) sees the request.
    assert.ok((await member('GET', '/v1/access-requests')).body.items.some((r: { id: string }) => r.id === id));

    const approved = await admin('POST', `/v1/access-requests/${id}/approve`, { comment: 'ok for ticket 4711' });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.state, 'active');
    assert.equal((await admin('POST', `/v1/access-requests/${id}/deny`, {})).body.code, 'access_request_decided');

    // Allowed now, only within scope.
    const r = await logs(server.operatorToken, jobId);
    assert.equal(r.status, 200);
    assert.equal((await r.text()).trim(), `secret is ${SECRET}`);
    const full = await op('GET', `/v1/jobs/${jobId}`);
    assert.equal(full.body.spec.env.API_KEY, SECRET);
    assert.equal(full.body.redacted, undefined);
    assert.equal((await logs(server.operatorToken, job2Id)).status, 403, 'another job is out of scope');

    // Every use is recorded and visible to the tenant: uses list and its audit slice.
    const detail = await admin('GET', `/v1/access-requests/${id}`);
    assert.deepEqual(detail.body.uses.map((u: { verb: string; object: string }) => `${u.verb} ${u.object}`).sort(), [
      `read-logs job:${jobId}`,
      `read-spec job:${jobId}`,
    ]);
    assert.equal(detail.body.uses[0].actor, 'operator');
    const uses = await admin('GET', '/v1/access-uses');
    assert.equal(uses.body.items.filter((u: { accessRequest: string }) => u.accessRequest === id).length, 2);
    const audit = await admin('GET', '/v1/audit?limit=50');
    const actions = audit.body.items.map((a: { action: string }) => a.action);
    assert.ok(actions.includes('lockbox.request') && actions.includes('lockbox.approve'));
    assert.equal(actions.filter((a: string) => a === 'lockbox.access').length, 2);
    const access = audit.body.items.find((a: { action: string }) => a.action === 'lockbox.access');
    assert.equal(access.org, 'lab');
    assert.equal(access.after.accessRequest, id);

    // Expiry: the window was 3 seconds.
    await waitFor(async () => (await logs(server.operatorToken, jobId)).status === 403, 'access to end', 10_000);
    assert.equal((await admin('GET', `/v1/access-requests/${id}`)).body.state, 'ended');
    assert.ok((await op('GET', `/v1/jobs/${jobId}`)).body.redacted);
  });

  test('a denied request grants nothing', async () => {
    const filed = await op('POST', '/v1/access-requests', request());
    const denied = await admin('POST', `/v1/access-requests/${filed.body.id}/deny`, { comment: 'not without a ticket' });
    assert.equal(denied.status, 200);
    assert.equal(denied.body.state, 'denied');
    assert.equal(denied.body.decisionComment, 'not without a ticket');
    assert.equal((await logs(server.operatorToken, jobId)).status, 403);
    // A decision needs no body at all.
    const other = await op('POST', '/v1/access-requests', request());
    const bare = await admin('POST', `/v1/access-requests/${other.body.id}/deny`);
    assert.equal(bare.status, 200, JSON.stringify(bare.body));
    assert.equal(bare.body.decisionComment, null);
  });

  test('the routes are in the OpenAPI document', async () => {
    const doc = await api(server.url)('GET', '/v1/openapi.json');
    for (const path of [
      '/v1/access-requests',
      '/v1/access-requests/break-glass',
      '/v1/access-requests/{id}',
      '/v1/access-requests/{id}/approve',
      '/v1/access-requests/{id}/deny',
      '/v1/access-uses',
      '/v1/access-notifications',
    ]) {
      assert.ok(doc.body.paths[path], `${path} documented`);
    }
    assert.ok(doc.body.components.schemas.AccessRequestCreate.properties.requesterCountry);
  });

  test('after the deadline a request is expired and can no longer be approved', async () => {
    const filed = await op('POST', '/v1/access-requests', request({ approvalDeadline: inSeconds(1) }));
    assert.equal(filed.status, 201);
    await sleep(1200);
    const late = await admin('POST', `/v1/access-requests/${filed.body.id}/approve`, {});
    assert.equal(late.status, 409);
    assert.equal(late.body.code, 'access_request_expired');
    assert.equal((await admin('GET', `/v1/access-requests/${filed.body.id}`)).body.state, 'expired');
    assert.equal((await logs(server.operatorToken, jobId)).status, 403);
  });
});

describe('break-glass', () => {
  test('is limited to an hour, grants at once, and notifies the tenant afterwards', async () => {
    const body = {
      org: 'lab',
      justification: 'incident 99: corrupted checkpoints on lab1',
      scope: { objects: ['jobs:*'], verbs: ['read-logs'] },
      durationSeconds: 600,
      requesterCountry: 'DE',
      derivedDataRetentionDays: 7,
    };
    assert.equal((await op('POST', '/v1/access-requests/break-glass', { ...body, durationSeconds: 7200 })).status, 400);
    assert.equal((await admin('POST', '/v1/access-requests/break-glass', body)).status, 403);
    const breakGlassNotices = async (who: ReturnType<typeof api>) =>
      (await who('GET', '/v1/access-notifications')).body.items.filter((n: { kind: string }) => n.kind === 'break-glass');
    assert.equal((await breakGlassNotices(admin)).length, 0);
    const bg = await op('POST', '/v1/access-requests/break-glass', body);
    assert.equal(bg.status, 201, JSON.stringify(bg.body));
    assert.equal(bg.body.kind, 'break-glass');
    assert.equal(bg.body.state, 'active');
    assert.deepEqual(bg.body.scope.objects, ['job:*']);
    assert.equal((await logs(server.operatorToken, job2Id)).status, 200);
    // Logs only: the spec stays withheld.
    assert.ok((await op('GET', `/v1/jobs/${job2Id}`)).body.redacted);
    const notices = await breakGlassNotices(admin);
    assert.equal(notices.length, 1);
    assert.equal(notices[0].accessRequest, bg.body.id);
    assert.match(notices[0].message, /break-glass.*incident 99/);
    assert.equal((await breakGlassNotices(otherAdmin)).length, 0);
    const audit = await admin('GET', '/v1/audit?limit=20');
    assert.ok(audit.body.items.some((a: { action: string }) => a.action === 'lockbox.break-glass'));
    assert.ok(
      audit.body.items.some((a: { action: string; objectId: string }) => a.action === 'lockbox.access' && a.objectId === job2Id),
    );
  });
});

test('the CLI: access request, list, approve, deny, break-glass', async () => {
  const env = (token: string) => ({
    ...process.env,
    GIGAFAB_URL: server.url,
    GIGAFAB_TOKEN: token,
    GIGAFAB_CONFIG: '/nonexistent',
  });
  const cli = (token: string, ...args: string[]) => run(process.execPath, [BIN, ...args], { env: env(token) });
  const filed = await cli(
    server.operatorToken,
    'access',
    'request',
    '--org',
    'lab',
    '--object',
    `job:${jobId}`,
    '--verb',
    'read-spec',
    '--cause',
    'ticket 4712: wrong image tag',
    '--country',
    'DE',
    '--duration',
    '30m',
    '--deadline',
    '4h',
    '-o',
    'json',
  );
  const id = JSON.parse(filed.stdout).id as string;
  const listed = await cli(adminToken, 'access', 'list');
  assert.match(listed.stdout, new RegExp(`${id}.*pending`));
  const approved = await cli(adminToken, 'access', 'approve', id, '--comment', 'fine');
  assert.match(approved.stdout, /approved/);
  const denyAgain = await cli(adminToken, 'access', 'deny', id).catch((e: { code: number; stderr: string }) => e);
  assert.equal((denyAgain as { code: number }).code, 1);
  assert.match((denyAgain as { stderr: string }).stderr, /access_request_decided/);
  const bg = await cli(
    server.operatorToken,
    'access',
    'break-glass',
    '--org',
    'lab',
    '--object',
    'job:*',
    '--verb',
    'read-logs',
    '--justification',
    'incident 100: node on fire',
    '--country',
    'DE',
    '--duration',
    '15m',
  );
  assert.match(bg.stdout, /break-glass access .* active until/);
  const shown = await cli(adminToken, 'access', 'show', id);
  assert.match(shown.stdout, /read-spec/);
});

/**
 * Job events: a driver's failure message (here the local driver's refusal of an image-only job,
 * which names the image, as a Kubernetes image-pull error would) and a checkpoint label the job
 * wrote are tenant data. Operators see such events withheld until the tenant consents; operational
 * events stay as they are; the tenant always sees everything.
 */
describe('job events that carry tenant data', () => {
  const EV = `evmark${Date.now().toString(36)}`;
  let evAdmin: ReturnType<typeof api>;
  let evToken: string;
  let imageJob: string;
  let ckptJob: string;
  const sse = async (token: string, id: string) => {
    const r = await fetch(`${server.url}/v1/jobs/${id}/events/stream`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
    assert.equal(r.status, 200);
    const text = await r.text(); // the stream ends with `end` once the job has ended
    assert.match(text, /event: end/);
    return text;
  };
  const events = async (call: ReturnType<typeof api>, id: string) => {
    const r = await call('GET', `/v1/jobs/${id}/events`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.items as { type: string; message: string; data: Record<string, unknown> | null; redacted?: string[] }[];
  };
  const usesOf = async (requestId: string) =>
    ((await evAdmin('GET', `/v1/access-requests/${requestId}`)).body.uses as { verb: string; object: string }[]).map(
      (u) => `${u.verb} ${u.object}`,
    );
  const approve = async (objects: string[]) => {
    const filed = await op('POST', '/v1/access-requests', request({ org: 'evt', scope: { objects, verbs: ['read-spec'] } }));
    assert.equal(filed.status, 201, JSON.stringify(filed.body));
    assert.equal((await evAdmin('POST', `/v1/access-requests/${filed.body.id}/approve`, {})).status, 200);
    return filed.body.id as string;
  };

  before(async () => {
    await op('POST', '/v1/orgs', { id: 'evt', name: 'evt', kind: 'research' });
    await op('POST', '/v1/orgs/evt/projects', { id: 'evt-ml' });
    await op('PUT', '/v1/projects/evt-ml/quotas/L4', { gpus: 4 });
    evToken = await tenantToken(op, 'evt', { name: 'E', role: 'admin' });
    evAdmin = api(server.url, evToken);
    const submit = async (spec: Record<string, unknown>) => {
      const r = await evAdmin('POST', '/v1/jobs', { project: 'evt-ml', gpuType: 'L4', ...spec });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    };
    // The local driver has no container runtime: its refusal names the image.
    imageJob = await submit({ name: 'image-only', image: `registry.example/${EV}/trainer:v1` });
    ckptJob = await submit({
      name: 'checkpointer',
      command: ['sh', '-c', `echo "step=7 label=ckpt-${EV}" >> "$GIGAFAB_CHECKPOINT_FILE"; sleep 1`],
    });
    await waitFor(async () => (await evAdmin('GET', `/v1/jobs/${imageJob}`)).body.state === 'failed', 'image-only job to fail');
    await waitFor(async () => (await evAdmin('GET', `/v1/jobs/${ckptJob}`)).body.state === 'succeeded', 'checkpointer');
  });

  test('the tenant sees the driver message and the checkpoint label (JSON and SSE)', async () => {
    const failed = (await events(evAdmin, imageJob)).find((e) => e.type === 'failed');
    assert.match(failed?.message ?? '', new RegExp(`registry\\.example/${EV}/trainer`));
    const ckpt = (await events(evAdmin, ckptJob)).find((e) => e.type === 'checkpoint');
    assert.deepEqual(ckpt?.data, { step: 7, label: `ckpt-${EV}` });
    assert.ok((await sse(evToken, imageJob)).includes(EV));
    assert.ok((await sse(evToken, ckptJob)).includes(`ckpt-${EV}`));
  });

  test('an operator without access: type and time kept, message and data withheld; operational events unchanged', async () => {
    for (const id of [imageJob, ckptJob]) {
      const items = await events(op, id);
      assert.ok(!JSON.stringify(items).includes(EV), JSON.stringify(items));
      assert.ok(!(await sse(server.operatorToken, id)).includes(EV));
      const running = items.find((e) => e.type === 'running');
      assert.ok(running?.data?.placement, 'the placement event is operational');
      assert.equal(running?.redacted, undefined);
      assert.match(items.find((e) => e.type === 'queued')?.message ?? '', /^submitted: /);
    }
    const failed = (await events(op, imageJob)).find((e) => e.type === 'failed');
    assert.deepEqual(failed?.redacted, ['message', 'data']);
    assert.equal(failed?.data, null);
    assert.match(failed?.message ?? '', /job failed; the execution driver's message is withheld .*read-spec/);
    const ckpt = (await events(op, ckptJob)).find((e) => e.type === 'checkpoint');
    assert.deepEqual(ckpt?.redacted, ['message', 'data']);
    assert.match(ckpt?.message ?? '', /checkpoint reported; its step and label are withheld/);
    assert.ok(!JSON.stringify((await op('GET', '/v1/jobs?limit=100')).body).includes(EV), 'the list withholds the image');
    assert.equal((await evAdmin('GET', '/v1/access-uses')).body.items.length, 0, 'nothing was used');
  });

  test('live: a checkpoint arriving while the stream is open is withheld from the operator, shown to the tenant', async () => {
    const r = await evAdmin('POST', '/v1/jobs', {
      name: 'live',
      project: 'evt-ml',
      gpuType: 'L4',
      command: ['sh', '-c', `sleep 1.5; echo "label=live-${EV}" >> "$GIGAFAB_CHECKPOINT_FILE"; sleep 1`],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id as string;
    await waitFor(async () => (await evAdmin('GET', `/v1/jobs/${id}`)).body.state === 'running', 'live job to run');
    const [seenByOp, seenByTenant] = await Promise.all([sse(server.operatorToken, id), sse(evToken, id)]);
    assert.ok(seenByTenant.includes(`live-${EV}`), seenByTenant);
    assert.ok(!seenByOp.includes(EV), seenByOp);
    assert.match(seenByOp, /"type":"checkpoint","message":"checkpoint reported; its step and label are withheld/);
    // Order is kept: the checkpoint before the job's end, `end` last.
    assert.ok(seenByOp.indexOf('"type":"checkpoint"') < seenByOp.indexOf('"type":"succeeded"'));
    assert.match(seenByOp, /event: end\ndata: \{"state":"succeeded"\}\n\n$/);
  });

  test('with approved read-spec access: events in full, the list for job:* only, each request one audited use', async () => {
    const single = await approve([`job:${imageJob}`]);
    const failed = (await events(op, imageJob)).find((e) => e.type === 'failed');
    assert.ok(failed?.message.includes(EV));
    assert.equal(failed?.redacted, undefined);
    assert.ok((await sse(server.operatorToken, imageJob)).includes(EV));
    assert.ok(!JSON.stringify(await events(op, ckptJob)).includes(EV), 'another job is out of scope');
    assert.ok(!JSON.stringify((await op('GET', '/v1/jobs?limit=100')).body).includes(EV), 'a single-job grant opens no list');
    // One use per request (JSON, SSE), not per event.
    assert.deepEqual(await usesOf(single), [`read-spec job:${imageJob}`, `read-spec job:${imageJob}`]);

    const all = await approve(['job:*']);
    type Listed = { id: string; org: string; spec: { image?: string }; redacted?: string[] };
    const list = (await op('GET', '/v1/jobs?limit=100')).body.items as Listed[];
    const image = list.find((j) => j.id === imageJob);
    assert.equal(image?.spec.image, `registry.example/${EV}/trainer:v1`);
    assert.equal(image?.redacted, undefined);
    assert.ok(
      list.filter((j) => j.org !== 'evt').every((j) => j.redacted),
      "other organisations' jobs stay redacted",
    );
    const ckpt = (await events(op, ckptJob)).find((e) => e.type === 'checkpoint');
    assert.deepEqual(ckpt?.data, { step: 7, label: `ckpt-${EV}` });
    assert.ok((await sse(server.operatorToken, ckptJob)).includes(`ckpt-${EV}`));
    const used = await usesOf(all);
    assert.equal(used.filter((u) => u === 'read-spec job:*').length, 1, 'the list is one use, not one per job');
    assert.equal(used.filter((u) => u === `read-spec job:${ckptJob}`).length, 2);
    const audit = (await evAdmin('GET', '/v1/audit?limit=100')).body.items as {
      action: string;
      objectId: string;
      actor: string;
    }[];
    const access = audit.filter((a) => a.action === 'lockbox.access');
    assert.ok(access.some((a) => a.objectId === '*' && a.actor === 'operator'));
    assert.ok(access.some((a) => a.objectId === ckptJob));
  });
});
