import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { JobSpecSchema } from '../../src/model/schemas.js';
import { extraFieldLines, issueErrors, validationDetail } from '../../src/model/validation-messages.js';

/** errorsOf: the field errors a job spec gets, as the API and the CLI report them. */
function errorsOf(spec: unknown): Record<string, string> {
  const r = JobSpecSchema.safeParse(spec);
  assert.equal(r.success, false, `expected ${JSON.stringify(spec)} to be invalid`);
  return Object.fromEntries(issueErrors(r.error?.issues ?? [], 'the request body').map((e) => [e.path, e.message]));
}

test('a job spec: missing, empty, out-of-range, unknown and wrongly typed fields read as sentences naming the field', () => {
  assert.deepEqual(errorsOf({}), { name: 'name is required', project: 'project is required' });
  assert.deepEqual(errorsOf({ name: '', project: 'robotics' }), { name: 'name must not be empty' });
  assert.deepEqual(errorsOf({ name: 'x', project: 'robotics', gpusPerNode: 0, nodes: 1.5, gpu: 'B200' }), {
    gpusPerNode: 'gpusPerNode must be at least 1',
    nodes: 'nodes must be a whole number',
    gpu: 'gpu is not a known field',
  });
  assert.deepEqual(errorsOf({ name: 'x'.repeat(201), project: 'robotics', gpusPerNode: 17, priorityClass: 'urgent' }), {
    name: 'name must be at most 200 characters long',
    gpusPerNode: 'gpusPerNode must be at most 16',
    priorityClass: 'priorityClass must be one of critical, high, interactive, normal, low, preemptible',
  });
  assert.deepEqual(
    errorsOf({
      name: 'x',
      project: 'Robotics',
      command: 'python train.py',
      image: 'not an image',
      env: { 'bad-key': '1' },
      labels: { team: 2 },
      resources: { memory: 'lots' },
    }),
    {
      project: 'project must be lower-case letters, digits and dashes, starting with a letter',
      command: 'command must be a list',
      image: 'image must be an OCI image reference',
      'env.bad-key': 'env key "bad-key" must be an environment variable name',
      'labels.team': 'labels.team must be a string',
      'resources.memory': 'resources.memory must be a size such as 512m or 8Gi',
    },
  );
  assert.deepEqual(errorsOf({ name: 'x', project: 'robotics', command: ['python', 3] }), {
    'command.1': 'command[1] must be a string',
  });
});

test("no sentence carries zod's raw wording", () => {
  const bad: unknown[] = [
    {},
    { name: null, project: 7 },
    { name: 'x', project: 'p', gpusPerNode: -1, nodes: 0, maxRuntimeSeconds: 'soon' },
    { name: 'x', project: 'robotics', simulation: { durationSeconds: -1, exitCode: 999 }, workingDir: 'rel' },
    { name: 'x', project: 'robotics', labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) },
  ];
  for (const spec of bad) {
    for (const [path, message] of Object.entries(errorsOf(spec))) {
      assert.doesNotMatch(message, /Invalid input|Too (small|big)|expected \w+, received|>=|<=|Unrecognized/, message);
      assert.ok(message.startsWith(path.split('.')[0]), `${message} names its field ${path}`);
    }
  }
});

test('null, unions, refinements, exclusive bounds and the input itself', () => {
  const schema = z
    .strictObject({
      n: z.number().optional(),
      u: z.union([z.string(), z.number()]).optional(),
      tags: z
        .array(z.string())
        .min(1)
        .refine((t) => t.length <= 2, 'at most 2 tags')
        .optional(),
      ratio: z.number().positive().lt(1).optional(),
      at: z.iso.datetime().optional(),
      a: z.number().optional(),
      b: z.number().optional(),
    })
    .refine((o) => o.a === undefined || o.b === undefined, 'give a or b, not both');
  const run = (v: unknown) => issueErrors(schema.safeParse(v).error?.issues ?? [], 'the request body');
  assert.deepEqual(run({ n: null, u: true, tags: [] }), [
    { path: 'n', message: 'n must be a number, not null' },
    { path: 'u', message: 'u must be a string or a number' },
    { path: 'tags', message: 'tags must not be empty' },
  ]);
  assert.deepEqual(run({ tags: ['a', 'b', 'c'], ratio: 0, at: 'yesterday' }), [
    { path: 'tags', message: 'tags must have at most 2 tags' },
    { path: 'ratio', message: 'ratio must be greater than 0' },
    { path: 'at', message: 'at must be an ISO 8601 date-time such as 2025-01-31T12:00:00Z' },
  ]);
  assert.deepEqual(run({ ratio: 1 }), [{ path: 'ratio', message: 'ratio must be less than 1' }]);
  assert.deepEqual(run({ a: 1, b: 2 }), [{ path: '', message: 'give a or b, not both' }]);
  assert.deepEqual(run('text'), [{ path: '', message: 'the request body must be an object' }]);
});

test('the detail spells out the first three sentences and counts the rest', () => {
  const errors = ['a', 'b', 'c', 'd', 'e'].map((f) => ({ path: f, message: `${f} is required` }));
  assert.equal(validationDetail('request body', errors.slice(0, 1)), 'invalid request body: a is required');
  assert.equal(
    validationDetail('request body', errors.slice(0, 4)),
    'invalid request body: a is required; b is required; c is required; and 1 more problem',
  );
  assert.equal(
    validationDetail('job spec', errors),
    'invalid job spec: a is required; b is required; c is required; and 2 more problems',
  );
  assert.equal(validationDetail('query', []), 'invalid query');
});

test('extraFieldLines: only what the detail has not said, each once, each naming its field', () => {
  const errors = ['a', 'b', 'c', 'd', 'e'].map((f) => ({ path: f, message: `${f} is required` }));
  const detail = validationDetail('job spec', errors);
  assert.deepEqual(extraFieldLines(detail, errors), ['d is required', 'e is required']);
  // Domain errors carry a short note for the field next to a detail that explains it.
  assert.deepEqual(
    extraFieldLines('the job can never run: unknown GPU type H100 (fleet has B200)', [
      { path: 'gpuType', message: 'not in this fleet' },
      { path: 'gpuType', message: 'not in this fleet' },
      { path: '', message: 'about the whole input' },
    ]),
    ['gpuType: not in this fleet'],
  );
});
