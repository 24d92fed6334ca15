/**
 * Offline verification of an audit export (JSON Lines from `gigafab audit export`): checks the
 * checkpoint's Ed25519 signature, every record's hash and link, and that the records reach the head
 * the checkpoint pinned — without trusting the server that produced the file.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Checkpoint, verifyCheckpointSignature } from '../server/audit-log.js';
import { type ChainRecord, ChainVerifier } from '../store/audit-chain.js';

export async function verifyExport(path: string, expectedKeyId?: string): Promise<{ ok: boolean; message: string }> {
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const head = JSON.parse(lines[0] ?? '{}') as {
    type?: string;
    scope?: string;
    checkpoint: Checkpoint | null;
    publicKeyPem?: string;
  };
  if (head.type !== 'checkpoint' || !head.publicKeyPem)
    return { ok: false, message: 'not a gigafab audit export (first line must be the checkpoint)' };
  const keyId = createHash('sha256').update(head.publicKeyPem).digest('hex').slice(0, 16);
  if (expectedKeyId && keyId !== expectedKeyId)
    return { ok: false, message: `signed with key ${keyId}, expected ${expectedKeyId}` };
  const cp = head.checkpoint;
  if (cp && !verifyCheckpointSignature(cp, head.publicKeyPem))
    return { ok: false, message: 'the checkpoint signature is invalid' };
  const org = head.scope && head.scope !== 'all' ? head.scope : null;
  const pinned = cp
    ? org
      ? cp.orgHeads[org]
        ? { id: cp.orgHeads[org][0], hash: cp.orgHeads[org][1] }
        : null
      : { id: cp.uptoId, hash: cp.headHash }
    : null;
  const verifier = new ChainVerifier(org, pinned ? new Map([[pinned.id, pinned.hash]]) : new Map());
  for (const line of lines.slice(1)) {
    const rec = JSON.parse(line) as ChainRecord & { type: string };
    if (!verifier.add(rec)) break;
  }
  const r = verifier.finish(pinned);
  if (!r.ok) return { ok: false, message: `${r.problem?.reason} — first bad record: ${r.problem?.recordId}` };
  return {
    ok: true,
    message: `${r.checked} records verify (scope ${head.scope}; key ${keyId}${cp ? `; checkpoint covers record ${pinned?.id}` : '; no checkpoint yet'})`,
  };
}
