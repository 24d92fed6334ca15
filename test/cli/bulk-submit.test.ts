/** `gigafab job submit --file specs.jsonl`: many jobs from JSON Lines, checked first, then sent; against a scripted API. */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { z } from 'zod';
import { looksLikeJsonLines } from '../../src/cli/bulk-submit.js';
import { run } from '../../src/cli/program.js';
import { parseJson } from '../../src/model/json.js';
import { type FakeApi, jobFixture, json, problem, startFakeApi } from './fake-api.js';

const servers: FakeApi[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

const Body = z.object({ name: z.string(), project: z.string() }).passthrough();

/** An API that gives each job its name as id and refuses any named `refused` (as a quota or project error would). */
async function api(): Promise<FakeApi> {
  const s = await startFakeApi({
    'POST /v1/jobs': (req, res) => {
      const body = Body.parse(req.body);
      if (body.name === 'refused') return problem(res, 404, 'project_not_found', 'project nope does not exist');
      json(res, 201, jobFixture({ id: body.name, name: body.name, spec: { ...jobFixture().spec, ...body } }));
    },
  });
  servers.push(s);
  return s;
}

async function cli(args: string[], env: Record<string, string>, stdin?: string) {
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
  const code = await run(args, {
    io,
    env: { GIGAFAB_CONFIG: join(tmpdir(), 'gigafab-cli-none.json'), GIGAFAB_TOKEN: 't', ...env },
    stdin: stdin === undefined ? undefined : async () => stdin,
  });
  return { code, out, err };
}

const lines = (...specs: object[]) => `${specs.map((s) => JSON.stringify(s)).join('\n')}\n`;

test('a .jsonl file: every line a job, flags apply to each, results in line order, a refused job named by its line', async () => {
  const s = await api();
  const file = join(await mkdtemp(join(tmpdir(), 'gigafab-bulk-')), 'sweep.jsonl');
  await writeFile(file, `${lines({ name: 'lr-1' }, { name: 'refused' })}\n${lines({ name: 'lr-3', nodes: 2 })}`);
  const r = await cli(['job', 'submit', '-f', file, '--project', 'robotics', '--idempotency-key', 'sweep'], {
    GIGAFAB_URL: s.url,
  });
  assert.equal(r.code, 1, r.err);
  assert.equal(r.out, 'job lr-1 submitted: queued\njob lr-3 submitted: queued\n');
  assert.match(r.err, /^line 2: error: project nope does not exist \(project_not_found\)$/m);
  assert.match(r.err, /^submitted 2 of 3 jobs in \d+\.\d s.*; 1 failed$/m);
  assert.equal(s.requests.length, 3);
  const sent = s.requests.map((q) => ({ body: q.body, key: q.headers['idempotency-key'] }));
  sent.sort((a, b) => String(a.key).localeCompare(String(b.key)));
  assert.deepEqual(sent, [
    { body: { name: 'lr-1', project: 'robotics' }, key: 'sweep-1' },
    { body: { name: 'refused', project: 'robotics' }, key: 'sweep-2' },
    { body: { name: 'lr-3', project: 'robotics', nodes: 2 }, key: 'sweep-4' },
  ]);
});

test('any bad line: nothing is sent, and every bad line is named', async () => {
  const s = await api();
  const file = join(await mkdtemp(join(tmpdir(), 'gigafab-bulk-')), 'bad.jsonl');
  await writeFile(file, `${lines({ name: 'ok', project: 'robotics' }, { name: '', project: 'robotics' })}{nope\n[1]\n`);
  const r = await cli(['job', 'submit', '-f', file], { GIGAFAB_URL: s.url });
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  const err = r.err.split('\n');
  assert.equal(err[0], `error: ${file}: 3 of 4 job specs are invalid; nothing was submitted`);
  assert.equal(err[1], '  line 2: invalid job spec: name must not be empty (validation_failed)');
  assert.match(err[2], /^ {2}line 3: not JSON /);
  assert.equal(err[3], '  line 4: expected a JobSpec object');
  assert.equal(s.requests.length, 0);
});

test('stdin in JSON Lines is a bulk submit; -o json prints one result object per line', async () => {
  const s = await api();
  const input = lines(
    { name: 'a', project: 'robotics' },
    { name: 'refused', project: 'robotics' },
    { name: 'c', project: 'robotics' },
  );
  const r = await cli(['job', 'submit', '-f', '-', '-o', 'json'], { GIGAFAB_URL: s.url }, input);
  assert.equal(r.code, 1, r.err);
  const Result = z.object({
    line: z.number(),
    job: z.object({ id: z.string(), name: z.string() }).optional(),
    error: z.object({ status: z.number(), code: z.string(), detail: z.string() }).optional(),
  });
  const results = r.out
    .trimEnd()
    .split('\n')
    .map((l) => parseJson(l, Result, 'result line'));
  assert.deepEqual(
    results.map((x) => [x.line, x.job?.name ?? x.error?.code]),
    [
      [1, 'a'],
      [2, 'project_not_found'],
      [3, 'c'],
    ],
  );
  assert.match(r.err, /submitted 2 of 3 jobs/);

  // One spec on stdin (YAML, or a single JSON object) is still one job.
  const one = await cli(['job', 'submit', '-f', '-'], { GIGAFAB_URL: s.url }, 'name: single\nproject: robotics\n');
  assert.equal(one.code, 0, one.err);
  assert.equal(one.out, 'job single submitted: queued\n');
  assert.equal(one.err, '');
});

test('--wait takes one job, not a file of many; an all-good file exits 0', async () => {
  const s = await api();
  const file = join(await mkdtemp(join(tmpdir(), 'gigafab-bulk-')), 'two.ndjson');
  await writeFile(file, lines({ name: 'a', project: 'robotics' }, { name: 'b', project: 'robotics' }));
  const wait = await cli(['job', 'submit', '-f', file, '--wait'], { GIGAFAB_URL: s.url });
  assert.equal(wait.code, 1);
  assert.match(wait.err, /--wait follows one job/);
  assert.equal(s.requests.length, 0);
  const ok = await cli(['job', 'submit', '-f', file], { GIGAFAB_URL: s.url });
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.err, /^submitted 2 of 2 jobs in /m);
});

test('looksLikeJsonLines: several one-line objects; not YAML, not one pretty-printed object', () => {
  assert.equal(looksLikeJsonLines('{"a":1}\n\n{"b":2}\n'), true);
  assert.equal(looksLikeJsonLines('{"a":1}\n'), false);
  assert.equal(looksLikeJsonLines('{\n  "a": 1\n}\n'), false);
  assert.equal(looksLikeJsonLines('name: x\nproject: y\n'), false);
  assert.equal(looksLikeJsonLines('{"a":1}\n[2]\n'), false);
});
