/**
 * 038_session_state_claims: a session's state dataset has one writer at a time, and its erasure reaches
 * the disk.
 *   - jobs.state_dataset: the dataset a session keeps its state in (session.stateDataset), in the
 *     clear beside the sealed spec so that a unique index can see it (a dataset id, never tenant text).
 *   - jobs_state_dataset_claim: unique over the jobs that have not ended, so two sessions that are
 *     queued or running can never hold one state dataset, whatever the interleaving of their
 *     submissions and on both dialects; the claim ends by itself when the session's row turns
 *     terminal. States are listed as the terminal ones, so a state added later keeps the claim.
 *   - dataset_state_removals: a deleted dataset whose state directory the drivers still have to
 *     remove, written in the delete's transaction and removed once they did (finished at the next
 *     start after a crash).
 * Sessions submitted before this migration are backfilled from their spec; should two live sessions
 * already share one dataset, the older keeps the claim and the newer runs on unclaimed until it ends.
 */
import { type Kysely, type Migration, sql } from 'kysely';

/** The terminal job states as of this migration (a released migration never changes). */
const ENDED = ['succeeded', 'failed', 'cancelled', 'timed-out'];
const TERMINAL = `(${ENDED.map((s) => `'${s}'`).join(', ')})`;

export const migration038SessionStateClaims: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').addColumn('state_dataset', 'text').execute();
    const rows = await sql<{ id: number | string; state: string; spec: string }>`
      SELECT id, state, spec FROM jobs WHERE spec LIKE ${'%"stateDataset"%'} ORDER BY id`.execute(db);
    const claimed = new Set<string>();
    for (const r of rows.rows) {
      const id = stateDatasetIn(r.spec);
      if (!id) continue;
      const live = !ENDED.includes(r.state);
      if (live && claimed.has(id)) continue;
      if (live) claimed.add(id);
      await sql`UPDATE jobs SET state_dataset = ${id} WHERE id = ${r.id}`.execute(db);
    }
    await sql
      .raw(
        `CREATE UNIQUE INDEX jobs_state_dataset_claim ON jobs (state_dataset) WHERE state_dataset IS NOT NULL AND state NOT IN ${TERMINAL}`,
      )
      .execute(db);
    // Every job that ever named it (a deleted dataset's directory is removed only if a session made it).
    await sql.raw('CREATE INDEX jobs_state_dataset ON jobs (state_dataset) WHERE state_dataset IS NOT NULL').execute(db);
    await db.schema
      .createTable('dataset_state_removals')
      .addColumn('dataset_id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('requested_at', 'text', (c) => c.notNull())
      .execute();
  },
};

/** stateDatasetIn: session.stateDataset of a stored spec (the session part is never sealed), or null. */
function stateDatasetIn(spec: string): string | null {
  try {
    const s: unknown = JSON.parse(spec);
    if (typeof s !== 'object' || s === null || !('session' in s)) return null;
    const session: unknown = s.session;
    if (typeof session !== 'object' || session === null || !('stateDataset' in session)) return null;
    return typeof session.stateDataset === 'string' ? session.stateDataset : null;
  } catch {
    return null;
  }
}
