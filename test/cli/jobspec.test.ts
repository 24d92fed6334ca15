import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliError, collect, parseKeyValues } from '../../src/cli/context.js';
import {
  buildJobSpec,
  mergeJobSpec,
  parseJobFileText,
  readJobFile,
  splitCommandLine,
  validateJobSpec,
} from '../../src/cli/jobspec.js';

test('parseKeyValues: KEY=VALUE pairs; value may contain = and be empty; later wins', () => {
  assert.deepEqual(parseKeyValues(['A=1', 'B=x=y', 'C=', 'A=2'], '--env'), { A: '2', B: 'x=y', C: '' });
  assert.deepEqual(parseKeyValues([], '--env'), {});
});

test('parseKeyValues: missing = or empty key is a usage error naming the flag', () => {
  assert.throws(
    () => parseKeyValues(['NOEQ'], '--env'),
    (e: unknown) => e instanceof CliError && /--env "NOEQ"/.test(e.message),
  );
  assert.throws(() => parseKeyValues(['=v'], '--label'), /--label/);
});

test('collect accumulates repeatable flags', () => {
  assert.deepEqual(collect('b', collect('a', undefined)), ['a', 'b']);
});

test('splitCommandLine: shell-like words, quotes and escapes', () => {
  assert.deepEqual(splitCommandLine('python train.py --lr 3e-4'), ['python', 'train.py', '--lr', '3e-4']);
  assert.deepEqual(splitCommandLine(`  sh -c 'echo "hi there"; exit 1'  `), ['sh', '-c', 'echo "hi there"; exit 1']);
  assert.deepEqual(splitCommandLine('echo "a \\"b\\" $HOME" c\\ d'), ['echo', 'a "b" $HOME', 'c d']);
  assert.deepEqual(splitCommandLine(`x '' ""`), ['x', '', '']);
  assert.deepEqual(splitCommandLine('a"b"\'c\''), ['abc']);
  assert.deepEqual(splitCommandLine(''), []);
  assert.throws(() => splitCommandLine(`echo 'oops`), CliError);
  assert.throws(() => splitCommandLine('echo "oops'), CliError);
});

const fileSpec = {
  name: 'from-file',
  project: 'robotics',
  gpuType: 'B200',
  nodes: 2,
  gpusPerNode: 8,
  command: ['python', 'file.py'],
  env: { A: 'file', B: 'file' },
  labels: { team: 'vision', tier: 'gold' },
  simulation: { durationSeconds: 600, exitCode: 0 },
};

test('mergeJobSpec: no flags leaves the file untouched', () => {
  assert.deepEqual(mergeJobSpec(fileSpec, {}), fileSpec);
  assert.deepEqual(mergeJobSpec(fileSpec, { args: [], env: [], label: [] }), fileSpec);
});

test('mergeJobSpec: flags override scalar file fields', () => {
  const m = mergeJobSpec(fileSpec, {
    name: 'flag-name',
    nodes: 4,
    gpusPerNode: 4,
    gpuType: 'RTX-PRO-6000',
    image: 'nvcr.io/pytorch:24.10',
    maxRuntime: 7200,
    priority: 'high',
  });
  assert.equal(m.name, 'flag-name');
  assert.equal(m.project, 'robotics');
  assert.equal(m.nodes, 4);
  assert.equal(m.gpusPerNode, 4);
  assert.equal(m.gpuType, 'RTX-PRO-6000');
  assert.equal(m.image, 'nvcr.io/pytorch:24.10');
  assert.equal(m.maxRuntimeSeconds, 7200);
  assert.equal(m.priorityClass, 'high');
});

test('mergeJobSpec: env, labels and simulation merge key by key, flags winning', () => {
  const m = mergeJobSpec(fileSpec, { env: ['B=flag', 'C=flag'], label: ['tier=silver'], simDuration: 60 });
  assert.deepEqual(m.env, { A: 'file', B: 'flag', C: 'flag' });
  assert.deepEqual(m.labels, { team: 'vision', tier: 'silver' });
  assert.deepEqual(m.simulation, { durationSeconds: 60, exitCode: 0 });
  const m2 = mergeJobSpec({ name: 'x', project: 'pp' }, { simExitCode: 3 });
  assert.deepEqual(m2.simulation, { exitCode: 3 });
  // The file object itself is not mutated.
  assert.deepEqual(fileSpec.env, { A: 'file', B: 'file' });
});

test('mergeJobSpec: command from --command (split) or args after --, replacing the file command', () => {
  assert.deepEqual(mergeJobSpec(fileSpec, { command: 'torchrun --nproc 8 "my script.py"' }).command, [
    'torchrun',
    '--nproc',
    '8',
    'my script.py',
  ]);
  assert.deepEqual(mergeJobSpec(fileSpec, { args: ['python', '-c', 'print(1)'] }).command, ['python', '-c', 'print(1)']);
  assert.throws(() => mergeJobSpec(fileSpec, { command: 'a', args: ['b'] }), /either --command/);
});

test('validateJobSpec: a valid spec passes and is returned without defaults filled in', async () => {
  const spec = await validateJobSpec({ name: 'n', project: 'robotics' });
  assert.deepEqual(spec, { name: 'n', project: 'robotics' });
});

test('validateJobSpec: reports every problem the way the API does', async () => {
  try {
    await validateJobSpec({ name: 'n', project: 'robotics', gpusPerNode: 0, env: { '1BAD': 'x' }, bogus: true });
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof CliError);
    // The API's sentences: the first three in the message, the rest as lines of their own, none twice.
    assert.equal(
      err.message,
      'invalid job spec: gpusPerNode must be at least 1; env key "1BAD" must be an environment variable name; bogus is not a known field (validation_failed)',
    );
    assert.equal(err.exitCode, 1);
    assert.deepEqual(err.details, []);
  }
});

test('parseJobFileText: YAML and JSON', async () => {
  const yaml = 'name: y\nproject: robotics\ncommand: [python, t.py]\nenv:\n  A: "1"\n';
  assert.deepEqual(await parseJobFileText(yaml, 'job.yaml'), {
    name: 'y',
    project: 'robotics',
    command: ['python', 't.py'],
    env: { A: '1' },
  });
  assert.deepEqual(await parseJobFileText('{"name":"j","nodes":2}', 'job.json'), { name: 'j', nodes: 2 });
  assert.deepEqual(await parseJobFileText('', 'empty.yaml'), {});
  await assert.rejects(parseJobFileText('{nope', 'job.json'), /cannot parse job file job\.json/);
  await assert.rejects(parseJobFileText('- a\n- b\n', 'list.yaml'), /must contain a mapping/);
  await assert.rejects(parseJobFileText('a: [1, 2\n', 'bad.yaml'), /cannot parse job file bad\.yaml/);
});

test('readJobFile: files, stdin (-), missing file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gigafab-cli-job-'));
  const p = join(dir, 'job.yml');
  await writeFile(p, 'name: from-disk\nproject: robotics\n');
  assert.deepEqual(await readJobFile(p), { name: 'from-disk', project: 'robotics' });
  assert.deepEqual(await readJobFile('-', async () => '{"name": "stdin"}'), { name: 'stdin' });
  await assert.rejects(readJobFile(join(dir, 'missing.yaml')), /cannot read job file/);
});

test('buildJobSpec: file + flags -> validated spec', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gigafab-cli-job-'));
  const p = join(dir, 'job.json');
  await writeFile(p, JSON.stringify(fileSpec));
  const spec = await buildJobSpec(p, { nodes: 4, label: ['run=7'], args: ['python', 'x.py'] });
  assert.equal(spec.nodes, 4);
  assert.deepEqual(spec.labels, { team: 'vision', tier: 'gold', run: '7' });
  assert.deepEqual(spec.command, ['python', 'x.py']);
  await assert.rejects(buildJobSpec(p, { gpusPerNode: 0 }), /gpusPerNode/);
  await assert.rejects(buildJobSpec(undefined, { project: 'robotics' }), /name/);
});

test('mergeJobSpec: --registry-secret, --shm-size and --memory; resources merge with the file', () => {
  const merged = mergeJobSpec(
    { image: 'harbor.eu.example/ml/train:1', resources: { cpus: 8, shmSize: '1g' } },
    { registrySecret: 'harbor', shmSize: '16g', memory: '64g' },
  );
  assert.equal(merged.registryCredentials, 'harbor');
  assert.deepEqual(merged.resources, { cpus: 8, shmSize: '16g', memory: '64g' });
});
