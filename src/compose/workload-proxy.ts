/**
 * The workload proxy wired to the control plane (sessions now; services append their source to
 * `sources`): tenancy authenticates, the lockbox decides for operators (`open-session`), sessions
 * audit opens, and the proxy's own rate limiter applies the per-organisation limit.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ProxyAccess, type ProxyAccessDeps } from '../api/proxy/access.js';
import { type ProxyLinks, proxyLinks } from '../api/proxy/links.js';
import { startNginxPlane } from '../api/proxy/nginx-plane.js';
import { OpenTickets } from '../api/proxy/open-tickets.js';
import { createWorkloadProxy } from '../api/proxy/proxy-server.js';
import { startProxyWorkers } from '../api/proxy/workers.js';
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
  /** Proxy worker processes sharing the listener (0, the default: the proxy runs in the server process). */
  workers?: number;
  /**
   * node (default): the proxy forwards in this process (or its workers). nginx: gigafab runs nginx
   * on the proxy's port as the data plane (api/proxy/nginx-plane.ts); admission stays here.
   */
  dataPlane?: 'node' | 'nginx';
  /** With dataPlane nginx: the binary (default `nginx`), its worker processes (default 1), its state directory. */
  nginx?: { bin?: string; workers?: number; stateDir: string };
}

export async function startWorkloadProxy(
  cfg: ProxyConfig,
  d: {
    cp: ControlPlane;
    tenancy: Tenancy;
    lockbox: Lockbox;
    limits: Limits;
    services?: InferenceServices;
    registry?: Registry;
  },
): Promise<{ links: ProxyLinks; url: string; server: Server | null; close(): Promise<void> }> {
  const baseDomain = cfg.baseDomain ?? 'localhost';
  const scheme = cfg.publicScheme ?? 'http';
  const tickets = new OpenTickets();
  const rates = new RateLimits(d.limits.rateLimits);
  const sources: ProxyTargetSource[] = [d.cp.sessions.targets, ...(d.services ? [d.services.targets] : [])];
  const deps: ProxyAccessDeps = {
    sources,
    authenticate: (token) => d.tenancy.auth.authenticate(token),
    lockboxCheck: (ctx, org, object) => d.lockbox.guard.check(ctx, org, object, 'open-session'),
    audit: async (ctx, target, via) => {
      if (target.kind === 'session') await d.cp.sessions.recordOpen(ctx, target.workloadId, target.org, via);
    },
    tickets,
    rates,
  };
  let port: number;
  let server: Server | null = null;
  let close: () => Promise<void>;
  // With workers: what the API must wait for after a change (the workers forget what they admitted).
  let settle: (() => Promise<void>) | undefined;
  if (cfg.dataPlane === 'nginx') {
    if (!cfg.nginx) throw new Error('the nginx data plane needs a state directory');
    if (cfg.workers && cfg.workers > 0)
      throw new Error('--proxy-workers and the nginx data plane do not go together: nginx forwards');
    // gigafab's own proxy stays, on loopback, for every host nginx does not route itself.
    // One ProxyAccess for both (its remembered audits and lockbox passes are shared).
    const fallbackSecret = randomBytes(24).toString('hex');
    const proxy = createWorkloadProxy({ ...deps, baseDomain, scheme, behindNginx: { secret: fallbackSecret } });
    const fallbackPort = await proxy.listen(0, '127.0.0.1');
    const plane = await startNginxPlane({
      nginx: cfg.nginx.bin ?? 'nginx',
      workers: cfg.nginx.workers ?? 1,
      stateDir: cfg.nginx.stateDir,
      host: cfg.host,
      port: cfg.port,
      baseDomain,
      scheme,
      fallbackPort,
      fallbackSecret,
      access: proxy.access,
      sources,
      rates,
      log: (line) => process.stderr.write(`${line}\n`),
    }).catch(async (err: unknown) => {
      await proxy.close();
      throw err;
    });
    port = plane.port;
    server = proxy.server;
    close = async () => {
      await plane.close();
      await proxy.close();
    };
    settle = () => plane.invalidate();
    if (d.registry) {
      new Gauge({
        name: 'gigafab_proxy_nginx',
        help: 'The nginx data plane since start: config reloads, admissions nginx asked, access-log lines received',
        labelNames: ['what'],
        registers: [d.registry],
        collect() {
          const s = plane.stats();
          this.set({ what: 'reloads' }, s.reloads);
          this.set({ what: 'asked' }, s.asked);
          this.set({ what: 'logged' }, s.logged);
        },
      });
      let counted = 0;
      new Counter({
        name: 'gigafab_proxy_nginx_restarts_total',
        help: 'Times gigafab started nginx again after it exited unasked (the nginx data plane)',
        registers: [d.registry],
        collect() {
          const n = plane.stats().restarts;
          this.inc(n - counted);
          counted = n;
        },
      });
    }
  } else if (cfg.workers && cfg.workers > 0) {
    // The HTTP work in worker processes; every admission still decided here (api/proxy/workers.ts).
    const workers = await startProxyWorkers({
      count: cfg.workers,
      port: cfg.port,
      host: cfg.host,
      baseDomain,
      scheme,
      access: new ProxyAccess(deps),
      tickets,
      rates,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    port = workers.port;
    close = () => workers.close();
    settle = () => workers.invalidate();
    if (d.registry) {
      const stats = () => workers.stats();
      new Gauge({
        name: 'gigafab_proxy_worker_admissions',
        help: 'Admissions (since start) the proxy workers asked of the server process while a request waited (asked) or ahead of a remembered one’s expiry (ahead), and those a worker then admitted locally for a while (remembered)',
        labelNames: ['how'],
        registers: [d.registry],
        collect() {
          const s = stats();
          this.set({ how: 'asked' }, s.asked);
          this.set({ how: 'ahead' }, s.ahead);
          this.set({ how: 'remembered' }, s.remembered);
        },
      });
    }
  } else {
    const proxy = createWorkloadProxy({ ...deps, baseDomain, scheme });
    port = await proxy.listen(cfg.port, cfg.host);
    server = proxy.server;
    close = () => proxy.close();
  }
  const links: ProxyLinks = { ...proxyLinks(tickets, baseDomain, cfg.publicPort ?? port, scheme), ...(settle ? { settle } : {}) };
  return { links, url: `${scheme}://*.${baseDomain}:${cfg.publicPort ?? port}`, server, close };
}
