/**
 * Auth: maps a bearer token to its principal. API tokens are looked up by hash and cached; JWT-shaped
 * tokens go to the OIDC authenticator when the server has one. A disabled user is refused either way.
 */
import { DomainError } from '../../model/errors.js';
import type { Role } from '../../model/schemas.js';
import type { Store } from '../../store/open-store.js';
import { isJwtShaped } from '../oidc.js';
import { hashToken, type Principal } from '../principal.js';

/** How finely a token's last use is recorded. */
const LAST_USE_RESOLUTION_MS = 60_000;
const CACHE_LIMIT = 10_000;

/** The OIDC login (oidc.ts), as authentication needs it. */
export interface OidcLogin {
  authenticate(token: string): Promise<Principal>;
}

export const userDisabled = (id: string) =>
  new DomainError('unauthenticated', 'user_disabled', `user ${id} is disabled; an admin of its organisation can enable it again`);

interface CachedToken {
  principal: Principal & { tokenId: string };
  expiresAt: number | null;
  lastUsed: number;
}

export class Auth {
  private readonly cache = new Map<string, CachedToken>();

  constructor(
    private readonly store: Store,
    private readonly oidc: OidcLogin | null,
    private readonly now: () => number,
  ) {}

  /** authenticate maps a bearer token to its principal, or null (an OIDC token may also throw saying why). */
  async authenticate(token: string): Promise<Principal | null> {
    if (this.oidc && isJwtShaped(token)) {
      const p = await this.oidc.authenticate(token);
      const u = await this.store.db.selectFrom('users').select('disabled_at').where('id', '=', p.userId).executeTakeFirst();
      if (u?.disabled_at) throw userDisabled(p.userId);
      return p;
    }
    const hash = hashToken(token);
    const now = this.now();
    const hit = this.cache.get(hash) ?? (await this.load(hash));
    if (!hit) return null;
    if (hit.expiresAt !== null && hit.expiresAt <= now) {
      throw new DomainError(
        'unauthenticated',
        'token_expired',
        `this API token expired at ${new Date(hit.expiresAt).toISOString()}; ask an admin of your organisation for a new one`,
      );
    }
    // Last use is kept to the minute: one write per token and minute, not one per request.
    if (now - hit.lastUsed >= LAST_USE_RESOLUTION_MS) {
      hit.lastUsed = now;
      const at = new Date(now).toISOString();
      const tokenId = hit.principal.tokenId;
      await this.store.write((trx) => trx.updateTable('tokens').set({ last_used_at: at }).where('id', '=', tokenId).execute());
    }
    return hit.principal;
  }

  /** forgetTokens empties the token cache (tokens were revoked, users disabled, an organisation erased). */
  forgetTokens(): void {
    this.cache.clear();
  }

  private async load(hash: string): Promise<CachedToken | null> {
    const row = await this.store.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .select([
        'users.id',
        'users.role',
        'users.org_id',
        'users.disabled_at',
        'tokens.id as token_id',
        'tokens.expires_at',
        'tokens.revoked_at',
        'tokens.last_used_at',
      ])
      .where('tokens.hash', '=', hash)
      .executeTakeFirst();
    if (!row || row.revoked_at || row.disabled_at) return null;
    const hit: CachedToken = {
      principal: { userId: row.id, role: row.role as Role, org: row.org_id, tokenId: row.token_id },
      expiresAt: row.expires_at ? Date.parse(row.expires_at) : null,
      lastUsed: row.last_used_at ? Date.parse(row.last_used_at) : 0,
    };
    if (this.cache.size >= CACHE_LIMIT) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(hash, hit);
    return hit;
  }
}
