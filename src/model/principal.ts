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

/**
 * RequestContext: who asked and under which request id, passed as one value from the API edge to
 * every service method that acts for a caller (instead of threading `requestId` and the principal
 * through signatures one by one). In-process callers (the cycle runner, recovery) use `systemContext`.
 */
export interface RequestContext {
  principal: Principal;
  /** The API's request id; lands in audit records and events. */
  requestId: string;
}

/** systemContext: the context of work the control plane does on its own behalf. */
export function systemContext(requestId: string, actor = 'system'): RequestContext {
  return { principal: { userId: actor, role: 'operator', org: null }, requestId };
}
