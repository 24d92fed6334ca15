/**
 * Property (fast-check): for random job histories run through the real control plane — submissions
 * of every class, time passing, preemption, node failures (requeue) and returns, cancels — under two
 * random price versions, the second taking effect part-way through (a price change mid-job), the
 * invoice of the month bills exactly the metered usage × the prices, to the cent: each line equals a
 * reference computed from the jobs' event history (each `running` event to its requeue or end; a run
 * still going at the invoice run counts up to the month's end), rounded up from its start to the
 * granularity then in effect, split at the price change, summed per class and price and rounded half
 * up once; the net amount is the sum of the lines. With a random reserved-capacity commitment (or
 * none), the organisation's billed usage is covered up to the committed GPUs at every instant,
 * dearest price first (then on-demand before preemptible, then the older version): the reference
 * takes the covered time off each line by an independent sweep over every elementary interval, and
 * the net amount adds GPUs × the monthly price.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from '@hono/zod-openapi';
import fc from 'fast-check';
import type { Observation } from '../../src/drivers/driver.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { VirtualClock } from '../../src/drivers/timers.js';
import { parseJson } from '../../src/model/json.js';
import { PolicySchema } from '../../src/model/policy.js';
import type { BillingGranularity } from '../../src/model/prices.js';
import { PlacementSchema } from '../../src/model/schemas.js';
import { eventually, type Harness, harness } from './harness.js';

const T0 = Date.parse('2026-01-05T09:00:00Z');
const MONTH_FROM = Date.parse('2026-01-01T00:00:00Z');
const MONTH_TO = Date.parse('2026-02-01T00:00:00Z');
const RUN_AT = MONTH_TO + 3_600_000;
const NODES = ['s1-dgx-0001', 's1-dgx-0002', 's1-dgx-0003', 's1-dgx-0004'];
const RUN_ENDS = new Set(['queued', 'succeeded', 'failed', 'cancelled', 'timed-out']);
const RunningData = z.object({ placement: PlacementSchema });
type Cls = 'preemptible' | 'normal' | 'high';

class WatchedSim extends SimDriver {
  readonly exiting = new Set<string>();
  override onObservation(listener: (o: Observation) => void): void {
    super.onObservation((o) => {
      if (o.type === 'exited') this.exiting.add(o.jobId);
      listener(o);
    });
  }
}

type Action =
  | { kind: 'submit'; gpus: number; nodes: number; cls: Cls; seconds: number }
  | { kind: 'advance'; seconds: number }
  | { kind: 'cycle' }
  | { kind: 'down' | 'up'; node: number }
  | { kind: 'cancel'; pick: number };

const submit: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant('submit' as const),
  gpus: fc.constantFrom(1, 2, 4, 8),
  nodes: fc.constantFrom(1, 1, 1, 2),
  cls: fc.constantFrom<Cls>('preemptible', 'normal', 'high'),
  seconds: fc.integer({ min: 60, max: 7200 }),
});
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: submit, weight: 3 },
  { arbitrary: fc.constant({ kind: 'cycle' as const }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('advance' as const), seconds: fc.integer({ min: 1, max: 3600 }) }), weight: 3 },
  {
    arbitrary: fc.record({ kind: fc.constantFrom('down' as const, 'up' as const), node: fc.integer({ min: 0, max: 3 }) }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }), weight: 1 },
);
const filler: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant('submit' as const),
  gpus: fc.constant(8),
  nodes: fc.constantFrom(1, 2),
  cls: fc.constantFrom<Cls>('preemptible', 'normal'),
  seconds: fc.integer({ min: 600, max: 7200 }),
});
const history = fc
  .tuple(fc.array(filler, { minLength: 1, maxLength: 4 }), fc.array(action, { minLength: 1, maxLength: 24 }))
  .map(([first, rest]): Action[] => [...first, { kind: 'cycle' }, ...rest]);

interface Version {
  from: number;
  version: number;
  granularity: BillingGranularity;
  cents: { 'on-demand': number; preemptible: number };
}
const versionsArb = fc.record({
  changeAfterS: fc.integer({ min: 1, max: 30_000 }),
  granularities: fc.tuple(
    fc.constantFrom<BillingGranularity>('second', 'minute'),
    fc.constantFrom<BillingGranularity>('second', 'minute'),
  ),
  cents: fc.array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 100_000 })), {
    minLength: 2,
    maxLength: 2,
  }),
});

async function settle(h: Harness, d: WatchedSim) {
  await eventually(async () => {
    for (const id of [...d.exiting]) if ((await h.stateOf(id)) !== 'running') d.exiting.delete(id);
    return d.exiting.size === 0;
  }, 'the exits to be recorded');
}

interface Run {
  cls: 'on-demand' | 'preemptible';
  gpus: number;
  start: number;
  end: number;
}

/** runsFromEvents: every run of every job from its events; one still going ends at the invoice run. */
async function runsFromEvents(h: Harness, classOf: Map<number, Cls>): Promise<Run[]> {
  const events = await h.store.db.selectFrom('job_events').select(['job_id', 'at', 'type', 'data']).orderBy('id').execute();
  const open = new Map<number, { at: number; gpus: number }>();
  const runs: Run[] = [];
  const cls = (job: number) => (classOf.get(job) === 'preemptible' ? 'preemptible' : 'on-demand');
  for (const e of events) {
    if (e.type === 'running') {
      const p = parseJson(e.data ?? 'null', RunningData, 'running event').placement;
      open.set(e.job_id, { at: Date.parse(e.at), gpus: p.nodes.reduce((a, n) => a + n.gpus.length, 0) });
    } else if (RUN_ENDS.has(e.type) && open.has(e.job_id)) {
      const r = open.get(e.job_id)!;
      open.delete(e.job_id);
      runs.push({ cls: cls(e.job_id), gpus: r.gpus, start: r.at, end: Date.parse(e.at) });
    }
  }
  for (const [job, r] of open) runs.push({ cls: cls(job), gpus: r.gpus, start: r.at, end: RUN_AT });
  return runs;
}

interface Part {
  key: string;
  cents: number;
  clsRank: number;
  version: number;
  gpus: number;
  a: number;
  b: number;
}

/**
 * covered: GPU × ms of each line's parts a reservation of `gpus` covers, by brute force: every
 * interval between two consecutive boundaries of any part, the parts running through it ordered
 * dearest first, covered up to the reservation.
 */
function covered(parts: Part[], gpus: number): Map<string, bigint> {
  const cuts = [...new Set(parts.flatMap((p) => [p.a, p.b]))].sort((x, y) => x - y);
  const out = new Map<string, bigint>();
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [t0, t1] = [cuts[i]!, cuts[i + 1]!];
    const running = parts
      .filter((p) => p.a <= t0 && p.b >= t1)
      .sort((x, y) => y.cents - x.cents || x.clsRank - y.clsRank || x.version - y.version);
    let left = gpus;
    for (const p of running) {
      const take = Math.min(left, p.gpus);
      left -= take;
      if (take > 0) out.set(p.key, (out.get(p.key) ?? 0n) + BigInt(take) * BigInt(t1 - t0));
    }
  }
  return out;
}

/** reference: cents per (class, version) line, computed from the runs, the versions and the reservation alone. */
function reference(runs: Run[], versions: Version[], reservedGpus = 0): { lines: Map<string, number>; coveredGpuMs: bigint } {
  const inEffect = (t: number) => [...versions].reverse().find((v) => v.from <= t)!;
  const num = new Map<string, bigint>();
  const parts: Part[] = [];
  for (const r of runs) {
    const g = inEffect(r.start).granularity === 'minute' ? 60_000 : 1000;
    const billedEnd = r.start + Math.ceil((r.end - r.start) / g) * g;
    const a = Math.max(r.start, MONTH_FROM);
    const b = Math.min(billedEnd, MONTH_TO);
    const cuts = [a, ...versions.map((v) => v.from).filter((t) => t > a && t < b), b];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const v = inEffect(cuts[i]!);
      const ms = cuts[i + 1]! - cuts[i]!;
      if (ms <= 0) continue;
      const key = `${r.cls} ${v.version}`;
      num.set(key, (num.get(key) ?? 0n) + BigInt(r.gpus) * BigInt(ms) * BigInt(v.cents[r.cls]));
      const clsRank = r.cls === 'on-demand' ? 0 : 1;
      parts.push({ key, cents: v.cents[r.cls], clsRank, version: v.version, gpus: r.gpus, a: cuts[i]!, b: cuts[i + 1]! });
    }
  }
  let coveredGpuMs = 0n;
  if (reservedGpus > 0) {
    for (const [key, gpuMs] of covered(parts, reservedGpus)) {
      const p = parts.find((x) => x.key === key)!;
      num.set(key, num.get(key)! - gpuMs * BigInt(p.cents));
      coveredGpuMs += gpuMs;
    }
  }
  return {
    lines: new Map([...num].map(([k, n]) => [k, Number((n * 2n + 3_600_000n) / 7_200_000n)])),
    coveredGpuMs,
  };
}

const reservationArb = fc.option(
  fc.record({ gpus: fc.integer({ min: 1, max: 40 }), centsPerGpuMonth: fc.integer({ min: 0, max: 500_000 }) }),
  { nil: undefined },
);

test('the invoice bills metered usage × prices to the cent, across requeues and a price change mid-job', async () => {
  const policy = PolicySchema.parse({ preemption: { enabled: true, minRuntimeSeconds: 0 } });
  await fc.assert(
    fc.asyncProperty(history, versionsArb, reservationArb, async (actions, vs, reservation) => {
      const v = new VirtualClock(T0);
      let driver: WatchedSim | null = null;
      const h = await harness({ policy, driver: () => (driver = new WatchedSim(1, v)) });
      const d = driver!;
      const op = { principal: h.operator, requestId: 'req-op' };
      const versions: Version[] = [0, 1].map((i) => ({
        from: i === 0 ? T0 : T0 + vs.changeAfterS * 1000,
        version: i + 1,
        granularity: vs.granularities[i]!,
        cents: { 'on-demand': vs.cents[i]![0], preemptible: vs.cents[i]![1] },
      }));
      const jobs: string[] = [];
      const classOf = new Map<number, Cls>();
      try {
        for (const ver of versions) {
          await h.cp.prices.set(op, {
            effectiveFrom: new Date(ver.from).toISOString(),
            granularity: ver.granularity,
            prices: [
              { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: ver.cents['on-demand'] },
              { gpuType: 'B200', class: 'preemptible', centsPerGpuHour: ver.cents.preemptible },
            ],
          });
        }
        for (const a of actions) {
          if (a.kind === 'submit') {
            const spec = h.spec({
              gpusPerNode: a.gpus,
              nodes: a.nodes,
              priorityClass: a.cls,
              simulation: { durationSeconds: a.seconds, exitCode: 0 },
            });
            const id = (await h.cp.jobs.submit(h.tenant, spec, undefined)).job.id;
            jobs.push(id);
            classOf.set(Number(id), a.cls);
          } else if (a.kind === 'advance') {
            h.clock.t += a.seconds * 1000;
            v.advanceTo(h.clock.t);
          } else if (a.kind === 'cycle') {
            await h.cp.runCycle();
          } else if (a.kind === 'down' || a.kind === 'up') {
            await h.cp.setNodeState(h.operator, NODES[a.node]!, a.kind, 'test', 'req');
          } else if (a.kind === 'cancel' && jobs.length > 0) {
            const id = jobs[a.pick % jobs.length]!;
            if (!['succeeded', 'failed', 'cancelled', 'timed-out'].includes(await h.stateOf(id)))
              await h.cp.jobs.cancel(h.tenant, id);
          }
          await settle(h, d);
        }
        // Jobs still running stay running: their open segments are billed up to the month's end.
        h.clock.t = RUN_AT;
        if (reservation) await h.cp.reserved.set(op, { org: 'acme', gpuType: 'B200', month: '2026-01', ...reservation });
        const run = await h.cp.invoices.run(op, '2026-01');
        const runs = await runsFromEvents(h, classOf);
        const ref = reference(runs, versions, reservation?.gpus ?? 0);
        const expected = ref.lines;
        const fee = reservation ? reservation.gpus * reservation.centsPerGpuMonth : 0;
        const expectedNet = [...expected.values()].reduce((a, c) => a + c, 0) + fee;
        if (runs.length === 0 && !reservation) {
          assert.deepEqual(run.issued, []);
          return;
        }
        assert.equal(run.issued.length, 1);
        const inv = await h.cp.invoices.get(h.operator, run.issued[0]!.id);
        const got = new Map(inv.lines.map((l) => [`${l.class} ${l.priceVersion}`, l.amountCents]));
        for (const [k, cents] of expected) assert.equal(got.get(k) ?? 0, cents, `line ${k}`);
        for (const [k, cents] of got) assert.equal(expected.get(k) ?? 0, cents, `line ${k}`);
        assert.equal(
          inv.lines.reduce((a, l) => a + l.amountCents, 0) + (inv.reservedCapacity ?? []).reduce((a, r) => a + r.amountCents, 0),
          inv.netCents,
        );
        // One organisation and no borrowing: nothing lent, nothing credited (the credit's property: lent-credit-property.test.ts).
        assert.equal(inv.lentCredits, undefined);
        if (reservation) {
          assert.equal(inv.reservedCapacity?.length, 1);
          const r = inv.reservedCapacity![0]!;
          assert.equal(r.amountCents, fee);
          assert.equal(r.coveredGpuSeconds, Number(ref.coveredGpuMs) / 1000, 'covered GPU-seconds');
        } else assert.equal(inv.reservedCapacity, undefined);
        assert.equal(inv.netCents, expectedNet);
        assert.equal(inv.grossCents, inv.netCents + inv.vatCents);
        assert.deepEqual((await h.cp.invoices.run(op, '2026-01')).issued, [], 'a second run issues nothing');
      } finally {
        await h.close();
      }
    }),
    { numRuns: Number(process.env.GIGAFAB_INVOICE_RUNS ?? 20) },
  );
});
