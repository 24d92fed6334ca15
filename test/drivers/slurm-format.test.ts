/**
 * The Slurm 22.05 module without a cluster: command lines, the batch script (run with a stand-in
 * srun), and the readers of squeue/sinfo JSON and sacct text (samples trimmed from real 22.05.8
 * output), plus the driver's refusals that come before any Slurm command.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SlurmDriverConfigSchema, slurmNodeMap } from '../../src/drivers/config.js';
import * as s from '../../src/drivers/slurm/slurm-22.05.js';
import { parseSlurmJobName, SlurmDriver } from '../../src/drivers/slurm-driver.js';
import { driverJob } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'gigafab-slurm-format-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('sbatch arguments: exact nodes, GPUs per node, minutes, name, output, script and command last', () => {
  const args = s.sbatchArgs({
    jobName: 'gigafab-42',
    comment: 'gigafab:default',
    nodes: ['gpu01', 'gpu02'],
    gpusPerNode: 4,
    timeLimitMinutes: s.timeLimitMinutes(3601),
    partition: 'gpu',
    workDir: '/jobs/42',
    outputPath: '/jobs/42/output.log',
    scriptPath: '/jobs/42/job.sh',
    exitFile: '/jobs/42/exit_code',
    command: ['python', 'train.py', '--lr', '3e-4'],
  });
  for (const a of [
    '--parsable',
    '--job-name=gigafab-42',
    '--nodes=2',
    '--nodelist=gpu01,gpu02',
    '--ntasks-per-node=1',
    '--gres=gpu:4',
    '--time=61',
    '--output=/jobs/42/output.log',
    '--chdir=/jobs/42',
    '--partition=gpu',
    '--export=ALL',
    '--no-requeue',
  ]) {
    assert.ok(args.includes(a), `${a} in ${args.join(' ')}`);
  }
  assert.deepEqual(args.slice(-5), ['/jobs/42/job.sh', 'python', 'train.py', '--lr', '3e-4']);
  assert.equal(s.timeLimitMinutes(1), 1);
  assert.equal(s.timeLimitMinutes(60), 1);
  assert.equal(s.timeLimitMinutes(61), 2);
});

test('the batch script runs the command through srun, records its status, and keeps odd arguments intact', () => {
  const bin = join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  // A stand-in srun: drops its options and runs the command, as one task would.
  writeFileSync(
    join(bin, 'srun'),
    '#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in --*) shift ;; *) break ;; esac; done\nexec "$@"\n',
  );
  chmodSync(join(bin, 'srun'), 0o755);
  const exitFile = join(dir, "it's exit_code");
  const script = join(dir, 'job.sh');
  writeFileSync(script, s.batchScript('42', exitFile));
  let status = 0;
  let out = '';
  try {
    out = execFileSync('sh', [script, 'sh', '-c', 'printf "%s|" "$@"; exit 7', 'x', 'a b', "it's", '$HOME'], {
      env: { PATH: `${bin}:/usr/bin:/bin` },
      encoding: 'utf8',
    });
  } catch (e) {
    const err = e as { status: number; stdout: string };
    status = err.status;
    out = err.stdout;
  }
  assert.equal(status, 7);
  assert.equal(out, "a b|it's|$HOME|");
  assert.equal(readFileSync(exitFile, 'utf8'), '7\n');
});

test('sbatch --parsable output', () => {
  assert.equal(s.parseSbatchParsable('1234\n'), '1234');
  assert.equal(s.parseSbatchParsable('1234;gigafab\n'), '1234');
  assert.throws(() => s.parseSbatchParsable('sbatch: error: Batch job submission failed'), /no job id/);
});

const SQUEUE = JSON.stringify({
  meta: { plugin: { type: 'openapi/v0.0.38' }, Slurm: { version: { major: 22, minor: 5, micro: 8 }, release: '22.05.8' } },
  errors: [],
  jobs: [
    {
      job_id: 1,
      name: 'gigafab-x1',
      job_state: 'FAILED',
      state_reason: 'NonZeroExitCode',
      exit_code: 768,
      start_time: 1795432548,
      end_time: 1795432548,
      nodes: 'gpu[02-03]',
      gres_detail: [],
      comment: 'gigafab:test',
      job_resources: { allocated_nodes: [{ nodename: 'gpu02' }, { nodename: 'gpu03' }] },
    },
    {
      job_id: 2,
      name: 'gigafab-x2',
      job_state: 'RUNNING',
      state_reason: 'None',
      exit_code: 0,
      start_time: 1795432554,
      end_time: 1795518954,
      nodes: 'gpu01',
      gres_detail: ['gpu:2(IDX:0-1)'],
      comment: 'gigafab:default',
      job_resources: { allocated_nodes: [{ nodename: 'gpu01' }] },
    },
    {
      job_id: 3,
      name: 'other',
      job_state: 'PENDING',
      state_reason: 'Resources',
      exit_code: 0,
      start_time: 0,
      end_time: 0,
      nodes: '',
    },
  ],
});

test('squeue --json (22.05): states, raw exit status, nodes, GPU indices, release', () => {
  const r = s.parseSqueueJson(SQUEUE);
  assert.equal(r.release, '22.05.8');
  assert.ok(s.isSupportedRelease(r.release));
  assert.ok(!s.isSupportedRelease('23.11.4'));
  const [j1, j2, j3] = r.jobs;
  assert.equal(j1.slurmJobId, '1');
  assert.equal(j1.state, 'FAILED');
  assert.deepEqual(j1.nodes, ['gpu02', 'gpu03']);
  assert.equal(j1.startTime, 1795432548000);
  assert.deepEqual(s.endedOutcome(j1), {
    outcome: 'completed',
    exitCode: 3,
    message: 'exited with code 3 (Slurm job 1 FAILED, NonZeroExitCode)',
  });
  assert.deepEqual(j2.gpus.get('gpu01'), [0, 1]);
  assert.equal(s.phaseOf(j2.state), 'running');
  assert.equal(j3.startTime, null);
  assert.equal(s.phaseOf(j3.state), 'pending');
  assert.throws(() => s.parseSqueueJson('{"errors":[{"error":"boom"}],"jobs":[]}'), /boom/);
});

test('outcomes of finished Slurm jobs', () => {
  const rec = (state: string, exitStatus: number | null): s.SlurmJobRecord => ({
    slurmJobId: '9',
    name: 'gigafab-9',
    state,
    reason: 'None',
    exitStatus,
    startTime: null,
    endTime: null,
    nodes: [],
    gpus: new Map(),
    comment: '',
  });
  assert.deepEqual(
    [
      ['COMPLETED', 0],
      ['FAILED', 42 << 8],
      ['CANCELLED', 15],
      ['TIMEOUT', 15],
      ['NODE_FAIL', 0],
      ['OUT_OF_MEMORY', 0],
      ['PREEMPTED', 0],
    ].map(([st, x]) => {
      const o = s.endedOutcome(rec(st as string, x as number));
      return [o.outcome, o.exitCode];
    }),
    [
      ['completed', 0],
      ['completed', 42],
      ['cancelled', 143],
      ['timed-out', 143],
      ['lost', null],
      ['completed', 137],
      ['lost', 0],
    ],
  );
  assert.equal(s.phaseOf('COMPLETING'), 'running', 'the final state is awaited');
  assert.equal(s.decodeWaitStatus(9), 137);
  assert.equal(s.decodeWaitStatus(256), 1);
});

test('sacct text (exit codes there are reliable; its 22.05 JSON is not)', () => {
  const r = s.parseSacctText('17|gigafab-17|FAILED|3:0|2026-11-23T11:15:48|2026-11-23T11:15:49\n');
  assert.ok(r);
  assert.equal(r?.state, 'FAILED');
  assert.equal(s.endedOutcome(r!).exitCode, 3);
  const c = s.parseSacctText('18|gigafab-18|CANCELLED by 0|0:15|2026-11-23T11:15:48|2026-11-23T11:15:49\n');
  assert.equal(c?.state, 'CANCELLED');
  assert.equal(s.endedOutcome(c!).exitCode, 143);
  assert.equal(s.parseSacctText(''), null);
});

test('sinfo --json (22.05) → gigafab node states', () => {
  const nodes = s.parseSinfoJson(
    JSON.stringify({
      nodes: [
        { name: 'gpu01', state: 'idle', state_flags: [], reason: '', reason_changed_at: 0 },
        { name: 'gpu02', state: 'allocated', state_flags: [], reason: '' },
        { name: 'gpu03', state: 'idle', state_flags: ['DRAIN'], reason: 'maint', reason_changed_at: 1795432562 },
        { name: 'gpu04', state: 'down', state_flags: [], reason: 'test', reason_changed_at: 1795432562 },
        { name: 'gpu05', state: 'idle', state_flags: ['NOT_RESPONDING'], reason: '' },
        { name: 'gpu06', state: 'mixed', state_flags: ['DRAIN'], reason: 'Kill task failed' },
        { name: 'gpu01', state: 'idle', state_flags: [], reason: '' },
      ],
    }),
  );
  assert.equal(nodes.length, 6, 'a node in several partitions is counted once');
  const states = nodes.map((n) => [n.name, s.gigafabNodeState(n).state]);
  assert.deepEqual(states, [
    ['gpu01', 'up'],
    ['gpu02', 'up'],
    ['gpu03', 'draining'],
    ['gpu04', 'down'],
    ['gpu05', 'draining'],
    ['gpu06', 'draining'],
  ]);
  assert.match(s.gigafabNodeState(nodes[3]).reason, /gpu04 is down: test/);
});

test('hostlists and GRES index lists', () => {
  assert.deepEqual(s.expandHostlist('gpu[01-03,07],cpu1'), ['gpu01', 'gpu02', 'gpu03', 'gpu07', 'cpu1']);
  assert.deepEqual(s.expandHostlist('a1'), ['a1']);
  assert.deepEqual(s.parseGresIndices('gpu:4(IDX:0-1,3,5)'), [0, 1, 3, 5]);
  assert.equal(s.parseGresIndices('gpu:4'), null);
});

test('site config: nodeMap and a nodeNames rule give the Slurm names', () => {
  const cfg = SlurmDriverConfigSchema.parse({
    kind: 'slurm',
    jobDir: '/shared/jobs',
    nodeMap: { 'muc1-b200-0001': 'special01' },
    nodeNames: { pattern: '^muc1-b200-0*(\\d+)$', replace: 'dgx$1' },
  });
  assert.deepEqual(slurmNodeMap(cfg, 'muc1', ['muc1-b200-0001', 'muc1-b200-0002', 'muc1-b200-0010', 'other']), {
    'muc1-b200-0001': 'special01',
    'muc1-b200-0002': 'dgx2',
    'muc1-b200-0010': 'dgx10',
  });
  assert.throws(() => slurmNodeMap(cfg, 'muc1', ['x']), /not a node of this site/);
});

test('the Slurm driver refuses, before calling Slurm: unmapped nodes, uneven GPUs, Slurm-reserved env, no command', async () => {
  const d = new SlurmDriver({
    nodeMap: { a: 'gpu01', b: 'gpu02' },
    jobDir: join(dir, 'jobs'),
    nodePollIntervalMs: 0,
    binDir: '/nonexistent',
  });
  try {
    await assert.rejects(d.start(driverJob('j1', ['true'], [{ node: 'zzz', gpus: [0] }])), /no Slurm node name/);
    await assert.rejects(
      d.start(
        driverJob(
          'j2',
          ['true'],
          [
            { node: 'a', gpus: [0, 1] },
            { node: 'b', gpus: [0] },
          ],
        ),
      ),
      /same GPU count/,
    );
    await assert.rejects(
      d.start(driverJob('j3', ['true'], [{ node: 'a', gpus: [0] }], { env: { SBATCH_PARTITION: 'x' } })),
      /reserved by Slurm/,
    );
    const noCmd = driverJob('j4', [], [{ node: 'a', gpus: [0] }]);
    noCmd.spec.command = undefined;
    await assert.rejects(d.start(noCmd), /no command/);
    await assert.rejects(d.start(driverJob('../x', ['true'], [{ node: 'a', gpus: [0] }])), /not usable as a directory name/);
    assert.throws(
      () => new SlurmDriver({ nodeMap: { a: 'n1', b: 'n1' }, jobDir: join(dir, 'j2'), nodePollIntervalMs: 0 }),
      /mapped from both/,
    );
  } finally {
    await d.close();
  }
});

test('text squeue (the driver’s poll) and scontrol GPU details', () => {
  const text = [
    '1|gigafab-x1|FAILED|NonZeroExitCode|768|2026-11-23T11:15:48|2026-11-23T11:15:48|gpu[02-03]|gigafab:test|',
    '122|wrap|RUNNING|None|0|2026-11-23T11:41:09|NONE|gpu[01-02]|(null)|',
    '130|odd|name|PENDING|Resources|0|N/A|N/A||(null)|',
    '',
  ].join('\n');
  const [a, b, c] = s.parseSqueueText(text);
  assert.equal(a.slurmJobId, '1');
  assert.equal(a.state, 'FAILED');
  assert.equal(s.endedOutcome(a).exitCode, 3);
  assert.deepEqual(a.nodes, ['gpu02', 'gpu03']);
  assert.equal(a.comment, 'gigafab:test');
  assert.equal(a.startTime, new Date(2026, 10, 23, 11, 15, 48).getTime(), 'local time, as squeue prints it');
  assert.equal(b.endTime, null);
  assert.equal(b.comment, '');
  assert.equal(c.name, 'odd|name', 'a | inside a name does not shift the other fields');
  assert.equal(c.state, 'PENDING');
  assert.deepEqual(c.nodes, []);
  assert.deepEqual(s.squeueTextArgs(['1', '2']).at(-1), '--jobs=1,2');
  assert.ok(s.isUnknownJobError('slurm_load_jobs error: Invalid job id specified'));

  const show =
    'JobId=122 JobName=wrap JobState=RUNNING NodeList=gpu[01-03] NumNodes=3 JOB_GRES=gpu:8\n   Nodes=gpu[01-02] CPU_IDs=31 Mem=0 GRES=gpu:3(IDX:0-2)\n   Nodes=gpu03 CPU_IDs=30 Mem=0 GRES=gpu:2(IDX:4,6)';
  assert.deepEqual(
    [...s.parseScontrolGpus(show)],
    [
      ['gpu01', [0, 1, 2]],
      ['gpu02', [0, 1, 2]],
      ['gpu03', [4, 6]],
    ],
  );
});

test('a job started again (attempt 2) is submitted anew, in its own directory and under its own name', async () => {
  // A stand-in sbatch that records its arguments; the driver follows nothing here (no poll is due).
  const bin = join(dir, 'attempt-bin');
  execFileSync('mkdir', ['-p', bin]);
  const calls = join(dir, 'sbatch.calls');
  // One line per call: the arguments may hold newlines (the step's script), so they are joined first.
  writeFileSync(
    join(bin, 'sbatch'),
    `#!/bin/sh\nargs=$(printf '%s' "$*" | tr '\\n' ' ')\nprintf '%s\\n' "$args" >> ${calls}\nwc -l < ${calls}\n`,
  );
  chmodSync(join(bin, 'sbatch'), 0o755);
  const jobDir = join(dir, 'attempt-jobs');
  const opts = { nodeMap: { a: 'gpu01' }, jobDir, nodePollIntervalMs: 0, pollIntervalMs: 3_600_000, binDir: bin };
  const job = driverJob('77', ['true'], [{ node: 'a', gpus: [0] }]);
  const first = new SlurmDriver(opts);
  await first.start({ ...job, attempt: 1 });
  await first.close();
  const second = new SlurmDriver(opts);
  try {
    await second.start({ ...job, attempt: 2 });
    const lines = readFileSync(calls, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2, 'attempt 2 was submitted, not taken for attempt 1 retried');
    assert.match(lines[0], /--job-name=gigafab-77 .*--chdir=\S+\/77\/attempt-1 /);
    assert.match(lines[1], /--job-name=gigafab-77@2 .*--chdir=\S+\/77\/attempt-2 /);
    assert.deepEqual(second.attempts('77'), [1, 2]);
    assert.equal(second.slurmJobId('77'), '2');
    assert.equal(JSON.parse(readFileSync(join(jobDir, '77', 'attempt-1', 'slurm.json'), 'utf8')).slurmJobId, '1');
    // The same attempt again (a start retried after a crash) follows what was submitted: no third sbatch.
    const third = new SlurmDriver(opts);
    await third.start({ ...job, attempt: 2 });
    await third.close();
    assert.equal(readFileSync(calls, 'utf8').trim().split('\n').length, 2);
  } finally {
    await second.close();
  }
  assert.deepEqual(parseSlurmJobName('gigafab-a.b@12'), { id: 'a.b', attempt: 12 });
  assert.deepEqual(parseSlurmJobName('gigafab-a.b'), { id: 'a.b', attempt: 1 });
});
