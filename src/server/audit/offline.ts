/**
 * Offline verification of an audit export (JSON Lines from `gigafab audit export`): checks the
 * checkpoint's Ed25519 signature (and that the organisation head it shows is one it signed), every
 * record's hash and link, that the records reach the head the checkpoint pinned, and — given a head
 * kept from earlier — that the export still contains it and extends it, without trusting the server.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { JsonShapeError, parseJson } from '../../model/json.js';
import { ChainVerifier, type Head } from '../../store/audit-chain.js';
import { pinnedHead, verifyCheckpointSignature } from './checkpoints.js';

/** The export's first line: the signed checkpoint (Checkpoint in server/audit/) and the key. */
const CheckpointLineSchema = z.looseObject({
  type: z.string().optional(),
  scope: z.string().optional(),
  checkpoint: z
    .looseObject({
      id: z.number(),
      version: z.union([z.literal(1), z.literal(2)]),
      seq: z.number().nullable(),
      prevHash: z.string().nullable(),
      fromId: z.number().nullable(),
      at: z.string(),
      uptoId: z.number(),
      headHash: z.string(),
      orgHeads: z.record(z.string(), z.tuple([z.number(), z.string()])),
      orgCommitments: z.array(z.string()),
      signature: z.string(),
      keyId: z.string(),
    })
    .nullable(),
  publicKeyPem: z.string().optional(),
});

/** Every further line: one audit record (ChainRecord in store/audit-chain.ts), hashed as exported. */
const RecordLineSchema = z.looseObject({
  type: z.string(),
  id: z.number(),
  at: z.string(),
  actor: z.string(),
  org: z.string().nullable(),
  action: z.string(),
  objectType: z.string(),
  objectId: z.string(),
  before: z.string().nullable(),
  after: z.string().nullable(),
  requestId: z.string().nullable(),
  hash: z.string(),
  prevHash: z.string(),
  orgHash: z.string().nullable(),
  orgPrevHash: z.string().nullable(),
  redacted: z.array(z.string()).optional(),
});

export interface OfflineReport {
  ok: boolean;
  message: string;
  scope: string;
  keyId: string;
  head: Head | null;
}

/** verifyExportLines: an export's lines verified (the CLI's `audit verify --file`; an organisation archive embeds them). */
export function verifyExportLines(all: readonly string[], expectedKeyId?: string, since: Head | null = null): OfflineReport {
  const lines = all.filter((l) => l.trim() !== '');
  let first: z.infer<typeof CheckpointLineSchema>;
  try {
    first = parseJson(lines[0] ?? '{}', CheckpointLineSchema, 'line 1');
  } catch (e) {
    if (!(e instanceof JsonShapeError)) throw e;
    return { ok: false, message: `not a gigafab audit export (${e.message})`, scope: 'all', keyId: '', head: null };
  }
  const scope = first.scope ?? 'all';
  const fail = (message: string, keyId = '') => ({ ok: false, message, scope, keyId, head: null });
  if (first.type !== 'checkpoint' || !first.publicKeyPem)
    return fail('not a gigafab audit export (first line must be the checkpoint)');
  const keyId = createHash('sha256').update(first.publicKeyPem).digest('hex').slice(0, 16);
  if (expectedKeyId && keyId !== expectedKeyId) return fail(`signed with key ${keyId}, expected ${expectedKeyId}`, keyId);
  const cp = first.checkpoint;
  if (cp && !verifyCheckpointSignature(cp, first.publicKeyPem)) return fail('the checkpoint signature is invalid', keyId);
  const org = scope !== 'all' ? scope : null;
  const pinned = pinnedHead(cp, org);
  const verifier = new ChainVerifier(org, pinned ? new Map([[pinned.id, pinned.hash]]) : new Map(), since);
  for (const [i, line] of lines.slice(1).entries()) {
    let rec: z.infer<typeof RecordLineSchema>;
    try {
      rec = parseJson(line, RecordLineSchema, `line ${i + 2}`);
    } catch (e) {
      if (!(e instanceof JsonShapeError)) throw e;
      return fail(`not an audit record: ${e.message}`, keyId);
    }
    if (!verifier.add(rec)) break;
  }
  const r = verifier.finish(pinned);
  if (!r.ok) return { ...fail(`${r.problem?.reason} — first bad record: ${r.problem?.recordId}`, keyId), head: r.head };
  const covers = cp ? `; checkpoint ${cp.seq ?? cp.id} covers record ${pinned?.id}` : '; no checkpoint yet';
  const held = since ? `; contains and extends your head ${since.id}` : '';
  return {
    ok: true,
    message: `${r.checked} records verify (scope ${scope}; key ${keyId}${covers}${held})`,
    scope,
    keyId,
    head: r.head,
  };
}
