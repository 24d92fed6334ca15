/**
 * Composition root of `gigafab server`: store, fleet, driver, control plane, API. Kept short on purpose.
 */

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { createApp } from '../api/app.js';
import { createSiteDrivers, type DriverConfigInput } from '../drivers/config.js';
import type { WorkloadProbes } from '../drivers/kubernetes/workload.js';
import { loadFleetFile } from '../fleet/load-fleet.js';
import { AuditLog } from '../server/audit/index.js';
import { startDemoLoad } from '../server/demo-load.js';
import { startFleetHistory } from '../server/fleet-history.js';
import { loadLimitsFile } from '../server/limits.js';
import { Lockbox } from '../server/lockbox/index.js';
import { createLogger, type LogLevel } from '../server/logger.js';
import { loadOidcFile, OidcAuthenticator } from '../server/oidc.js';
import { loadPolicyFile } from '../server/policy.js';
import { registerRoleMetrics } from '../server/replica/role-metrics.js';
import { SchedulerRole } from '../server/replica/scheduler-role.js';
import { bootstrapOperator, type TokenPolicy } from '../server/tenancy/index.js';
import { openLeaseDb, openStore } from '../store/open-store.js';
import { SchedulerLease } from '../store/scheduler-lease.js';
import { runtimeWarning } from './runtime-support.js';
import { wireControlPlane } from './wire-control-plane.js';
import { type ProxyConfig, startWorkloadProxy } from './workload-proxy.js';

export interface ServerOptions {
  port: number;
  host: string;
  dataDir: string;
  /** PostgreSQL URL (libpq form); unset: the embedded SQLite file in dataDir. */
  databaseUrl?: string;
  fleetPath?: string;
  /** Scheduling policy YAML (see policy.ts); default: the built-in policy. */
  policyPath?: string;
  /** OIDC login config YAML (see oidc.ts); default: API tokens only. */
  oidcPath?: string;
  /** Resource limits YAML (see limits.ts); default: the built-in limits. */
  limitsPath?: string;
  timeScale: number;
  demoLoad: boolean;
  /** Lifetime of new API tokens (default and maximum, days); default 90 and 365. */
  tokenPolicy?: TokenPolicy;
  /** Print the banner (URL, token) to stdout. */
  quiet?: boolean;
  /** JSON logs on stderr from this level on (default info; `silent` turns them off). */
  logLevel?: LogLevel;
  /** The workload proxy for sessions and services (its own listener); absent: none runs. */
  proxy?: Omit<ProxyConfig, 'host' | 'nginx'> & { nginx?: { bin?: string; workers?: number } };
}

export const VERSION = '0.1.0';

export async function startServer(opts: ServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const dataDir = resolve(opts.dataDir);
  const fleet = loadFleetFile(opts.fleetPath);
  const policy = loadPolicyFile(opts.policyPath);
  const limits = loadLimitsFile(opts.limitsPath);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lock = takeLock(dataDir);
  const store = await openStore({ dataDir, databaseUrl: opts.databaseUrl });
  // Replicas' probes come from the services, wired below: the driver asks late.
  let probesOf: (serviceId: string) => WorkloadProbes | undefined = () => undefined;
  const driver = createSiteDrivers(
    fleet.sites.map((s) => ({
      site: s.id,
      nodes: fleet.nodes.filter((n) => n.site === s.id).map((n) => n.id),
      driver: s.driver as DriverConfigInput | undefined,
    })),
    { timeScale: opts.timeScale, probesOf: (id) => probesOf(id) },
  );
  const audit = new AuditLog(store, dataDir);
  await audit.sealBacklog(); // from here on every write transaction seals its own records
  const oidc = opts.oidcPath ? new OidcAuthenticator(loadOidcFile(opts.oidcPath), store) : null;
  // Several replicas on one PostgreSQL database: only the lease holder schedules (src/server/replica).
  const leaseDb = store.dialect === 'postgres' && opts.databaseUrl ? await openLeaseDb(opts.databaseUrl) : undefined;
  const lease = new SchedulerLease(store, undefined, undefined, leaseDb);
  const { cp, tenancy, keys, residency, datasetManifests, metrics, services } = await wireControlPlane({
    store,
    fleet,
    driver,
    policy,
    limits,
    dataDir,
    tokenPolicy: opts.tokenPolicy,
    oidc,
    // Cycles say which leader ran them; on SQLite there is one process and no term to tell.
    schedulerTerm: store.dialect === 'postgres' ? () => lease.view().token : undefined,
  });
  probesOf = (id) => services.loop.probesOf(id);
  let resync = () => {};
  if (store.dialect === 'postgres')
    store.setFence(
      (trx) => lease.fence(trx),
      () => resync(),
    );
  const role = new SchedulerRole(
    lease,
    cp,
    {
      // Restrictions set through other replicas count from the takeover on.
      afterTakeOver: async () => {
        await keys.restrictions.load();
        await keys.restrictions.holdRecovered();
        // The services' replica loop submits and stops replicas: only the leader runs it.
        services.loop.start();
      },
      // A restriction set or lifted through another replica: refused submissions here, held jobs on the leader.
      // A budget set through another replica: admission here, the budget gate on the leader (poked: a
      // raised cap may start waiting jobs at once). Prices are read from the store at every use.
      refresh: async (leader) => {
        // Organisations with queued jobs, from the queue's per-organisation counts (no walk over the jobs).
        const held = () => new Set([...cp.state.queue.orgs()].filter((o) => cp.hooks.holdReason?.(o)));
        const before = held();
        await keys.restrictions.load();
        const budgetsChanged = await cp.budgets.figures.refresh();
        if (!leader) return;
        if (budgetsChanged) cp.wake();
        await keys.restrictions.holdRecovered();
        const after = held();
        if (after.size !== before.size || [...after].some((o) => !before.has(o))) cp.wake(); // lifted: schedule now
      },
    },
    store.dialect === 'postgres',
  );
  resync = () => role.resync();
  registerRoleMetrics(metrics.registry, () => role.view());
  const recovered = await role.start();
  const operator = await bootstrapOperator(store, dataDir);
  let ready = false;
  const lockbox = new Lockbox(store);
  const proxy = opts.proxy
    ? await startWorkloadProxy(
        {
          ...opts.proxy,
          host: opts.host,
          nginx: { ...opts.proxy.nginx, stateDir: join(dataDir, 'nginx') },
        },
        { cp, tenancy, lockbox, limits, services, registry: metrics.registry },
      )
    : null;
  const app = createApp({
    proxy: proxy?.links,
    cp,
    cluster: cp.cluster,
    ops: cp.ops,
    tenancy,
    audit,
    lockbox,
    keys,
    residency,
    datasetManifests,
    services,
    limits,
    registry: metrics.registry,
    isReady: () => ready,
    replica: () => role.view(),
    version: VERSION,
    logger: createLogger({ level: opts.logLevel }),
  });

  const server = serve({
    fetch: app.fetch,
    port: opts.port,
    hostname: opts.host,
    // Slow clients (slowloris): headers and the whole request must arrive in time; responses may stream longer.
    serverOptions: {
      headersTimeout: limits.http.headersTimeoutSeconds * 1000,
      requestTimeout: limits.http.requestTimeoutSeconds * 1000,
      keepAliveTimeout: limits.http.keepAliveTimeoutSeconds * 1000,
      connectionsCheckingInterval: Math.min(1000, limits.http.headersTimeoutSeconds * 500),
    },
  });
  await new Promise<void>((res, rej) => {
    server.once('listening', () => res());
    server.once('error', rej);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  // The services' replica loop submits and stops replicas: only the leader runs it.
  if (role.view().role === 'leader') services.loop.start();
  startFleetHistory(cp);
  const stopDemo = opts.demoLoad ? await startDemoLoad(cp, tenancy, fleet) : null;
  ready = true;

  if (!opts.quiet) {
    const lines = [
      `gigafab ${VERSION} listening on ${url}`,
      `  fleet: ${fleet.spec.name} (${fleet.totalGpus.toLocaleString('en')} GPUs, ${fleet.nodes.length} nodes, ${fleet.sites.length} sites)`,
      `  data:  ${store.location}`,
      `  recovered: ${recovered.queued} queued, ${recovered.running} running jobs`,
      `  scheduler: ${recovered.role}${store.dialect === 'postgres' ? ` (lease ${lease.holder}, fencing token ${lease.view().token})` : ''}`,
      `  API docs: ${url}/v1/docs`,
      ...(proxy
        ? [
            `  workload proxy: ${proxy.url}${opts.proxy?.dataPlane === 'nginx' ? ' (nginx data plane)' : opts.proxy?.workers ? ` (${opts.proxy.workers} worker processes)` : ''}`,
          ]
        : []),
      operator.token
        ? `  operator token (shown once, also saved to ${operator.path}):\n  ${operator.token}`
        : `  operator token: see ${operator.path}`,
      `  try: GIGAFAB_URL=${url} GIGAFAB_TOKEN=$(cat ${operator.path}) npx gigafab fleet show`,
    ];
    const runtime = runtimeWarning(process.versions.node);
    if (runtime) lines.push(`  warning: ${runtime}`);
    console.log(lines.join('\n'));
  }

  let closed = false;
  return {
    url,
    async close() {
      if (closed) return;
      closed = true;
      stopDemo?.();
      await services.loop.stop();
      await role.stop(); // stops the cycles and hands the lease over at once
      await leaseDb?.destroy();

      await audit.stop();
      // Live streams (SSE events, followed logs) would hold close() open for ever: after a short
      // grace every connection is ended (clients reconnect to the next server).
      await new Promise<void>((r) => {
        server.close(() => r());
        // serve() makes a plain node:http server here (no TLS, no HTTP/2).
        const http = server as HttpServer;
        http.closeIdleConnections();
        setTimeout(() => http.closeAllConnections(), 2000).unref();
      });
      await proxy?.close();
      await driver.close();
      await store.close();
      lock.release();
    },
  };
}

/** One server per data directory; a stale lock from a killed process is taken over. */
function takeLock(dataDir: string) {
  const path = join(dataDir, 'server.pid');
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, 'utf8'));
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new Error(`another gigafab server (pid ${pid}) is using ${dataDir}`);
    }
  }
  writeFileSync(path, String(process.pid));
  return { release: () => rmSync(path, { force: true }) };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
