/**
 * The price book against a real store: operators add versions (audited in the same transaction),
 * nobody else can; a version in the past, an unknown GPU type or class, or a price given twice is
 * refused with its code; the version in effect at an instant is the latest that began by then; the
 * estimate prices a spec's GPUs × time limit at today's price.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DomainError } from '../../src/model/errors.js';
import type { PriceVersionInput } from '../../src/model/prices.js';
import { type Harness, harness } from './harness.js';

let h: Harness;
before(async () => {
  h = await harness(); // now: 2026-01-05T09:00:00Z; four 8-GPU B200 nodes
});
after(() => h.close());

const op = () => ({ principal: h.operator, requestId: 'req-op' });
const b200 = (centsPerGpuHour: number, extra: Partial<PriceVersionInput> = {}): PriceVersionInput => ({
  granularity: 'second',
  prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour }],
  ...extra,
});
const refused =
  (code: string, kind = 'unprocessable') =>
  (e: unknown) =>
    e instanceof DomainError && e.code === code && e.kind === kind && e.detail.length > 10;

test('no price before the first version: reading answers no_prices, estimating no_price', async () => {
  await assert.rejects(h.cp.prices.at(), refused('no_prices', 'not_found'));
  await assert.rejects(h.cp.prices.estimate(h.spec({ gpuType: 'B200' })), refused('no_price'));
});

test('an operator adds versions; each is audited in its transaction; the one in effect is the latest begun', async () => {
  const v1 = await h.cp.prices.set(op(), b200(400));
  assert.equal(v1.version, 1);
  assert.equal(v1.effectiveFrom, '2026-01-05T09:00:00.000Z', 'default: now');
  const v2 = await h.cp.prices.set(op(), b200(500, { effectiveFrom: '2026-02-01T00:00:00Z', granularity: 'minute' }));
  assert.equal(v2.version, 2);
  assert.equal((await h.cp.prices.at()).version, 1);
  assert.equal((await h.cp.prices.at('2026-02-01T00:00:00Z')).version, 2);
  assert.equal((await h.cp.prices.at('2026-01-31T23:59:59Z')).prices[0]?.centsPerGpuHour, 400);
  await assert.rejects(h.cp.prices.at('2026-01-05T08:59:59Z'), refused('no_prices', 'not_found'));
  await assert.rejects(h.cp.prices.at('soon'), refused('invalid_instant'));
  const audit = await h.store.db.selectFrom('audit').selectAll().where('action', '=', 'price.set').orderBy('id').execute();
  assert.deepEqual(
    audit.map((a) => [a.object_id, a.actor]),
    [
      ['1', 'op'],
      ['2', 'op'],
    ],
  );
  assert.deepEqual(
    (await h.cp.prices.versions()).map((v) => v.version),
    [1, 2],
  );
});

test('only operators set prices; bad versions are refused with a code and nothing is stored', async () => {
  await assert.rejects(h.cp.prices.set(h.tenant, b200(1)), refused('forbidden', 'forbidden'));
  await assert.rejects(h.cp.prices.set(op(), b200(1, { effectiveFrom: '2026-01-05T08:59:00Z' })), refused('price_retroactive'));
  await assert.rejects(h.cp.prices.set(op(), b200(1, { effectiveFrom: 'tomorrow' })), refused('invalid_instant'));
  await assert.rejects(
    h.cp.prices.set(op(), { granularity: 'second', prices: [{ gpuType: 'Z9000', class: 'on-demand', centsPerGpuHour: 1 }] }),
    refused('unknown_gpu_type'),
  );
  await assert.rejects(
    h.cp.prices.set(op(), { granularity: 'second', prices: [{ gpuType: 'B200', class: 'gold', centsPerGpuHour: 1 }] }),
    refused('unknown_price_class'),
  );
  await assert.rejects(
    h.cp.prices.set(op(), {
      granularity: 'second',
      prices: [
        { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 1 },
        { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 2 },
      ],
    }),
    refused('duplicate_price'),
  );
  assert.equal((await h.cp.prices.versions()).length, 2);
});

test("an estimate is all the job's GPUs for its whole time limit at today's price for its class", async () => {
  // 2 nodes × 8 GPUs × 1 h at 4.00 EUR = 64.00 EUR.
  const e = await h.cp.prices.estimate(h.spec({ gpuType: 'B200', nodes: 2, gpusPerNode: 8, maxRuntimeSeconds: 3600 }));
  assert.deepEqual(e, {
    gpuType: 'B200',
    class: 'on-demand',
    gpus: 16,
    maxRuntimeSeconds: 3600,
    centsPerGpuHour: 400,
    granularity: 'second',
    priceVersion: 1,
    cost: 6400,
  });
  // `any` prices the dearest priced type; 1 GPU for 10 s is 1.11 cents, rounded to 1.
  const any = await h.cp.prices.estimate(h.spec({ gpuType: 'any', gpusPerNode: 1, maxRuntimeSeconds: 10 }));
  assert.deepEqual([any.gpuType, any.cost], ['B200', 1]);
  await assert.rejects(h.cp.prices.estimate(h.spec({ gpuType: 'B200', priorityClass: 'preemptible' })), refused('no_price'));
  await assert.rejects(h.cp.prices.estimate(h.spec({ gpuType: 'Z9000' })), refused('unknown_gpu_type'));
});
