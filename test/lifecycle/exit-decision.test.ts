/** exitDecision: the one rule for what a job whose process ended becomes (server and simulator ask it). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ExitObservation, exitDecision, type StopCause } from '../../src/lifecycle/index.js';

const ok: ExitObservation = { outcome: 'completed', exitCode: 0 };
const crashed: ExitObservation = { outcome: 'completed', exitCode: 1 };
const stopped: ExitObservation = { outcome: 'cancelled', exitCode: 143 };
const lost: ExitObservation = { outcome: 'lost', exitCode: null };
const preempt: StopCause = { kind: 'preempt', forJobId: '7', reason: 'priority' };
const nodeDown = (onNodeFailure: 'requeue' | 'fail'): StopCause => ({
  kind: 'node-failure',
  node: 'n1',
  why: 'PSU',
  onNodeFailure,
});

test('a job not being stopped ends with its own outcome', () => {
  assert.deepEqual(exitDecision(null, ok), { next: 'finish', state: 'succeeded' });
  assert.deepEqual(exitDecision(null, crashed), { next: 'finish', state: 'failed' });
  assert.deepEqual(exitDecision(null, lost), { next: 'finish', state: 'failed' });
});

test('a preempted job that stopped is requeued and held behind its preemptor; one that was lost is not', () => {
  assert.deepEqual(exitDecision(preempt, stopped), { next: 'requeue', hold: { kind: 'preempted', forJobId: '7' } });
  assert.deepEqual(exitDecision(preempt, lost), { next: 'finish', state: 'failed' });
  assert.deepEqual(exitDecision({ kind: 'restrict', reason: 'Art. 18' }, stopped), { next: 'requeue', hold: null });
  assert.deepEqual(exitDecision({ kind: 'cancel', by: 'ada' }, stopped), { next: 'finish', state: 'cancelled' });
});

test('a node failure requeues or fails as the spec asks, unless the job had already succeeded', () => {
  assert.deepEqual(exitDecision(nodeDown('requeue'), stopped), { next: 'requeue', hold: null });
  assert.deepEqual(exitDecision(nodeDown('requeue'), lost), { next: 'requeue', hold: null });
  assert.deepEqual(exitDecision(nodeDown('fail'), stopped), { next: 'finish', state: 'failed' });
  assert.deepEqual(exitDecision(nodeDown('fail'), ok), { next: 'finish', state: 'succeeded' });
  assert.deepEqual(exitDecision(nodeDown('requeue'), ok), { next: 'finish', state: 'succeeded' });
});
