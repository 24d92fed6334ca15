/** Tokens and ids. Tokens are random, shown once, and stored only as SHA-256 hashes. */
import { createHash, randomBytes } from 'node:crypto';

// The Principal lives in the model; re-exported for the services that import it from here.
export { isOperator, type Principal } from '../model/principal.js';

export function newToken(): string {
  return `gf_${randomBytes(24).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}
