/** What the API needs of the workload proxy to hand out open links (compose/start.ts builds it). */
import type { Principal } from '../../model/principal.js';
import { workloadOrigin } from './host-name.js';
import { OPEN_PATH, type OpenTickets } from './open-tickets.js';

export interface ProxyLinks {
  /** The origin of a workload's host, e.g. http://812.localhost:8081. */
  origin(workloadId: string): string;
  /** A one-time link that opens the workload in a browser (valid for a minute). */
  openLink(p: Principal, workloadId: string, next?: string): { url: string; expiresAt: number };
  /**
   * With proxy workers: resolves once no worker admits anything it remembered from before this call
   * (workers.ts, invalidate). The API awaits it after every request that may change state.
   */
  settle?(): Promise<void>;
}

export function proxyLinks(
  tickets: OpenTickets,
  baseDomain: string,
  port: number,
  scheme: 'http' | 'https' = 'http',
): ProxyLinks {
  const origin = (id: string) => workloadOrigin(id, baseDomain, port, scheme);
  return {
    origin,
    openLink(p, id, next) {
      const { ticket, expiresAt } = tickets.issue(p, id);
      const q = new URLSearchParams({ ticket, ...(next ? { next } : {}) });
      return { url: `${origin(id)}${OPEN_PATH}?${q}`, expiresAt };
    },
  };
}
