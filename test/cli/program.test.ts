import assert from 'node:assert/strict';
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readConfigFile } from '../../src/cli/config.js';
import { run } from '../../src/cli/program.js';
import {
  deadUrl,
  eventFixture,
  type FakeApi,
  type Handler,
  jobFixture,
  json,
  problem,
  sseEvent,
  startFakeApi,
} from './fake-api.js';

const servers: FakeApi[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function fake(routes: Record<string, Handler>): Promise<FakeApi> {
  const s = await startFakeApi(routes);
  servers.push(s);
  return s;
}

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'gigafab-cli-prog-'));
}

interface Result {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], env: Record<string, string | undefined>): Promise<Result> {
  let out = '';
  let err = '';
  const io = {
    out: (s: string) => {
      out += s;
    },
    err: (s: string) => {
      err += s;
    },
  };
  const code = await run(args, { io, env: { GIGAFAB_CONFIG: join(tmpdir(), 'gigafab-cli-none.json'), ...env } });
  return { code, out, err };
}

const alice = {
  id: 'u-alice',
  org: 'acme',
  name: 'alice',
  email: null,
  role: 'member',
  createdAt: '2025-01-01T00:00:00Z',
};

test('help exits 0 and lists every noun; --version prints it', async () => {
  const help = await cli(['--help'], {});
  assert.equal(help.code, 0);
  for (const noun of ['server', 'login', 'whoami', 'org', 'project', 'quota', 'user', 'token', 'job', 'fleet', 'node', 'audit']) {
    assert.match(help.out, new RegExp(`\\n  ${noun}\\b`), noun);
  }
  assert.match(help.out, /Examples:/);
  const v = await cli(['--version'], {});
  assert.equal(v.code, 0);
  assert.match(v.out, /^\d+\.\d+\.\d+/);
});

test('every leaf command has help with examples', async () => {
  const leaves = [
    ['server'],
    ['login'],
    ['whoami'],
    ['org', 'create'],
    ['org', 'list'],
    ['org', 'show'],
    ['project', 'create'],
    ['project', 'list'],
    ['project', 'show'],
    ['quota', 'set'],
    ['quota', 'list'],
    ['user', 'create'],
    ['user', 'list'],
    ['token', 'create'],
    ['job', 'submit'],
    ['job', 'list'],
    ['job', 'show'],
    ['job', 'events'],
    ['job', 'cancel'],
    ['fleet', 'show'],
    ['node', 'list'],
    ['node', 'drain'],
    ['node', 'undrain'],
    ['audit', 'list'],
    ['session', 'list'],
    ['session', 'open'],
    ['session', 'stop'],
    ['admin', 'backup'],
    ['admin', 'restore'],
    ['org', 'export'],
    ['org', 'verify-archive'],
    ['org', 'import'],
    ['budget', 'set'],
    ['budget', 'show'],
    ['budget', 'list'],
    ['budget', 'webhook-secret'],
    ['budget', 'alerts'],
  ];
  for (const leaf of leaves) {
    const r = await cli([...leaf, '--help'], {});
    assert.equal(r.code, 0, leaf.join(' '));
    assert.match(r.out, /Examples:\n {2}\$ gigafab /, leaf.join(' '));
  }
});

test('usage errors exit 1: unknown option, missing required option, bad choice, bad number', async () => {
  const unknown = await cli(['job', 'list', '--bogus'], {});
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /unknown option '--bogus'/);
  const missing = await cli(['org', 'create', 'acme', '--kind', 'enterprise'], {});
  assert.equal(missing.code, 1);
  assert.match(missing.err, /required option '--name <name>' not specified/);
  const choice = await cli(['org', 'create', 'acme', '--name', 'A', '--kind', 'nope'], {});
  assert.equal(choice.code, 1);
  assert.match(choice.err, /Allowed choices are enterprise/);
  const num = await cli(['job', 'submit', '--nodes', 'two'], {});
  assert.equal(num.code, 1);
  assert.match(num.err, /--nodes <n>' argument 'two' is invalid/);
  const dur = await cli(['job', 'submit', '--max-runtime', '2 hours'], {});
  assert.equal(dur.code, 1);
  assert.match(dur.err, /invalid duration/);
  const noSub = await cli(['job'], {});
  assert.notEqual(noSub.code, 0);
});

test('unknown options get a "did you mean", also for a truncated flag, in every subcommand', async () => {
  const cases: [string[], RegExp][] = [
    // --gpu-fraction and --gpu-memory (fractional GPUs) share the prefix: all three are offered.
    [
      ['job', 'submit', '--gpu', 'B200'],
      /unknown option '--gpu'\n\(Did you mean one of --gpu-fraction, --gpu-memory, --gpu-type\?\)/,
    ],
    [
      ['job', 'submit', '--gpu=B200'],
      /unknown option '--gpu=B200'\n\(Did you mean one of --gpu-fraction, --gpu-memory, --gpu-type\?\)/,
    ],
    [['job', 'submit', '--gpus', '8'], /\(Did you mean --gpus-per-node\?\)/],
    [['job', 'list', '--stat', 'queued'], /\(Did you mean --state\?\)/],
    [['quota', 'set', 'p', 'B200', '8', '--outpt', 'json'], /\(Did you mean --output\?\)/],
  ];
  for (const [args, want] of cases) {
    const r = await cli(args, {});
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.err, want, args.join(' '));
  }
  const none = await cli(['job', 'list', '--bogus'], {});
  assert.doesNotMatch(none.err, /Did you mean/);
});

test('API errors print `error: <detail> (<code>)` plus field errors and exit 1', async () => {
  const api = await fake({
    'GET /v1/whoami': (_req, res) => problem(res, 401, 'unauthenticated', 'the token is not valid'),
    'POST /v1/orgs': (_req, res) =>
      problem(
        res,
        400,
        'validation_failed',
        'invalid request body: id is required; name is required; kind is required; and 1 more problem',
        [
          { path: 'id', message: 'id is required' },
          { path: 'name', message: 'name is required' },
          { path: 'kind', message: 'kind is required' },
          { path: 'labels.x', message: 'labels.x must be a string' },
        ],
      ),
  });
  const who = await cli(['whoami'], { GIGAFAB_URL: api.url, GIGAFAB_TOKEN: 'bad' });
  assert.equal(who.code, 1);
  assert.match(who.err, /^error: the token is not valid \(unauthenticated\)\n/);
  assert.match(who.err, /hint: .*--verbose shows which token was sent/);
  assert.equal(who.out, '');
  const org = await cli(['org', 'create', 'Bad_Id', '--name', 'x', '--kind', 'research'], { GIGAFAB_URL: api.url });
  assert.equal(org.code, 1);
  // Every sentence once: the detail's three, then only the one it left out.
  assert.equal(
    org.err,
    'error: invalid request body: id is required; name is required; kind is required; and 1 more problem (validation_failed)\n  labels.x must be a string\n',
  );
});

test('unreachable server exits 2 with a clear message', async () => {
  const url = await deadUrl();
  const r = await cli(['job', 'list'], { GIGAFAB_URL: url });
  assert.equal(r.code, 2);
  assert.match(r.err, new RegExp(`cannot reach gigafab at ${url.replace(/\./g, '\\.')}`));
});

test('login verifies the token, writes a 0600 config; later commands use it; flags and env override it', async () => {
  const api = await fake({
    'GET /v1/whoami': (req, res) =>
      req.headers.authorization === 'Bearer good'
        ? json(res, 200, alice)
        : problem(res, 401, 'unauthenticated', 'the token is not valid'),
  });
  const cfg = join(await tmp(), 'gigafab', 'config.json');
  const bad = await cli(['login', '--url', api.url, '--token', 'nope'], { GIGAFAB_CONFIG: cfg });
  assert.equal(bad.code, 1);
  await assert.rejects(stat(cfg));

  const ok = await cli(['login', '--url', api.url, '--token', 'good'], { GIGAFAB_CONFIG: cfg });
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /logged in to .* as u-alice \(member in acme\)/);
  assert.equal((await stat(cfg)).mode & 0o777, 0o600);
  assert.deepEqual(await readConfigFile(cfg), { url: api.url, token: 'good' });

  const who = await cli(['whoami', '-o', 'json'], { GIGAFAB_CONFIG: cfg });
  assert.equal(who.code, 0, who.err);
  assert.deepEqual(JSON.parse(who.out), alice);

  const envWins = await cli(['whoami'], { GIGAFAB_CONFIG: cfg, GIGAFAB_TOKEN: 'env-token' });
  assert.equal(envWins.code, 1);
  const flagWins = await cli(['whoami', '--token', 'good'], { GIGAFAB_CONFIG: cfg, GIGAFAB_TOKEN: 'env-token' });
  assert.equal(flagWins.code, 0);
  const urlFlag = await cli(['whoami', '--url', await deadUrl()], { GIGAFAB_CONFIG: cfg });
  assert.equal(urlFlag.code, 2);
});

test('login warns on stderr when GIGAFAB_TOKEN / GIGAFAB_URL in the environment override what it saved', async () => {
  const api = await fake({
    'GET /v1/whoami': (req, res) =>
      req.headers.authorization === 'Bearer good'
        ? json(res, 200, alice)
        : problem(res, 401, 'unauthenticated', 'the token is not valid'),
  });
  const cfg = join(await tmp(), 'config.json');
  const quiet = await cli(['login', '--url', api.url, '--token', 'good'], { GIGAFAB_CONFIG: cfg });
  assert.equal(quiet.code, 0, quiet.err);
  assert.doesNotMatch(quiet.err, /warning/);

  const token = await cli(['login', '--url', api.url, '--token', 'good'], { GIGAFAB_CONFIG: cfg, GIGAFAB_TOKEN: 'operator' });
  assert.equal(token.code, 0, token.err);
  assert.match(token.err, /warning: GIGAFAB_TOKEN is set in the environment .*`unset GIGAFAB_TOKEN`/);
  assert.doesNotMatch(token.err, /GIGAFAB_URL/);
  assert.equal(token.out.includes('warning'), false, 'the warning stays off stdout');

  const both = await cli(['login', '--url', api.url, '--token', 'good'], {
    GIGAFAB_CONFIG: cfg,
    GIGAFAB_TOKEN: 'operator',
    GIGAFAB_URL: 'http://other.example:9',
  });
  assert.equal(both.code, 0, both.err);
  assert.match(both.err, /warning: GIGAFAB_URL and GIGAFAB_TOKEN are set .*`unset GIGAFAB_URL GIGAFAB_TOKEN`/);

  // The env token that login itself used and saved does not shadow anything.
  const same = await cli(['login', '--url', api.url], { GIGAFAB_CONFIG: cfg, GIGAFAB_TOKEN: 'good' });
  assert.equal(same.code, 0, same.err);
  assert.doesNotMatch(same.err, /warning/);
});

test('--verbose says where the URL and token came from (flag, env, config file), never the whole token', async () => {
  const api = await fake({ 'GET /v1/whoami': (_req, res) => json(res, 200, alice) });
  const cfg = join(await tmp(), 'config.json');
  assert.equal((await cli(['login', '--url', api.url, '--token', 'gf_saved_secret'], { GIGAFAB_CONFIG: cfg })).code, 0);

  const saved = await cli(['whoami', '--verbose'], { GIGAFAB_CONFIG: cfg });
  assert.equal(saved.code, 0, saved.err);
  assert.equal(saved.err, `using server ${api.url} (from the config file ${cfg}), token gf_sav… (from the config file ${cfg})\n`);
  assert.doesNotMatch(saved.err + saved.out, /gf_saved_secret/);

  const env = await cli(['-v', 'whoami'], { GIGAFAB_CONFIG: cfg, GIGAFAB_TOKEN: 'gf_operator_secret' });
  assert.match(env.err, /token gf_ope… \(from GIGAFAB_TOKEN\)/);
  assert.match(env.err, /\(from the config file .*\), token/);
  const flag = await cli(['whoami', '--verbose', '--token', 'gf_flag_secret', '--url', api.url], { GIGAFAB_CONFIG: cfg });
  assert.match(flag.err, /^using server \S+ \(from --url\), token gf_fla… \(from --token\)$/m);

  const quiet = await cli(['whoami'], { GIGAFAB_CONFIG: cfg });
  assert.equal(quiet.err, '');
});

test('job submit: file + flags merged into the request; json prints the whole job', async () => {
  const api = await fake({ 'POST /v1/jobs': (req, res) => json(res, 201, jobFixture({ spec: req.body })) });
  const dir = await tmp();
  const file = join(dir, 'job.yaml');
  await writeFile(
    file,
    'name: from-file\nproject: robotics\ngpuType: B200\nnodes: 2\ngpusPerNode: 8\nenv: { A: "1" }\nlabels: { team: vision }\n',
  );
  const r = await cli(
    [
      'job',
      'submit',
      '-f',
      file,
      '--nodes',
      '4',
      '--env',
      'B=2',
      '--label',
      'run=7',
      '--max-runtime',
      '90m',
      '--priority',
      'high',
      '--sim-duration',
      '10m',
      '--sim-exit-code',
      '1',
      '--idempotency-key',
      'k-1',
      '-o',
      'json',
      '--',
      'torchrun',
      '--nproc',
      '8',
      'train.py',
    ],
    { GIGAFAB_URL: api.url, GIGAFAB_TOKEN: 't' },
  );
  assert.equal(r.code, 0, r.err);
  const req = api.requests[0];
  assert.deepEqual(req.body, {
    name: 'from-file',
    project: 'robotics',
    gpuType: 'B200',
    nodes: 4,
    gpusPerNode: 8,
    env: { A: '1', B: '2' },
    labels: { team: 'vision', run: '7' },
    maxRuntimeSeconds: 5400,
    priorityClass: 'high',
    simulation: { durationSeconds: 600, exitCode: 1 },
    command: ['torchrun', '--nproc', '8', 'train.py'],
  });
  assert.equal(req.headers['idempotency-key'], 'k-1');
  assert.equal(JSON.parse(r.out).id, 'j-1');
});

test('job submit: table output is id + state; invalid specs never reach the server', async () => {
  const api = await fake({ 'POST /v1/jobs': (_req, res) => json(res, 201, jobFixture()) });
  const env = { GIGAFAB_URL: api.url, GIGAFAB_TOKEN: 't' };
  const ok = await cli(['job', 'submit', '--name', 'n', '--project', 'robotics', '--command', 'python "a b.py"'], env);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, 'job j-1 submitted: queued\n');
  assert.deepEqual((api.requests[0].body as { command: string[] }).command, ['python', 'a b.py']);

  const bad = await cli(['job', 'submit', '--name', 'n', '--project', 'robotics', '--gpus-per-node', '0'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^error: invalid job spec: gpusPerNode must be at least 1 \(validation_failed\)\n$/);
  const badEnv = await cli(['job', 'submit', '--name', 'n', '--project', 'robotics', '--env', 'NOPE'], env);
  assert.equal(badEnv.code, 1);
  assert.match(badEnv.err, /invalid --env "NOPE": expected KEY=VALUE/);
  assert.equal(api.requests.length, 1);
});

function streamOf(events: ReturnType<typeof eventFixture>[], state: string): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of events) sseEvent(res, e);
    res.end(`event: end\ndata: ${JSON.stringify({ state })}\n\n`);
  };
}

test('job submit --wait: follows events, exit 0 on success and 3 otherwise', async () => {
  for (const [state, code] of [
    ['succeeded', 0],
    ['failed', 3],
  ] as const) {
    const api = await fake({
      'POST /v1/jobs': (_req, res) => json(res, 201, jobFixture()),
      'GET /v1/jobs/j-1/events/stream': streamOf(
        [eventFixture(1, 'queued', 'submitted'), eventFixture(2, state, 'exited')],
        state,
      ),
      'GET /v1/jobs/j-1': (_req, res) =>
        json(res, 200, jobFixture({ state, exitCode: state === 'succeeded' ? 0 : 2, pendingReason: null })),
    });
    const r = await cli(['job', 'submit', '--name', 'n', '--project', 'robotics', '--wait'], {
      GIGAFAB_URL: api.url,
    });
    assert.equal(r.code, code, r.err);
    assert.match(r.out, /job j-1 submitted: queued\n.*queued +submitted\n.*exited\n/);
    assert.match(r.out, new RegExp(`job j-1 ${state} \\(exit code \\d\\)\\n$`));
  }
});

test('job events --follow streams until end and exits 0 even for a failed job; json is NDJSON', async () => {
  const api = await fake({
    'GET /v1/jobs/j-1/events/stream': streamOf(
      [eventFixture(1, 'queued', 'submitted'), eventFixture(2, 'failed', 'boom')],
      'failed',
    ),
  });
  const r = await cli(['job', 'events', 'j-1', '--follow'], { GIGAFAB_URL: api.url });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trimEnd().split('\n').length, 2);
  assert.match(r.err, /job j-1 failed/);
  const j = await cli(['job', 'events', 'j-1', '-F', '-o', 'json'], { GIGAFAB_URL: api.url });
  const lines = j.out
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.id ?? l.end),
    [1, 2, 'failed'],
  );
});

test('job show: queued job says why it waits; running job shows placement', async () => {
  const running = jobFixture({
    id: 'j-2',
    state: 'running',
    pendingReason: null,
    startedAt: new Date().toISOString(),
    placement: {
      site: 'muc1',
      gpuType: 'B200',
      nodes: [
        { node: 'muc1-b200-0001', gpus: [0, 1, 2, 3, 4, 5, 6, 7] },
        { node: 'muc1-b200-0002', gpus: [0, 1, 2, 3] },
      ],
    },
  });
  const api = await fake({
    'GET /v1/jobs/j-1': (_req, res) => json(res, 200, jobFixture()),
    'GET /v1/jobs/j-2': (_req, res) => json(res, 200, running),
  });
  const q = await cli(['job', 'show', 'j-1'], { GIGAFAB_URL: api.url });
  assert.equal(q.code, 0, q.err);
  assert.match(q.out, /^State: +queued$/m);
  assert.match(q.out, /^Waiting: +job needs 32 B200 but project robotics quota is 16 \(0 in use\)$/m);
  assert.match(q.out, /^GPUs: +4×8 B200 \(32 total\)$/m);
  const r = await cli(['job', 'show', 'j-2'], { GIGAFAB_URL: api.url });
  assert.doesNotMatch(r.out, /Waiting/);
  assert.match(r.out, /^Placement: +muc1 \(B200\)$/m);
  assert.match(r.out, /^ {2}muc1-b200-0001 +0-7$/m);
  assert.match(r.out, /^ {2}muc1-b200-0002 +0-3$/m);
});

test('--sim-duration: submit says it is simulated time and what it takes; show gives both runtimes', async () => {
  const done = jobFixture({
    id: 'j-3',
    state: 'succeeded',
    pendingReason: null,
    exitCode: 0,
    spec: { ...jobFixture().spec, simulation: { durationSeconds: 600, exitCode: 0 } },
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:10.000Z',
  });
  const plain = jobFixture({ ...done, id: 'j-4', spec: jobFixture().spec });
  const api = await fake({
    'POST /v1/jobs': (_req, res) => json(res, 201, jobFixture()),
    'GET /v1/jobs/j-3': (_req, res) => json(res, 200, done),
    'GET /v1/jobs/j-4': (_req, res) => json(res, 200, plain),
  });
  const env = { GIGAFAB_URL: api.url, GIGAFAB_TOKEN: 't' };
  const sub = await cli(['job', 'submit', '--name', 'n', '--project', 'robotics', '--sim-duration', '10m'], env);
  assert.equal(sub.code, 0, sub.err);
  assert.equal(sub.out, 'job j-1 submitted: queued\n');
  assert.match(
    sub.err,
    /^note: --sim-duration 10m is simulated time: at the default --time-scale 60 the job runs for about 10s of wall-clock time$/m,
  );
  const asJson = await cli(['job', 'submit', '--name', 'n', '--project', 'robotics', '--sim-duration', '10m', '-o', 'json'], env);
  assert.equal(asJson.err, '');
  const noSim = await cli(['job', 'submit', '--name', 'n', '--project', 'robotics'], env);
  assert.equal(noSim.err, '');

  const show = await cli(['job', 'show', 'j-3'], env);
  assert.equal(show.code, 0, show.err);
  assert.match(
    show.out,
    /^Runtime: +10s wall clock \(simulated 10m; simulated time runs faster, see gigafab server --time-scale\)$/m,
  );
  const showPlain = await cli(['job', 'show', 'j-4'], env);
  assert.match(showPlain.out, /^Runtime: +10s$/m);

  const help = await cli(['job', 'submit', '--help'], env);
  assert.match(
    help.out.replace(/\s+/g, ' '),
    /--sim-duration <duration> simulated fleet: how long the job runs in simulated time/,
  );
});

test('job list: table columns, --all follows cursors, hint when more pages exist', async () => {
  const pageA = {
    items: [jobFixture(), jobFixture({ id: 'j-2', state: 'succeeded', exitCode: 0, pendingReason: null })],
    nextCursor: 'c1',
  };
  const pageB = { items: [jobFixture({ id: 'j-3', state: 'cancelled', pendingReason: null })], nextCursor: null };
  const api = await fake({
    'GET /v1/jobs': (req, res) => json(res, 200, req.query.get('cursor') === 'c1' ? pageB : pageA),
  });
  const one = await cli(['job', 'list', '--state', 'queued', '--label', 'team=vision'], { GIGAFAB_URL: api.url });
  assert.equal(one.code, 0, one.err);
  const lines = one.out.trimEnd().split('\n');
  assert.match(lines[0], /^ID +NAME +PROJECT +STATE +GPUS +AGE +REASON\/PLACEMENT$/);
  assert.match(lines[1], /^j-1 +pretrain +robotics +queued +4×8 B200 +1m30s +waiting: job needs 32 B200/);
  assert.match(lines[2], /^j-2 .* succeeded .* exit 0$/);
  assert.equal(lines.length, 3);
  assert.match(one.err, /more jobs exist/);
  assert.equal(api.requests[0].query.get('label'), 'team=vision');
  assert.equal(api.requests[0].query.get('state'), 'queued');

  const all = await cli(['job', 'list', '--all', '-o', 'json'], { GIGAFAB_URL: api.url });
  assert.deepEqual(
    JSON.parse(all.out).map((j: { id: string }) => j.id),
    ['j-1', 'j-2', 'j-3'],
  );
  assert.equal(all.err, '');
});

test('user create prints the token once with a note; json has {token, user}', async () => {
  const api = await fake({
    'POST /v1/orgs/acme/users': (req, res) =>
      json(res, 201, { token: 'gf_secret', tokenInfo: { id: 'tok_1' }, user: { ...alice, ...(req.body as object) } }),
  });
  const r = await cli(['user', 'create', '--org', 'acme', '--name', 'alice', '--role', 'member'], { GIGAFAB_URL: api.url });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /token: gf_secret/);
  assert.match(r.err, /shown only once/);
  assert.deepEqual(api.requests[0].body, { name: 'alice', role: 'member' });
  const j = await cli(['user', 'create', '--org', 'acme', '--name', 'alice', '--role', 'member', '-o', 'json'], {
    GIGAFAB_URL: api.url,
  });
  assert.equal(JSON.parse(j.out).token, 'gf_secret');
});

test('project show and quota list render used/limit', async () => {
  const project = {
    id: 'robotics',
    org: 'acme',
    name: 'Robotics',
    createdAt: '2025-01-01T00:00:00Z',
    quotas: [{ gpuType: 'B200', gpus: 64, used: 32 }],
  };
  const api = await fake({
    'GET /v1/projects/robotics': (_req, res) => json(res, 200, project),
    'PUT /v1/projects/robotics/quotas/B200': (req, res) =>
      json(res, 200, { gpuType: 'B200', gpus: (req.body as { gpus: number }).gpus, used: 32 }),
  });
  const show = await cli(['project', 'show', 'robotics'], { GIGAFAB_URL: api.url });
  assert.match(show.out, /GPU TYPE +USED +LIMIT +FREE\n +B200 +32 +64 +32\n/);
  const list = await cli(['quota', 'list', 'robotics'], { GIGAFAB_URL: api.url });
  assert.match(list.out, /^B200 +32 +64 +32$/m);
  const set = await cli(['quota', 'set', 'robotics', 'B200', '128'], { GIGAFAB_URL: api.url });
  assert.equal(set.out, 'quota for robotics B200: 128 GPUs (32 in use)\n');
  const bad = await cli(['quota', 'set', 'robotics', 'B200', 'lots'], { GIGAFAB_URL: api.url });
  assert.equal(bad.code, 1);
});

test('fleet show: per site and GPU type totals with a TOTAL row', async () => {
  const api = await fake({
    'GET /v1/fleet': (_req, res) =>
      json(res, 200, {
        name: 'demo',
        totalGpus: 96,
        allocatedGpus: 40,
        nodes: 12,
        gpuTypes: ['B200', 'RTX'],
        sites: [
          {
            id: 'muc1',
            name: 'Munich 1',
            city: 'Munich',
            country: 'DE',
            certifications: [],
            gpus: [{ gpuType: 'B200', total: 64, allocated: 32, free: 32 }],
          },
          {
            id: 'fra1',
            name: 'Frankfurt 1',
            city: 'Frankfurt',
            country: 'DE',
            certifications: [],
            gpus: [{ gpuType: 'RTX', total: 32, allocated: 8, free: 24 }],
          },
        ],
      }),
  });
  const r = await cli(['fleet', 'show'], { GIGAFAB_URL: api.url });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^fleet demo: 12 nodes, 96 GPUs, 40 allocated \(42%\)$/m);
  assert.match(r.out, /^muc1 +Munich, DE +B200 +64 +32 +32 +50%$/m);
  assert.match(r.out, /^TOTAL +96 +40 +56 +42%$/m);
});
