/**
 * `npm run bench`: runs the benchmarks, writes bench/results/latest.json (machine-readable)
 * and prints a short table. Figures are recorded in BENCHMARKS.md with the machine they ran on.
 * Select some with `npm run bench -- submissions scheduler`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchAuditSeal } from './audit-seal.js';
import { benchCliStartup } from './cli-startup.js';
import { benchConsole } from './console.js';
import { benchContainerStart } from './container-start.js';
import { benchContainerStartSlurm } from './container-start-slurm.js';
import { benchInvoiceRun } from './invoice-run.js';
import { benchMeteringOverhead } from './metering-overhead.js';
import { benchProxyLatency } from './proxy-latency.js';
import { benchProxyWrk, printWrkSummary } from './proxy-wrk.js';
import { benchFailover, benchReplicaSubmissions } from './replicas.js';
import { benchSchedulerCycle } from './scheduler-cycle.js';
import { benchSchedulerScale, plotSvg } from './scheduler-scale.js';
import { benchServerReleases } from './server-release.js';
import { benchServiceOverhead, benchServiceReaction } from './services.js';
import { benchSharingPlacement } from './sharing-placement.js';
import { benchSimulate } from './simulate.js';
import { benchSlurmDriver } from './slurm-driver.js';
import { benchStorePg } from './store-pg.js';
import { benchStoreReplicas } from './store-replicas.js';
import { benchSubmissions, machine } from './submissions.js';
import { benchUsageAggregate } from './usage-aggregate.js';

const REPO = join(import.meta.dirname ?? '', '../..');
const wanted = new Set(process.argv.slice(2));
const want = (name: string) => wanted.size === 0 || wanted.has(name);

const results: Record<string, unknown> = { at: new Date().toISOString(), machine: machine() };
if (want('submissions')) {
  console.log('submissions over HTTP …');
  const s = await benchSubmissions();
  results.submissions = s;
  console.table(
    s.map((r) => ({
      clients: r.connections,
      'acked/s': r.submissionsPerSecond,
      'p50 ms': r.latencyP50Ms,
      'p99 ms': r.latencyP99Ms,
      errors: r.errors,
    })),
  );
}
if (want('cli-startup')) {
  console.log('CLI start-up: whole-process `gigafab job show` against a live server, 30 runs …');
  const s = await benchCliStartup();
  results.cliStartup = s;
  console.log(`load average ${s.loadAverage.join(' ')}`);
  console.table(s.rows);
}
if (wanted.has('store-pg')) {
  console.log('acknowledged submissions/s, SQLite vs PostgreSQL (1 server), 16 clients, medians of 3 …');
  const s = await benchStorePg();
  results.storePg = s;
  console.table(s.summary);
}
if (wanted.has('store-replicas')) {
  console.log(
    'SQLite vs PostgreSQL with 1 and 3 replicas, in one run: acked submissions/s and cycle p99, 16 clients, 3 rounds …',
  );
  const s = await benchStoreReplicas();
  results.storeReplicas = s;
  console.table(s.rows);
  console.table(s.summary);
}
if (wanted.has('invoice-run')) {
  console.log('invoice run for one organisation with 1,000,000 usage records in the month, SQLite, median of 3 …');
  const s = await benchInvoiceRun();
  results.invoiceRun = s;
  console.log(s);
}
if (wanted.has('usage-aggregate')) {
  console.log('GET /v1/usage over 10,000,000 usage records, SQLite, daily rollup vs raw records, medians of 3 …');
  const s = await benchUsageAggregate();
  results.usageAggregate = s;
  console.log(JSON.stringify(s, null, 2));
}
if (wanted.has('metering-overhead')) {
  console.log('metering overhead: submissions/s and cycle time with and without metering, same commit, 3 rounds alternating …');
  const s = await benchMeteringOverhead();
  results.meteringOverhead = s;
  console.table(s.runs);
  console.log(s.medians, s.ratios);
}
if (wanted.has('replicas')) {
  console.log('replicas on PostgreSQL: failover (kill -9 of the leader → first new placement), 10 trials …');
  const f = await benchFailover();
  console.log(f);
  console.log('replicas on PostgreSQL: acknowledged submissions/s, 1 vs 3 replicas, 16 clients, medians of 3 …');
  const s = await benchReplicaSubmissions();
  results.replicas = { failover: f, submissions: s };
  console.table(s.summary);
}
if (wanted.has('services')) {
  console.log(
    `services: proxy overhead (direct / nginx 1 worker / nginx auto / gigafab, ${process.env.GIGAFAB_BENCH_PROXY_WORKERS ?? 2} proxy workers) at 1, 16, 64 connections, medians of 3 …`,
  );
  const o = await benchServiceOverhead();
  console.table(o.medians);
  console.log('at a fixed 1,000 requests/s, 16 connections (medians of 3):');
  console.table(o.atRate);
  console.log('autoscaling reaction: load step → second replica ready (local) / running (sim) …');
  const r = await benchServiceReaction();
  console.log(r);
  results.services = { overhead: o, reaction: r };
}
if (wanted.has('proxy-latency')) {
  console.log('proxy latency at a fixed 1,000 requests/s, 16 connections, with event-loop delay and CPU per request …');
  const l = await benchProxyLatency();
  console.table(l.idle);
  console.table(l.summary);
  results.proxyLatency = l;
}
if (wanted.has('proxy-wrk')) {
  console.log(
    'proxy added p99 with wrk (C, µs): 1,000 requests/s paced over 16 connections, direct / nginx / gigafab nginx plane / gigafab in process, 11 rounds, static-nginx then model-server replica …',
  );
  const runs = [];
  for (const backend of ['nginx-static', 'model-server'] as const) {
    const w = await benchProxyWrk({ backend, log: (l) => console.log(`${backend} ${l}`) });
    printWrkSummary(w);
    runs.push(w);
  }
  results.proxyWrk = runs;
}
if (want('audit-seal')) {
  console.log('audit: a signed checkpoint per committed write transaction, without and with …');
  const s = await benchAuditSeal();
  results.auditSeal = s;
  console.log(s);
}
if (want('scheduler')) {
  console.log('scheduler cycle, demo fleet, 10,000 pending …');
  const s = await benchSchedulerCycle();
  results.schedulerCycle = s;
  console.table([s]);
}
if (want('scheduler-scale')) {
  console.log('scheduler at scale: 10,240 and 102,400 GPUs × 1,000 / 10,000 / 50,000 pending, all policies on …');
  const s = await benchSchedulerScale();
  results.schedulerScale = s;
  console.table(s);
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  const svg = join(REPO, 'bench/results/scheduler-scale.svg');
  writeFileSync(svg, plotSvg(s, 'interval'));
  console.log(`plot written to ${svg}`);
}
if (wanted.has('server-release')) {
  console.log('live server: release of 5,000 held jobs on 1,250 nodes (issue 19) …');
  const s = await benchServerReleases([1]);
  results.serverRelease = s;
  console.log(JSON.stringify(s.rows, null, 2));
}
if (want('simulate')) {
  console.log('trace simulator: 1,000,000 synthetic jobs on the demo fleet and a 100,000-GPU fleet …');
  const s = await benchSimulate();
  results.simulate = s;
  console.log(s);
}
if (want('sharing-placement')) {
  console.log('GPU-sharing placement: placements per CPU-second, FGD protocol on openb default, medians of 3 …');
  const s = await benchSharingPlacement();
  results.sharingPlacement = s;
  console.log(s);
}
if (want('console')) {
  console.log('web console: bundle size, first load, fleet-map redraw …');
  const s = await benchConsole();
  results.console = s;
  console.log(s);
}
if (want('slurm')) {
  console.log('slurm driver vs plain sbatch on the localhost cluster …');
  const s = await benchSlurmDriver();
  results.slurmDriver = s;
  console.log(s);
}
if (want('container-start')) {
  console.log('container start overhead on the local driver: host process, container, plain podman run …');
  const s = await benchContainerStart();
  results.containerStart = s;
  console.log(s);
}
if (want('container-start-slurm')) {
  console.log('container start overhead on the localhost Slurm: driver host/container, plain sbatch host/podman …');
  const s = await benchContainerStartSlurm();
  results.containerStartSlurm = s;
  console.log(s);
}
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
const out = join(REPO, 'bench/results/latest.json');
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`results written to ${out}`);
