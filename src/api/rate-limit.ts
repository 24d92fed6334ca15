/**
 * Rate limits per client address, per token, and on failed authentication per address, with
 * rate-limiter-flexible's in-memory counters (one server process; fixed windows). Over a limit the
 * caller gets 429 `rate_limited` with Retry-After.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { tooMany } from '../model/errors.js';
import type { Limits } from '../server/limits.js';

/** clientAddress: the peer of the TCP connection (no proxy headers are trusted). */
export function clientAddress(c: Context): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'unknown';
}

/** tokenKey: a short digest of a bearer token, so no raw token is kept in the counters. */
export const tokenKey = (token: string) => createHash('sha256').update(token).digest('base64url').slice(0, 22);

export class RateLimits {
  private readonly perIp: RateLimiterMemory;
  private readonly perToken: RateLimiterMemory;
  private readonly failedAuth: RateLimiterMemory;
  private readonly proxyPerOrg: RateLimiterMemory;

  constructor(private readonly limits: Limits['rateLimits']) {
    const make = (r: { requests: number; perSeconds: number }, keyPrefix: string) =>
      new RateLimiterMemory({ points: r.requests, duration: r.perSeconds, keyPrefix });
    this.perIp = make(limits.perIp, 'ip');
    this.perToken = make(limits.perToken, 'token');
    this.failedAuth = make(limits.failedAuthPerIp, 'auth');
    this.proxyPerOrg = make(limits.proxyPerOrg, 'proxy-org');
  }

  /** Every request, by client address (`points`: that many requests at once, as proxy workers report them). */
  async address(ip: string, points = 1): Promise<void> {
    if (!this.limits.enabled) return;
    await consume(this.perIp, ip, `too many requests from your address (at most ${describe(this.limits.perIp)})`, points);
  }

  /** Before checking a token: an address that sent too many wrong ones waits. */
  async checkAuthAllowed(ip: string): Promise<void> {
    if (!this.limits.enabled) return;
    const res = await this.failedAuth.get(ip);
    if (res && res.consumedPoints >= this.limits.failedAuthPerIp.requests) {
      throw tooMany(
        'rate_limited',
        `too many requests with a missing or wrong token from your address (at most ${describe(this.limits.failedAuthPerIp)}); try again later`,
        res.msBeforeNext / 1000,
      );
    }
  }

  /** A missing or wrong token counts against its address. */
  async authFailed(ip: string): Promise<void> {
    if (!this.limits.enabled) return;
    await this.failedAuth.consume(ip).catch(() => {});
  }

  /** Every request through the workload proxy, by the workload's organisation (`points`: as address()). */
  async workloadOrg(org: string, points = 1): Promise<void> {
    if (!this.limits.enabled) return;
    await consume(
      this.proxyPerOrg,
      org,
      `too many requests to organisation ${org}'s workloads (at most ${describe(this.limits.proxyPerOrg)})`,
      points,
    );
  }

  /** Every authenticated request, by token. */
  async token(key: string): Promise<void> {
    if (!this.limits.enabled) return;
    await consume(this.perToken, key, `too many requests with this token (at most ${describe(this.limits.perToken)})`);
  }
}

const describe = (r: { requests: number; perSeconds: number }) => `${r.requests} per ${r.perSeconds} s`;

async function consume(limiter: RateLimiterMemory, key: string, why: string, points = 1): Promise<void> {
  try {
    await limiter.consume(key, points);
  } catch (err) {
    if (err instanceof RateLimiterRes) throw tooMany('rate_limited', `${why}; try again later`, err.msBeforeNext / 1000);
    throw err;
  }
}
