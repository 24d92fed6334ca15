/**
 * The job lifecycle without a process: decisions and observations in, run states and effects out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  admit,
  applyCycle,
  chargeUsage,
  type Effect,
  handedOver,
  isPreemptible,
  LifecycleState,
  notStarted,
  observeExit,
  releaseHolds,
  requestStop,
  runningView,
  schedulable,
} from '../../src/lifecycle/index.js';
import { type Placement, PRIORITY_CLASSES } from '../../src/model/job.js';

const place = (node: string, gpus = 8, gpuType = 'B200'): Placement => ({
  site: 'a',
  gpuType,
  nodes: [{ node, gpus: Array.from({ length: gpus }, (_, i) => i) }],
});

function world(...ids: string[]): LifecycleState {
  const s = new LifecycleState();
  for (const id of ids)
    admit(s, {
      id,
      org: 'o',
      project: `p-${id}`,
      priority: PRIORITY_CLASSES.normal,
      maxRuntimeSeconds: 3600,
      onNodeFailure: 'requeue',
    });
  return s;
}

const types = (effects: Effect[]) => effects.map((e) => `${e.type}:${'jobId' in e ? e.jobId : ''}`);

test('one rule for preemptible: the preemptible class, or borrowed capacity', () => {
  assert.equal(isPreemptible(PRIORITY_CLASSES.preemptible, false), true);
  assert.equal(isPreemptible(PRIORITY_CLASSES.normal, true), true);
  assert.equal(isPreemptible(PRIORITY_CLASSES.low, false), false);
  assert.equal(isPreemptible(PRIORITY_CLASSES.critical, false), false);
});

test('a start is persisted, then handed to the driver; handed over, the job runs', () => {
  const s = world('1');
  const { effects } = applyCycle(s, { starts: [{ jobId: '1', placement: place('n1') }] }, 1000, 30);
  assert.deepEqual(types(effects), ['persist-start:1', 'start-on-driver:1']);
  assert.equal(s.get('1')?.state.phase, 'starting');
  assert.equal(schedulable(s, '1'), false);
  assert.deepEqual(handedOver(s, '1', 30).effects, []);
  assert.equal(s.get('1')?.state.phase, 'running');
  const v = runningView(s.get('1')!);
  assert.deepEqual(
    { gpus: v?.gpus, startedAt: v?.startedAt, preemptible: v?.preemptible, evicting: v?.evicting },
    { gpus: 8, startedAt: 1000, preemptible: false, evicting: undefined },
  );
});

test('decisions about jobs that changed meanwhile are dropped', () => {
  const s = world('1');
  const { effects } = applyCycle(
    s,
    {
      starts: [{ jobId: 'gone', placement: place('n1') }],
      preemptions: [{ victimId: '1', forJobId: '2', reason: 'priority' }],
    },
    0,
    30,
  );
  assert.deepEqual(effects, []);
  assert.equal(s.get('1')?.state.phase, 'queued');
});

test('a victim stops with a grace period, is requeued and held until its preemptor has started', () => {
  const s = world('victim', 'big');
  applyCycle(s, { starts: [{ jobId: 'victim', placement: place('n1'), borrowed: true }] }, 0, 30);
  handedOver(s, 'victim', 30);
  assert.equal(runningView(s.get('victim')!)?.preemptible, true);
  const cycle = applyCycle(s, { starts: [], preemptions: [{ victimId: 'victim', forJobId: 'big', reason: 'reclaim' }] }, 10, 30);
  assert.deepEqual(cycle.effects, [
    { type: 'persist-stop', jobId: 'victim', cause: { kind: 'preempt', forJobId: 'big', reason: 'reclaim' }, at: 10 },
    { type: 'stop-on-driver', jobId: 'victim', graceSeconds: 30 },
  ]);
  assert.equal(runningView(s.get('victim')!)?.evicting, true);
  // The same decision again (next cycle, victim still draining) changes nothing.
  assert.deepEqual(
    applyCycle(s, { starts: [], preemptions: [{ victimId: 'victim', forJobId: 'big', reason: 'reclaim' }] }, 11, 30).effects,
    [],
  );
  const exit = observeExit(s, 'victim', { outcome: 'cancelled', exitCode: 143 }, 40);
  assert.deepEqual(types(exit.effects), ['release:victim', 'persist-requeue:victim']);
  assert.deepEqual(exit.effects[1], {
    type: 'persist-requeue',
    jobId: 'victim',
    cause: { kind: 'preempt', forJobId: 'big', reason: 'reclaim' },
    hold: { kind: 'preempted', forJobId: 'big' },
    at: 40,
  });
  assert.deepEqual(s.get('victim')?.state, { phase: 'held', cause: { kind: 'preempted', forJobId: 'big' } });
  assert.deepEqual(releaseHolds(s), [], 'held while big is still queued');
  assert.equal(schedulable(s, 'victim'), false);
  applyCycle(s, { starts: [{ jobId: 'big', placement: place('n1') }] }, 41, 30);
  assert.deepEqual(releaseHolds(s), ['victim']);
  assert.equal(schedulable(s, 'victim'), true);
});

test('a stop asked for during the hand-over reaches the driver once it is handed over', () => {
  const s = world('1');
  applyCycle(s, { starts: [{ jobId: '1', placement: place('n1') }] }, 0, 30);
  assert.deepEqual(requestStop(s, '1', { kind: 'cancel', by: 'u1' }, 30).effects, []);
  assert.deepEqual(handedOver(s, '1', 30).effects, [{ type: 'stop-on-driver', jobId: '1', graceSeconds: 30 }]);
  const end = observeExit(s, '1', { outcome: 'cancelled', exitCode: 143 }, 5);
  assert.deepEqual(end.effects[1], {
    type: 'persist-finish',
    jobId: '1',
    state: 'cancelled',
    exitCode: 143,
    cause: { kind: 'cancel', by: 'u1' },
    at: 5,
  });
  assert.equal(s.get('1'), undefined);
});

test('node failure: stop at once, then requeue or fail as the spec asks; a clean exit still succeeds', () => {
  for (const [policy, exit, want] of [
    ['requeue', { outcome: 'cancelled', exitCode: 143 }, 'persist-requeue'],
    ['fail', { outcome: 'cancelled', exitCode: 143 }, 'failed'],
    ['requeue', { outcome: 'completed', exitCode: 0 }, 'succeeded'],
  ] as const) {
    const s = world('1');
    applyCycle(s, { starts: [{ jobId: '1', placement: place('n1') }] }, 0, 30);
    handedOver(s, '1', 30);
    const cause = { kind: 'node-failure', node: 'n1', why: 'down', onNodeFailure: policy } as const;
    assert.deepEqual(requestStop(s, '1', cause, 30).effects, [{ type: 'stop-on-driver', jobId: '1', graceSeconds: 0 }]);
    const last = observeExit(s, '1', exit, 9).effects[1];
    assert.equal(last?.type === 'persist-finish' ? last.state : last?.type, want);
  }
});

test('a restricted job is requeued without a hold (the restriction itself keeps it waiting)', () => {
  const s = world('1');
  applyCycle(s, { starts: [{ jobId: '1', placement: place('n1') }] }, 0, 30);
  handedOver(s, '1', 30);
  requestStop(s, '1', { kind: 'restrict', reason: 'Art. 18' }, 30);
  observeExit(s, '1', { outcome: 'cancelled', exitCode: 143 }, 3);
  assert.deepEqual(s.get('1')?.state, { phase: 'queued' });
});

test('a start refused in its transaction puts the job back in the queue and frees its GPUs', () => {
  const s = world('1');
  applyCycle(s, { starts: [{ jobId: '1', placement: place('n1') }] }, 0, 30);
  assert.deepEqual(notStarted(s, '1').effects, [{ type: 'release', jobId: '1' }]);
  assert.equal(schedulable(s, '1'), true);
});

test('usage is charged per project and real GPU type (per-type weights apply)', () => {
  const s = world('1', '2');
  applyCycle(
    s,
    {
      starts: [
        { jobId: '1', placement: place('n1', 8, 'B200') },
        { jobId: '2', placement: place('n2', 2, 'RTX-PRO-6000') },
      ],
    },
    0,
    30,
  );
  assert.equal(chargeUsage(s, 0), null);
  assert.deepEqual(chargeUsage(s, 60), {
    type: 'charge-usage',
    charges: [
      { project: 'p-1', gpuType: 'B200', gpus: 8, seconds: 60 },
      { project: 'p-2', gpuType: 'RTX-PRO-6000', gpus: 2, seconds: 60 },
    ],
  });
});

test('runningView scales the wall-clock limit into the clock of the site (simulated time)', () => {
  const s = world('1');
  applyCycle(s, { starts: [{ jobId: '1', placement: place('n1') }] }, 0, 30);
  assert.equal(runningView(s.get('1')!, 60)?.maxRuntimeSeconds, 60);
  assert.equal(runningView(s.get('1')!)?.maxRuntimeSeconds, 3600);
});
