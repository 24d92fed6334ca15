/**
 * Signed checkpoints of the audit log: the text a checkpoint signs, its hash (which links the next),
 * signature checks, what a tenant may see of one, and CheckpointChain, which checks a sequence of
 * them in the order they were written.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { parseJson } from '../../model/json.js';
import type { ChainRecord, Head, VerifyProblem } from '../../store/audit-chain.js';
import type { AuditCheckpointsTable, AuditTable } from '../../store/schema.js';

const OrgHeadsSchema = z.record(z.string(), z.tuple([z.number(), z.string()]));

export interface Checkpoint {
  id: number;
  /** 1: signed before chained checkpoints (no seq/prevHash/fromId); 2: chained. */
  version: 1 | 2;
  seq: number | null;
  prevHash: string | null;
  fromId: number | null;
  at: string;
  uptoId: number;
  headHash: string;
  /** The organisations' chain heads this checkpoint pins (for a tenant: only its own). */
  orgHeads: Record<string, [number, string]>;
  /** v2: sha256(JSON [org, id, hash]) of every pinned organisation head, sorted: signed in place of the heads. */
  orgCommitments: string[];
  signature: string;
  keyId: string;
}

export interface VerifyReport {
  ok: boolean;
  scope: string;
  checked: number;
  /** The head of the verified chain: keep it, and a later verify `since` it proves the log still extends it. */
  head: Head | null;
  problem: VerifyProblem | null;
  /** The latest signed checkpoint pinning this scope (a tenant sees only its own organisation's head). */
  checkpoint: Checkpoint | null;
  keyId: string;
}

export const orgCommitment = (org: string, id: number, hash: string): string =>
  createHash('sha256')
    .update(JSON.stringify([org, id, hash]))
    .digest('hex');

/** checkpointText is the exact text a checkpoint signs (documented for independent verifiers). */
export function checkpointText(
  c: Pick<Checkpoint, 'version' | 'seq' | 'prevHash' | 'fromId' | 'uptoId' | 'headHash' | 'orgHeads' | 'orgCommitments' | 'at'>,
): string {
  if (c.version === 1) {
    const orgs = Object.keys(c.orgHeads)
      .sort()
      .map((o) => [o, ...c.orgHeads[o]!]);
    return JSON.stringify(['gigafab-audit-checkpoint-v1', c.uptoId, c.headHash, orgs, c.at]);
  }
  return JSON.stringify([
    'gigafab-audit-checkpoint-v2',
    c.seq,
    c.prevHash,
    c.fromId,
    c.uptoId,
    c.headHash,
    [...c.orgCommitments].sort(),
    c.at,
  ]);
}

/** checkpointHash links a chained checkpoint to the next one. */
export const checkpointHash = (c: Parameters<typeof checkpointText>[0]): string =>
  createHash('sha256').update(checkpointText(c)).digest('hex');

/** verifyCheckpointSignature: the signature holds, and every organisation head shown is one the checkpoint signed. */
export function verifyCheckpointSignature(c: Checkpoint, publicKeyPem: string): boolean {
  if (c.version === 2) {
    const signed = new Set(c.orgCommitments);
    for (const [org, [id, hash]] of Object.entries(c.orgHeads)) if (!signed.has(orgCommitment(org, id, hash))) return false;
  }
  return verify(null, Buffer.from(checkpointText(c)), createPublicKey(publicKeyPem), Buffer.from(c.signature, 'base64'));
}

/** The organisation's head a checkpoint pins, if any. */
export function pinnedHead(c: Checkpoint | null, org: string | null): Head | null {
  if (!c) return null;
  if (!org) return { id: c.uptoId, hash: c.headHash };
  const h = c.orgHeads[org];
  return h ? { id: h[0], hash: h[1] } : null;
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

export function toCheckpoint(r: Selectable<AuditCheckpointsTable>): Checkpoint {
  const orgHeads = parseJson(r.org_heads, OrgHeadsSchema, `audit checkpoint ${r.id} org_heads`);
  const version = r.seq === null ? 1 : 2;
  return {
    id: r.id,
    version,
    seq: r.seq,
    prevHash: r.prev_hash,
    fromId: r.from_id,
    at: r.at,
    uptoId: r.upto_id,
    headHash: r.head_hash,
    orgHeads,
    orgCommitments: version === 2 ? Object.entries(orgHeads).map(([o, [id, h]]) => orgCommitment(o, id, h)) : [],
    signature: r.signature,
    keyId: r.key_id,
  };
}

/** What a tenant may see of a checkpoint: its own head; the other organisations only as opaque commitments. */
export function checkpointFor(c: Checkpoint, org: string | null): Checkpoint {
  if (!org) return c;
  const own = c.orgHeads[org];
  return { ...c, orgHeads: own ? { [org]: own } : {} };
}

/**
 * CheckpointChain checks checkpoints in the order they were written: signatures, and for chained
 * checkpoints consecutive sequence numbers, links to the previous checkpoint and contiguous coverage.
 * `problem`: the first break, with the first record it leaves unproven and the id of the first
 * checkpoint no longer trusted.
 */
export class CheckpointChain {
  private prev: Checkpoint | null = null;
  private prevChained: Checkpoint | null = null;
  problem: (VerifyProblem & { badCheckpoint: number }) | null = null;

  constructor(private readonly publicKeyPem: string) {}

  add(c: Checkpoint): boolean {
    if (this.problem) return false;
    this.problem = this.check(c);
    if (this.problem) return false;
    if (c.version === 2) this.prevChained = c;
    this.prev = c;
    return true;
  }

  private check(c: Checkpoint): (VerifyProblem & { badCheckpoint: number }) | null {
    const { prev, prevChained } = this;
    const firstUnproven = (prev?.uptoId ?? 0) + 1;
    const fail = (reason: string) => ({ recordId: firstUnproven, reason, badCheckpoint: c.id });
    if (!verifyCheckpointSignature(c, this.publicKeyPem)) return fail(`checkpoint ${c.seq ?? c.id} has an invalid signature`);
    if (c.version === 1) {
      if (prevChained) return fail(`an unchained checkpoint follows chained checkpoint ${prevChained.seq}`);
      if (prev && c.uptoId < prev.uptoId) return fail(`checkpoint ${c.id} goes back to record ${c.uptoId}`);
      return null;
    }
    const seq = (prevChained?.seq ?? 0) + 1;
    if (c.seq !== seq)
      return fail(
        `signed checkpoint ${seq} is missing (the next is ${c.seq}): checkpoints were removed, records from ${firstUnproven} are unproven`,
      );
    if (c.prevHash !== (prevChained ? checkpointHash(prevChained) : ''))
      return fail(`checkpoint ${c.seq} does not link to checkpoint ${seq - 1} (checkpoints replaced)`);
    if (c.fromId !== null && c.fromId > firstUnproven)
      return fail(
        `records ${firstUnproven}–${c.fromId - 1} are covered by no signed checkpoint (checkpoint ${c.seq} starts at ${c.fromId}): checkpoints were removed`,
      );
    if (c.fromId !== firstUnproven || c.uptoId < c.fromId - 1)
      return fail(`checkpoint ${c.seq} covers records ${c.fromId}–${c.uptoId}, expected from ${firstUnproven}`);
    return null;
  }
}
