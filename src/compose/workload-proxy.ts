/**
 * The workload proxy wired to the control plane (sessions now; services append their source to
 * `sources`): tenancy authenticates, the lockbox decides for operators (`open-session`), sessions
 * audit opens, and the proxy's own rate limiter applies the per-organisation limit.
 */
import type { Server } from 'node:http';
import { type ProxyLinks, proxyLinks } from '../api/proxy/links.js';
import { OpenTickets } from '../api/proxy/open-tickets.js';
import { createWorkloadProxy } from '../api/proxy/proxy-server.js';
import { RateLimits } from '../api/rate-limit.js';
import type { ProxyTargetSource } from '../model/workloads.js';
import type { ControlPlane } from '../server/control-plane.js';
import type { Limits } from '../server/limits.js';
import type { Lockbox } from '../server/lockbox/index.js';
import type { InferenceServices } from '../server/services/index.js';
import type { Tenancy } from '../server/tenancy/index.js';

export interface ProxyConfig {
  port: number;
  host: string;
  /** Workload hosts are `<id>.<baseDomain>`; default `localhost`. */
  baseDomain?: string;
  /** What clients see when TLS is terminated in front: scheme and port of the links (default: http and the listen port). */
  publicScheme?: 'http' | 'https';
  publicPort?: number;
}

export async function startWorkloadProxy(
  cfg: ProxyConfig,
  d: { cp: ControlPlane; tenancy: Tenancy; lockbox: Lockbox; limits: Limits; services?: InferenceServices },
): Promise<{ links: ProxyLinks; url: string; server: Server; close(): Promise<void> }> {
  const baseDomain = cfg.baseDomain ?? 'localhost';
  const scheme = cfg.publicScheme ?? 'http';
  const tickets = new OpenTickets();
  const sources: ProxyTargetSource[] = [d.cp.sessions.targets, ...(d.services ? [d.services.targets] : [])];
  const proxy = createWorkloadProxy({
    sources,
    baseDomain,
    scheme,
    authenticate: (token) => d.tenancy.auth.authenticate(token),
    lockboxCheck: (ctx, org, object) => d.lockbox.guard.check(ctx, org, object, 'open-session'),
    audit: async (ctx, target, via) => {
      if (target.kind === 'session') await d.cp.sessions.recordOpen(ctx, target.workloadId, target.org, via);
    },
    tickets,
    rates: new RateLimits(d.limits.rateLimits),
  });
  const port = await proxy.listen(cfg.port, cfg.host);
  const links = proxyLinks(tickets, baseDomain, cfg.publicPort ?? port, scheme);
  return {
    links,
    url: `${scheme}://*.${baseDomain}:${cfg.publicPort ?? port}`,
    server: proxy.server,
    close: () => proxy.close(),
  };
}
