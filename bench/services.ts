/**
 * Services (issue #14): the workload proxy's overhead and the autoscaler's reaction time.
 *
 * Overhead: one replica of the model server (test/fixtures/model-server.mjs) on the local driver;
 * autocannon drives GET /v1/predict at 1, 16 and 64 connections against the replica directly,
 * through nginx (Debian's, `scripts/ensure-nginx.sh`) as a reverse proxy to it, and through
 * gigafab's proxy (token check, tenancy, least in-flight balancing), in one run, `rounds` times;
 * nginx twice: worker_processes 1 and auto; gigafab with GIGAFAB_BENCH_PROXY_WORKERS (default 2)
 * proxy worker processes and, when that is not 0, also with the proxy in the server process (a second
 * server with its own replica of the same model server), and gigafab with its nginx data plane
 * (`--proxy-data-plane nginx`, a server of its own); the medians are reported. Plus a fixed 1,000 requests/s at 16 connections: the p99 the proxy adds.
 *
 * Reaction: a service with 1..2 replicas and 1 request in flight per replica; a load step from 0 to
 * 2 slow requests in flight; the time until the second replica is ready (local driver: a real
 * process passing its readiness probe) or running (sim driver: it reports no reachable endpoint).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, get, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { writeSmallFleet } from '../test/helpers/fleets.js';
import { addLabTenant, startLocalSiteServer } from '../test/helpers/local-site.js';
import { api, REPO, startTestServer, type TestServer } from '../test/helpers/server.js';
import { tenantToken } from '../test/helpers/tenants.js';

const MODEL_SERVER = join(REPO, 'test/fixtures/model-server.mjs');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? null;

/** nginx: worker_processes 1 (one core, like the proxy in the server process); nginx-auto: auto (here 2). */
export interface OverheadRow {
  target: 'direct' | 'nginx' | 'nginx-auto' | 'gigafab' | 'gigafab-in-process' | 'gigafab-base' | 'gigafab-nginx';
  connections: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  errors: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

function limitsFile(): string {
  const p = join(tmpdir(), `gigafab-bench-svc-limits-${process.pid}.yaml`);
  writeFileSync(p, 'rateLimits: { enabled: false }\n');
  return p;
}

async function waitUntil(fn: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await fn()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out: ${what}`);
}

export function startNginx(backend: string, workers: '1' | 'auto'): { url: string; stop(): void } | null {
  if (!NGINX) return null;
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-bench-nginx-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes ${workers}; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  upstream b { server ${backend}; keepalive 64; }
  server { listen 127.0.0.1:${port};
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } } }
`,
  );
  const p = spawn(NGINX, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  return { url: `http://127.0.0.1:${port}`, stop: () => p.kill('SIGTERM') };
}

async function cannon(url: string, connections: number, seconds: number, headers: Record<string, string>, rate?: number) {
  const load = rate ? { overallRate: rate } : {};
  // An untimed lead-in at the same load (GIGAFAB_BENCH_WARMUP_SECONDS, default 1): connections,
  // upstream keep-alives and admission caches are set up before the timed cell, for every target.
  const warm = Number(process.env.GIGAFAB_BENCH_WARMUP_SECONDS ?? 1);
  const warmup = warm > 0 ? { warmup: { connections, duration: warm, ...load } } : {};
  const r = await autocannon({ url, connections, duration: seconds, headers, ...load, ...warmup });
  return {
    requestsPerSecond: Math.round(r.requests.average),
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  };
}

/** Proxy worker processes for the run (`--proxy-workers`; 0: the proxy in the server process). */
const PROXY_WORKERS = Number(process.env.GIGAFAB_BENCH_PROXY_WORKERS ?? 2);

/** A service of one model-server replica (or `command`: a replica listening on $GIGAFAB_PORT) on `server`, ready: the proxy's port, a member's token, the replica. */
export async function readyService(server: TestServer, command: string[] = [process.execPath, MODEL_SERVER]) {
  const port = Number(/workload proxy: http:\/\/\*\.localhost:(\d+)/.exec(server.output())?.[1]);
  const token = await addLabTenant(api(server.url, server.operatorToken), { name: 'B', role: 'member' });
  const user = api(server.url, token);
  const svc = await user('POST', '/v1/services', {
    name: 'bench',
    project: 'lab-ml',
    template: { gpuType: 'L4', gpusPerNode: 1, command },
    readiness: { path: '/healthz', periodSeconds: 0.5, timeoutSeconds: 1, failureThreshold: 1 },
    replicas: 1,
  });
  const id: string = svc.body.id;
  let endpoint = '';
  await waitUntil(async () => {
    const r = (await user('GET', `/v1/services/${id}`)).body.replicas.find((x: { phase: string }) => x.phase === 'ready');
    endpoint = r?.endpoint ?? '';
    return !!endpoint;
  }, 'a ready replica');
  return { port, token, id, endpoint };
}

/** extra: more server flags (e.g. `--proxy-data-plane nginx`). */
export const proxyServer = (workers: number, bin?: string, extra: string[] = []) =>
  startLocalSiteServer(
    'gigafab-bench-svc-',
    '',
    ['--proxy-port', '0', '--proxy-workers', String(workers), '--limits', limitsFile(), ...extra],
    bin,
  );

/**
 * GIGAFAB_BENCH_BASE_BIN: another build's bin/gigafab.js (e.g. a checkout of main, built): its proxy
 * (in the server process, or with GIGAFAB_BENCH_BASE_WORKERS workers) joins the run as `gigafab-base`, on a server and replica of its own — a
 * before/after in one run, which on a shared machine is the only comparison that means something.
 */
const BASE_BIN = process.env.GIGAFAB_BENCH_BASE_BIN || undefined;
/** GIGAFAB_BENCH_BASE_WORKERS: the base build's `--proxy-workers` (default 0: its proxy in the server process). */
export const BASE_WORKERS = Number(process.env.GIGAFAB_BENCH_BASE_WORKERS ?? 0);

/** routedByNginx: until nginx forwards the service itself (its answers say X-Gigafab-Route: nginx). */
export async function routedByNginx(port: number, id: string, token: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const route = await new Promise<unknown>((resolve) => {
      const req = get(
        {
          host: '127.0.0.1',
          port,
          path: '/healthz',
          headers: { host: `${id}.localhost:${port}`, authorization: `Bearer ${token}` },
        },
        (res) => {
          res.resume();
          resolve(res.headers['x-gigafab-route']);
        },
      );
      req.on('error', () => resolve(null));
    });
    if (route === 'nginx') return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('nginx did not route the service');
}

/**
 * benchServiceOverhead: direct, nginx (1 worker and auto), gigafab with `proxyWorkers` worker
 * processes and, when that is not 0, gigafab's proxy in the server process too (a second server
 * with its own replica of the same model server: `gigafab-in-process`), in one run.
 */
export async function benchServiceOverhead(
  connectionCounts = [1, 16, 64],
  seconds = 5,
  rounds = 3,
  proxyWorkers = PROXY_WORKERS,
) {
  const server = await proxyServer(proxyWorkers);
  const inProcess = proxyWorkers > 0 ? await proxyServer(0) : null;
  const base = BASE_BIN ? await proxyServer(BASE_WORKERS, BASE_BIN) : null;
  // gigafab with its nginx data plane (--proxy-data-plane nginx, one nginx worker), where nginx exists.
  const plane = NGINX ? await proxyServer(0, undefined, ['--proxy-data-plane', 'nginx']) : null;
  const nginxProcs: { stop(): void }[] = [];
  try {
    const { port, token, id, endpoint } = await readyService(server);
    const second = inProcess ? await readyService(inProcess) : null;
    const third = base ? await readyService(base) : null;
    const fourth = plane ? await readyService(plane) : null;
    if (fourth) await routedByNginx(fourth.port, fourth.id, fourth.token);
    const nginx = startNginx(endpoint, '1');
    const nginxAuto = startNginx(endpoint, 'auto');
    for (const n of [nginx, nginxAuto]) if (n) nginxProcs.push(n);
    await new Promise((r) => setTimeout(r, 500));
    const path = '/v1/predict?x=42';
    const targets: { target: OverheadRow['target']; url: string; headers: Record<string, string> }[] = [
      { target: 'direct', url: `http://${endpoint}${path}`, headers: {} },
      ...(nginx ? [{ target: 'nginx' as const, url: `${nginx.url}${path}`, headers: {} }] : []),
      ...(nginxAuto ? [{ target: 'nginx-auto' as const, url: `${nginxAuto.url}${path}`, headers: {} }] : []),
      {
        target: 'gigafab',
        url: `http://127.0.0.1:${port}${path}`,
        headers: { host: `${id}.localhost:${port}`, authorization: `Bearer ${token}` },
      },
      ...(second
        ? [
            {
              target: 'gigafab-in-process' as const,
              url: `http://127.0.0.1:${second.port}${path}`,
              headers: { host: `${second.id}.localhost:${second.port}`, authorization: `Bearer ${second.token}` },
            },
          ]
        : []),
      ...(third
        ? [
            {
              target: 'gigafab-base' as const,
              url: `http://127.0.0.1:${third.port}${path}`,
              headers: { host: `${third.id}.localhost:${third.port}`, authorization: `Bearer ${third.token}` },
            },
          ]
        : []),
      ...(fourth
        ? [
            {
              target: 'gigafab-nginx' as const,
              url: `http://127.0.0.1:${fourth.port}${path}`,
              headers: { host: `${fourth.id}.localhost:${fourth.port}`, authorization: `Bearer ${fourth.token}` },
            },
          ]
        : []),
    ];
    const loadAverageBefore = loadavg();
    const raw: (OverheadRow & { round: number; load1: number })[] = [];
    const fixedRate: {
      round: number;
      target: string;
      latencyP50Ms: number;
      latencyP99Ms: number;
      errors: number;
      load1: number;
    }[] = [];
    for (let round = 1; round <= rounds; round++) {
      // Every other round the targets go in the opposite order: none always follows the same one.
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const connections of connectionCounts) {
        for (const t of order)
          raw.push({
            round,
            target: t.target,
            connections,
            ...(await cannon(t.url, connections, seconds, t.headers)),
            load1: loadavg()[0],
          });
      }
      for (const t of order) {
        const r = await cannon(t.url, 16, seconds, t.headers, 1000);
        fixedRate.push({
          round,
          target: t.target,
          latencyP50Ms: r.latencyP50Ms,
          latencyP99Ms: r.latencyP99Ms,
          errors: r.errors,
          load1: loadavg()[0],
        });
      }
    }
    const medians: OverheadRow[] = [];
    for (const connections of connectionCounts) {
      for (const t of targets) {
        const rs = raw.filter((r) => r.target === t.target && r.connections === connections);
        medians.push({
          target: t.target,
          connections,
          requestsPerSecond: median(rs.map((r) => r.requestsPerSecond)),
          latencyP50Ms: median(rs.map((r) => r.latencyP50Ms)),
          latencyP99Ms: median(rs.map((r) => r.latencyP99Ms)),
          errors: rs.reduce((a, r) => a + r.errors, 0),
        });
      }
    }
    const atRate = targets.map((t) => {
      const rs = fixedRate.filter((r) => r.target === t.target);
      return {
        target: t.target,
        latencyP50Ms: median(rs.map((r) => r.latencyP50Ms)),
        latencyP99Ms: median(rs.map((r) => r.latencyP99Ms)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
      };
    });
    const loadAverage = loadavg();
    // The local driver leaves replicas running across a server stop (by design): delete the services.
    await api(server.url, token)('DELETE', `/v1/services/${id}`);
    if (inProcess && second) await api(inProcess.url, second.token)('DELETE', `/v1/services/${second.id}`);
    if (base && third) await api(base.url, third.token)('DELETE', `/v1/services/${third.id}`);
    if (plane && fourth) await api(plane.url, fourth.token)('DELETE', `/v1/services/${fourth.id}`);
    return {
      proxyWorkers,
      baseBin: BASE_BIN ?? null,
      baseWorkers: BASE_BIN ? BASE_WORKERS : null,
      medians,
      atRate,
      raw,
      fixedRate,
      nginx: NGINX !== null,
      loadAverageBefore,
      loadAverage,
    };
  } finally {
    for (const n of nginxProcs) n.stop();
    await server.stop();
    await inProcess?.stop();
    await base?.stop();
    await plane?.stop();
  }
}

/** hold: `n` slow requests in flight through the proxy until stop() (the load step). */
function hold(port: number, id: string, token: string, n: number) {
  const agent = new Agent({ keepAlive: true });
  let running = true;
  const loops = Array.from({ length: n }, async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/v1/predict?x=1&ms=1000',
            agent,
            headers: { host: `${id}.localhost:${port}`, authorization: `Bearer ${token}` },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve());
          },
        );
        req.on('error', () => resolve());
        req.end();
      });
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
    agent.destroy();
  };
}

async function reactionOnce(server: TestServer, token: string, template: Record<string, unknown>, until: 'ready' | 'running') {
  const user = api(server.url, token);
  const svc = await user('POST', '/v1/services', {
    name: `react-${Date.now().toString(36)}`,
    project: (template.project as string) ?? 'lab-ml',
    template: template.template,
    readiness: { path: '/healthz', periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 1 },
    minReplicas: 1,
    maxReplicas: 2,
    targetInFlightPerReplica: 1,
    scaleDownDelaySeconds: 1,
  });
  const id: string = svc.body.id;
  type R = { jobId: string; phase: string };
  const count = async () => {
    const rs: R[] = (await user('GET', `/v1/services/${id}`)).body.replicas;
    if (until === 'ready') return rs.filter((r) => r.phase === 'ready').length;
    let n = 0;
    for (const r of rs) if ((await user('GET', `/v1/jobs/${r.jobId}`)).body.state === 'running') n++;
    return n;
  };
  await waitUntil(async () => (await count()) === 1, 'the first replica');
  const port = Number(/workload proxy: http:\/\/\*\.localhost:(\d+)/.exec(server.output())?.[1]);
  // The load step: two slow requests in flight. On the sim driver no endpoint resolves, so they wait
  // in the cold-start queue instead, which the autoscaler counts as load just the same.
  const stop = hold(port, id, token, 2);
  const ms = await waitUntil(async () => (await count()) === 2, `the second replica ${until}`);
  await stop();
  await user('DELETE', `/v1/services/${id}`);
  return ms;
}

export async function benchServiceReaction(rounds = 3) {
  const local = await startLocalSiteServer('gigafab-bench-react-', '', ['--proxy-port', '0', '--limits', limitsFile()]);
  const localMs: number[] = [];
  try {
    const token = await addLabTenant(api(local.url, local.operatorToken), { name: 'B', role: 'member' });
    for (let i = 0; i < rounds; i++) {
      localMs.push(
        await reactionOnce(
          local,
          token,
          { template: { gpuType: 'L4', gpusPerNode: 1, command: [process.execPath, MODEL_SERVER] } },
          'ready',
        ),
      );
    }
  } finally {
    await local.stop();
  }
  const sim = await startTestServer({
    fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-bench-react-sim-'))),
    extraArgs: ['--proxy-port', '0', '--limits', limitsFile()],
  });
  const simMs: number[] = [];
  try {
    const op = api(sim.url, sim.operatorToken);
    await op('POST', '/v1/orgs', { id: 'lab', name: 'Lab', kind: 'research' });
    await op('POST', '/v1/orgs/lab/projects', { id: 'lab-ml' });
    await op('PUT', '/v1/projects/lab-ml/quotas/B200', { gpus: 16 });
    const token = await tenantToken(op, 'lab', { name: 'B', role: 'member' });
    for (let i = 0; i < rounds; i++) {
      simMs.push(await reactionOnce(sim, token, { template: { gpuType: 'B200', gpusPerNode: 1 } }, 'running'));
    }
  } finally {
    await sim.stop();
  }
  return {
    localReadyMs: localMs,
    localMedianMs: median(localMs),
    simRunningMs: simMs,
    simMedianMs: median(simMs),
    loadAverage: loadavg(),
  };
}
