/**
 * insertLater: an INSERT whose caller needs nothing back (no id, no row) is, on PostgreSQL, held
 * until just before the transaction commits and then written together with the other rows of its
 * table in one multi-row INSERT (`flushDeferred`, a pre-commit step of the store). A group commit
 * of many submissions or starts thus pays one round trip per table instead of one per row; the rows
 * commit or roll back with the transaction all the same, and a constraint violation still fails the
 * transaction (the write batcher then reruns its bodies one by one, so it fails only its own).
 *
 * On SQLite (in-process, no round trip to save) the row is written at once, exactly as before.
 *
 * A deferred row is not visible to reads of the same transaction until it is flushed: a reader
 * inside a write transaction that may need such rows calls `flushDeferred(trx)` first, or runs as a
 * step after the flush (`afterInserts`: metering's segment closes). Reads outside the transaction
 * see only committed rows anyway.
 */
import { type Insertable, PostgresAdapter, sql, type Transaction } from 'kysely';
import { SYNC_JOB_SEQUENCE, takeJobIdSync } from './job-ids.js';
import type { Database } from './schema.js';

/** Tables whose rows may be deferred (`jobs`: with an id drawn by job-ids.ts). */
export type DeferrableTable = 'jobs' | 'job_events' | 'usage_records' | 'placement_evidence' | 'audit' | 'audit_checkpoints';

interface Group {
  table: DeferrableTable;
  /** ON CONFLICT (columns) DO NOTHING, if any. */
  ignoreConflictOn: string[] | null;
  rows: Record<string, unknown>[];
  /** Told each row's new id after the flush (in row order), when a caller asked for it. */
  onIds: (((id: number) => void) | null)[];
}

const pendingByTx = new WeakMap<object, Map<string, Group>>();

/** defers: whether insertLater holds rows back in `trx` (PostgreSQL) or writes them at once (SQLite). */
export function defers(trx: Transaction<Database>): boolean {
  return trx.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * insertLater writes `row` before `trx` commits (PostgreSQL) or now (SQLite). `onId`, if given, is
 * told the row's id once it is written (PostgreSQL: at the flush, so a caller must not need it
 * before the transaction commits — e.g. an event published after the commit).
 */
export async function insertLater<T extends DeferrableTable>(
  trx: Transaction<Database>,
  table: T,
  row: Insertable<Database[T]>,
  opts: { ignoreConflictOn?: string[]; onId?: (id: number) => void } = {},
): Promise<void> {
  const ignore = opts.ignoreConflictOn ?? null;
  if (!defers(trx)) {
    await write(trx, table, [row as Record<string, unknown>], ignore);
    return;
  }
  let groups = pendingByTx.get(trx);
  if (!groups) {
    groups = new Map();
    pendingByTx.set(trx, groups);
  }
  const key = `${table}|${Object.keys(row).join(',')}|${ignore?.join(',') ?? ''}`;
  let g = groups.get(key);
  if (!g) {
    g = { table, ignoreConflictOn: ignore, rows: [], onIds: [] };
    groups.set(key, g);
  }
  g.rows.push(row as Record<string, unknown>);
  g.onIds.push(opts.onId ?? null);
}

type Step = (trx: Transaction<Database>) => Promise<void>;
const stepsByTx = new WeakMap<object, Map<string, Step>>();

/**
 * afterInserts (PostgreSQL): `step` runs once at `trx`'s next flush, after its held-back rows are
 * written — for work a whole group commit can do in a few set-based statements instead of a few per
 * caller (metering closes every segment the transaction ended at once). One step per key and flush;
 * the caller keeps what the step needs (keyed by the transaction) until it runs.
 */
export function afterInserts(trx: Transaction<Database>, key: string, step: Step): void {
  let steps = stepsByTx.get(trx);
  if (!steps) {
    steps = new Map();
    stepsByTx.set(trx, steps);
  }
  if (!steps.has(key)) steps.set(key, step);
}

/**
 * flushDeferred writes the rows `trx` deferred and has not written yet, then runs the steps waiting
 * for them (pre-commit, or before a read that needs them).
 */
export async function flushDeferred(trx: Transaction<Database>): Promise<void> {
  await flushInserts(trx);
  for (let steps = stepsByTx.get(trx); steps && steps.size > 0; steps = stepsByTx.get(trx)) {
    stepsByTx.delete(trx);
    for (const step of steps.values()) await step(trx);
    await flushInserts(trx);
  }
}

async function flushInserts(trx: Transaction<Database>): Promise<void> {
  // Job ids drawn in this transaction (job-ids.ts): the sequence moves past them with the first jobs rows.
  let syncJobsTo = takeJobIdSync(trx);
  const groups = pendingByTx.get(trx);
  if (!groups || groups.size === 0) {
    if (syncJobsTo !== null) await SYNC_JOB_SEQUENCE(syncJobsTo).execute(trx);
    return;
  }
  pendingByTx.delete(trx);
  // Jobs first: the other rows (a submission's event) refer to them.
  const ordered = [...groups.values()].sort((a, b) => Number(b.table === 'jobs') - Number(a.table === 'jobs'));
  if (ordered.length > 1 && ordered.every((g) => g.rows.length <= PG_CHUNK) && defers(trx)) {
    const jobs = ordered.some((g) => g.table === 'jobs');
    await insertGroupsAtOnce(trx, ordered, jobs ? syncJobsTo : null);
    if (jobs || syncJobsTo === null) return;
    await SYNC_JOB_SEQUENCE(syncJobsTo).execute(trx);
    return;
  }
  for (const g of ordered) {
    const sync = g.table === 'jobs' ? syncJobsTo : null;
    if (sync !== null) syncJobsTo = null;
    const ids = await insertMany(
      trx,
      g.table,
      g.rows,
      g.ignoreConflictOn,
      g.onIds.some((f) => f !== null),
      sync,
    );
    for (const [i, tell] of g.onIds.entries()) if (tell) tell(ids[i]!);
  }
  if (syncJobsTo !== null) await SYNC_JOB_SEQUENCE(syncJobsTo).execute(trx);
}

/**
 * insertGroupsAtOnce (PostgreSQL): every group in one statement, one data-modifying CTE per table —
 * a transaction's jobs, events, usage segments, evidence, audit rows and checkpoint in one round trip
 * before COMMIT. The sub-statements run exactly once each; foreign keys between them (an event's job)
 * are checked at the end of the statement, when all rows are in. The ids of the groups that want them
 * come back tagged with their group.
 */
async function insertGroupsAtOnce(trx: Transaction<Database>, groups: Group[], syncJobsTo: number | null): Promise<void> {
  const ctes = groups.map((g, k) => {
    const cols = Object.keys(g.rows[0]!).map((c) => sql.ref(c));
    const conflict = g.ignoreConflictOn
      ? sql` on conflict (${sql.join(g.ignoreConflictOn.map((c) => sql.ref(c)))}) do nothing`
      : sql``;
    const join = g.table === 'jobs' && syncJobsTo !== null ? sql` cross join moved` : sql``;
    const returning = g.onIds.some((f) => f !== null) ? sql` returning id` : sql``;
    return sql`${sql.ref(`g${k}`)} as (insert into ${sql.table(g.table)} (${sql.join(cols)}) select ${sql.join(cols)} from json_populate_recordset(null::${sql.table(g.table)}, ${JSON.stringify(g.rows)}::json)${join}${conflict}${returning})`;
  });
  if (syncJobsTo !== null) ctes.unshift(sql`moved as (${SYNC_JOB_SEQUENCE(syncJobsTo)})`);
  const wanted = groups.flatMap((g, k) =>
    g.onIds.some((f) => f !== null) ? [sql`select ${sql.lit(k)} as g, id from ${sql.ref(`g${k}`)}`] : [],
  );
  const main = wanted.length ? sql.join(wanted, sql` union all `) : sql`select 0 as g, 0 as id where false`;
  const r = await sql<{ g: number; id: number }>`with ${sql.join(ctes)} ${main}`.execute(trx);
  for (const [k, g] of groups.entries()) {
    // Serial ids are drawn in the document's order: ascending ids are the rows in order (as in insertMany).
    const ids = r.rows
      .filter((x) => Number(x.g) === k)
      .map((x) => Number(x.id))
      .sort((a, b) => a - b);
    for (const [i, tell] of g.onIds.entries()) if (tell) tell(ids[i]!);
  }
}

/** Most rows per statement: SQLite's multi-row VALUES (parameter limits), PostgreSQL's JSON document (size). */
const SQLITE_CHUNK = 512;
const PG_CHUNK = 2048;

/**
 * insertMany writes `rows` (all with the same columns) in as few statements as possible. PostgreSQL:
 * one `INSERT … SELECT … FROM json_populate_recordset(null::table, $1)` per 2,048 rows — a single
 * statement text for any number of rows, so it is prepared once per connection and each column takes
 * the table's own type. SQLite: multi-row VALUES in chunks of a power of two rows (a handful of
 * shapes for its statement cache).
 */
export async function insertMany<T extends keyof Database & string>(
  trx: Transaction<Database>,
  table: T,
  rows: Record<string, unknown>[],
  ignoreConflictOn: string[] | null = null,
  returningIds = false,
  /** PostgreSQL, `jobs` only: move the jobs sequence to this drawn id in the same statement (job-ids.ts). */
  syncJobsTo: number | null = null,
): Promise<number[]> {
  const ids: number[] = [];
  if (rows.length === 0) return ids;
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    const cols = Object.keys(rows[0]!).map((c) => sql.ref(c));
    const conflict = ignoreConflictOn
      ? sql` on conflict (${sql.join(ignoreConflictOn.map((c) => sql.ref(c)))}) do nothing`
      : sql``;
    for (let i = 0; i < rows.length; i += PG_CHUNK) {
      const json = JSON.stringify(rows.slice(i, i + PG_CHUNK));
      const returning = returningIds ? sql` returning id` : sql``;
      // setval is volatile: the CTE is evaluated once, never inlined, and joined to every row.
      const sync = i === 0 && syncJobsTo !== null ? SYNC_JOB_SEQUENCE(syncJobsTo) : null;
      const prefix = sync ? sql`with moved as (${sync}) ` : sql``;
      const join = sync ? sql` cross join moved` : sql``;
      const r = await sql<{
        id: number;
      }>`${prefix}insert into ${sql.table(table)} (${sql.join(cols)}) select ${sql.join(cols)} from json_populate_recordset(null::${sql.table(table)}, ${json}::json)${join}${conflict}${returning}`.execute(
        trx,
      );
      // The serial ids are drawn as the rows are read from the document, in its order: ascending ids
      // are the rows in order (RETURNING itself promises no order). Only without ON CONFLICT.
      ids.push(...r.rows.map((x) => Number(x.id)).sort((a, b) => a - b));
    }
    return ids;
  }
  for (let i = 0; i < rows.length; ) {
    const n = Math.min(SQLITE_CHUNK, 2 ** Math.floor(Math.log2(rows.length - i)));
    if (returningIds) throw new Error('insertMany: ids are returned on PostgreSQL only');
    await write(trx, table, rows.slice(i, i + n), ignoreConflictOn);
    i += n;
  }
  return ids;
}

async function write(
  trx: Transaction<Database>,
  table: keyof Database & string,
  rows: Record<string, unknown>[],
  ignoreConflictOn: string[] | null,
): Promise<void> {
  // `never`: the rows' shape was checked by the callers' typed signatures.
  const q = trx.insertInto(table).values(rows as never);
  await (ignoreConflictOn ? q.onConflict((oc) => oc.columns(ignoreConflictOn as never).doNothing()) : q).execute();
}
