/**
 * Proxy latency at a fixed rate (issue 14: "added p99 < 2 ms at 1,000 requests/s"), and where the
 * added p99 comes from. One run, the same autocannon client for every target: the replica directly,
 * nginx (1 worker) in front of it, a bare Node.js reverse proxy (bare-node-proxy.ts: the floor of any
 * proxy written in Node here), gigafab's proxy in the server process, and gigafab with proxy
 * workers (each on a server and replica of its own; GIGAFAB_BENCH_BASE_BIN adds another build's
 * proxy, with GIGAFAB_BENCH_BASE_WORKERS workers, as `gigafab-base-workers-N`). While each target runs, the event-loop delay of every
 * process involved is sampled (perf_hooks.monitorEventLoopDelay, loaded into the servers with
 * `--import`, and in this process, the load generator): a proxy whose loop is held by other work
 * shows it there. Also the servers' loops with the proxy idle (their background work only).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { api, type TestServer } from '../test/helpers/server.js';
import { BASE_WORKERS, proxyServer, readyService, routedByNginx, startNginx } from './services.js';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
const r2 = (x: number) => Math.round(x * 100) / 100;

/** cpuMs: a process's CPU time so far (user + system, from /proc; 0 where there is none). */
function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** startBareNodeProxy: bench/bare-node-proxy.ts in a process of its own, in front of `backend`. */
function startBareNodeProxy(backend: string, hook: string): Promise<{ url: string; pid: number; stop(): void }> {
  const script = fileURLToPath(new URL('./bare-node-proxy.js', import.meta.url));
  const p = spawn(process.execPath, ['--import', hook, script, backend], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    p.once('exit', (code) => reject(new Error(`bare-node-proxy exited with ${code}`)));
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      const m = /listening (\d+)/.exec(d);
      if (m) resolve({ url: `http://127.0.0.1:${m[1]}`, pid: p.pid ?? 0, stop: () => p.kill('SIGTERM') });
    });
  });
}

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].some((p) => existsSync(p));

/** The hook every server process loads: its event-loop delay every 500 ms, one JSON line. */
const HOOK = `import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { appendFileSync } from 'node:fs';
import cluster from 'node:cluster';
const out = process.env.GIGAFAB_BENCH_ELD_OUT;
if (out) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  setInterval(() => {
    appendFileSync(out, JSON.stringify({ t: Date.now(), pid: process.pid, ppid: process.ppid, worker: cluster.isWorker,
      p99: h.percentile(99) / 1e6, max: h.max / 1e6 }) + '\\n');
    h.reset();
  }, 500).unref();
}
`;

interface EldLine {
  t: number;
  pid: number;
  ppid: number;
  worker: boolean;
  p99: number;
  max: number;
}

export interface LatencyRow {
  round: number;
  target: string;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  requestsPerSecond: number;
  errors: number;
  /** Event-loop delay (ms) of the proxy's processes while this ran: the worst 500 ms window's p99, and the max. */
  proxyLoopP99Ms: number | null;
  proxyLoopMaxMs: number | null;
  /** The same for the load generator (this process). */
  clientLoopP99Ms: number;
  /** CPU time of the proxy's processes (server and workers, all their work) per request, µs. */
  proxyCpuUsPerRequest: number | null;
  load1: number;
}

/** WARMUP_SECONDS: each cell's untimed lead-in at the same load (GIGAFAB_BENCH_WARMUP_SECONDS, default 1; 0: none). */
const WARMUP_SECONDS = Number(process.env.GIGAFAB_BENCH_WARMUP_SECONDS ?? 1);

/** benchProxyLatency: `rounds` rounds of `seconds` at `rate` requests/s over `connections` for each target. */
export async function benchProxyLatency(rate = 1000, connections = 16, seconds = 5, rounds = 3, workerCounts = [2, 1]) {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-bench-latency-'));
  const hook = join(dir, 'eld.mjs');
  const eldOut = join(dir, 'eld.jsonl');
  writeFileSync(hook, HOOK);
  writeFileSync(eldOut, '');
  process.env.GIGAFAB_TEST_NODE_ARGS = `${process.env.GIGAFAB_TEST_NODE_ARGS ?? ''} --import ${hook}`.trim();
  process.env.GIGAFAB_BENCH_ELD_OUT = eldOut;
  const baseBin = process.env.GIGAFAB_BENCH_BASE_BIN || undefined;
  const servers: { name: string; server: TestServer }[] = [];
  const nginxProcs: { stop(): void }[] = [];
  try {
    servers.push({ name: 'gigafab-in-process', server: await proxyServer(0) });
    for (const n of workerCounts) servers.push({ name: `gigafab-workers-${n}`, server: await proxyServer(n) });
    // nginx as gigafab's data plane (api/proxy/nginx-plane.ts): nginx forwards, gigafab admits.
    if (NGINX) servers.push({ name: 'gigafab-nginx', server: await proxyServer(0, undefined, ['--proxy-data-plane', 'nginx']) });
    if (baseBin) servers.push({ name: `gigafab-base-workers-${BASE_WORKERS}`, server: await proxyServer(BASE_WORKERS, baseBin) });
    const path = '/v1/predict?x=42';
    const targets: { target: string; url: string; headers: Record<string, string>; pid: number | null }[] = [];
    const services: { server: TestServer; token: string; id: string }[] = [];
    let endpoint = '';
    for (const s of servers) {
      const svc = await readyService(s.server);
      services.push({ server: s.server, token: svc.token, id: svc.id });
      if (!endpoint) endpoint = svc.endpoint;
      if (s.name === 'gigafab-nginx') await routedByNginx(svc.port, svc.id, svc.token);
      targets.push({
        target: s.name,
        url: `http://127.0.0.1:${svc.port}${path}`,
        headers: { host: `${svc.id}.localhost:${svc.port}`, authorization: `Bearer ${svc.token}` },
        pid: s.server.pid,
      });
    }
    const nginx = startNginx(endpoint, '1');
    if (nginx) nginxProcs.push(nginx);
    const floor = await startBareNodeProxy(endpoint, hook);
    nginxProcs.push(floor);
    targets.unshift(
      { target: 'direct', url: `http://${endpoint}${path}`, headers: {}, pid: null },
      ...(nginx ? [{ target: 'nginx', url: `${nginx.url}${path}`, headers: {}, pid: null }] : []),
      { target: 'bare-node-proxy', url: `${floor.url}${path}`, headers: {}, pid: floor.pid },
    );
    await new Promise((r) => setTimeout(r, 1000));
    const eld = () =>
      readFileSync(eldOut, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as EldLine);
    /** The proxy's processes of a server: the server itself with no workers, else its workers. */
    const proxyLines = (pid: number, from: number, to: number) => {
      const ls = eld().filter((l) => l.t > from + 500 && l.t <= to);
      const workers = ls.filter((l) => l.ppid === pid && l.worker);
      return workers.length > 0 ? workers : ls.filter((l) => l.pid === pid);
    };
    // The servers with the proxy idle: their background work only (scheduler cycle, replica loop,
    // probes), beside their workers' loops (which have none), under the same machine load.
    const idleFrom = Date.now();
    const cpu0 = servers.map((s) => cpuMs(s.server.pid));
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const idleMs = Date.now() - idleFrom;
    const idleLines = eld().filter((l) => l.t > idleFrom + 500);
    const idle = servers.map((s, i) => {
      const own = idleLines.filter((l) => l.pid === s.server.pid);
      const workers = idleLines.filter((l) => l.ppid === s.server.pid && l.worker);
      return {
        target: s.name,
        serverLoopP99Ms: r2(median(own.map((l) => l.p99))),
        serverLoopMaxMs: r2(Math.max(0, ...own.map((l) => l.max))),
        workerLoopP99Ms: workers.length ? r2(median(workers.map((l) => l.p99))) : null,
        workerLoopMaxMs: workers.length ? r2(Math.max(...workers.map((l) => l.max))) : null,
        serverCpuPercent: r2(((cpuMs(s.server.pid) - (cpu0[i] ?? 0)) / idleMs) * 100),
      };
    });
    const rows: LatencyRow[] = [];
    const client = monitorEventLoopDelay({ resolution: 1 });
    client.enable();
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        client.reset();
        // The proxy's processes: the server and its workers (known from their event-loop lines).
        const pids = t.pid
          ? [
              t.pid,
              ...new Set(
                eld()
                  .filter((l) => l.ppid === t.pid && l.worker)
                  .map((l) => l.pid),
              ),
            ]
          : [];
        const cpuBefore = pids.reduce((a, p) => a + cpuMs(p), 0);
        const from = Date.now();
        // A second of the same load first, not counted: connections, upstream keep-alives and
        // admission caches are set up before the timed cell, for every target alike.
        const r = await autocannon({
          url: t.url,
          connections,
          duration: seconds,
          headers: t.headers,
          overallRate: rate,
          // autocannon 8 takes `warmup` (its type definitions do not list it yet).
          ...(WARMUP_SECONDS > 0 ? { warmup: { connections, duration: WARMUP_SECONDS, overallRate: rate } } : {}),
        });
        const to = Date.now();
        const cpu = pids.reduce((a, p) => a + cpuMs(p), 0) - cpuBefore;
        await new Promise((res) => setTimeout(res, 600));
        const ls = t.pid ? proxyLines(t.pid, from, to) : [];
        rows.push({
          round,
          target: t.target,
          latencyP50Ms: r.latency.p50,
          latencyP99Ms: r.latency.p99,
          latencyMaxMs: r.latency.max,
          requestsPerSecond: Math.round(r.requests.average),
          errors: r.errors + r.non2xx + r.timeouts,
          proxyLoopP99Ms: ls.length ? r2(Math.max(...ls.map((l) => l.p99))) : null,
          proxyLoopMaxMs: ls.length ? r2(Math.max(...ls.map((l) => l.max))) : null,
          clientLoopP99Ms: r2(client.percentile(99) / 1e6),
          proxyCpuUsPerRequest: pids.length ? Math.round((cpu * 1000) / Math.max(1, r.requests.total)) : null,
          load1: r2(loadavg()[0] ?? 0),
        });
        appendFileSync(join(dir, 'rows.jsonl'), `${JSON.stringify(rows.at(-1))}\n`);
      }
    }
    client.disable();
    const direct = rows.filter((r) => r.target === 'direct');
    const summary = targets.map((t) => {
      const rs = rows.filter((r) => r.target === t.target);
      // Added latency per round against the direct call measured in the same round.
      const added = (k: 'latencyP50Ms' | 'latencyP99Ms') =>
        median(rs.map((r) => r[k] - (direct.find((d) => d.round === r.round)?.[k] ?? 0)));
      return {
        target: t.target,
        latencyP50Ms: median(rs.map((r) => r.latencyP50Ms)),
        latencyP99Ms: median(rs.map((r) => r.latencyP99Ms)),
        addedP50Ms: added('latencyP50Ms'),
        addedP99Ms: added('latencyP99Ms'),
        proxyLoopP99Ms: t.pid ? median(rs.map((r) => r.proxyLoopP99Ms ?? 0)) : null,
        proxyLoopMaxMs: t.pid ? median(rs.map((r) => r.proxyLoopMaxMs ?? 0)) : null,
        clientLoopP99Ms: median(rs.map((r) => r.clientLoopP99Ms)),
        proxyCpuUsPerRequest: t.pid ? median(rs.map((r) => r.proxyCpuUsPerRequest ?? 0)) : null,
        errors: rs.reduce((a, r) => a + r.errors, 0),
      };
    });
    for (const s of services) await api(s.server.url, s.token)('DELETE', `/v1/services/${s.id}`);
    return {
      rate,
      connections,
      seconds,
      rounds,
      baseBin: baseBin ?? null,
      baseWorkers: baseBin ? BASE_WORKERS : null,
      idle,
      summary,
      rows,
      loadAverage: loadavg(),
    };
  } finally {
    for (const n of nginxProcs) n.stop();
    for (const s of servers) await s.server.stop();
  }
}

// `node dist/bench/proxy-latency.js [out.json]` runs it alone (also `npm run bench -- proxy-latency`).
if (process.argv[1]?.endsWith('proxy-latency.js')) {
  const rounds = Number(process.env.GIGAFAB_BENCH_ROUNDS ?? 3);
  const seconds = Number(process.env.GIGAFAB_BENCH_SECONDS ?? 5);
  const r = await benchProxyLatency(1000, 16, seconds, rounds);
  console.table(r.idle);
  console.table(r.summary);
  const out = process.argv[2];
  if (out) writeFileSync(out, `${JSON.stringify(r, null, 2)}\n`);
  if (!existsSync(out ?? '')) console.log(JSON.stringify(r.summary));
}
