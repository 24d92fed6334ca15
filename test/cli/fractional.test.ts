/** CLI for fractional GPUs: --gpu-fraction / --gpu-memory / --mig map onto the JobSpec; `job show` shows the slice. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gpuSummary, renderJobDetails } from '../../src/cli/commands/job.js';
import { mergeJobSpec, validateJobSpec } from '../../src/cli/jobspec.js';
import { type Job, JobSchema } from '../../src/model/schemas.js';

test('submit flags: --gpu-fraction and --gpu-memory, or --mig, become the JobSpec fields', async () => {
  const spec = await validateJobSpec(mergeJobSpec({ name: 'nb', project: 'robotics' }, { gpuFraction: 250, gpuMemory: 8192 }));
  assert.equal(spec.gpuFraction, 250);
  assert.equal(spec.gpuMemoryMiB, 8192);
  const mig = await validateJobSpec(mergeJobSpec({ name: 'inf', project: 'robotics', gpuType: 'B200' }, { mig: '1g.23gb' }));
  assert.equal(mig.migProfile, '1g.23gb');
  await assert.rejects(
    validateJobSpec(mergeJobSpec({ name: 'x', project: 'robotics' }, { gpuFraction: 250, nodes: 2 })),
    /part of ONE GPU/,
  );
});

function runningShare(): Job {
  return JobSchema.parse({
    id: '7',
    org: 'acme',
    project: 'robotics',
    name: 'nb',
    state: 'running',
    spec: { name: 'nb', project: 'robotics', gpuType: 'B200', gpuFraction: 250, gpuMemoryMiB: 8192 },
    placement: { site: 'muc1', gpuType: 'B200', nodes: [{ node: 'muc1-b200-0001', gpus: [3], milli: 250, memoryMiB: 8192 }] },
    pendingReason: null,
    reasonCycle: null,
    submittedBy: 'ada',
    createdAt: '2026-12-05T10:00:00.000Z',
    startedAt: '2026-12-05T10:00:01.000Z',
    finishedAt: null,
    exitCode: null,
    attempt: 1,
  });
}

test('job show: the GPUs row names the slice, the placement table has a SLICE column', () => {
  const job = runningShare();
  const out = renderJobDetails(job, Date.parse('2026-12-05T10:01:00Z'));
  assert.match(out, /GPUs:\s+250 milli-GPU \(0\.25 GPU-equivalents\) of one B200 GPU, time-sliced, 8192 MiB GPU memory/);
  assert.match(out, /SLICE/);
  assert.match(out, /muc1-b200-0001\s+3\s+250 milli, time-sliced/);
  assert.equal(gpuSummary(job), '250m B200');
});
