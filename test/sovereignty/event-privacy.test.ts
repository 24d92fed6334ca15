/**
 * The job-event classification (src/server/event-privacy.ts), event by event, with the shapes the
 * control plane, node-failure.ts and the residency service write. The server tests
 * (test/api/lockbox.test.ts) show the withholding end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobEvent } from '../../src/model/schemas.js';
import { tenantDataIn, withholdEvent } from '../../src/server/event-privacy.js';

const ev = (type: string, message: string, data: Record<string, unknown> | null = null): JobEvent => ({
  id: 1,
  jobId: '812',
  at: '2026-11-23T10:00:00.000Z',
  type,
  message,
  data,
});

test('operational events: sentences the control plane wrote from placement, states and ids', () => {
  for (const e of [
    ev('queued', 'submitted: 1×8 H100 (8 GPUs)'),
    ev('queued', 'node n1 went down: requeued (attempt 2)', { node: 'n1', attempt: 2 }),
    ev('queued', 'requeued and held: processing restricted (art. 18)', { preemptedFor: '' }),
    ev('queued', 'requeued and held: processing restricted (art. 18)', { restricted: true }),
    ev('running', 'scheduled on 1 node(s) in s1 (8 H100)', { placement: { site: 's1' } }),
    ev('started', 'started on n1 as pid 42 with CUDA_VISIBLE_DEVICES=0'),
    ev('preempting', 'preempted for job 9 (…)', { forJobId: '9', reason: 'priority' }),
    ev('node-failure', 'node n1 went down (fan): stopping the job', { node: 'n1', policy: 'requeue' }),
    ev('cancel-requested', 'cancel requested by usr_1; stopping with a 30s grace period'),
    ev('cancelled', 'cancelled by usr_1 while queued'),
    ev('failed', 'node n1 went down: failed (the job asked for onNodeFailure: fail)', { node: 'n1', exitCode: null }),
    ev('holding', 'processing restricted (art. 18); stopping'),
  ]) {
    assert.equal(tenantDataIn(e), null, `${e.type}: ${e.message}`);
  }
});

test("tenant data: a driver's message, checkpoints, residency flags, and any type nobody classified", () => {
  const cases: [JobEvent, RegExp][] = [
    [
      ev('failed', 'pod p on k1 failed before its container ran: ErrImagePull registry/acme/x:v1', { exitCode: null }),
      /^job failed; the execution driver's message is withheld/,
    ],
    [ev('succeeded', 'exited with code 0', { exitCode: 0 }), /^job succeeded;/],
    [ev('timed-out', 'wall-clock limit of 60s reached', { exitCode: 137 }), /^job timed-out;/],
    [
      ev('queued', 'requeued after preemption for job 9 (stopped; pods ended)', { preemptedFor: '9' }),
      /^requeued after preemption for job 9; the execution driver's message/,
    ],
    [ev('checkpoint', 'checkpoint at step 3 (s3://acme/ckpt)', { step: 3, label: 's3://acme/ckpt' }), /^checkpoint reported;/],
    [ev('residency-flagged', 'residency: site s2 …', { site: 's2', rule: 'r', reason: 'x' }), /^residency: /],
    [ev('something-new', 'whatever a future module writes'), /^something-new event; its message is withheld/],
  ];
  for (const [e, sentence] of cases) {
    const s = tenantDataIn(e);
    assert.match(s ?? '', sentence, `${e.type}: ${e.message}`);
    assert.match(s ?? '', /lockbox: read-spec on the job/);
  }
});

test('withholdEvent keeps id, job, time and type; says what it withheld', () => {
  const e = ev('checkpoint', 'checkpoint (s3://acme/ckpt)', { label: 's3://acme/ckpt' });
  assert.deepEqual(withholdEvent(e, 'S'), { ...e, message: 'S', data: null, redacted: ['message', 'data'] });
  assert.deepEqual(withholdEvent(ev('lost', 'x'), 'S').redacted, ['message']);
});
