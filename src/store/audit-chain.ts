/**
 * The audit log is tamper-evident: every record commits to the one before it (a SHA-256 hash chain
 * over the whole log) and to the previous record of its own organisation (a per-tenant chain, so a
 * tenant can verify its own export without seeing anyone else's records). Signed checkpoints pin the
 * heads (one checkpoint per committed write transaction), so truncation is caught too; a head kept
 * outside the database catches the removal of the newest records together with their checkpoints.
 *
 * Canonical form (documented so anyone can re-verify): the hash of a record is
 *   sha256( JSON.stringify([id, at, actor, org, action, objectType, objectId, before, after, requestId, prev]) )
 * where before/after are the stored JSON text (or null) and prev is the previous hash in that chain
 * ("" for the first record).
 */
import { createHash } from 'node:crypto';

export interface ChainRecord {
  id: number;
  at: string;
  actor: string;
  org: string | null;
  action: string;
  objectType: string;
  objectId: string;
  before: string | null;
  after: string | null;
  requestId: string | null;
  hash: string;
  prevHash: string;
  orgHash: string | null;
  orgPrevHash: string | null;
  /** Fields withheld from an operator's export (server/audit/privacy.ts); never set on stored records. */
  redacted?: string[];
}

export function recordHash(
  r: Omit<ChainRecord, 'hash' | 'prevHash' | 'orgHash' | 'orgPrevHash' | 'redacted'>,
  prev: string,
): string {
  const canonical = JSON.stringify([
    r.id,
    r.at,
    r.actor,
    r.org,
    r.action,
    r.objectType,
    r.objectId,
    r.before,
    r.after,
    r.requestId,
    prev,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

export interface VerifyProblem {
  /** id of the first record that does not verify (or the checkpoint's upto id for a truncation). */
  recordId: number;
  reason: string;
}

export interface Head {
  id: number;
  hash: string;
}

/**
 * ChainVerifier checks records streamed in id order. For the global chain ids must be contiguous;
 * for one organisation's slice (`org` given) only that org's chain links are checked.
 */
export class ChainVerifier {
  private prev: Head | null = null;
  private checked = 0;
  /** First record after the last pin that matched: a rewrite detected at the next pin starts here or later. */
  private segmentStart: number | null = null;
  private heldSeen = false;
  problem: VerifyProblem | null = null;

  /**
   * @param org verify one organisation's slice (its own chain) instead of the whole log
   * @param pins hashes that signed checkpoints pinned, by record id: a mismatch means rewritten history
   * @param held a head the verifier kept from an earlier verify or export: the log must still contain it
   */
  constructor(
    private readonly org: string | null = null,
    private readonly pins: ReadonlyMap<number, string> = new Map(),
    private readonly held: Head | null = null,
  ) {}

  add(r: ChainRecord): boolean {
    if (this.problem) return false;
    const sliceMode = this.org !== null;
    if (sliceMode && r.org !== this.org) {
      this.problem = { recordId: r.id, reason: `record belongs to organisation ${r.org}, not ${this.org}` };
      return false;
    }
    const prevHash = this.prev?.hash ?? '';
    const claimedPrev = sliceMode ? (r.orgPrevHash ?? '') : r.prevHash;
    const claimed = sliceMode ? r.orgHash : r.hash;
    if (!sliceMode && this.prev && r.id !== this.prev.id + 1) {
      this.problem = { recordId: this.prev.id + 1, reason: `record ${this.prev.id + 1} is missing (next present is ${r.id})` };
      return false;
    }
    if (this.prev && r.id <= this.prev.id) {
      this.problem = { recordId: r.id, reason: `record ${r.id} is out of order (after ${this.prev.id})` };
      return false;
    }
    if (claimedPrev !== prevHash) {
      this.problem = {
        recordId: r.id,
        reason: `record ${r.id} does not link to the record before it (deleted or reordered records)`,
      };
      return false;
    }
    // A record whose content was withheld (an operator's export of tenant records) keeps its links
    // and hashes, but its content hash cannot be recomputed from it.
    if (!r.redacted && recordHash(r, prevHash) !== claimed) {
      this.problem = { recordId: r.id, reason: `record ${r.id} was altered: its content does not match its hash` };
      return false;
    }
    if (this.held && !this.heldSeen && r.id > this.held.id) {
      this.problem = {
        recordId: this.held.id,
        reason: `record ${this.held.id}, the head you hold, is no longer in the log (removed, history rewritten)`,
      };
      return false;
    }
    this.segmentStart ??= r.id;
    const pinned = this.pins.get(r.id);
    if (pinned !== undefined && pinned !== claimed) {
      // Hashes recomputed after the fact are consistent among themselves; only the signed pin shows
      // the rewrite, somewhere between the previous pin and this one.
      this.problem = {
        recordId: this.segmentStart,
        reason:
          this.segmentStart === r.id
            ? `record ${r.id} differs from what a signed checkpoint pinned (rewritten after it was committed)`
            : `records ${this.segmentStart}–${r.id} were rewritten after they were committed: record ${r.id} differs from what a signed checkpoint pinned`,
      };
      return false;
    }
    if (pinned !== undefined) this.segmentStart = null;
    if (this.held && r.id === this.held.id) {
      if (claimed !== this.held.hash) {
        this.problem = {
          recordId: r.id,
          reason: `record ${r.id} differs from the head you hold (history rewritten at or before it)`,
        };
        return false;
      }
      this.heldSeen = true;
    }
    this.prev = { id: r.id, hash: claimed ?? '' };
    this.checked++;
    return true;
  }

  /** finish checks that the chain reaches a pinned head (from a signed checkpoint) and the held head: catches truncation. */
  finish(pinned: Head | null): { ok: boolean; checked: number; head: Head | null; problem: VerifyProblem | null } {
    if (!this.problem && this.held && !this.heldSeen) {
      const end = this.prev?.id ?? 0;
      this.problem = {
        recordId: this.org ? this.held.id : end + 1,
        reason: `the log ends at record ${end} but the head you hold is record ${this.held.id} (truncated)`,
      };
    }
    if (!this.problem && pinned) {
      if (!this.prev || this.prev.id < pinned.id) {
        this.problem = {
          recordId: this.org ? pinned.id : (this.prev?.id ?? 0) + 1,
          reason: `the log ends at record ${this.prev?.id ?? 0} but a signed checkpoint covers record ${pinned.id} (truncated)`,
        };
      }
    }
    return { ok: !this.problem, checked: this.checked, head: this.prev, problem: this.problem };
  }
}
