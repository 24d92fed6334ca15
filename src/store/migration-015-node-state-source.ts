/**
 * 015_node_state_source: who set a node's state, as its own column ('operator' or 'engine')
 * instead of an "engine:" prefix in the reason text that code parsed back. Rows written by an
 * execution engine before this version are recognised by that prefix once, here.
 */
import { type Kysely, type Migration, sql } from 'kysely';

export const migration015NodeStateSource: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('node_states')
      .addColumn('source', 'text', (c) => c.notNull().defaultTo('operator'))
      .execute();
    await sql`UPDATE node_states SET source = 'engine' WHERE reason LIKE 'engine:%'`.execute(db);
  },
};
