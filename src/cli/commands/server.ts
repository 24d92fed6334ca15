/**
 * gigafab server: runs the control plane (REST API, scheduler, simulated fleet) in this process.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { LogLevel } from '../../server/logger.js';
import { examples, parseIntArg, type Runtime } from '../context.js';

/** Simulated seconds per real second unless --time-scale says otherwise (`job` commands explain it). */
export const DEFAULT_TIME_SCALE = 60;

/** pino's levels, restated so that CLI start-up does not load pino; `satisfies` stops the build if they drift. */
const LOG_LEVEL_CHOICES = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LogLevel[];

interface ServerOptions {
  port: number;
  host: string;
  dataDir: string;
  database?: string;
  fleet?: string;
  policy?: string;
  oidc?: string;
  limits?: string;
  timeScale: number;
  demoLoad?: boolean;
  tokenDays: number;
  tokenMaxDays: number;
  logLevel: LogLevel;
  proxyPort?: number;
  proxyBaseDomain: string;
  proxyPublicUrl?: string;
  proxyWorkers: number;
  proxyDataPlane: 'node' | 'nginx';
  proxyNginx: string;
  proxyNginxWorkers: number;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('Not a port number.');
  return n;
}

function parsePublicUrl(value: string): string {
  const m = /^(https?):\/\/[^/:]+(:\d+)?\/?$/.exec(value);
  if (!m) throw new InvalidArgumentError('Give scheme, host and optionally a port, e.g. https://gpu.example.eu:443.');
  return value;
}

/** proxyConfig: the workload proxy's settings from the flags. */
function proxyConfig(opts: ServerOptions) {
  const pub = opts.proxyPublicUrl ? new URL(opts.proxyPublicUrl) : null;
  const scheme = pub?.protocol === 'https:' ? ('https' as const) : ('http' as const);
  return {
    port: opts.proxyPort ?? 0,
    baseDomain: opts.proxyBaseDomain,
    workers: opts.proxyWorkers,
    dataPlane: opts.proxyDataPlane,
    ...(opts.proxyDataPlane === 'nginx' ? { nginx: { bin: opts.proxyNginx, workers: opts.proxyNginxWorkers } } : {}),
    ...(pub ? { publicScheme: scheme, publicPort: pub.port ? Number(pub.port) : scheme === 'https' ? 443 : 80 } : {}),
  };
}

function parseTimeScale(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Must be a number > 0.');
  return n;
}

export function registerServer(program: Command, rt: Runtime): void {
  program
    .command('server')
    .description('run the gigafab control plane (API + scheduler + simulated fleet)')
    .option('--port <n>', 'port to listen on (0 picks a free one)', parsePort, 8080)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--data-dir <dir>', 'where the database lives', './.gigafab')
    .option('--database <url>', 'PostgreSQL URL (postgres://…); default: $GIGAFAB_DATABASE_URL, else SQLite in --data-dir')
    .option('--fleet <file>', 'fleet YAML file (default: the built-in demo fleet)')
    .option('--policy <file>', 'scheduling policy YAML (fair share, borrowing, preemption, backfill); default: built-in')
    .option('--oidc <file>', 'OIDC login config YAML (issuer, audience, group → role mappings); default: API tokens only')
    .option(
      '--limits <file>',
      'resource limits YAML (body sizes, queued jobs per org, rate limits, streams, timeouts); default: built-in',
    )
    .option('--time-scale <x>', 'simulated seconds per real second', parseTimeScale, DEFAULT_TIME_SCALE)
    .option('--demo-load', 'submit a stream of demo jobs')
    .addOption(
      new Option('--log-level <level>', 'JSON logs on stderr (access log, errors) from this level on')
        .choices(LOG_LEVEL_CHOICES)
        .env('GIGAFAB_LOG_LEVEL')
        .default('info'),
    )
    .option('--token-days <n>', 'lifetime of new API tokens when none is asked for, in days', parseIntArg(1, 3650), 90)
    .option('--token-max-days <n>', 'longest lifetime an API token may be given, in days', parseIntArg(1, 3650), 365)
    .option('--proxy-port <n>', 'run the workload proxy for sessions and services on this port (0 picks a free one)', parsePort)
    .option(
      '--proxy-base-domain <domain>',
      'workload hosts are <id>.<domain> (a wildcard DNS name; localhost works in browsers)',
      'localhost',
    )
    .option(
      '--proxy-workers <n>',
      'worker processes for the workload proxy, sharing its port (0: in the server process; admission stays in the server either way)',
      parseIntArg(0, 64),
      0,
    )
    .addOption(
      new Option(
        '--proxy-data-plane <plane>',
        "who forwards the workload proxy's bytes: node (gigafab itself) or nginx (run by gigafab on --proxy-port; gigafab still admits every request)",
      )
        .choices(['node', 'nginx'])
        .env('GIGAFAB_PROXY_DATA_PLANE')
        .default('node'),
    )
    .addOption(
      new Option('--proxy-nginx <path>', 'the nginx binary for --proxy-data-plane nginx')
        .env('GIGAFAB_PROXY_NGINX')
        .default('nginx'),
    )
    .addOption(
      new Option('--proxy-nginx-workers <n>', 'nginx worker processes for --proxy-data-plane nginx')
        .argParser(parseIntArg(1, 64))
        .env('GIGAFAB_PROXY_NGINX_WORKERS')
        .default(1),
    )
    .option(
      '--proxy-public-url <url>',
      'scheme and port clients reach the proxy at when TLS is terminated in front, e.g. https://gpu.example.eu:443',
      parsePublicUrl,
    )
    .addHelpText(
      'after',
      examples(
        'gigafab server',
        'gigafab server --port 9000 --data-dir /var/lib/gigafab --fleet fleets/demo.yaml',
        'gigafab server --time-scale 600 --demo-load',
      ),
    )
    .action(async (opts: ServerOptions) => {
      // Loaded only here, so every other command works without the server's dependencies.
      const { startServer } = await import('../../compose/start.js');
      const server = await startServer({
        port: opts.port,
        host: opts.host,
        dataDir: opts.dataDir,
        databaseUrl: opts.database ?? process.env.GIGAFAB_DATABASE_URL,
        fleetPath: opts.fleet,
        policyPath: opts.policy,
        oidcPath: opts.oidc,
        limitsPath: opts.limits,
        timeScale: opts.timeScale,
        demoLoad: Boolean(opts.demoLoad),
        tokenPolicy: { defaultDays: opts.tokenDays, maxDays: opts.tokenMaxDays },
        logLevel: opts.logLevel,
        ...(opts.proxyPort !== undefined ? { proxy: proxyConfig(opts) } : {}),
      });
      let closing = false;
      const shutdown = (signal: NodeJS.Signals) => {
        if (closing) return;
        closing = true;
        rt.io.err(`${signal}: shutting down\n`);
        server.close().then(
          () => process.exit(0),
          (err: unknown) => {
            rt.io.err(`error: shutdown failed: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });
}
