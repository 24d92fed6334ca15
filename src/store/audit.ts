/**
 * Audit records are appended inside the same transaction as the change they describe, each chained
 * to the previous record of the whole log and of its organisation (see audit-chain.ts).
 *
 * A record's id and hashes are fixed when it is appended; the rows themselves are written by
 * `flushAudit` in one multi-row INSERT per transaction, just before it commits (the store runs it
 * first among its pre-commit steps). On PostgreSQL every statement is a round trip, and a group
 * commit of many submissions appended one row each; the rows commit or roll back with the
 * transaction all the same.
 */
import { type Insertable, PostgresAdapter, type Selectable, sql, type Transaction } from 'kysely';
import { recordHash } from './audit-chain.js';
import { defers, insertLater, insertMany } from './deferred-insert.js';
import type { AuditCheckpointsTable, AuditTable, Database } from './schema.js';

type CheckpointRow = Selectable<AuditCheckpointsTable>;

export interface AuditEntry {
  /** Pseudonymous id (user id, `system:…`), never a name: erasing a person never breaks the chain. */
  actor: string;
  org: string | null;
  action: string;
  objectType: string;
  objectId: string;
  before?: unknown;
  after?: unknown;
  requestId?: string | null;
  at: string;
}

interface Heads {
  id: number;
  hash: string;
  org: Map<string, string>;
  /** What this transaction appended: its first record and the heads of the organisations it touched. */
  firstId: number | null;
  touched: Map<string, [number, string]>;
  /** Rows appended but not yet written (flushAudit writes them). */
  pending: Insertable<AuditTable>[];
  /**
   * PostgreSQL, read with the heads under the write lock: the `jobs` sequence's last value (null: never
   * used; job-ids.ts) and the newest signed checkpoint (null: none yet), kept current as this
   * transaction writes checkpoints (`noteCheckpoint`). undefined: not read (SQLite).
   */
  jobsLast?: number | null;
  lastCheckpoint?: CheckpointRow | null;
}

/** What one transaction appended to the log: sealed by a signed checkpoint before it commits. */
export interface Appended {
  fromId: number;
  uptoId: number;
  headHash: string;
  orgHeads: ReadonlyMap<string, [number, string]>;
}

/** appendedIn says what `trx` appended to the audit log (null: nothing). */
export function appendedIn(trx: Transaction<Database>): Appended | null {
  const h = headsByTx.get(trx);
  if (!h || h.firstId === null) return null;
  return { fromId: h.firstId, uptoId: h.id, headHash: h.hash, orgHeads: h.touched };
}
/** Chain heads read once per transaction; a rolled-back transaction takes its cache with it. */
const headsByTx = new WeakMap<object, Heads>();

async function headsOf(trx: Transaction<Database>, org: string | null): Promise<Heads> {
  let heads = headsByTx.get(trx);
  if (!heads) {
    heads = { id: 0, hash: '', org: new Map(), firstId: null, touched: new Map(), pending: [] };
    if (trx.getExecutor().adapter instanceof PostgresAdapter) {
      // One round trip under the write lock for everything a write transaction reads before it appends:
      // the log's head, the organisation's, the jobs sequence (a submission's id, job-ids.ts) and the
      // newest checkpoint (the one this transaction's seal chains to, server/audit/log.ts).
      const { rows } = await sql<{
        id: number | null;
        hash: string | null;
        org_hash: string | null;
        jobs_last: number | null;
        checkpoint: CheckpointRow | null;
      }>`
        select a.id, a.hash,
          (select org_hash from audit where org_id = ${org} order by id desc limit 1) as org_hash,
          pg_sequence_last_value(pg_get_serial_sequence('jobs', 'id')::regclass) as jobs_last,
          (select row_to_json(c) from (select id, at, upto_id, head_hash, org_heads, signature, key_id, seq, prev_hash, from_id
             from audit_checkpoints order by id desc limit 1) as c) as checkpoint
        from (select 1) as one left join (select id, hash from audit order by id desc limit 1) as a on true`.execute(trx);
      const r = rows[0];
      heads.id = r?.id ?? 0;
      heads.hash = r?.hash ?? '';
      if (org) heads.org.set(org, r?.org_hash ?? '');
      heads.jobsLast = r?.jobs_last === null || r?.jobs_last === undefined ? null : Number(r.jobs_last);
      heads.lastCheckpoint = r?.checkpoint ?? null;
    } else {
      const last = await trx.selectFrom('audit').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
      heads.id = last?.id ?? 0;
      heads.hash = last?.hash ?? '';
    }
    headsByTx.set(trx, heads);
  }
  return heads;
}

async function orgHeadOf(trx: Transaction<Database>, heads: Heads, org: string): Promise<string> {
  const cached = heads.org.get(org);
  if (cached !== undefined) return cached;
  const last = await trx
    .selectFrom('audit')
    .select('org_hash')
    .where('org_id', '=', org)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return last?.org_hash ?? '';
}

/**
 * jobSequenceLast: the `jobs` sequence's last value as read with the heads in `trx` (PostgreSQL; null:
 * never used), reading the heads now if this transaction has not yet (one round trip for both).
 */
export async function jobSequenceLast(trx: Transaction<Database>, org: string | null): Promise<number | null> {
  const heads = await headsOf(trx, org);
  return heads.jobsLast ?? null;
}

/**
 * lastCheckpointIn: the newest checkpoint row as `trx` knows it without a read (PostgreSQL, once the
 * heads were read: null, none yet), or undefined (read it). noteCheckpoint keeps it current.
 */
export function lastCheckpointIn(trx: Transaction<Database>): CheckpointRow | null | undefined {
  return headsByTx.get(trx)?.lastCheckpoint;
}

/** noteCheckpoint: `trx` wrote `row` to audit_checkpoints (it is now the newest). */
export function noteCheckpoint(trx: Transaction<Database>, row: CheckpointRow): void {
  const heads = headsByTx.get(trx);
  if (heads && heads.lastCheckpoint !== undefined) heads.lastCheckpoint = row;
}

export async function appendAudit(trx: Transaction<Database>, e: AuditEntry): Promise<void> {
  const heads = await headsOf(trx, e.org);
  const record = {
    id: heads.id + 1,
    at: e.at,
    actor: e.actor,
    org: e.org,
    action: e.action,
    objectType: e.objectType,
    objectId: e.objectId,
    before: e.before === undefined ? null : JSON.stringify(e.before),
    after: e.after === undefined ? null : JSON.stringify(e.after),
    requestId: e.requestId ?? null,
  };
  const hash = recordHash(record, heads.hash);
  let orgHash: string | null = null;
  let orgPrev: string | null = null;
  if (e.org) {
    orgPrev = await orgHeadOf(trx, heads, e.org);
    orgHash = recordHash(record, orgPrev);
  }
  heads.pending.push({
    id: record.id,
    at: record.at,
    actor: record.actor,
    org_id: record.org,
    action: record.action,
    object_type: record.objectType,
    object_id: record.objectId,
    before: record.before,
    after: record.after,
    request_id: record.requestId,
    prev_hash: heads.hash,
    hash,
    org_prev_hash: orgPrev,
    org_hash: orgHash,
  });
  heads.id = record.id;
  heads.hash = hash;
  heads.firstId ??= record.id;
  if (e.org && orgHash) {
    heads.org.set(e.org, orgHash);
    heads.touched.set(e.org, [record.id, orgHash]);
  }
}

/** flushAudit writes the records `trx` appended and has not written yet (run before COMMIT). */
export async function flushAudit(trx: Transaction<Database>): Promise<void> {
  const heads = headsByTx.get(trx);
  if (!heads || heads.pending.length === 0) return;
  const rows = heads.pending;
  heads.pending = [];
  // PostgreSQL: handed to the transaction's deferred rows, which go in one statement with the others
  // (jobs, events, the checkpoint) when the store flushes them, last before COMMIT (deferred-insert.ts).
  if (defers(trx)) {
    for (const row of rows) await insertLater(trx, 'audit', row);
    return;
  }
  // SQLite: power-of-two chunks of multi-row VALUES.
  await insertMany(trx, 'audit', rows);
}
