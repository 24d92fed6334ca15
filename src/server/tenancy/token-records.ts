/**
 * API token records: issue (hash only, with id, owner, expiry), describe (metadata only), and the
 * server's token policy. A token's public id (`tok_…`) names it for listing and revoking and is
 * never a credential.
 */
import type { Selectable, Transaction } from 'kysely';
import { invalid } from '../../model/errors.js';
import type { TokenInfo } from '../../model/schemas.js';
import type { Database, TokensTable } from '../../store/schema.js';
import { newId } from '../principal.js';

/** Lifetime of new tokens: the default when none is asked for, and the most anyone may ask for. */
export interface TokenPolicy {
  defaultDays: number;
  maxDays: number;
}
export const DEFAULT_TOKEN_POLICY: TokenPolicy = { defaultDays: 90, maxDays: 365 };

/**
 * expiryOf: when a token issued at `now` expires: after `asked.days`, at `asked.at`, or after the
 * policy's default; more than the maximum lifetime, or a time not in the future, is refused.
 */
export function expiryOf(policy: TokenPolicy, now: number, asked: { days?: number; at?: string } = {}): string {
  const max = now + policy.maxDays * 86400_000;
  const tooLong = () =>
    invalid('token_lifetime_too_long', `tokens live at most ${policy.maxDays} days on this server`, [
      { path: asked.at ? 'expiresAt' : 'expiresInDays', message: `at most ${policy.maxDays} days ahead` },
    ]);
  if (asked.at !== undefined) {
    const at = Date.parse(asked.at);
    if (!(at > now)) {
      throw invalid('token_expiry_in_past', `expiresAt ${asked.at} is not in the future`, [
        { path: 'expiresAt', message: 'must lie in the future' },
      ]);
    }
    if (at > max) throw tooLong();
    return new Date(at).toISOString();
  }
  const days = asked.days ?? Math.min(policy.defaultDays, policy.maxDays);
  if (days > policy.maxDays) throw tooLong();
  return new Date(now + days * 86400_000).toISOString();
}

export async function insertToken(
  trx: Transaction<Database>,
  t: { hash: string; userId: string; name: string | null; at: string; expiresAt: string | null; createdBy: string },
): Promise<Selectable<TokensTable>> {
  const row: Selectable<TokensTable> = {
    hash: t.hash,
    id: newId('tok'),
    user_id: t.userId,
    name: t.name,
    created_at: t.at,
    expires_at: t.expiresAt,
    last_used_at: null,
    revoked_at: null,
    revoked_by: null,
    created_by: t.createdBy,
  };
  await trx.insertInto('tokens').values(row).execute();
  return row;
}

export function tokenState(r: Pick<TokensTable, 'revoked_at' | 'expires_at'>, now: number): TokenInfo['state'] {
  if (r.revoked_at) return 'revoked';
  return r.expires_at && Date.parse(r.expires_at) <= now ? 'expired' : 'active';
}

export function toTokenInfo(r: Selectable<TokensTable>, org: string | null, now: number): TokenInfo {
  return {
    id: r.id,
    name: r.name,
    owner: r.user_id,
    org,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    state: tokenState(r, now),
  };
}
