/**
 * AuditLog: signed checkpoints over the hash-chained audit table, verification of the whole log or
 * of one organisation's slice, and exports (JSON Lines, CSV) that carry what a tenant needs to verify
 * its slice without trusting the operator: the records with their chain hashes and the latest
 * signed checkpoint with the public key id.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Selectable } from 'kysely';
import { type ChainRecord, ChainVerifier, type Head, type VerifyProblem } from '../store/audit-chain.js';
import type { Store } from '../store/open-store.js';
import type { AuditCheckpointsTable, AuditTable } from '../store/schema.js';

export interface Checkpoint {
  id: number;
  at: string;
  uptoId: number;
  headHash: string;
  orgHeads: Record<string, [number, string]>;
  signature: string;
  keyId: string;
  /** Set on an organisation's view: only its head, signed for it (orgCheckpointText). */
  org?: string;
}

export interface VerifyReport {
  ok: boolean;
  scope: string;
  checked: number;
  head: Head | null;
  problem: VerifyProblem | null;
  checkpoint: Checkpoint | null;
  keyId: string;
}

/** checkpointText is the exact text a checkpoint signs (documented for independent verifiers). */
export function checkpointText(c: Pick<Checkpoint, 'uptoId' | 'headHash' | 'orgHeads' | 'at'>): string {
  const orgs = Object.keys(c.orgHeads)
    .sort()
    .map((o) => [o, ...c.orgHeads[o]!]);
  return JSON.stringify(['gigafab-audit-checkpoint-v1', c.uptoId, c.headHash, orgs, c.at]);
}

/**
 * orgCheckpointText is what an organisation's view of checkpoint `id` signs: that organisation's
 * head only, so that a tenant can verify it without learning other organisations' ids or heads.
 */
export function orgCheckpointText(c: Pick<Checkpoint, 'id' | 'at' | 'uptoId' | 'headHash'> & { org: string }): string {
  return JSON.stringify(['gigafab-audit-org-checkpoint-v1', c.id, c.at, c.org, c.uptoId, c.headHash]);
}

export function verifyCheckpointSignature(c: Checkpoint, publicKeyPem: string): boolean {
  const text = c.org ? orgCheckpointText({ ...c, org: c.org }) : checkpointText(c);
  return verify(null, Buffer.from(text), createPublicKey(publicKeyPem), Buffer.from(c.signature, 'base64'));
}

export function toChainRecord(r: Selectable<AuditTable>): ChainRecord {
  return {
    id: r.id,
    at: r.at,
    actor: r.actor,
    org: r.org_id,
    action: r.action,
    objectType: r.object_type,
    objectId: r.object_id,
    before: r.before,
    after: r.after,
    requestId: r.request_id,
    hash: r.hash,
    prevHash: r.prev_hash,
    orgHash: r.org_hash,
    orgPrevHash: r.org_prev_hash,
  };
}

function toCheckpoint(r: Selectable<AuditCheckpointsTable>): Checkpoint {
  return {
    id: r.id,
    at: r.at,
    uptoId: r.upto_id,
    headHash: r.head_hash,
    orgHeads: JSON.parse(r.org_heads) as Record<string, [number, string]>,
    signature: r.signature,
    keyId: r.key_id,
  };
}

export class AuditLog {
  readonly keyId: string;
  readonly publicKeyPem: string;
  private readonly privateKey: KeyObject;
  private timer: NodeJS.Timeout | null = null;

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
  }

  /** checkpoint signs the current heads if the log grew since the last checkpoint. */
  async checkpoint(): Promise<Checkpoint | null> {
    return this.store.write(async (trx) => {
      const head = await trx.selectFrom('audit').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
      if (!head) return null;
      const last = await trx.selectFrom('audit_checkpoints').select('upto_id').orderBy('id', 'desc').limit(1).executeTakeFirst();
      if (last && last.upto_id >= head.id) return null;
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
      const at = new Date(this.now()).toISOString();
      const body = { uptoId: head.id, headHash: head.hash, orgHeads, at };
      const signature = sign(null, Buffer.from(checkpointText(body)), this.privateKey).toString('base64');
      const row = await trx
        .insertInto('audit_checkpoints')
        .values({
          at,
          upto_id: head.id,
          head_hash: head.hash,
          org_heads: JSON.stringify(orgHeads),
          signature,
          key_id: this.keyId,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { id: Number(row.id), ...body, signature, keyId: this.keyId };
    });
  }

  /** startCheckpoints signs a checkpoint every `intervalMs` while the log grows. */
  startCheckpoints(intervalMs = 60_000): void {
    this.timer = setInterval(
      () => void this.checkpoint().catch((err) => console.error('audit checkpoint failed:', err)),
      intervalMs,
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.checkpoint().catch(() => null);
  }

  /**
   * forOrg: checkpoint `c` as organisation `org` may see it: its own head (uptoId/headHash/orgHeads
   * name only that), signed for it; null if `c` pins none of its records or does not verify (a
   * forged checkpoint row is never re-signed).
   */
  forOrg(c: Checkpoint, org: string): Checkpoint | null {
    const head = c.orgHeads[org];
    if (!head || !verifyCheckpointSignature(c, this.publicKeyPem)) return null;
    const view = { id: c.id, at: c.at, org, uptoId: head[0], headHash: head[1] };
    const signature = sign(null, Buffer.from(orgCheckpointText(view)), this.privateKey).toString('base64');
    return { ...view, orgHeads: { [org]: head }, signature, keyId: c.keyId };
  }

  async latestCheckpoint(): Promise<Checkpoint | null> {
    const r = await this.store.db.selectFrom('audit_checkpoints').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst();
    return r ? toCheckpoint(r) : null;
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

  /** verify checks the whole log (org null) or one organisation's slice, and every checkpoint's signature. */
  async verify(org: string | null): Promise<VerifyReport> {
    const checkpoints = (await this.store.db.selectFrom('audit_checkpoints').selectAll().orderBy('id').execute()).map(
      toCheckpoint,
    );
    const scope = org ? `organisation ${org}` : 'whole log';
    for (const c of checkpoints) {
      if (!verifyCheckpointSignature(c, this.publicKeyPem)) {
        return {
          ok: false,
          scope,
          checked: 0,
          head: null,
          problem: { recordId: c.uptoId, reason: `checkpoint ${c.id} has an invalid signature` },
          checkpoint: c,
          keyId: this.keyId,
        };
      }
    }
    // Hashes that signed checkpoints pinned, by record id, for the chain being verified.
    const pins = new Map<number, string>();
    for (const c of checkpoints) {
      if (!org) pins.set(c.uptoId, c.headHash);
      else if (c.orgHeads[org]) pins.set(c.orgHeads[org][0], c.orgHeads[org][1]);
    }
    const verifier = new ChainVerifier(org, pins);
    for await (const r of this.records(org)) if (!verifier.add(r)) break;
    const latest = checkpoints.at(-1) ?? null;
    const pinnedHead = latest
      ? org
        ? latest.orgHeads[org]
          ? { id: latest.orgHeads[org][0], hash: latest.orgHeads[org][1] }
          : null
        : { id: latest.uptoId, hash: latest.headHash }
      : null;
    const result = verifier.finish(pinnedHead);
    return { ...result, scope, checkpoint: latest, keyId: this.keyId };
  }
}
