/**
 * runSimulations: the offline pipeline behind `gigafab simulate` and bench/simulate.ts:
 * fleet (+ scale) x policy variants, each streaming the trace afresh through `simulate`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { expandFleet, loadFleetFile } from '../fleet/load-fleet.js';
import type { Fleet } from '../model/fleet.js';
import { type CycleMode, type SimResult, type SimTransition, simulate } from './engine.js';
import type { FractionalMode } from './importers/alibaba.js';
import { importTrace, type TraceFormat } from './importers/index.js';
import { getPolicy, type Policy, policyFromFile, type QuotaMode } from './policies.js';
import { syntheticJobs } from './synthetic.js';
import type { ImportStats, JobSource } from './types.js';

/** Variant: one column of a comparison: a policy on the fleet scaled by `scaleFleet`. */
export interface Variant {
  label: string;
  policy: Policy;
  scaleFleet: number;
}

/**
 * resolvePolicy: a named preset, or a policy file in the server's schema (a path ending in .yaml,
 * .yml or .json, or naming an existing file); a file's quotas come from `fileQuotaMode`.
 */
export function resolvePolicy(nameOrFile: string, fileQuotaMode: QuotaMode): Policy {
  if (/\.(ya?ml|json)$/i.test(nameOrFile) || (nameOrFile.includes('/') && existsSync(nameOrFile))) {
    if (!existsSync(nameOrFile)) throw new Error(`policy file ${nameOrFile} does not exist`);
    return policyFromFile(basename(nameOrFile), parseYaml(readFileSync(nameOrFile, 'utf8')), fileQuotaMode);
  }
  return getPolicy(nameOrFile);
}

/**
 * parseVariants reads `--compare` items: `policy` or `policy@<fleet scale>` (e.g. `default@1.5`),
 * where a policy is a preset name or a server policy file. Labels are the items as written.
 */
export function parseVariants(list: string, defaultScale: number, fileQuotaMode: QuotaMode = 'unlimited'): Variant[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((item) => {
      const [policy, scale] = item.split('@');
      const scaleFleet = scale === undefined ? defaultScale : Number(scale);
      if (!(scaleFleet > 0)) throw new Error(`bad fleet scale in ${item}`);
      return { label: item, policy: resolvePolicy(policy, fileQuotaMode), scaleFleet };
    });
}

export interface RunConfig {
  fleetPath?: string;
  format: TraceFormat;
  trace?: string;
  /** synthetic */
  jobs?: number;
  seed?: number;
  tenants?: number;
  targetLoad?: number;
  /** synthetic: daily cycle of arrivals (see SyntheticOptions.diurnalAmplitude). */
  diurnalAmplitude?: number;
  /** synthetic: share of jobs given a wall limit shorter than their runtime. */
  timeoutFraction?: number;
  scaleLoad: number;
  variants: Variant[];
  cycle: CycleMode;
  fractional?: FractionalMode;
  incremental?: boolean;
  seriesPoints?: number;
  /** Tenant key (`org/project`) -> entitlement weight (missing: 1). */
  entitlements?: ReadonlyMap<string, number>;
  onProgress?: (variant: number, arrivals: number) => void;
  /** Every start, preemption and requeue of each variant, in order. */
  onTransition?: (variant: number, t: SimTransition) => void;
}

export interface RunRecord extends SimResult {
  label: string;
  scaleFleet: number;
  fleet: { name: string; nodes: number; gpus: number };
  import: ImportStats | null;
}

export interface RunOutput {
  version: 1;
  config: {
    fleet: string;
    format: TraceFormat;
    trace: string | null;
    jobs: number | null;
    seed: number | null;
    scaleLoad: number;
    cycle: CycleMode;
    /** Synthetic workloads: the generator's load shape, so the summary can explain what it produced. */
    synthetic?: { targetLoad: number; diurnalAmplitude: number; timeoutFraction: number };
  };
  runs: RunRecord[];
}

export function nodeSizeOf(fleet: Fleet): number {
  return fleet.nodes.reduce((m, n) => Math.max(m, n.gpus), 1);
}

export async function runSimulations(cfg: RunConfig): Promise<RunOutput> {
  const base = loadFleetFile(cfg.fleetPath);
  const runs: RunRecord[] = [];
  for (let v = 0; v < cfg.variants.length; v++) {
    const variant = cfg.variants[v];
    const fleet = variant.scaleFleet === 1 ? base : expandFleet(base.spec, variant.scaleFleet);
    const nodeSize = nodeSizeOf(fleet);
    let source: JobSource;
    let stats: ImportStats | null = null;
    if (cfg.format === 'synthetic') {
      source = syntheticJobs({
        jobs: cfg.jobs ?? 10000,
        seed: cfg.seed ?? 1,
        tenants: cfg.tenants,
        targetLoad: cfg.targetLoad,
        diurnalAmplitude: cfg.diurnalAmplitude,
        timeoutFraction: cfg.timeoutFraction,
        fleetGpus: base.totalGpus,
        nodeSize,
      });
    } else {
      if (!cfg.trace) throw new Error(`--trace is required for format ${cfg.format}`);
      const imported = importTrace(cfg.format, cfg.trace, { nodeSize, fractional: cfg.fractional });
      source = imported.jobs;
      stats = imported.stats;
    }
    const result = await simulate(source, {
      fleet,
      policy: variant.policy,
      cycle: cfg.cycle,
      scaleLoad: cfg.scaleLoad,
      incremental: cfg.incremental,
      seriesPoints: cfg.seriesPoints,
      entitlements: cfg.entitlements,
      // --tenants describes the synthetic workload only; an imported trace brings its own tenants.
      expectedTenants: cfg.format === 'synthetic' ? cfg.tenants : undefined,
      onProgress: cfg.onProgress ? (n) => cfg.onProgress?.(v, n) : undefined,
      onTransition: cfg.onTransition ? (t) => cfg.onTransition?.(v, t) : undefined,
    });
    runs.push({
      label: variant.label,
      scaleFleet: variant.scaleFleet,
      fleet: { name: fleet.spec.name, nodes: fleet.nodes.length, gpus: fleet.totalGpus },
      import: stats,
      ...result,
    });
  }
  return {
    version: 1,
    config: {
      fleet: base.spec.name,
      format: cfg.format,
      trace: cfg.trace ? basename(cfg.trace) : null,
      jobs: cfg.format === 'synthetic' ? (cfg.jobs ?? 10000) : null,
      seed: cfg.format === 'synthetic' ? (cfg.seed ?? 1) : null,
      scaleLoad: cfg.scaleLoad,
      cycle: cfg.cycle,
      ...(cfg.format === 'synthetic'
        ? {
            synthetic: {
              targetLoad: cfg.targetLoad ?? 0.8,
              diurnalAmplitude: cfg.diurnalAmplitude ?? 0,
              timeoutFraction: cfg.timeoutFraction ?? 0.02,
            },
          }
        : {}),
    },
    runs,
  };
}
