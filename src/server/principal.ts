/** Principal: who is calling. Tokens are random, shown once, and stored only as SHA-256 hashes. */
import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../api/schemas.js';

export interface Principal {
  userId: string;
  role: Role;
  /** null for platform operators. */
  org: string | null;
  /** The API token this request authenticated with (absent: OIDC or in-process callers). */
  tokenId?: string;
}

export const isOperator = (p: Principal) => p.role === 'operator';

export function newToken(): string {
  return `gf_${randomBytes(24).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}
