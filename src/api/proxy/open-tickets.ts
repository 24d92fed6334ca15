/**
 * How a browser gets into a workload's host: the API issues a one-time open link
 * (`POST /v1/sessions/{id}/open`, for a principal it already authenticated) pointing at
 * `<workload host>/_gigafab/open?ticket=…`; the proxy redeems the ticket once (within a minute) for a
 * cookie scoped to that host only (no Domain attribute, HttpOnly, SameSite=Lax), valid for
 * COOKIE_HOURS or until the control plane restarts. Only digests of tickets and cookies are kept.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Principal } from '../../model/principal.js';

export const OPEN_PATH = '/_gigafab/open';
export const COOKIE_NAME = 'gigafab_workload';
const TICKET_TTL_MS = 60_000;
export const COOKIE_HOURS = 8;

interface Grant {
  principal: Principal;
  workloadId: string;
  expiresAt: number;
}

const digest = (s: string) => createHash('sha256').update(s).digest('base64url');
const secret = () => randomBytes(32).toString('base64url');

export class OpenTickets {
  private readonly tickets = new Map<string, Grant>();
  private readonly cookies = new Map<string, Grant>();

  constructor(private readonly now: () => number = Date.now) {}

  /** issue: a one-time ticket that lets `principal` into `workloadId`'s host. */
  issue(principal: Principal, workloadId: string): { ticket: string; expiresAt: number } {
    this.sweep();
    const ticket = secret();
    const expiresAt = this.now() + TICKET_TTL_MS;
    this.tickets.set(digest(ticket), { principal, workloadId, expiresAt });
    return { ticket, expiresAt };
  }

  /** redeem: the ticket (once, unexpired, for this workload) for a cookie value; null otherwise. */
  redeem(ticket: string, workloadId: string): { cookie: string; principal: Principal; maxAgeS: number } | null {
    const k = digest(ticket);
    const g = this.tickets.get(k);
    this.tickets.delete(k);
    if (!g || g.expiresAt < this.now() || g.workloadId !== workloadId) return null;
    const cookie = secret();
    const maxAgeS = COOKIE_HOURS * 3600;
    this.cookies.set(digest(cookie), { principal: g.principal, workloadId, expiresAt: this.now() + maxAgeS * 1000 });
    return { cookie, principal: g.principal, maxAgeS };
  }

  /** principalOf: who a cookie of `workloadId`'s host belongs to (null: unknown, expired, another host's). */
  principalOf(cookie: string, workloadId: string): Principal | null {
    const g = this.cookies.get(digest(cookie));
    if (!g || g.expiresAt < this.now() || g.workloadId !== workloadId) return null;
    return g.principal;
  }

  /** revoke: every ticket and cookie of a workload (it ended). */
  revoke(workloadId: string): void {
    for (const m of [this.tickets, this.cookies]) for (const [k, g] of m) if (g.workloadId === workloadId) m.delete(k);
  }

  private sweep(): void {
    const now = this.now();
    for (const m of [this.tickets, this.cookies]) for (const [k, g] of m) if (g.expiresAt < now) m.delete(k);
  }
}

/** cookieValue: our cookie's value in a Cookie header (null: absent). */
export function cookieValue(header: string | undefined): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === COOKIE_NAME) return rest.join('=');
  }
  return null;
}

/** withoutOurCookie: the Cookie header the workload gets (ours removed; null when nothing is left). */
export function withoutOurCookie(header: string | undefined): string | null {
  if (!header) return null;
  const kept = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p && p.split('=')[0] !== COOKIE_NAME);
  return kept.length ? kept.join('; ') : null;
}
