/**
 * The nginx data plane (`--proxy-data-plane nginx`): gigafab writes an nginx config into its state
 * directory, runs nginx itself (no root: it listens on the proxy's port) and reloads it (SIGHUP)
 * when a workload's ready replicas change. nginx forwards the bytes; gigafab still decides:
 * - routes: each workload a source can route now (ProxyTargetSource.routes: services with a ready
 *   replica) gets a server block for its host and an upstream of its replicas (least_conn, kept
 *   alive, idempotent requests retried on another replica after a connection error or timeout —
 *   nginx's default for proxy_next_upstream). Every other host (sessions, tunnels, open links, a
 *   service that is cold, scaled to zero or unknown) goes to gigafab's own proxy on loopback, which
 *   answers as it always does (404, 503 with Retry-After, the cold-start queue).
 * - admission: nginx asks this process (auth_request) for every request of a routed host; the answer
 *   is ProxyAccess.admit, the one set of rules the in-process proxy and its workers use. A denial
 *   comes back as the proxy's problem JSON, rendered here. nginx keeps an admission for
 *   ADMISSION_TTL_MS keyed on workload, Authorization and our cookie — only what the workers may
 *   remember (a tenant's own access or a public service's key; never an operator's lockbox pass), and
 *   an admission decided across an invalidation is not kept. invalidate() (the API's settle after
 *   every state-changing request) removes every kept admission.
 * - load and statistics: nginx logs each request of a routed host (syslog over UDP to this process):
 *   every attempt on a replica becomes the source's requestStarted/requestEnded, with nginx's status
 *   and time. The start is known only when the line arrives (the end), so a request counts as in
 *   flight for its own duration, starting when it ended: the same time integral (Little's law: the
 *   autoscaler's average in flight is right), late by one request's duration. Admissions nginx
 *   answered from its cache are counted into the rate limits from the same lines; one over a limit
 *   empties the cache, so the next request is asked and hears 429.
 * - supervision (nginx-process.ts): nginx runs in a process group of its own and is started again
 *   when it dies (stats().restarts, /metrics gigafab_proxy_nginx_restarts_total).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import type { ProxyTarget, ProxyTargetSource } from '../../model/workloads.js';
import type { RateLimits } from '../rate-limit.js';
import { requireListenerClassified } from '../route-classes.js';
import type { ProxyAccess } from './access.js';
import { listenAddr, nginxConfig, PROBLEM_HEADER, problemHeaderValue, SECRET_HEADER } from './nginx-config.js';
import { type NginxProcess, startNginxProcess } from './nginx-process.js';
import { ApiProblem, asProblem, sendProblem } from './problem.js';
import { ADMISSION_TTL_MS, rememberable, type WireProblem, wireProblem } from './workers.js';

/**
 * What the control listener and the log socket serve, each classified in route-classes.ts
 * (LISTENER_ROUTE_CLASSES) or the plane is refused. Both are on loopback and answer only nginx: the
 * control listener wants the secret header, a log line the secret after its tag (a process on this
 * host could otherwise forge a tenant's traffic: its autoscaling, its statistics, its rate limits).
 */
export const CONTROL_ROUTES: readonly string[] = ['ANY /admit', 'GET /denial'];
export const LOG_ROUTES: readonly string[] = ['UDP gf1'];

export interface NginxPlaneOptions {
  /** The nginx binary. */
  nginx: string;
  /** Where nginx listens for clients (the proxy's address; 0 picks a free port). */
  host: string;
  port: number;
  /** nginx's config, pid, logs and temporary files (created; 0700). */
  stateDir: string;
  baseDomain: string;
  scheme: 'http' | 'https';
  /** gigafab's own proxy on loopback (started with behindNginx): every host nginx does not route. */
  fallbackPort: number;
  /** The secret that proxy wants with nginx's X-Real-IP (its behindNginx.secret). */
  fallbackSecret: string;
  access: ProxyAccess;
  sources: readonly ProxyTargetSource[];
  rates: RateLimits;
  /** nginx worker processes (default 1). */
  workers?: number;
  /** How often the routes are compared with the config nginx runs (default 250 ms). */
  syncMs?: number;
  log?: (line: string) => void;
}

export interface NginxPlane {
  /** The port nginx listens on. */
  port: number;
  /** Every admission nginx keeps is forgotten (resolves once the cache is emptied). */
  invalidate(): Promise<void>;
  /** Routes compared with nginx's now; resolves once a changed config is written and nginx signalled. */
  sync(): Promise<void>;
  /** For tests and /metrics: reloads, admissions asked, log lines counted, restarts after nginx died. */
  stats(): { reloads: number; asked: number; logged: number; restarts: number };
  close(): Promise<void>;
}

interface Route {
  target: ProxyTarget;
  source: ProxyTargetSource;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** How often logged attempts end and cache hits are counted into the rate limits (one timer for all). */
const BATCH_MS = 20;
/** freePort: a port nothing listens on now (nginx cannot be given 0: each reload would pick anew). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createTcpServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * stopStale: what a gigafab killed without its shutdown left in `prefix` — its nginx (still on the
 * port; found by its pid file and its command line) and its admission cache (credentials as keys).
 */
async function stopStale(prefix: string): Promise<void> {
  const read = (f: string) => {
    try {
      return readFileSync(join(prefix, f), 'utf8').trim();
    } catch {
      return '';
    }
  };
  const old = read('admissions-dir');
  if (old.includes('gigafab-nginx-admissions-')) rmSync(old, { recursive: true, force: true });
  const pid = Number(read('nginx.pid'));
  if (!Number.isInteger(pid) || pid <= 0) return;
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!alive(pid) || !cmd.includes('nginx') || !cmd.includes(join(prefix, 'nginx.conf'))) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
}

/** alive: a process that runs (not gone, not a zombie nobody reaped yet). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** startNginxPlane: the control listener, the log listener, then nginx; resolves once nginx listens. */
export async function startNginxPlane(o: NginxPlaneOptions): Promise<NginxPlane> {
  requireListenerClassified('nginx-control', CONTROL_ROUTES);
  requireListenerClassified('nginx-log', LOG_ROUTES);
  // Written into the config as is: a name, nothing nginx would read as syntax.
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(o.baseDomain)) throw new Error(`not a domain for nginx: ${o.baseDomain}`);
  const prefix = o.stateDir;
  mkdirSync(join(prefix, 'tmp'), { recursive: true, mode: 0o700 });
  // Cached admissions are keyed on credentials: kept in memory (/dev/shm) where there is one, never
  // beyond this run (removed at start and at close).
  await stopStale(prefix);
  const shm = existsSync('/dev/shm') ? '/dev/shm' : prefix;
  const cacheDir = mkdtempSync(join(shm, 'gigafab-nginx-admissions-'));
  writeFileSync(join(prefix, 'admissions-dir'), cacheDir, { mode: 0o600 });
  const secret = randomBytes(24).toString('hex');
  const counts = { reloads: 0, asked: 0, logged: 0 };
  let generation = 0;
  let routes = new Map<string, Route>();
  // Attempts logged but not yet ended (they count as in flight for their duration), and requests
  // admitted from nginx's cache not yet counted into the rate limits: both handled by one timer
  // every BATCH_MS rather than a timer and two limiter calls per request — per-request work here
  // competes for the cores nginx and the replicas use (it added ~10 ms at p99 at 1,000 requests/s).
  const pendingEnds: { due: number; end: () => void }[] = [];
  const cachedByIp = new Map<string, { org: string; n: number }[]>();
  let batchTimer: NodeJS.Timeout | undefined;
  const flushBatch = (all: boolean) => {
    batchTimer = undefined;
    const now = Date.now();
    let kept = 0;
    for (const p of pendingEnds) {
      if (all || p.due <= now) p.end();
      else pendingEnds[kept++] = p;
    }
    pendingEnds.length = kept;
    const byOrg = new Map<string, number>();
    for (const [ip, orgs] of cachedByIp) {
      let n = 0;
      for (const o of orgs) {
        n += o.n;
        byOrg.set(o.org, (byOrg.get(o.org) ?? 0) + o.n);
      }
      countCached('address', ip, n);
    }
    for (const [org, n] of byOrg) countCached('org', org, n);
    cachedByIp.clear();
    if (!all && pendingEnds.length > 0) armBatch();
  };
  const armBatch = () => {
    batchTimer ??= setTimeout(() => flushBatch(false), BATCH_MS);
  };

  const emptyCache = () => {
    for (const e of readdirSync(cacheDir)) rmSync(join(cacheDir, e), { recursive: true, force: true });
  };

  // --- admission (auth_request) and the rendering of denials -------------------------------------
  const admit = async (req: IncomingMessage, res: ServerResponse) => {
    const workloadId = String(req.headers['x-gigafab-workload'] ?? '');
    const gen = generation;
    counts.asked++;
    try {
      const r = {
        workloadId,
        authorization: req.headers.authorization,
        cookie: req.headers.cookie,
        ip: String(req.headers['x-real-ip'] ?? 'unknown'),
        requestId: randomUUID(),
        via: 'token' as const,
      };
      const adm = await o.access.admit(r);
      if (adm.target.protocol === 'tcp')
        throw new ApiProblem(400, 'tunnel_only', `${workloadId} is reached only through the tunnel`);
      const keep = gen === generation && rememberable(adm, r);
      res.writeHead(200, { 'x-accel-expires': keep ? String(Math.ceil(ADMISSION_TTL_MS / 1000)) : '0', 'content-length': '0' });
      res.end();
    } catch (err) {
      // 403 is what auth_request passes on; the real status travels in the problem.
      res.writeHead(403, {
        [PROBLEM_HEADER]: problemHeaderValue(wireProblem(err)),
        'x-accel-expires': '0',
        'content-length': '0',
      });
      res.end();
    }
  };

  const render = (req: IncomingMessage, res: ServerResponse) => {
    const path = String(req.headers['x-original-uri'] ?? '/');
    let p: ApiProblem;
    try {
      const w = JSON.parse(Buffer.from(String(req.headers[PROBLEM_HEADER]), 'base64url').toString('utf8')) as WireProblem;
      // Only ever a denial: nothing rendered here may read as a success.
      if (!Number.isInteger(w.status) || w.status < 400 || w.status > 599) throw new Error('not a denial');
      p = new ApiProblem(w.status, w.code, w.detail, undefined, w.retryAfterSeconds);
    } catch {
      p = asProblem(new Error('no problem to render'));
    }
    sendProblem(res, p, path);
  };

  const control: Server = createServer((req, res) => {
    req.resume();
    if (req.headers[SECRET_HEADER] !== secret) {
      res.writeHead(404, { 'content-length': '0' }).end();
      return;
    }
    // By path alone: a client's headers reach /admit through auth_request (nginx clears the
    // problem header there too), and a rendered "denial" with a 2xx status would be an admission.
    if (req.url === '/admit') return void admit(req, res);
    if (req.url === '/denial' && req.method === 'GET') return render(req, res);
    res.writeHead(404, { 'content-length': '0' }).end();
  });
  const controlPort = await new Promise<number>((resolve, reject) => {
    control.once('error', reject);
    control.listen(0, '127.0.0.1', () => {
      const a = control.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });

  // --- nginx's access log: load, statistics, rate limits ------------------------------------------
  const tag = `gf1|${secret}|`;
  const onLine = (line: string) => {
    const at = line.indexOf(tag);
    if (at < 0) return;
    counts.logged++;
    const [wl, ip, cache, , addrs, statuses, times] = line
      .slice(at + tag.length)
      .trimEnd()
      .split('|');
    const route = routes.get(wl ?? '');
    if (!route) return;
    if (cache === 'HIT') {
      const key = ip ?? 'unknown';
      const list = cachedByIp.get(key) ?? [];
      const same = list.find((x) => x.org === route.target.org);
      if (same) same.n++;
      else list.push({ org: route.target.org, n: 1 });
      cachedByIp.set(key, list);
      armBatch();
    }
    // Attempts are ", "-separated; " : " separates those before and after an internal redirect.
    const list = (s: string | undefined) => (s ?? '').replaceAll(' : ', ', ').split(', ');
    const a = list(addrs);
    const st = list(statuses);
    const tm = list(times);
    a.forEach((addr, i) => {
      const u = route.target.upstreams.find((x) => listenAddr(x.host, x.port) === addr);
      if (!u) return; // gigafab's own proxy (counted there) or nothing
      const status = Number(st[i]);
      const ms = Math.max(0, Math.round(Number(tm[i]) * 1000) || 0);
      route.source.requestStarted(route.target, u);
      const result = { status: Number.isFinite(status) && status > 0 ? status : null, ms };
      pendingEnds.push({ due: Date.now() + ms, end: () => route.source.requestEnded(route.target, u, result) });
      armBatch();
    });
  };

  const countCached = (what: 'address' | 'org', key: string, n: number) => {
    const over = (err: unknown) => {
      if (asProblem(err).status === 429) void invalidate();
    };
    (what === 'address' ? o.rates.address(key, n) : o.rates.workloadOrg(key, n)).catch(over);
  };

  const logs: Socket = createSocket('udp4');
  logs.on('message', (m) => onLine(m.toString('utf8')));
  const logPort = await new Promise<number>((resolve) => logs.bind(0, '127.0.0.1', () => resolve(logs.address().port)));

  // --- nginx itself ---------------------------------------------------------------------------
  const port = o.port === 0 ? await freePort(o.host) : o.port;
  const confPath = join(prefix, 'nginx.conf');
  let written = '';
  let writes = 0;
  const write = (rs: readonly ProxyTarget[]): boolean => {
    const text = nginxConfig({
      prefix,
      cacheDir,
      host: o.host,
      port,
      baseDomain: o.baseDomain,
      scheme: o.scheme,
      fallbackPort: o.fallbackPort,
      fallbackSecret: o.fallbackSecret,
      controlPort,
      logPort,
      secret,
      workers: o.workers ?? 1,
      routes: rs,
    });
    if (text === written) return false;
    writeFileSync(`${confPath}.new`, text, { mode: 0o600 });
    renameSync(`${confPath}.new`, confPath);
    written = text;
    writes++;
    return true;
  };

  const routable = (t: ProxyTarget) => (t.protocol ?? 'http') === 'http' && LABEL.test(t.workloadId) && t.upstreams.length > 0;
  const current = async (): Promise<Map<string, Route>> => {
    const m = new Map<string, Route>();
    for (const source of o.sources) {
      for (const target of (await source.routes?.()) ?? []) {
        if (routable(target) && !m.has(target.workloadId)) m.set(target.workloadId, { target, source });
      }
    }
    return m;
  };

  routes = await current();
  write([...routes.values()].map((r) => r.target));
  const probe = o.host === '0.0.0.0' ? '127.0.0.1' : o.host === '::' ? '::1' : o.host;
  let closing = false;
  let nginx: NginxProcess;
  try {
    nginx = await startNginxProcess({ nginx: o.nginx, prefix, confPath, probe, port, version: () => writes, log: o.log });
  } catch (err) {
    control.close();
    logs.close();
    rmSync(cacheDir, { recursive: true, force: true });
    throw err;
  }

  let syncing: Promise<void> | null = null;
  const sync = (): Promise<void> => {
    syncing ??= (async () => {
      try {
        const next = await current();
        routes = next;
        if (write([...next.values()].map((r) => r.target)) && !closing) {
          counts.reloads++;
          nginx.reload();
        }
      } catch (err) {
        o.log?.(`nginx data plane: routes not updated (${(err as Error).message})`);
      } finally {
        syncing = null;
      }
    })();
    return syncing;
  };
  const timer = setInterval(() => void sync(), o.syncMs ?? 250);
  timer.unref();

  const invalidate = async (): Promise<void> => {
    generation++;
    emptyCache();
  };

  return {
    port,
    invalidate,
    sync,
    stats: () => ({ ...counts, restarts: nginx.restarts() }),
    async close() {
      closing = true;
      clearInterval(timer);
      await syncing;
      await nginx.stop();
      if (batchTimer) clearTimeout(batchTimer);
      flushBatch(true);
      await new Promise<void>((resolve) => {
        control.close(() => resolve());
        control.closeAllConnections();
      });
      logs.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}
