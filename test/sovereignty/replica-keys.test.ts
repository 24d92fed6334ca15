/**
 * Two replicas (two stores on one PostgreSQL database, one shared key directory) meet an
 * organisation for the first time at the same moment: they end up with one KEK and seal with one
 * data key, so each opens what the other sealed, and a replica started later opens both.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KeyService } from '../../src/sovereignty/keys/key-service.js';
import { LocalFileKeyProvider } from '../../src/sovereignty/keys/local-provider.js';
import { TenantFieldKeys } from '../../src/sovereignty/keys/tenant-keys.js';
import { keysDb } from '../../src/store/keys-tables.js';
import { openPostgresStore, type Store } from '../../src/store/open-store.js';
import { postgresCluster } from '../helpers/store-dialects.js';

test('replica keys: two replicas making an org key at once agree on one KEK and one data key', async () => {
  const url = await (await postgresCluster()).createDatabase('replicakeys');
  const stores = await Promise.all([openPostgresStore(url), openPostgresStore(url), openPostgresStore(url)]);
  const [a, b, c] = stores as [Store, Store, Store];
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-replica-keys-'));
  const fields = (s: Store) =>
    new TenantFieldKeys(s, new KeyService(s, new Map([['local', new LocalFileKeyProvider(join(dir, 'keys'))]])));
  try {
    await a.write((trx) =>
      trx
        .insertInto('orgs')
        .values({ id: 'o1', name: 'O', kind: 'enterprise', created_at: '2026-12-05T00:00:00.000Z' })
        .execute(),
    );
    const [fa, fb] = [fields(a), fields(b)];
    await Promise.all([fa.ready('o1'), fb.ready('o1')]); // each replica's first request for the org
    // The race again over several organisations at once, three replicas each (a CI run once saw two
    // replicas settle on different keys: each made one, and "the oldest" depended on commit order).
    const orgs = Array.from({ length: 8 }, (_, i) => `r${i}`);
    await a.write(async (trx) => {
      for (const id of orgs)
        await trx
          .insertInto('orgs')
          .values({ id, name: id, kind: 'enterprise', created_at: '2026-12-05T00:00:00.000Z' })
          .execute();
    });
    const racers = [fields(a), fields(b), fields(b)];
    await Promise.all(orgs.flatMap((o) => racers.map((f) => f.ready(o))));
    for (const o of orgs) {
      const ids = racers.map((f) => f.seal(o, 'p', 'x').split(':')[1]);
      assert.equal(new Set(ids).size, 1, `${o}: every replica seals with one data key (${ids.join(', ')})`);
    }
    const orgKeys = await keysDb(a.db)
      .selectFrom('data_keys')
      .select(['org_id'])
      .where('object_type', '=', 'org-data')
      .where('org_id', 'in', orgs)
      .execute();
    assert.equal(orgKeys.length, orgs.length, 'one data key per organisation, none made twice');
    const fromA = fa.seal('o1', 'job.name', 'sealed by A');
    const fromB = fb.seal('o1', 'job.name', 'sealed by B');
    assert.equal(fb.open('o1', 'job.name', fromA), 'sealed by A');
    assert.equal(fa.open('o1', 'job.name', fromB), 'sealed by B');
    const keks = await keysDb(a.db).selectFrom('org_keks').select('version').where('org_id', '=', 'o1').execute();
    assert.deepEqual(
      keks.map((k) => k.version),
      [1],
      'one KEK version 1',
    );
    const fc = fields(c); // a replica started afterwards
    await fc.load();
    assert.equal(fc.open('o1', 'job.name', fromA), 'sealed by A');
    assert.equal(fc.seal('o1', 'job.name', 'x').split(':')[1], fromA.split(':')[1], 'it seals with the same data key');
  } finally {
    for (const s of stores) await s.close();
  }
});
