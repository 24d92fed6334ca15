/**
 * The scheduler lease on a real PostgreSQL database, with two stores standing for two replicas:
 * acquire, renew (same token), expire and take over (next token), release; a decision committed
 * with a stale fencing token is refused and writes nothing; a takeover waits for a decision that
 * already passed the fence. On SQLite the lease is held trivially.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openPostgresStore, openSqliteStore, type Store } from '../../src/store/open-store.js';
import { isLeaseLost, SchedulerLease } from '../../src/store/scheduler-lease.js';
import { postgresCluster } from '../helpers/store-dialects.js';

const TTL = 400;
let a: Store;
let b: Store;
let n = 0;

before(async () => {
  const url = await (await postgresCluster()).createDatabase('lease');
  [a, b] = await Promise.all([openPostgresStore(url), openPostgresStore(url)]);
});
after(async () => {
  await a?.close();
  await b?.close();
});

/** A fresh pair of lease contenders (each test its own lease row would need names: one row, reset). */
async function contenders(): Promise<[SchedulerLease, SchedulerLease]> {
  await a.db.deleteFrom('scheduler_lease').execute();
  n++;
  const la = new SchedulerLease(a, `A${n}`, TTL);
  const lb = new SchedulerLease(b, `B${n}`, TTL);
  a.setFence((trx) => la.fence(trx));
  b.setFence((trx) => lb.fence(trx));
  return [la, lb];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const setting = (s: Store, key: string) => s.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();

test('lease: the first to ask holds it; renewing keeps the token; the other is a follower', async () => {
  const [la, lb] = await contenders();
  assert.equal(await la.tick(), true);
  assert.equal(la.view().token, 1);
  assert.equal(await lb.tick(), false);
  assert.equal(lb.view().role, 'follower');
  for (let i = 0; i < 3; i++) {
    await sleep(TTL / 2);
    assert.equal(await la.tick(), true, 'renewed within its TTL');
    assert.equal(await lb.tick(), false, 'never taken while renewed');
  }
  assert.equal(la.view().token, 1, 'a renewal keeps the token');
  assert.deepEqual(await la.current().then((c) => c && { holder: c.holder, token: c.token }), { holder: la.holder, token: 1 });
});

test('lease: once it has run out a follower takes it with the next token, and the old holder cannot renew', async () => {
  const [la, lb] = await contenders();
  assert.equal(await la.tick(), true);
  await sleep(TTL + 150);
  assert.equal(await lb.tick(), true, 'taken over after expiry');
  assert.equal(lb.view().token, 2, 'the next fencing token');
  assert.equal(await la.tick(), false, 'the old holder does not get it back');
  assert.equal(la.view().role, 'follower');
  await sleep(TTL + 150);
  assert.equal(await la.tick(), true, 'and may take it again once B lets it run out');
  assert.equal(la.view().token, 3);
});

test('lease: a decision with a stale fencing token is refused and writes nothing; the holder commits', async () => {
  const [la, lb] = await contenders();
  assert.equal(await la.tick(), true);
  await a.decide((trx) =>
    trx
      .insertInto('settings')
      .values({ key: `ok-${n}`, value: 'by A, token 1' })
      .execute(),
  );
  assert.equal((await setting(b, `ok-${n}`))?.value, 'by A, token 1', 'the holder commits');
  await sleep(TTL + 150);
  assert.equal(await lb.tick(), true);
  // A still believes it leads (it was paused): its decision is refused in the transaction.
  const refused = await a
    .decide((trx) =>
      trx
        .insertInto('settings')
        .values({ key: `stale-${n}`, value: 'by A, token 1' })
        .execute(),
    )
    .then(
      () => null,
      (err: unknown) => err,
    );
  assert.ok(isLeaseLost(refused), `refused as scheduler_lease_lost: ${String(refused)}`);
  assert.equal(await setting(b, `stale-${n}`), undefined, 'nothing written');
  assert.equal(la.isHeld, false, 'the refusal tells A it lost the lease');
  // A plain write (a submission) is not a decision: any replica may make it.
  await a.write((trx) =>
    trx
      .insertInto('settings')
      .values({ key: `plain-${n}`, value: 'A' })
      .execute(),
  );
  await b.decide((trx) =>
    trx
      .insertInto('settings')
      .values({ key: `new-${n}`, value: 'by B, token 2' })
      .execute(),
  );
  assert.equal((await setting(a, `new-${n}`))?.value, 'by B, token 2');
});

test('lease: a takeover waits for a decision that passed the fence, so recovery reads it', async () => {
  const [la, lb] = await contenders();
  assert.equal(await la.tick(), true);
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  let fenced!: () => void;
  const passedFence = new Promise<void>((r) => {
    fenced = r;
  });
  const decision = a.decide(async (trx) => {
    fenced();
    await held; // the decision is slow (a paused process) after it passed the fence
    await trx
      .insertInto('settings')
      .values({ key: `slow-${n}`, value: 'A' })
      .execute();
  });
  await passedFence;
  await sleep(TTL + 150);
  let tookOver = false;
  const takeover = lb.tick().then((v) => {
    tookOver = v;
    return v;
  });
  await sleep(200);
  assert.equal(tookOver, false, 'the takeover waits while a fenced decision is open');
  release();
  await decision;
  assert.equal(await takeover, true);
  assert.equal(
    (await setting(b, `slow-${n}`))?.value,
    'A',
    'the decision committed before the takeover is visible to the new leader',
  );
});

test('lease: release hands it over at once (a clean shutdown)', async () => {
  const [la, lb] = await contenders();
  assert.equal(await la.tick(), true);
  await la.release();
  assert.equal(await lb.tick(), true, 'no need to wait out the TTL');
  assert.equal(lb.view().token, 2);
});

test('lease: on SQLite (one process per database) it is held, and decisions are not fenced', async () => {
  const s = await openSqliteStore(mkdtempSync(join(tmpdir(), 'gigafab-lease-')));
  try {
    const lease = new SchedulerLease(s);
    assert.equal(await lease.tick(), true);
    assert.deepEqual({ role: lease.view().role, token: lease.view().token }, { role: 'leader', token: 1 });
    await s.decide((trx) => trx.insertInto('settings').values({ key: 'x', value: 'y' }).execute());
    assert.equal((await setting(s, 'x'))?.value, 'y');
  } finally {
    await s.close();
  }
});

test('lease: a renewal on its way when the lease is lost (a cut-off commit) does not count as held; the next one does, with the same token', async () => {
  const [la] = await contenders();
  assert.equal(await la.tick(), true);
  const inFlight = la.tick(); // the query is sent; lose() lands before its answer
  la.lose();
  assert.equal(await inFlight, false, 'the holder must rebuild its view before it counts itself the holder');
  assert.equal(la.isHeld, false);
  assert.equal(await la.tick(), true, 'nobody else took it: the next renewal holds it');
  assert.equal(la.view().token, 1, 'with the token it had');
});
