/**
 * Added p99 at 1,000 requests/s with a C load generator (issue 14: "added p99 < 2 ms at 1,000
 * requests/s"). The autocannon measurements (proxy-latency.ts, services.ts) could not resolve 2 ms:
 * autocannon reports whole milliseconds, runs in Node on the same 2 cores, and sends each second's
 * requests in a burst. Here Debian's wrk (scripts/ensure-wrk.sh) sends them paced — one every
 * 1/rate s, spread over the connections (bench/wrk-paced.lua) — and reports microseconds.
 *
 * One gigafab server with the nginx data plane and ONE replica; every target reaches that same
 * replica process:
 *   direct              the replica itself
 *   nginx               Debian's nginx, 1 worker, as a plain reverse proxy (services.ts startNginx)
 *   gigafab-nginx       gigafab's proxy port: nginx forwards, gigafab admits (auth_request, cached)
 *   gigafab-in-process  gigafab's own Node proxy in the server process: the same server's loopback
 *                       listener that nginx hands every host it does not route (the same proxy code
 *                       as `--proxy-data-plane node`, the default; its client address comes from
 *                       X-Real-IP when nginx sends one, which wrk does not)
 * Each round runs every target once, in an order rotated by one per round, each cell a `leadIn` s
 * untimed wrk run at the same rate (connections, upstream keep-alives, the admission cache) and
 * then the timed `seconds`. Added p99 = target p99 − direct p99 in the same round (and pinning);
 * the report is the median over rounds with its interquartile range and a distribution-free
 * confidence interval of the median (order statistics).
 *
 * Backends (the same for every target): `model-server` (test/fixtures/model-server.mjs, Node: the
 * one every other proxy figure used; it answers after a 0 ms timer, i.e. ≈ 1 ms) or `nginx-static`
 * (a replica that is an nginx answering a fixed JSON body from its config: no Node, no timer).
 * Pinning `on`: wrk on CPU 0, everything else this bench started (servers, replicas, nginx) on CPU 1,
 * set before each cell; `off`: everything may run on both.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { api, REPO } from '../test/helpers/server.js';
import { proxyServer, readyService, routedByNginx, startNginx } from './services.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? null;
const LUA = join(REPO, 'bench/wrk-paced.lua');

export interface WrkResult {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { min: number; mean: number; stdev: number; max: number; p50: number; p90: number; p99: number; p999: number };
}

/** ensureWrk: wrk's path, installed by scripts/ensure-wrk.sh where missing (needs root); else a clear error. */
export function ensureWrk(): string {
  const found = () => ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p));
  if (!found()) {
    try {
      execFileSync('bash', [join(REPO, 'scripts/ensure-wrk.sh')], { stdio: 'inherit' });
    } catch {
      throw new Error('wrk is needed for this benchmark: run `sudo bash scripts/ensure-wrk.sh` (Debian: apt-get install wrk)');
    }
  }
  const bin = found();
  if (!bin) throw new Error('wrk is needed for this benchmark: scripts/ensure-wrk.sh did not install it');
  return bin;
}

export interface PacedOptions {
  rate: number;
  connections: number;
  seconds: number;
  /** wrk threads (default 1: one thread, all connections, one schedule). */
  threads?: number;
  /** taskset's CPU list for wrk (e.g. "0"); none: wherever the kernel puts it. */
  cpus?: string;
}

/** wrkPaced: one wrk run at a fixed rate (bench/wrk-paced.lua), its JSON report. */
export function wrkPaced(wrk: string, url: string, headers: Record<string, string>, o: PacedOptions): Promise<WrkResult> {
  const threads = o.threads ?? 1;
  const args = [
    `-t${threads}`,
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    '--timeout',
    '5s',
    '-s',
    LUA,
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    url,
    '--',
    String(o.rate),
    String(threads),
  ];
  const [cmd, argv] = o.cpus ? ['taskset', ['-c', o.cpus, wrk, ...args]] : [wrk, args];
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    p.once('error', reject);
    p.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      resolve(JSON.parse(line.slice('WRKJSON '.length)) as WrkResult);
    });
  });
}

/** median (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return 0;
  return n % 2 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

/** quantile by linear interpolation between order statistics (type 7, R's default). */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (h - lo);
}

/**
 * medianCi: a distribution-free confidence interval of the median from order statistics — the widest
 * k with P(Binomial(n, ½) < k) ≤ (1 − level)/2 gives [x(k), x(n−k+1)]; its exact coverage with it.
 * Too few values for the level: the whole range, with its (lower) coverage.
 */
export function medianCi(xs: readonly number[], level = 0.95): { lo: number; hi: number; coverage: number } {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { lo: 0, hi: 0, coverage: 0 };
  const pmf: number[] = [];
  let c = 1;
  for (let i = 0; i <= n; i++) {
    pmf.push(c / 2 ** n);
    c = (c * (n - i)) / (i + 1);
  }
  // below(k) = P(X < k) = P(X ≤ k − 1)
  const below = (k: number) => pmf.slice(0, k).reduce((a, b) => a + b, 0);
  let k = 1;
  while (k + 1 <= Math.floor((n + 1) / 2) && below(k + 1) <= (1 - level) / 2) k++;
  return { lo: s[k - 1] as number, hi: s[n - k] as number, coverage: 1 - 2 * below(k) };
}

/** descendants: this process and every process it started, directly or not (from /proc). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}

/** pinAll: every thread of this process and its descendants onto `cpus` (taskset's list); how many processes. */
function pinAll(cpus: string): number {
  const pids = descendants(process.pid);
  for (const pid of pids) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    } catch {
      // a process that ended meanwhile
    }
  }
  return pids.length;
}

const allCpus = () => {
  try {
    return readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  } catch {
    return '0-1';
  }
};

/** cpuMs: a process's CPU time so far (user + system, from /proc; 0 where there is none). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** getOnce: one GET with these headers (fetch would not send our Host). */
function getOnce(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** A replica that is an nginx answering from its config (no Node, no timer): the lighter backend. */
function nginxStaticCommand(nginx: string): string[] {
  const body = '{"model":"v1","input":"42","output":"static0000000000"}';
  const script = `d=$(mktemp -d /tmp/gigafab-bench-static-XXXXXX)
cat > "$d/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $d/nginx.pid; error_log $d/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $d; proxy_temp_path $d; fastcgi_temp_path $d; uwsgi_temp_path $d; scgi_temp_path $d;
  keepalive_requests 1000000;
  server { listen \${GIGAFAB_BIND:-127.0.0.1}:$GIGAFAB_PORT; default_type application/json;
    location = /healthz { return 200 '{"ok":true}'; }
    location / { return 200 '${body}'; } } }
EOF
exec ${nginx} -e "$d/error.log" -c "$d/nginx.conf" -p "$d"`;
  return ['/bin/sh', '-c', script];
}

export type WrkBackend = 'model-server' | 'nginx-static';
export type Pinning = 'off' | 'on';

export interface WrkOptions {
  rate?: number;
  connections?: number;
  seconds?: number;
  leadInSeconds?: number;
  rounds?: number;
  backend?: WrkBackend;
  pinning?: Pinning[];
  /** Printed as each cell ends (progress). */
  log?: (line: string) => void;
}

export interface WrkRow {
  round: number;
  pinning: Pinning;
  /** Position in the round (0 first). */
  slot: number;
  target: string;
  requests: number;
  achievedPerSecond: number;
  errors: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** gigafab server's CPU per request (its own process), µs; null for targets without gigafab. */
  gigafabCpuUsPerRequest: number | null;
  load1Before: number;
  load1After: number;
}

const TARGETS = ['direct', 'nginx', 'gigafab-nginx', 'gigafab-in-process'] as const;

/** benchProxyWrk: see the module's comment. */
export async function benchProxyWrk(o: WrkOptions = {}) {
  const rate = o.rate ?? 1000;
  const connections = o.connections ?? 16;
  const seconds = o.seconds ?? 5;
  const leadIn = o.leadInSeconds ?? 1;
  const rounds = o.rounds ?? 11;
  const backend = o.backend ?? 'model-server';
  const pinning = o.pinning ?? ['off'];
  const log = o.log ?? (() => {});
  const wrk = ensureWrk();
  if (!NGINX) throw new Error('nginx is needed for this benchmark: run `sudo bash scripts/ensure-nginx.sh`');
  const server = await proxyServer(0, undefined, ['--proxy-data-plane', 'nginx']);
  let plain: { url: string; stop(): void } | null = null;
  let service: { token: string; id: string } | null = null;
  try {
    const svc = await readyService(server, backend === 'nginx-static' ? nginxStaticCommand(NGINX) : undefined);
    service = svc;
    await routedByNginx(svc.port, svc.id, svc.token);
    // gigafab's own proxy behind nginx: the loopback listener nginx's config names as its fallback.
    const conf = readFileSync(join(server.dataDir, 'nginx', 'nginx.conf'), 'utf8');
    const fallback = Number(/upstream gf_gigafab \{\s*server 127\.0\.0\.1:(\d+);/.exec(conf)?.[1]);
    if (!fallback) throw new Error('no fallback port in the nginx data plane’s config');
    plain = startNginx(svc.endpoint, '1');
    if (!plain) throw new Error('nginx did not start');
    const path = '/v1/predict?x=42';
    const auth = (port: number) => ({ Host: `${svc.id}.localhost:${port}`, Authorization: `Bearer ${svc.token}` });
    const targets: Record<(typeof TARGETS)[number], { url: string; headers: Record<string, string>; gigafab: boolean }> = {
      direct: { url: `http://${svc.endpoint}${path}`, headers: {}, gigafab: false },
      nginx: { url: `${plain.url}${path}`, headers: {}, gigafab: false },
      'gigafab-nginx': { url: `http://127.0.0.1:${svc.port}${path}`, headers: auth(svc.port), gigafab: true },
      'gigafab-in-process': { url: `http://127.0.0.1:${fallback}${path}`, headers: auth(svc.port), gigafab: true },
    };
    await new Promise((r) => setTimeout(r, 500));
    // Every target answers 200 once before any timing (a wrong header would show here, not as errors).
    for (const [name, t] of Object.entries(targets)) {
      const r = await getOnce(t.url, t.headers);
      if (r.status !== 200) throw new Error(`${name}: ${r.status} ${r.body}`);
    }
    const cpus = allCpus();
    const rows: WrkRow[] = [];
    let pinnedProcesses = 0;
    const loadAverageBefore = loadavg();
    for (let round = 1; round <= rounds; round++) {
      const modes = round % 2 ? pinning : [...pinning].reverse();
      for (const mode of modes) {
        if (mode === 'on') pinnedProcesses = pinAll('1');
        else if (pinning.includes('on')) pinAll(cpus);
        const shift = (round - 1) % TARGETS.length;
        const order = [...TARGETS.slice(shift), ...TARGETS.slice(0, shift)];
        for (const [slot, name] of order.entries()) {
          const t = targets[name];
          const paced = { rate, connections, cpus: mode === 'on' ? '0' : undefined };
          if (leadIn > 0) await wrkPaced(wrk, t.url, t.headers, { ...paced, seconds: leadIn });
          const load1Before = loadavg()[0] ?? 0;
          const cpu0 = t.gigafab ? cpuMs(server.pid) : 0;
          const r = await wrkPaced(wrk, t.url, t.headers, { ...paced, seconds });
          const cpu = t.gigafab ? cpuMs(server.pid) - cpu0 : 0;
          const e = r.errors;
          const row: WrkRow = {
            round,
            pinning: mode,
            slot,
            target: name,
            requests: r.requests,
            achievedPerSecond: Math.round((r.requests / r.durationUs) * 1e7) / 10,
            errors: e.connect + e.read + e.write + e.status + e.timeout,
            p50Us: r.latencyUs.p50,
            p90Us: r.latencyUs.p90,
            p99Us: r.latencyUs.p99,
            p999Us: r.latencyUs.p999,
            maxUs: r.latencyUs.max,
            gigafabCpuUsPerRequest: t.gigafab ? Math.round((cpu * 1000) / Math.max(1, r.requests)) : null,
            load1Before: Math.round(load1Before * 100) / 100,
            load1After: Math.round((loadavg()[0] ?? 0) * 100) / 100,
          };
          rows.push(row);
          log(
            `round ${round} pin ${mode} ${name}: ${row.achievedPerSecond}/s p50 ${row.p50Us} p99 ${row.p99Us} p99.9 ${row.p999Us} µs, errors ${row.errors}, load ${row.load1After}`,
          );
        }
      }
    }
    if (pinning.includes('on')) pinAll(cpus);
    const ms = (us: number) => Math.round(us / 100) / 10;
    const iqr = (us: number[]) => [ms(quantile(us, 0.25)), ms(quantile(us, 0.75))];
    const summary = pinning.flatMap((mode) =>
      TARGETS.map((name) => {
        const rs = rows.filter((r) => r.pinning === mode && r.target === name);
        const added = rs.map((r) => {
          const d = rows.find((x) => x.pinning === mode && x.round === r.round && x.target === 'direct');
          return r.p99Us - (d?.p99Us ?? 0);
        });
        const addedP50 = rs.map((r) => {
          const d = rows.find((x) => x.pinning === mode && x.round === r.round && x.target === 'direct');
          return r.p50Us - (d?.p50Us ?? 0);
        });
        const ci = medianCi(added);
        // Beyond nginx alone, same round: what gigafab's plane (admission, log) adds to nginx's own forwarding.
        const overNginx = rs.map((r) => {
          const n = rows.find((x) => x.pinning === mode && x.round === r.round && x.target === 'nginx');
          return r.p99Us - (n?.p99Us ?? 0);
        });
        const ciNginx = medianCi(overNginx);
        return {
          pinning: mode,
          target: name,
          rounds: rs.length,
          achievedPerSecond: median(rs.map((r) => r.achievedPerSecond)),
          p50Ms: ms(median(rs.map((r) => r.p50Us))),
          p99Ms: ms(median(rs.map((r) => r.p99Us))),
          p99IqrMs: iqr(rs.map((r) => r.p99Us)),
          p999Ms: ms(median(rs.map((r) => r.p999Us))),
          addedP50Ms: ms(median(addedP50)),
          addedP99Ms: ms(median(added)),
          addedP99IqrMs: iqr(added),
          addedP99CiMs: [ms(ci.lo), ms(ci.hi)],
          addedP99CiCoverage: Math.round(ci.coverage * 1000) / 1000,
          overNginxP99Ms: ms(median(overNginx)),
          overNginxP99CiMs: [ms(ciNginx.lo), ms(ciNginx.hi)],
          gigafabCpuUsPerRequest:
            rs[0]?.gigafabCpuUsPerRequest === null ? null : median(rs.map((r) => r.gigafabCpuUsPerRequest ?? 0)),
          errors: rs.reduce((a, r) => a + r.errors, 0),
        };
      }),
    );
    return {
      rate,
      connections,
      seconds,
      leadInSeconds: leadIn,
      rounds,
      backend,
      pinning,
      pinnedProcesses,
      wrk: spawnSync(wrk, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '',
      summary,
      rows,
      loadAverageBefore,
      loadAverage: loadavg(),
    };
  } finally {
    plain?.stop();
    if (service) await api(server.url, service.token)('DELETE', `/v1/services/${service.id}`).catch(() => {});
    await server.stop();
  }
}

/** printWrkSummary: the summary as a table (console). */
export function printWrkSummary(r: Awaited<ReturnType<typeof benchProxyWrk>>): void {
  console.table(
    r.summary.map((s) => ({
      pin: s.pinning,
      target: s.target,
      'req/s': s.achievedPerSecond,
      'p50 ms': s.p50Ms,
      'p99 ms': s.p99Ms,
      'added p99 ms': s.addedP99Ms,
      IQR: s.addedP99IqrMs.join('…'),
      [`CI ${Math.round((r.summary[0]?.addedP99CiCoverage ?? 0) * 100)}%`]: s.addedP99CiMs.join('…'),
      'p99 − nginx ms (CI)': `${s.overNginxP99Ms} (${s.overNginxP99CiMs.join('…')})`,
      errors: s.errors,
    })),
  );
}

// `node dist/bench/proxy-wrk.js [out.json]` runs it alone (also `npm run bench -- proxy-wrk`).
// GIGAFAB_BENCH_ROUNDS (11), GIGAFAB_BENCH_SECONDS (5), GIGAFAB_BENCH_WARMUP_SECONDS (1),
// GIGAFAB_BENCH_BACKEND (model-server | nginx-static; a comma list runs each in turn),
// GIGAFAB_BENCH_PIN (off | on | off,on).
if (process.argv[1]?.endsWith('proxy-wrk.js')) {
  const runs = [];
  for (const backend of (process.env.GIGAFAB_BENCH_BACKEND ?? 'model-server').split(',') as WrkBackend[]) {
    const r = await benchProxyWrk({
      rounds: Number(process.env.GIGAFAB_BENCH_ROUNDS ?? 11),
      seconds: Number(process.env.GIGAFAB_BENCH_SECONDS ?? 5),
      leadInSeconds: Number(process.env.GIGAFAB_BENCH_WARMUP_SECONDS ?? 1),
      backend,
      pinning: (process.env.GIGAFAB_BENCH_PIN ?? 'off').split(',') as Pinning[],
      log: (l) => console.log(`${new Date().toISOString().slice(11, 19)} ${backend} ${l}`),
    });
    printWrkSummary(r);
    runs.push(r);
  }
  const out = process.argv[2];
  if (out) writeFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), runs }, null, 2)}\n`);
}
