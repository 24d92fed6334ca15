/**
 * Importers on small samples written here in each real format (no rows of the real traces are
 * copied). When the real traces are present (/work/shared/traces), their headers are checked to
 * carry every column the importers read.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ALIBABA_COLUMNS, importAlibaba } from '../../src/sim/importers/alibaba.js';
import { shapeFor, timeLimitFor } from '../../src/sim/importers/common.js';
import { guessFormat } from '../../src/sim/importers/index.js';
import { ITP_COLUMNS, importItp } from '../../src/sim/importers/itp.js';
import { importPhilly, PHILLY_COLUMNS, parsePhillyTime } from '../../src/sim/importers/philly.js';
import type { SimJob } from '../../src/sim/types.js';

const dir = mkdtempSync(join(tmpdir(), 'gigafab-sim-'));
const TRACES = '/work/shared/traces';

async function all(it: AsyncIterable<SimJob>): Promise<SimJob[]> {
  const out: SimJob[] = [];
  for await (const j of it) out.push(j);
  return out;
}

test('shapeFor: GPUs -> nodes x gpusPerNode on 8-GPU nodes', () => {
  assert.deepEqual(shapeFor(1, 8), { nodes: 1, gpusPerNode: 1, roundedUp: false });
  assert.deepEqual(shapeFor(8, 8), { nodes: 1, gpusPerNode: 8, roundedUp: false });
  assert.deepEqual(shapeFor(12, 8), { nodes: 2, gpusPerNode: 6, roundedUp: false });
  assert.deepEqual(shapeFor(24, 8), { nodes: 3, gpusPerNode: 8, roundedUp: false });
  assert.deepEqual(shapeFor(64, 8), { nodes: 8, gpusPerNode: 8, roundedUp: false });
  assert.deepEqual(shapeFor(13, 8), { nodes: 2, gpusPerNode: 8, roundedUp: true });
});

test('philly: unsorted rows come out in submission order; VC -> project; 12 GPUs -> 2 x 6', async () => {
  const path = join(dir, 'philly.csv');
  writeFileSync(
    path,
    [
      'timestamp,duration,num_gpus,gpu_time,cluster',
      '2017-10-02 00:00:10,100.0,1,100.0,aaaaaa',
      '2017-10-02 00:00:00,50.5,12,606.0,bbbbbb',
      'not-a-time,1.0,1,1.0,aaaaaa',
      '2017-10-02 00:00:05,10.0,0,0.0,cccccc',
      '',
    ].join('\n'),
  );
  const t = importPhilly(path, { nodeSize: 8 });
  const jobs = await all(t.jobs);
  assert.deepEqual(
    jobs.map((j) => [j.submitTime, j.project, j.nodes, j.gpusPerNode, j.duration]),
    [
      [parsePhillyTime('2017-10-02 00:00:00'), 'bbbbbb', 2, 6, 50.5],
      [parsePhillyTime('2017-10-02 00:00:10'), 'aaaaaa', 1, 1, 100],
    ],
  );
  assert.equal(parsePhillyTime('2017-10-02 00:00:00'), Date.UTC(2017, 9, 2) / 1000);
  assert.equal(jobs[0].org, 'philly');
  assert.equal(t.stats.rows, 4);
  assert.equal(t.stats.jobs, 2);
  assert.deepEqual(t.stats.skipped, { bad_timestamp: 1, no_gpus: 1 });
  assert.equal(t.stats.adjusted.multi_node_gang, 1);
});

test('itp: file name -> tenant; job_id kept; CRLF tolerated', async () => {
  const path = join(dir, 'cluster07.csv');
  writeFileSync(path, 'job_id,submission_time,duration,num_gpu\r\nj-1,100,3600,1\r\nj-2,150,60,64\r\nj-3,200,,1\r\n');
  const t = importItp(path, { nodeSize: 8 });
  const jobs = await all(t.jobs);
  assert.deepEqual(
    jobs.map((j) => [j.id, j.submitTime, j.org, j.project, j.nodes, j.gpusPerNode, j.duration]),
    [
      ['j-1', 100, 'itp', 'cluster07', 1, 1, 3600],
      ['j-2', 150, 'itp', 'cluster07', 8, 8, 60],
    ],
  );
  assert.deepEqual(t.stats.skipped, { bad_duration: 1 });
  assert.equal(guessFormat(path), 'itp');
});

const ALIBABA_SAMPLE = [
  'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time',
  'pod-a,8000,16384,1,1000,,LS,Succeeded,0,500,10', // whole GPU, ran 10..500
  'pod-b,4000,8192,1,460,,BE,Running,5,9000,5', // GPU-sharing pod, still running at trace end
  'pod-c,2000,4096,0,0,,LS,Running,6,9000,6', // CPU-only
  'pod-d,8000,16384,1,1000,,BE,Pending,7,60,', // never scheduled
  'pod-e,64000,262144,8,1000,V100M16|V100M32,Guaranteed,Failed,8,108,9', // 8 GPUs, type list ignored
].join('\n');

test('alibaba: CPU pods and never-scheduled pods skipped; fractional rounded up (counted); qos -> project', async () => {
  const path = join(dir, 'openb_pod_list_sample.csv');
  writeFileSync(path, `${ALIBABA_SAMPLE}\n`);
  const t = importAlibaba(path, { nodeSize: 8 });
  const jobs = await all(t.jobs);
  assert.deepEqual(
    jobs.map((j) => [j.id, j.submitTime, j.project, j.gpusPerNode, j.nodes, j.duration, j.gpuType]),
    [
      ['pod-a', 0, 'LS', 1, 1, 490, null],
      ['pod-b', 5, 'BE', 1, 1, 8995, null],
      ['pod-e', 8, 'Guaranteed', 8, 1, 99, null],
    ],
  );
  assert.deepEqual(t.stats.skipped, { cpu_only_pod: 1, never_scheduled: 1 });
  assert.deepEqual(t.stats.adjusted, { fractional_gpu_rounded_up: 1, running_at_trace_end_censored: 1, gpu_spec_ignored: 1 });
  assert.equal(guessFormat(path), 'alibaba');
});

test('alibaba: fractional pods can be skipped instead', async () => {
  const path = join(dir, 'openb_pod_list_sample2.csv');
  writeFileSync(path, ALIBABA_SAMPLE);
  const t = importAlibaba(path, { nodeSize: 8, fractional: 'skip' });
  const jobs = await all(t.jobs);
  assert.deepEqual(
    jobs.map((j) => j.id),
    ['pod-a', 'pod-e'],
  );
  assert.equal(t.stats.skipped.fractional_gpu, 1);
});

test("timeLimitFor: the trace's own limit, else 24 h, or the runtime rounded up to the hour; at most 30 days", () => {
  assert.equal(timeLimitFor(100, 300), 300, "the trace's own");
  assert.equal(timeLimitFor(500, 300), 300, 'kept even when the job runs longer (it times out)');
  assert.equal(timeLimitFor(100, 299.5), 300, 'whole seconds');
  assert.equal(timeLimitFor(100, 40 * 86400), 30 * 86400, 'capped');
  assert.equal(timeLimitFor(100), 86400, 'the 24 h default');
  assert.equal(timeLimitFor(100, 0), 86400, 'a zero limit is none');
  assert.equal(timeLimitFor(100, Number.NaN), 86400);
  assert.equal(timeLimitFor(86400), 86400);
  assert.equal(timeLimitFor(86401), 25 * 3600, 'longer jobs: the runtime rounded up to the hour');
  assert.equal(timeLimitFor(90000), 25 * 3600);
  assert.equal(timeLimitFor(60 * 86400), 30 * 86400, 'capped: a longer job times out at 30 days');
});

test('every format gets time limits: the time_limit column where the trace has one, else timeLimitFor', async () => {
  const philly = join(dir, 'philly-limits.csv');
  writeFileSync(
    philly,
    'timestamp,duration,num_gpus,gpu_time,cluster,time_limit\n2017-10-02 00:00:00,100,1,100,a,120\n2017-10-02 00:00:01,90000,1,90000,a,\n',
  );
  assert.deepEqual(
    (await all(importPhilly(philly, { nodeSize: 8 }).jobs)).map((j) => j.wallLimit),
    [120, 25 * 3600],
  );
  const itp = join(dir, 'cluster08.csv');
  writeFileSync(itp, 'job_id,submission_time,duration,num_gpu\nj-1,100,3600,1\n');
  assert.deepEqual(
    (await all(importItp(itp, { nodeSize: 8 }).jobs)).map((j) => j.wallLimit),
    [86400],
  );
  const alibaba = join(dir, 'openb_pod_list_limits.csv');
  writeFileSync(alibaba, `${ALIBABA_SAMPLE.split('\n')[0]},time_limit\npod-a,8000,16384,1,1000,,LS,Succeeded,0,500,10,600\n`);
  assert.deepEqual(
    (await all(importAlibaba(alibaba, { nodeSize: 8 }).jobs)).map((j) => [j.duration, j.wallLimit]),
    [[490, 600]],
  );
});

test('a missing column is reported by name', async () => {
  const path = join(dir, 'cluster99.csv');
  writeFileSync(path, 'job_id,submission_time,num_gpu\nx,1,1\n');
  await assert.rejects(all(importItp(path, { nodeSize: 8 }).jobs), /missing column\(s\) duration/);
});

test('the real traces (when present) carry every column the importers read', { skip: !existsSync(TRACES) }, () => {
  const header = (p: string) => readFileSync(p, 'utf8').slice(0, 400).split(/\r?\n/)[0].split(',');
  const check = (p: string, cols: readonly string[]) => {
    if (!existsSync(p)) return;
    const h = header(p);
    for (const c of cols) assert.ok(h.includes(c), `${p} lacks ${c}`);
  };
  check(join(TRACES, 'philly-2017-pollux/philly.csv'), PHILLY_COLUMNS);
  check(join(TRACES, 'microsoft-itp-elasticflow/cluster01.csv'), ITP_COLUMNS);
  check(join(TRACES, 'alibaba-gpu-v2023-openb/openb_pod_list_default.csv'), ALIBABA_COLUMNS);
});
