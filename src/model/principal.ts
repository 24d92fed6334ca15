/** Principal: who is calling, as every service sees it (the API resolves it from a token). */
import type { Role } from './schemas.js';

export interface Principal {
  userId: string;
  role: Role;
  /** null for platform operators. */
  org: string | null;
  /** The API token this request authenticated with (absent: OIDC or in-process callers). */
  tokenId?: string;
}

export const isOperator = (p: Principal) => p.role === 'operator';
