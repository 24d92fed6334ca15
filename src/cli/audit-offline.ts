/**
 * Offline verification of an audit export (JSON Lines from `gigafab audit export`): checks the
 * checkpoint's Ed25519 signature (and that the organisation head it shows is one it signed), every
 * record's hash and link, that the records reach the head the checkpoint pinned, and — given a head
 * kept from earlier — that the export still contains it and extends it, without trusting the server.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Checkpoint, pinnedHead, verifyCheckpointSignature } from '../server/audit/index.js';
import { type ChainRecord, ChainVerifier, type Head } from '../store/audit-chain.js';

export interface OfflineReport {
  ok: boolean;
  message: string;
  scope: string;
  keyId: string;
  head: Head | null;
}

export async function verifyExport(path: string, expectedKeyId?: string, since: Head | null = null): Promise<OfflineReport> {
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const first = JSON.parse(lines[0] ?? '{}') as {
    type?: string;
    scope?: string;
    checkpoint: Checkpoint | null;
    publicKeyPem?: string;
  };
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
  for (const line of lines.slice(1)) {
    const rec = JSON.parse(line) as ChainRecord & { type: string };
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
