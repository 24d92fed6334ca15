/**
 * OpenID Connect login beside API tokens: bearer JWTs from one configured issuer (Keycloak or any
 * standards-compliant one) are verified against the issuer's published keys (discovery + JWKS),
 * with issuer, audience and expiry checks, then mapped to a principal by group membership.
 * Users are created just in time under a pseudonymous id derived from (issuer, subject), so audit
 * records never carry a name or an email.
 *
 * `gigafab server --oidc FILE` reads the YAML config (see OidcConfigSchema).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { parse } from 'yaml';
import { z } from 'zod';
import { DomainError } from '../model/errors.js';
import { ROLES, type Role } from '../model/schemas.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import type { Principal } from './principal.js';
import { noticeToTenant } from './tenant-notices.js';

const MappingSchema = z
  .strictObject({
    group: z.string().min(1),
    role: z.enum(ROLES),
    /** Required for admin/member/viewer; absent for operator. */
    org: z.string().optional(),
  })
  .refine((m) => (m.role === 'operator') === (m.org === undefined), {
    message: 'operator mappings take no org; admin/member/viewer mappings need one',
  });

export const OidcConfigSchema = z.strictObject({
  /** Issuer URL exactly as in the tokens' `iss` and the discovery document. */
  issuer: z.url(),
  /** Accepted `aud` values: the API's resource id (access tokens) or the CLI's client id (ID tokens). */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** Claim holding the user's groups (Keycloak: `groups`, with or without a leading `/`). */
  groupsClaim: z.string().min(1).default('groups'),
  /** Allowed clock skew between issuer and server for exp/nbf/iat. */
  clockToleranceSeconds: z.number().int().min(0).max(300).default(5),
  mappings: z.array(MappingSchema).min(1),
});
export type OidcConfig = z.infer<typeof OidcConfigSchema>;

export function loadOidcFile(path: string): OidcConfig {
  const parsed = OidcConfigSchema.safeParse(parse(readFileSync(path, 'utf8')) ?? {});
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Error(`invalid OIDC config ${path}: ${first?.path.join('.')}: ${first?.message}`);
  }
  return parsed.data;
}

/** A compact JWS (three base64url parts); gigafab API tokens start with `gf_` and never match. */
export const isJwtShaped = (token: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);

/** Only asymmetric algorithms: a shared-secret (HS*) or unsigned token can never pass. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const ROLE_RANK: Record<Role, number> = { operator: 3, admin: 2, member: 1, viewer: 0 };
const CACHE_MAX = 10_000;

const rejected = (why: string) => new DomainError('unauthenticated', 'invalid_token', `the OIDC token was rejected: ${why}`);

/** pseudonymousId: a stable user id that reveals nothing about the person. */
export function pseudonymousId(issuer: string, subject: string): string {
  return `oidc_${createHash('sha256').update(`${issuer}\n${subject}`).digest('hex').slice(0, 20)}`;
}

export class OidcAuthenticator {
  private keys: Promise<ReturnType<typeof createRemoteJWKSet>> | null = null;
  /** Verified tokens (by hash) until they expire, so that a busy client costs one verification. */
  private readonly cache = new Map<string, { principal: Principal; exp: number }>();

  constructor(
    readonly config: OidcConfig,
    private readonly store: Store,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** authenticate verifies a JWT and returns its principal; throws a 401/403 problem saying why not. */
  async authenticate(token: string): Promise<Principal> {
    const hash = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(hash);
    if (hit && hit.exp * 1000 > this.now()) return hit.principal;
    this.cache.delete(hash);
    const payload = await this.verify(token);
    const principal = this.principalOf(payload);
    await this.syncUser(principal, payload);
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(hash, { principal, exp: payload.exp ?? 0 });
    return principal;
  }

  private async verify(token: string): Promise<JWTPayload> {
    const jwks = await this.jwks();
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: ALGORITHMS,
        clockTolerance: this.config.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(this.now()),
      });
      return payload;
    } catch (err) {
      throw explain(err, this.config);
    }
  }

  /** jwks: discovery once (retried after a failure), then jose's cached, rotating key set. */
  private jwks(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    this.keys ??= discover(this.config.issuer).catch((err: Error) => {
      this.keys = null;
      throw new DomainError(
        'unavailable',
        'oidc_issuer_unavailable',
        `cannot reach the OIDC issuer ${this.config.issuer}: ${err.message}`,
      );
    });
    return this.keys;
  }

  private principalOf(payload: JWTPayload): Principal {
    const raw = payload[this.config.groupsClaim];
    const groups = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [])
      .filter((g): g is string => typeof g === 'string')
      .map((g) => g.replace(/^\//, ''));
    const matched = this.config.mappings.filter((m) => groups.includes(m.group));
    const userId = pseudonymousId(this.config.issuer, String(payload.sub));
    if (matched.some((m) => m.role === 'operator')) return { userId, role: 'operator', org: null };
    const orgs = [...new Set(matched.map((m) => m.org))];
    if (orgs.length === 0) {
      throw new DomainError(
        'forbidden',
        'oidc_no_role',
        `the OIDC token is valid, but none of its groups (${groups.join(', ') || 'none'}) maps to a gigafab role; ask an operator to add a mapping to the server's OIDC config`,
      );
    }
    if (orgs.length > 1) {
      throw new DomainError(
        'forbidden',
        'oidc_ambiguous_org',
        `the OIDC token's groups map to several organisations (${orgs.join(', ')}); a user belongs to one organisation`,
      );
    }
    const role = matched.map((m) => m.role).sort((a, b) => ROLE_RANK[b] - ROLE_RANK[a])[0]!;
    return { userId, role, org: orgs[0] ?? null };
  }

  /** syncUser creates the user on first login and follows role/org changes made in the identity provider. */
  private async syncUser(p: Principal, payload: JWTPayload): Promise<void> {
    const existing = await this.store.db.selectFrom('users').selectAll().where('id', '=', p.userId).executeTakeFirst();
    if (existing && existing.role === p.role && existing.org_id === p.org) return;
    if (p.org) {
      const org = await this.store.db.selectFrom('orgs').select('id').where('id', '=', p.org).executeTakeFirst();
      if (!org) {
        throw new DomainError(
          'forbidden',
          'oidc_org_unknown',
          `the OIDC groups map to organisation ${p.org}, which does not exist here; an operator must create it first`,
        );
      }
    }
    const at = new Date(this.now()).toISOString();
    const name = claimString(payload, 'preferred_username') ?? claimString(payload, 'name') ?? p.userId;
    const after = { role: p.role, org: p.org, source: 'oidc', issuer: this.config.issuer };
    await this.store.write(async (trx) => {
      if (existing) {
        await trx.updateTable('users').set({ role: p.role, org_id: p.org }).where('id', '=', p.userId).execute();
      } else {
        await trx
          .insertInto('users')
          .values({
            id: p.userId,
            org_id: p.org,
            name,
            email: claimString(payload, 'email'),
            role: p.role,
            created_at: at,
            created_by: 'system:oidc',
          })
          .execute();
      }
      // An admin appearing through the server's group mappings is shown to the tenant: the mappings
      // are the operator's configuration, so the tenant must be able to see whom they admitted.
      if (p.org && p.role === 'admin' && existing?.role !== 'admin') {
        await noticeToTenant(trx, {
          org: p.org,
          kind: 'identity',
          at,
          message: `${p.userId} became an admin of ${p.org} through OIDC login (issuer ${this.config.issuer}, group mapping in the server's OIDC config)`,
        });
      }
      await appendAudit(trx, {
        at,
        actor: 'system:oidc',
        org: p.org ?? existing?.org_id ?? null,
        action: existing ? 'user.update' : 'user.create',
        objectType: 'user',
        objectId: p.userId,
        before: existing ? { role: existing.role, org: existing.org_id } : undefined,
        after,
      });
    });
  }
}

async function discover(issuer: string): Promise<ReturnType<typeof createRemoteJWKSet>> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be exactly the one asked for.
  if (doc.issuer !== issuer) throw new Error(`discovery document names issuer ${String(doc.issuer)}, not ${issuer}`);
  if (typeof doc.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri');
  return createRemoteJWKSet(new URL(doc.jwks_uri));
}

function claimString(payload: JWTPayload, name: string): string | null {
  const v = payload[name];
  return typeof v === 'string' && v.length > 0 ? v.slice(0, 200) : null;
}

/** explain turns jose's verification errors into a sentence a user can act on. */
function explain(err: unknown, config: OidcConfig): DomainError {
  const e = err as { code?: string; claim?: string; message?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return rejected('it has expired; log in again');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'iss') return rejected(`it was issued by another issuer (this server trusts ${config.issuer})`);
      if (e.claim === 'aud')
        return rejected(`it is meant for another audience (this server accepts ${[config.audience].flat().join(', ')})`);
      return rejected(`claim ${e.claim}: ${e.message}`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return rejected('its signature does not verify (altered or forged)');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return rejected('it is signed with a key the issuer does not publish');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return rejected('it uses a signature algorithm this server does not accept');
    default:
      return rejected(e.message ?? 'malformed token');
  }
}
