/**
 * MeteredTotals (the per-project GPU-seconds counter's source) on a real store: its answer equals
 * adding up every usage record (closed: their GPU-seconds; open: up to now) after each change —
 * segments closed through metering's own closeSegment across midnight, a new segment opened, days
 * settling as the clock passes midnight and the oldest open segment closes — so keeping the
 * settled days instead of summing the rollup at every scrape loses and doubles nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MeteredTotals } from '../../src/server/metered-totals.js';
import { closeSegment } from '../../src/server/metering.js';
import type { Store } from '../../src/store/open-store.js';
import { seedUsage } from '../helpers/billing-history.js';
import { storeOpener } from '../helpers/store-dialects.js';

const H = 3_600_000;
const D = 24 * H;
const DAY0 = Date.parse('2026-11-01T00:00:00Z');
let store: Store;

before(async () => {
  const dialect = process.env.GIGAFAB_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
  store = await storeOpener(dialect)(mkdtempSync(join(tmpdir(), 'gigafab-metered-')));
});
after(async () => {
  await store?.close();
});

/** raw: every record added up, per org/project, closed by their GPU-seconds, open ones up to `now`. */
async function raw(now: number): Promise<Record<string, number>> {
  const rows = await store.db
    .selectFrom('usage_records')
    .select(['org_id', 'project_id', 'gpus', 'started_at', 'ended_at'])
    .execute();
  const out: Record<string, number> = {};
  for (const r of rows) {
    const end = r.ended_at === null ? now : Date.parse(r.ended_at);
    const k = `${r.org_id}/${r.project_id}`;
    out[k] = (out[k] ?? 0) + (Number(r.gpus) * (end - Date.parse(r.started_at))) / 1000;
  }
  return out;
}

async function totals(m: MeteredTotals, now: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of await m.read(now)) out[`${t.org}/${t.project}`] = t.seconds;
  return out;
}

const close = (a: Record<string, number>, b: Record<string, number>) => {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) assert.ok(Math.abs((a[k] ?? 0) - (b[k] ?? 0)) < 1e-3, `${k}: ${a[k]} vs ${b[k]}`);
};

async function open(job: number, org: string, project: string, start: number, gpus: number) {
  await store.db
    .insertInto('usage_records')
    .values({
      org_id: org,
      project_id: project,
      job_id: job,
      attempt: 1,
      gpu_type: 'B200',
      site: 's1',
      gpus,
      class: 'on-demand',
      started_at: new Date(start).toISOString(),
    })
    .execute();
}

test('the totals equal the records added up, as segments open and close and days settle', async () => {
  // History: closed segments over five days (one across midnight), rolled up; two open ones.
  await seedUsage(store, [
    { org: 'acme', project: 'a1', job: 1, start: DAY0 + 2 * H, seconds: 3600, gpus: 8 },
    { org: 'acme', project: 'a1', job: 2, start: DAY0 + D - H, seconds: 7200, gpus: 4 },
    { org: 'acme', project: 'a2', job: 3, start: DAY0 + 3 * D, seconds: 600, gpus: 2 },
    { org: 'beta', project: 'b1', job: 4, start: DAY0 + 4 * D + 5 * H, seconds: 1800, gpus: 1.5 },
  ]);
  await open(5, 'acme', 'a2', DAY0 + 2 * D + 6 * H, 8); // the oldest open: days from day 2 on stay unsettled
  await open(6, 'beta', 'b1', DAY0 + 5 * D + H, 2);
  const m = new MeteredTotals(store);
  let now = DAY0 + 5 * D + 3 * H;
  close(await totals(m, now), await raw(now));

  // Later the same day: open segments grew; a segment closes across two midnights through metering.
  now += H;
  close(await totals(m, now), await raw(now));
  await store.write(async (trx) => closeSegment(trx, '5', new Date(now - 10 * 60_000).toISOString()));
  close(await totals(m, now), await raw(now));

  // Past midnight: day 5 settles except where job 6 (started on day 5) keeps it open; a new segment opens.
  now = DAY0 + 6 * D + 2 * H;
  await open(7, 'gamma', 'g1', now - H, 4);
  close(await totals(m, now), await raw(now));
  await store.write(async (trx) => closeSegment(trx, '6', new Date(now - 30 * 60_000).toISOString()));
  now += 5 * 60_000;
  close(await totals(m, now), await raw(now));

  // A fresh reader (a restart) says the same.
  close(await totals(new MeteredTotals(store), now), await raw(now));
});
