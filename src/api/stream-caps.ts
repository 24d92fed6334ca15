/**
 * Caps on concurrent live streams (SSE job events, followed logs) per token and per organisation:
 * each open stream holds a socket, a subscription and timers for as long as the client wants.
 */

import { tooMany } from '../model/errors.js';
import type { Limits } from '../server/limits.js';
import type { Principal } from '../server/principal.js';

export class StreamCaps {
  private readonly byToken = new Map<string, number>();
  private readonly byOrg = new Map<string, number>();

  constructor(private readonly limits: Limits['streams']) {}

  /** acquire takes a place for a new stream, or throws 429 too_many_streams; call the result once when it ends. */
  acquire(token: string, p: Principal): () => void {
    const t = this.byToken.get(token) ?? 0;
    if (t >= this.limits.perToken) {
      throw tooMany(
        'too_many_streams',
        `this token already holds ${t} live streams, the most allowed (streams.perToken); close one first`,
        5,
      );
    }
    const org = p.org;
    const o = org ? (this.byOrg.get(org) ?? 0) : 0;
    if (org && o >= this.limits.perOrg) {
      throw tooMany(
        'too_many_streams',
        `your organisation already holds ${o} live streams, the most allowed (streams.perOrg); close one first`,
        5,
      );
    }
    bump(this.byToken, token, 1);
    if (org) bump(this.byOrg, org, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      bump(this.byToken, token, -1);
      if (org) bump(this.byOrg, org, -1);
    };
  }
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}
