/**
 * The replica controller without a process: a small world where new replicas get ready after a
 * random number of ticks and stopped ones drain, driven by the controller's decisions. Properties:
 * a rollout never has fewer ready replicas than wanted, the controller converges, the count does
 * not flap, and scale to zero keeps a replica while requests are recent or queued.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type AutoscalerMemory,
  decideReplicas,
  desiredReplicas,
  EMPTY_AUTOSCALER_MEMORY,
  type ReplicaDecision,
} from '../../src/lifecycle/index.js';
import type { LoadObservation, ReplicaPhase, ReplicaView, ServiceScaling } from '../../src/model/service.js';

const scaling = (over: Partial<ServiceScaling> = {}): ServiceScaling => ({
  minReplicas: 1,
  maxReplicas: 8,
  targetInFlightPerReplica: 4,
  scaleDownDelaySeconds: 30,
  scaleToZeroAfterSeconds: 60,
  ...over,
});
const load = (inFlight: number, queued = 0, lastRequestAt: number | null = null): LoadObservation => ({
  inFlight,
  queued,
  lastRequestAt,
});

interface SimReplica extends ReplicaView {
  /** Tick at which a starting replica gets ready, or a draining one is gone. */
  until: number;
}

/** World: replicas driven by decisions; `delays` (cycled) says how many ticks each start or drain takes. */
class World {
  replicas: SimReplica[] = [];
  memory: AutoscalerMemory = EMPTY_AUTOSCALER_MEMORY;
  tick = 0;
  private seq = 0;
  constructor(private readonly delays: readonly number[]) {}
  private delay(): number {
    return this.delays[this.seq % this.delays.length] ?? 1;
  }
  add(revision: number, phase: ReplicaPhase): void {
    this.replicas.push({
      id: `r${++this.seq}`,
      revision,
      phase,
      createdAt: this.tick * 1000 + this.seq,
      until: this.tick + this.delay(),
    });
  }
  ready(): number {
    return this.replicas.filter((r) => r.phase === 'ready').length;
  }
  live(): SimReplica[] {
    return this.replicas.filter((r) => r.phase === 'starting' || r.phase === 'ready');
  }
  /** One tick: the world moves, the controller decides, the decision is applied at once. */
  step(revision: number, sc: ServiceScaling, l: LoadObservation): { decision: ReplicaDecision; readyBefore: number } {
    this.tick++;
    this.replicas = this.replicas.filter((r) => !(r.phase === 'draining' && r.until <= this.tick));
    for (const r of this.replicas) if (r.phase === 'starting' && r.until <= this.tick) r.phase = 'ready';
    const readyBefore = this.ready();
    const decision = decideReplicas({
      revision,
      scaling: sc,
      replicas: this.replicas,
      load: l,
      memory: this.memory,
      now: this.tick * 1000,
    });
    this.memory = decision.memory;
    for (const s of decision.stop) {
      const r = this.replicas.find((x) => x.id === s.id);
      assert.ok(r, `stops a replica that exists: ${s.id}`);
      assert.notEqual(r.phase, 'draining', 'never stops a replica twice');
      r.phase = 'draining';
      r.until = this.tick + this.delay();
    }
    for (let i = 0; i < decision.create; i++) this.add(revision, 'starting');
    return { decision, readyBefore };
  }
  /** Runs until nothing changes any more; the number of ticks it took. */
  settle(revision: number, sc: ServiceScaling, l: LoadObservation, maxTicks: number): number {
    for (let i = 0; i < maxTicks; i++) {
      const { decision } = this.step(revision, sc, l);
      const busy = this.replicas.some((r) => r.phase !== 'ready');
      if (decision.create === 0 && decision.stop.length === 0 && !busy) return i;
    }
    assert.fail(`did not settle in ${maxTicks} ticks: ${JSON.stringify(this.replicas)}`);
  }
}

const delaysArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 12 });

test('a rolling update never has fewer ready replicas than wanted, surges at most one, and ends on the new revision', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), delaysArb, (wanted, delays) => {
      const sc = scaling({ minReplicas: wanted, maxReplicas: wanted });
      const w = new World(delays);
      w.settle(1, sc, load(0), 200);
      assert.equal(w.ready(), wanted);
      for (let i = 0; i < 400; i++) {
        const { decision } = w.step(2, sc, load(0));
        assert.ok(w.ready() >= wanted, `tick ${w.tick}: ${w.ready()} ready < ${wanted} wanted`);
        assert.ok(w.live().length <= wanted + 1, `tick ${w.tick}: ${w.live().length} live > ${wanted} + 1`);
        const done = w.replicas.every((r) => r.revision === 2 && r.phase === 'ready');
        if (done && decision.create === 0 && decision.stop.length === 0) {
          assert.equal(w.ready(), wanted);
          return;
        }
      }
      assert.fail(`rollout did not finish: ${JSON.stringify(w.replicas)}`);
    }),
  );
});

test('from any mix of replicas, the controller converges to the wanted count of ready replicas of the current revision', () => {
  const replicaArb = fc.record({
    revision: fc.integer({ min: 1, max: 3 }),
    phase: fc.constantFrom<ReplicaPhase>('starting', 'ready', 'unhealthy', 'draining'),
  });
  fc.assert(
    fc.property(
      fc.array(replicaArb, { maxLength: 10 }),
      fc.integer({ min: 0, max: 40 }),
      delaysArb,
      (initial, inFlight, delays) => {
        const w = new World(delays);
        for (const r of initial) w.add(r.revision, r.phase);
        const sc = scaling({ minReplicas: 1, maxReplicas: 6 });
        const l = load(inFlight);
        const wanted = desiredReplicas(sc, l, EMPTY_AUTOSCALER_MEMORY, 0).desired;
        w.settle(3, sc, l, 300);
        assert.equal(w.ready(), wanted);
        assert.ok(w.replicas.every((r) => r.revision === 3));
      },
    ),
  );
});

test('ready replicas are only stopped while at least the wanted count stays ready', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ inFlight: fc.integer({ min: 0, max: 40 }), revision: fc.integer({ min: 1, max: 2 }) }), {
        minLength: 1,
        maxLength: 60,
      }),
      delaysArb,
      (steps, delays) => {
        const w = new World(delays);
        const sc = scaling({ scaleDownDelaySeconds: 3 });
        for (const s of steps) {
          const { decision, readyBefore } = w.step(s.revision, sc, load(s.inFlight));
          assert.ok(
            w.ready() >= Math.min(readyBefore, decision.desired),
            `tick ${w.tick}: ready ${readyBefore} → ${w.ready()} with ${decision.desired} wanted`,
          );
        }
      },
    ),
  );
});

test('no flapping: after a scale-up the count does not go down before the scale-down delay has passed', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ dt: fc.integer({ min: 100, max: 20_000 }), inFlight: fc.integer({ min: 0, max: 50 }) }), {
        minLength: 2,
        maxLength: 80,
      }),
      fc.integer({ min: 1, max: 60 }),
      (samples, delayS) => {
        const sc = scaling({ minReplicas: 0, scaleDownDelaySeconds: delayS, scaleToZeroAfterSeconds: 10 });
        let memory = EMPTY_AUTOSCALER_MEMORY;
        let now = 0;
        const series: { at: number; desired: number }[] = [];
        for (const s of samples) {
          now += s.dt;
          const r = desiredReplicas(sc, load(s.inFlight, 0, s.inFlight > 0 ? now : null), memory, now);
          memory = r.memory;
          series.push({ at: now, desired: r.desired });
        }
        for (let i = 1; i < series.length; i++) {
          const up = series[i] as { at: number; desired: number };
          if (up.desired <= (series[i - 1] as { desired: number }).desired) continue;
          for (const later of series.slice(i + 1)) {
            if (later.at >= up.at + delayS * 1000) break;
            assert.ok(
              later.desired >= up.desired,
              `scaled up to ${up.desired} at ${up.at}, down to ${later.desired} at ${later.at}`,
            );
          }
        }
        assert.ok(
          memory.window.every((w) => w.at > now - delayS * 1000),
          'the window keeps only the delay',
        );
      },
    ),
  );
});

test('autoscaling follows in-flight requests per replica, within min and max', () => {
  const sc = scaling({ minReplicas: 1, maxReplicas: 5, targetInFlightPerReplica: 4, scaleDownDelaySeconds: 10 });
  let memory = EMPTY_AUTOSCALER_MEMORY;
  const at = (s: number, inFlight: number) => {
    const r = desiredReplicas(sc, load(inFlight), memory, s * 1000);
    memory = r.memory;
    return r.desired;
  };
  assert.equal(at(0, 0), 1, 'min 1');
  assert.equal(at(1, 9), 3, 'ceil(9 / 4)');
  assert.equal(at(2, 100), 5, 'max 5');
  assert.equal(at(5, 4), 5, 'the high peak is still in the 10 s window');
  assert.equal(at(12.5, 4), 1, 'after the window: ceil(4 / 4)');
  assert.equal(at(13, 0), 1);
});

test('scale to zero: one replica while requests are recent or queued, none after the idle period', () => {
  const sc = scaling({ minReplicas: 0, scaleDownDelaySeconds: 5, scaleToZeroAfterSeconds: 20 });
  const w = new World([2]);
  w.settle(1, sc, load(1, 0, 0), 50);
  assert.equal(w.ready(), 1, 'a request keeps one replica');
  // Idle from t=0: the replica stays until 20 s without requests (plus the scale-down window).
  while (w.tick < 20) {
    w.step(1, sc, load(0, 0, 0));
    assert.equal(w.live().length, 1, `tick ${w.tick}: still warm`);
  }
  // Stable while the scale-down window still holds the last wanted replica (5 s after the last recent tick, 19), then gone.
  while (w.tick < 23) w.step(1, sc, load(0, 0, 0));
  assert.equal(w.live().length, 1, 'warm for the scale-down delay');
  w.step(1, sc, load(0, 0, 0));
  w.settle(1, sc, load(0, 0, 0), 50);
  assert.equal(w.replicas.length, 0, 'scaled to zero');
  // A request held in the cold-start queue brings one back.
  const { decision } = w.step(1, sc, load(0, 3, w.tick * 1000));
  assert.equal(decision.create, 1);
  assert.equal(decision.desired, 1);
});

test('an unhealthy replica is stopped and replaced in the same step', () => {
  const replicas: ReplicaView[] = [
    { id: 'a', revision: 1, phase: 'ready', createdAt: 1 },
    { id: 'b', revision: 1, phase: 'unhealthy', createdAt: 2 },
  ];
  const d = decideReplicas({
    revision: 1,
    scaling: scaling({ minReplicas: 2, maxReplicas: 2 }),
    replicas,
    load: load(0),
    memory: EMPTY_AUTOSCALER_MEMORY,
    now: 0,
  });
  assert.deepEqual(d.stop, [{ id: 'b', reason: 'unhealthy' }]);
  assert.equal(d.create, 1);
});

test('a new revision that never gets ready stalls the rollout with the old replicas serving', () => {
  const sc = scaling({ minReplicas: 3, maxReplicas: 3 });
  const w = new World([1]);
  w.settle(1, sc, load(0), 50);
  const neverReady = new World([1_000_000]);
  neverReady.replicas = w.replicas;
  for (let i = 0; i < 50; i++) neverReady.step(2, sc, load(0));
  assert.equal(neverReady.replicas.filter((r) => r.revision === 1 && r.phase === 'ready').length, 3);
  assert.equal(neverReady.live().length, 4, 'three old ready and one surged new replica, still starting');
});
