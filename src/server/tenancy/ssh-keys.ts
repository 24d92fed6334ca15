/**
 * SSH public keys in a user's profile (migration 030). A session with preset `ssh` authorises the
 * keys of the user who submitted it, read when it starts (compose/wire-control-plane.ts hands them to
 * the driver). Every user manages only their own keys: add (validated, at most MAX_KEYS, no
 * duplicate), list, remove; adds and removals are audited (`ssh-key.add`, `ssh-key.remove`).
 * Only public keys are ever accepted: a line with options (`command=…`) or a private key is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { conflict, invalid, notFound } from '../../model/errors.js';
import type { RequestContext } from '../../model/principal.js';
import type { SshKey, SshKeyInput } from '../../model/ssh-key-schemas.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';

export const MAX_SSH_KEYS = 20;

/** The key types OpenSSH 8+ accepts by default (no DSA). */
export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;

export interface ParsedSshKey {
  type: string;
  /** `<type> <base64>`, the comment dropped. */
  line: string;
  fingerprint: string;
  comment: string | null;
}

const bad = (detail: string) => invalid('ssh_key_invalid', detail, [{ path: 'publicKey', message: detail }]);

/** parseSshPublicKey: one OpenSSH public key line (`ssh-ed25519 AAAA… comment`), checked, or a 422. */
export function parseSshPublicKey(text: string): ParsedSshKey {
  const line = text.trim();
  if (line.includes('PRIVATE KEY')) throw bad('this is a private key: give the public one (the .pub file), never the private');
  if (/[\r\n]/.test(line)) throw bad('give one key (one line of an .pub file)');
  const [type = '', b64 = '', ...rest] = line.split(/\s+/);
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    throw bad(
      `not an OpenSSH public key line: it must start with one of ${SSH_KEY_TYPES.join(', ')} (options such as command= are not accepted)`,
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length > 4096) throw bad('the key data is not base64');
  const blob = Buffer.from(b64, 'base64');
  // The blob starts with the key type as an SSH string (uint32 length + bytes).
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (n !== type.length || blob.subarray(4, 4 + n).toString('latin1') !== type || blob.length < 4 + n + 16) {
    throw bad(`the key data does not hold a ${type} key`);
  }
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  const comment = rest.join(' ').trim();
  return { type, line: `${type} ${b64}`, fingerprint, comment: comment || null };
}

export class SshKeys {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  async add(ctx: RequestContext, input: SshKeyInput): Promise<SshKey> {
    const p = ctx.principal;
    const key = parseSshPublicKey(input.publicKey);
    const name = (input.name ?? key.comment ?? key.fingerprint).slice(0, 100);
    const at = new Date(this.now()).toISOString();
    const id = `sshk_${randomBytes(8).toString('hex')}`;
    await this.store.write(async (trx) => {
      const mine = await trx.selectFrom('user_ssh_keys').select(['fingerprint']).where('user_id', '=', p.userId).execute();
      if (mine.some((k) => k.fingerprint === key.fingerprint)) {
        throw conflict('ssh_key_exists', `key ${key.fingerprint} is in your profile already`);
      }
      if (mine.length >= MAX_SSH_KEYS) {
        throw conflict('ssh_key_limit', `a profile holds at most ${MAX_SSH_KEYS} SSH keys: remove one first`);
      }
      await trx
        .insertInto('user_ssh_keys')
        .values({
          id,
          user_id: p.userId,
          org_id: p.org,
          name,
          key_type: key.type,
          public_key: key.line,
          fingerprint: key.fingerprint,
          created_at: at,
        })
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: p.org,
        action: 'ssh-key.add',
        objectType: 'user',
        objectId: p.userId,
        after: { keyId: id, type: key.type, fingerprint: key.fingerprint },
        requestId: ctx.requestId,
      });
    });
    return { id, name, type: key.type, fingerprint: key.fingerprint, publicKey: key.line, createdAt: at };
  }

  /** list: the caller's own keys, oldest first. */
  async list(ctx: RequestContext): Promise<SshKey[]> {
    const rows = await this.store.db
      .selectFrom('user_ssh_keys')
      .selectAll()
      .where('user_id', '=', ctx.principal.userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      type: r.key_type,
      fingerprint: r.fingerprint,
      publicKey: r.public_key,
      createdAt: r.created_at,
    }));
  }

  /** remove: one of the caller's keys (by id or fingerprint); another user's key is not found. */
  async remove(ctx: RequestContext, idOrFingerprint: string): Promise<SshKey> {
    const p = ctx.principal;
    const at = new Date(this.now()).toISOString();
    return this.store.write(async (trx) => {
      const row = await trx
        .selectFrom('user_ssh_keys')
        .selectAll()
        .where('user_id', '=', p.userId)
        .where((eb) => eb.or([eb('id', '=', idOrFingerprint), eb('fingerprint', '=', idOrFingerprint)]))
        .executeTakeFirst();
      if (!row) throw notFound('ssh_key', idOrFingerprint);
      await trx.deleteFrom('user_ssh_keys').where('id', '=', row.id).execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: p.org,
        action: 'ssh-key.remove',
        objectType: 'user',
        objectId: p.userId,
        before: { keyId: row.id, type: row.key_type, fingerprint: row.fingerprint },
        requestId: ctx.requestId,
      });
      return {
        id: row.id,
        name: row.name,
        type: row.key_type,
        fingerprint: row.fingerprint,
        publicKey: row.public_key,
        createdAt: row.created_at,
      };
    });
  }

  /** keysOfJobOwner: the public key lines of the user who submitted a job (what its ssh session authorises). */
  async keysOfJobOwner(jobId: string): Promise<string[]> {
    const job = await this.store.db.selectFrom('jobs').select('submitted_by').where('id', '=', Number(jobId)).executeTakeFirst();
    if (!job) return [];
    const rows = await this.store.db
      .selectFrom('user_ssh_keys')
      .select('public_key')
      .where('user_id', '=', job.submitted_by)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => r.public_key);
  }
}
