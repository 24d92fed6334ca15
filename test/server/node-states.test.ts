/**
 * Node states carry their source as a typed column (migration 015), not an "engine:" reason prefix:
 * an engine reporting a node up does not undo an operator's drain, but does end its own drain.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import type { NodeStateObservation } from '../../src/drivers/driver.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { migrationProvider } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { eventually, harness } from './harness.js';

/** The simulated driver with an engine's node-state reports, which the test sends. */
class ReportingSim extends SimDriver {
  private readonly nodeListeners: ((o: NodeStateObservation) => void)[] = [];
  onNodeState(l: (o: NodeStateObservation) => void): void {
    this.nodeListeners.push(l);
  }
  report(o: Omit<NodeStateObservation, 'type'>): void {
    for (const l of this.nodeListeners) l({ type: 'node-state', ...o });
  }
}

test('migration 015 marks the rows an engine wrote (reason "engine: …") as source engine, the rest operator', async () => {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
  try {
    const migrator = new Migrator({ db, provider: migrationProvider });
    assert.equal((await migrator.migrateTo('014_identity')).error, undefined);
    const at = '2026-01-05T09:00:00.000Z';
    // Before 015 the table had no source column.
    await sql`INSERT INTO node_states (node_id, state, reason, updated_at) VALUES
      ('a', 'draining', 'engine: drained in Slurm', ${at}),
      ('b', 'draining', 'rack maintenance', ${at}),
      ('c', 'down', NULL, ${at})`.execute(db);
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const rows = await db.selectFrom('node_states').select(['node_id', 'source']).orderBy('node_id').execute();
    assert.deepEqual(rows, [
      { node_id: 'a', source: 'engine' },
      { node_id: 'b', source: 'operator' },
      { node_id: 'c', source: 'operator' },
    ]);
  } finally {
    await db.destroy();
  }
});

test("an engine's 'up' ends its own drain but not an operator's", async () => {
  const made: ReportingSim[] = [];
  const h = await harness({
    driver: (clock) => {
      made.push(new ReportingSim(1, clock));
      return made[0]!;
    },
  });
  try {
    const engine = made[0]!;
    const [n1, n2] = h.cp.fleet.nodes.map((n) => n.id);
    const sourceOf = async (node: string) =>
      (await h.store.db.selectFrom('node_states').select(['state', 'source']).where('node_id', '=', node).executeTakeFirst()) ??
      null;
    await h.cp.setNodeState(h.operator, n1!, 'draining', 'rack maintenance', 'req-1');
    engine.report({ node: n1!, state: 'up', reason: 'responding', at: h.clock.t });
    engine.report({ node: n2!, state: 'draining', reason: 'drained in Slurm', at: h.clock.t });
    await eventually(async () => (await sourceOf(n2!))?.state === 'draining', "the engine's drain");
    assert.deepEqual(await sourceOf(n2!), { state: 'draining', source: 'engine' });
    engine.report({ node: n2!, state: 'up', reason: 'resumed', at: h.clock.t });
    await eventually(async () => (await sourceOf(n2!))?.state === 'up', "the engine's up");
    assert.equal(h.cp.cluster.nodeState(n2!), 'up');
    assert.deepEqual(await sourceOf(n1!), { state: 'draining', source: 'operator' }, "the operator's drain stands");
    assert.equal(h.cp.cluster.nodeState(n1!), 'draining');
  } finally {
    await h.close();
  }
});
