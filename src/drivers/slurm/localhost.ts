/**
 * The localhost Slurm cluster of scripts/slurm/setup.sh, for the Slurm driver's tests and benchmark
 * (development and CI tooling; production sites point the driver at their own cluster).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LocalhostSlurm {
  /** Environment for Slurm commands (SLURM_CONF, ...), from the cluster's env.sh. */
  env: Record<string, string>;
  slurmConf: string;
  /** Slurm node names, e.g. gpu01..gpu04. */
  nodes: string[];
  gpusPerNode: number;
  /** false when setup.sh found the cluster already running (then it is left running at the end). */
  startedHere: boolean;
  setupSeconds: number;
  /** Stops the cluster if this process started it. */
  stop(): void;
}

/** Why the localhost cluster cannot run here, or false when it can. */
export function localhostSlurmUnavailable(): string | false {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root: setup.sh installs packages and starts munged, slurmctld and slurmd as root';
  if (spawnSync('bash', ['-c', 'true']).status !== 0) return 'needs bash';
  const hasSlurm = spawnSync('sh', ['-c', 'command -v slurmctld && command -v sbatch']).status === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get']).status === 0;
  if (!hasSlurm && !hasApt) return 'Slurm is not installed and there is no apt-get to install it (Debian/Ubuntu only)';
  return false;
}

/** startLocalhostSlurm runs setup.sh (idempotent) and reads the cluster's env.sh. Throws with setup's output. */
export function startLocalhostSlurm(repoRoot: string, settings: Record<string, string> = {}): LocalhostSlurm {
  const script = join(repoRoot, 'scripts', 'slurm', 'setup.sh');
  const t0 = performance.now();
  const res = spawnSync('bash', [script], { env: { ...process.env, ...settings }, encoding: 'utf8', timeout: 600_000 });
  const setupSeconds = (performance.now() - t0) / 1000;
  if (res.status !== 0) {
    throw new Error(`scripts/slurm/setup.sh failed (exit ${res.status ?? res.signal}):\n${res.stderr}\n${res.stdout}`);
  }
  const dir = settings.GIGAFAB_SLURM_DIR ?? process.env.GIGAFAB_SLURM_DIR ?? '/tmp/gigafab-slurm';
  const envFile = join(dir, 'env.sh');
  if (!existsSync(envFile)) throw new Error(`setup.sh wrote no ${envFile}`);
  const env: Record<string, string> = {};
  for (const m of readFileSync(envFile, 'utf8').matchAll(/^export ([A-Z_]+)="([^"]*)"$/gm)) env[m[1]] = m[2];
  const startedHere = !/already running/.test(res.stderr);
  return {
    env,
    slurmConf: env.SLURM_CONF,
    nodes: (env.GIGAFAB_SLURM_NODE_NAMES ?? '').split(' ').filter(Boolean),
    gpusPerNode: Number(env.GIGAFAB_SLURM_GPUS ?? 0),
    startedHere,
    setupSeconds,
    stop() {
      if (!startedHere) return;
      spawnSync('bash', [join(repoRoot, 'scripts', 'slurm', 'stop.sh')], {
        env: { ...process.env, ...settings },
        stdio: 'ignore',
        timeout: 120_000,
      });
    },
  };
}

/** slurmCommand runs a Slurm client command against the cluster; returns stdout, throws on failure. */
export function slurmCommand(cluster: LocalhostSlurm, cmd: string, args: string[]): string {
  const res = spawnSync(cmd, args, { env: { ...process.env, ...cluster.env }, encoding: 'utf8', timeout: 60_000 });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${res.stderr || res.error?.message}`);
  return res.stdout;
}
