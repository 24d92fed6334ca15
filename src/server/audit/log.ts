/**
 * AuditLog: signed, chained checkpoints over the hash-chained audit table, verification of the whole
 * log or of one organisation's slice (optionally against a head the verifier kept from earlier), and
 * exports (JSON Lines, CSV) that carry what a tenant needs to verify its slice without trusting the
 * operator: the records with their chain hashes and the latest signed checkpoint pinning the slice.
 *
 * Every write transaction that appends audit records also commits a checkpoint over them (see
 * `seal`): nothing committed is ever unpinned, even after a kill -9. Checkpoints form a chain of their
 * own (sequence number + hash of the previous checkpoint), so deleting one is a visible gap. What a
 * database alone cannot show is a clean cut of the newest records *and* their checkpoints; a head kept
 * outside the database (`since`) catches that too.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Transaction } from 'kysely';
import type { Principal } from '../../model/principal.js';
import type { AuditRecord } from '../../model/schemas.js';
import { appendedIn, lastCheckpointIn, noteCheckpoint } from '../../store/audit.js';
import { type ChainRecord, ChainVerifier, type Head, type VerifyProblem } from '../../store/audit-chain.js';
import { defers, insertLater } from '../../store/deferred-insert.js';
import type { Store } from '../../store/open-store.js';
import type { Database } from '../../store/schema.js';
import { operatorIds } from '../tenancy/user-views.js';
import {
  type Checkpoint,
  CheckpointChain,
  checkpointFor,
  checkpointHash,
  checkpointText,
  orgCommitment,
  pinnedHead,
  toChainRecord,
  toCheckpoint,
  type VerifyReport,
} from './checkpoints.js';
import { auditListing } from './listing.js';

export class AuditLog {
  readonly keyId: string;
  readonly publicKeyPem: string;
  private readonly privateKey: KeyObject;

  constructor(
    private readonly store: Store,
    dataDir: string,
    private readonly now: () => number = () => Date.now(),
  ) {
    // The signing key lives beside the database (mode 0600); an HSM-backed signer can replace it.
    const path = join(dataDir, 'audit-signing-key.pem');
    if (!existsSync(path)) {
      const { privateKey } = generateKeyPairSync('ed25519');
      writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    }
    this.privateKey = createPrivateKey(readFileSync(path));
    this.publicKeyPem = createPublicKey(this.privateKey).export({ type: 'spki', format: 'pem' }).toString();
    this.keyId = createHash('sha256').update(this.publicKeyPem).digest('hex').slice(0, 16);
    // Seal every write transaction that appended records, inside it: the checkpoint commits with them.
    store.addPreCommit((trx) => this.seal(trx));
  }

  /** seal signs a chained checkpoint over what `trx` appended (nothing if it appended nothing). */
  private async seal(trx: Transaction<Database>): Promise<void> {
    const appended = appendedIn(trx);
    if (!appended) return;
    // fromId is the transaction's own first record: if records before it are covered by no checkpoint
    // (removed checkpoints), this checkpoint does not cover them either, and verify shows the gap.
    await this.signNext(trx, appended.fromId, appended.uptoId, appended.headHash, Object.fromEntries(appended.orgHeads), true);
  }

  private async signNext(
    trx: Transaction<Database>,
    fromId: number | null,
    uptoId: number,
    headHash: string,
    orgHeads: Record<string, [number, string]>,
    /** Sealing before COMMIT: on PostgreSQL the row may wait for the transaction's final flush. */
    deferred = false,
  ): Promise<Checkpoint> {
    // PostgreSQL: read with the audit heads, under the write lock (store/audit.ts), so no round trip here.
    const known = lastCheckpointIn(trx);
    const lastRow =
      known !== undefined
        ? (known ?? undefined)
        : await trx.selectFrom('audit_checkpoints').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst();
    const last = lastRow ? toCheckpoint(lastRow) : null;
    const prevChained = last?.version === 2 ? last : null;
    const body = {
      version: 2 as const,
      seq: (prevChained?.seq ?? 0) + 1,
      prevHash: prevChained ? checkpointHash(prevChained) : '',
      fromId: fromId ?? (last?.uptoId ?? 0) + 1,
      uptoId,
      headHash,
      orgHeads,
      orgCommitments: Object.entries(orgHeads).map(([o, [id, h]]) => orgCommitment(o, id, h)),
      at: new Date(this.now()).toISOString(),
    };
    const signature = sign(null, Buffer.from(checkpointText(body)), this.privateKey).toString('base64');
    const values = {
      at: body.at,
      upto_id: uptoId,
      head_hash: headHash,
      org_heads: JSON.stringify(orgHeads),
      signature,
      key_id: this.keyId,
      seq: body.seq,
      prev_hash: body.prevHash,
      from_id: body.fromId,
    };
    if (deferred && defers(trx)) {
      // PostgreSQL, sealing: written with the transaction's other rows in one statement before COMMIT
      // (store/deferred-insert.ts); the id is known then, and nothing reads it before.
      const checkpoint: Checkpoint = { id: 0, ...body, signature, keyId: this.keyId };
      const noted = { id: 0, ...values };
      noteCheckpoint(trx, noted);
      await insertLater(trx, 'audit_checkpoints', values, {
        onId: (id) => {
          checkpoint.id = id;
          noted.id = id;
        },
      });
      return checkpoint;
    }
    const row = await trx.insertInto('audit_checkpoints').values(values).returning('id').executeTakeFirstOrThrow();
    noteCheckpoint(trx, { id: Number(row.id), ...values });
    return { id: Number(row.id), ...body, signature, keyId: this.keyId };
  }

  /**
   * sealBacklog signs what no checkpoint covers in a log from before chained checkpoints: the first
   * chained checkpoint pins every organisation's head. Run at start-up. Once the chain has begun,
   * every committed record was sealed with it, so uncovered records mean removed checkpoints: they
   * are reported, never signed (signing them would launder a forged tail).
   */
  async sealBacklog(): Promise<Checkpoint | null> {
    return this.store.write(async (trx) => {
      const head = await trx.selectFrom('audit').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
      if (!head) return null;
      const chained = await trx
        .selectFrom('audit_checkpoints')
        .select(['upto_id'])
        .where('seq', 'is not', null)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (chained) {
        if (chained.upto_id < head.id)
          console.error(
            `audit: records ${chained.upto_id + 1}–${head.id} are covered by no signed checkpoint: the log was tampered with (run gigafab audit verify)`,
          );
        return null;
      }
      const orgRows = await trx
        .selectFrom('audit')
        .select(['org_id', 'id', 'org_hash'])
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('audit')
            .select((e) => e.fn.max('id').as('m'))
            .where('org_id', 'is not', null)
            .groupBy('org_id'),
        )
        .execute();
      const orgHeads: Record<string, [number, string]> = {};
      for (const r of orgRows) if (r.org_id && r.org_hash) orgHeads[r.org_id] = [r.id, r.org_hash];
      return this.signNext(trx, null, head.id, head.hash, orgHeads);
    });
  }

  async stop(): Promise<void> {
    await this.sealBacklog().catch(() => null);
  }

  /** list: a page of records, newest first, as `p` may read them (listing.ts). */
  list(p: Principal, limit: number, cursor?: string): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    return auditListing(this.store, p, limit, cursor);
  }

  /** operatorIds: whose records are operator-written (what an operator's export may show in full). */
  operatorIds(): Promise<Set<string>> {
    return operatorIds(this.store);
  }

  /** latestCheckpoint: the newest checkpoint pinning the scope (the whole log, or the organisation's head). */
  async latestCheckpoint(org: string | null = null): Promise<Checkpoint | null> {
    if (!org) {
      const r = await this.store.db.selectFrom('audit_checkpoints').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst();
      return r ? toCheckpoint(r) : null;
    }
    // An organisation's head is pinned by the last checkpoint that names it (org_heads is JSON text:
    // LIKE narrows the search, the parsed heads decide).
    let before = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const rows = await this.store.db
        .selectFrom('audit_checkpoints')
        .selectAll()
        .where('id', '<', before)
        .where('org_heads', 'like', `%${JSON.stringify(org)}:%`)
        .orderBy('id', 'desc')
        .limit(50)
        .execute();
      for (const r of rows) {
        const c = toCheckpoint(r);
        if (c.orgHeads[org]) return checkpointFor(c, org);
      }
      if (rows.length < 50) return null;
      before = rows.at(-1)!.id;
    }
  }

  /** records streams the log (or one organisation's slice) in id order, in pages. */
  async *records(org: string | null): AsyncGenerator<ChainRecord> {
    let after = 0;
    for (;;) {
      let q = this.store.db.selectFrom('audit').selectAll().where('id', '>', after).orderBy('id').limit(5000);
      if (org) q = q.where('org_id', '=', org);
      const rows = await q.execute();
      for (const r of rows) yield toChainRecord(r);
      if (rows.length < 5000) return;
      after = rows.at(-1)!.id;
    }
  }

  /** head: the current head of the scope's chain (unverified; `verify` proves it). */
  async head(org: string | null): Promise<Head | null> {
    let q = this.store.db.selectFrom('audit').select(['id', 'hash', 'org_hash']).orderBy('id', 'desc').limit(1);
    if (org) q = q.where('org_id', '=', org);
    const r = await q.executeTakeFirst();
    return r ? { id: r.id, hash: (org ? r.org_hash : r.hash) ?? '' } : null;
  }

  /**
   * verify checks the whole log (org null) or one organisation's slice: every checkpoint's signature
   * and their chain, every record's hash and links, the pins, and — given `since`, a head kept from an
   * earlier verify or export — that the log still contains that head and extends it.
   */
  async verify(org: string | null, since: Head | null = null): Promise<VerifyReport> {
    const scope = org ? `organisation ${org}` : 'whole log';
    // Records and checkpoints are both streamed, side by side (one checkpoint per committed batch:
    // there can be as many as records); pins are kept only until their record has been checked.
    const chain = new CheckpointChain(this.publicKeyPem);
    const pins = new Map<number, string>();
    const state = {
      latest: null as Checkpoint | null,
      coveredUpto: 0,
      chained: false,
      after: 0,
      page: [] as Checkpoint[],
      at: 0,
    };
    // A fresh query whenever the page runs out: a record read later than the last query is matched
    // against checkpoints committed with it (same transaction), never reported as uncovered by a race.
    const nextCheckpoint = async (): Promise<Checkpoint | null> => {
      if (state.at >= state.page.length) {
        const rows = await this.store.db
          .selectFrom('audit_checkpoints')
          .selectAll()
          .where('id', '>', state.after)
          .orderBy('id')
          .limit(5000)
          .execute();
        state.page = rows.map(toCheckpoint);
        state.at = 0;
        if (rows.length > 0) state.after = rows.at(-1)!.id;
      }
      return state.page[state.at++] ?? null;
    };
    // Checkpoints committed before the records are read cover records the read will see; a newer one
    // (a writer committing while verify runs) may cover records the read has passed: the log's end is
    // judged only against the former, or a live system would look truncated.
    const ceiling = await this.store.db
      .selectFrom('audit_checkpoints')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    const lastBeforeRead = Number(ceiling?.id ?? 0);
    const loadUntil = async (recordId: number, maxCheckpointId = Number.POSITIVE_INFINITY) => {
      while (!chain.problem && state.coveredUpto < recordId) {
        const c = await nextCheckpoint();
        if (c && c.id > maxCheckpointId) {
          state.at--; // put back: newer than the read
          return;
        }
        if (!c || !chain.add(c)) return;
        state.coveredUpto = c.uptoId;
        if (c.version === 2) state.chained = true;
        const pin = pinnedHead(c, org);
        if (pin) {
          pins.set(pin.id, pin.hash);
          state.latest = c;
        }
      }
    };
    const verifier = new ChainVerifier(org, pins, since);
    // Every committed record is sealed in its own transaction: once the chain of checkpoints has
    // begun, a record that no checkpoint covers means the newest checkpoints were removed.
    let uncovered: number | null = null;
    for await (const r of this.records(org)) {
      await loadUntil(r.id);
      if (chain.problem && r.id >= chain.problem.recordId) break;
      if (!chain.problem && state.chained && state.coveredUpto < r.id) uncovered ??= r.id;
      if (!verifier.add(r)) break;
      for (const id of pins.keys()) {
        if (id > r.id) break;
        pins.delete(id); // ascending: checkpoints pin ever later records
      }
    }
    await loadUntil(Number.POSITIVE_INFINITY, lastBeforeRead);
    const latest = state.latest;
    const result = verifier.finish(pinnedHead(latest, org));
    const candidates = [result.problem, chain.problem && { recordId: chain.problem.recordId, reason: chain.problem.reason }];
    if (uncovered !== null)
      candidates.push({
        recordId: uncovered,
        reason: `record ${uncovered} and the records after it are covered by no signed checkpoint (the newest checkpoints were removed)`,
      });
    const problem = candidates.reduce<VerifyProblem | null>(
      (first, p) => (p && (!first || p.recordId < first.recordId) ? p : first),
      null,
    );
    return {
      ...result,
      ok: !problem,
      problem,
      scope,
      checkpoint: latest ? checkpointFor(latest, org) : null,
      keyId: this.keyId,
    };
  }
}
