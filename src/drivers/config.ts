/**
 * Driver configuration, one per site, as it appears in the fleet YAML under `sites[].driver`:
 *
 *   sites:
 *     - id: muc1
 *       ...
 *       driver:
 *         kind: slurm
 *         jobDir: /shared/gigafab/jobs          # visible to the control plane and the compute nodes
 *         slurmConf: /etc/slurm/slurm.conf
 *         partition: gpu
 *         nodeNames: { pattern: '^muc1-b200-0*(\d+)$', replace: 'dgx$1' }   # and/or nodeMap: {...}
 *     - id: lab1
 *       driver: { kind: local, baseDir: /var/lib/gigafab/jobs, datasetRoot: /srv/datasets }
 *
 * A site without `driver` keeps the simulated driver. createSiteDrivers builds the drivers and one
 * SiteRouterDriver in front of them for the control plane.
 */
import { z } from 'zod';
import type { ExecutionDriver } from './driver.js';
import type { WorkloadProbes } from './kubernetes/workload.js';
import { KubernetesDriver } from './kubernetes-driver.js';
import { LocalDriver } from './local-driver.js';
import { MASTER_PORTS } from './rendezvous.js';
import { SimDriver } from './sim-driver.js';
import { SiteRouterDriver } from './site-router.js';
import { SlurmDriver } from './slurm-driver.js';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);

/** What a site runs (local and Slurm): host jobs (default allowed), images (default: where podman is), registries (default any). */
const containerSettings = {
  hostJobs: z.boolean().default(true),
  images: z.boolean().default(true),
  registries: z.array(z.string().min(1).max(253)).optional(),
  /** Where the site stages datasets, one directory per dataset id; jobs get them at /datasets/<id> (job-mounts.ts). */
  datasetRoot: z
    .string()
    .regex(/^\/[^:,\s]*$/, 'an absolute path without :, , or spaces')
    .optional(),
};

export const SimDriverConfigSchema = z.object({ kind: z.literal('sim') }).strict();

export const LocalDriverConfigSchema = z
  .object({
    kind: z.literal('local'),
    /** Per-job working directories. */
    baseDir: z.string().min(1),
    /** gigafab node id of this machine; default: the site's only node. */
    node: z.string().optional(),
    /** Several gigafab nodes that are all this one machine (a test rig): gangs on them run one rank per node here. */
    nodes: z.array(z.string().min(1)).min(2).optional(),
    cudaDevices: z.enum(['index', 'uuid']).default('index'),
    passEnv: z.array(envName).optional(),
    timeoutGraceSeconds: z.number().min(0).max(3600).default(30),
    orphans: z.enum(['stop', 'report']).default('stop'),
    ...containerSettings,
    /** How GPUs reach containers: cdi, device nodes, none (stand-in GPUs), auto (cdi where a spec exists). */
    gpuPassthrough: z.enum(['auto', 'cdi', 'devices', 'none']).default('auto'),
    /** Sample the GPUs' power with nvidia-smi and report each run's energy with its exit (as Slurm's measureEnergy). */
    measureEnergy: z.boolean().default(false),
    /** How often the power is sampled with measureEnergy, seconds. */
    powerSampleSeconds: z.number().min(0.1).max(3600).default(5),
  })
  .strict();

export const SlurmDriverConfigSchema = z
  .object({
    kind: z.literal('slurm'),
    jobDir: z.string().min(1),
    /** Explicit gigafab node id → Slurm node name. */
    nodeMap: z.record(z.string(), z.string()).default({}),
    /** Rule for the nodes not in nodeMap: JavaScript regex over the gigafab id, and its replacement. */
    nodeNames: z
      .object({ pattern: z.string().min(1), replace: z.string() })
      .strict()
      .optional(),
    partition: z.string().optional(),
    account: z.string().optional(),
    qos: z.string().optional(),
    /** Shards per GPU in the site's gres.conf (`Name=shard Count=…`), for time-sliced shares. Default 100. */
    shardsPerGpu: z.number().int().min(1).max(1000).optional(),
    slurmConf: z.string().optional(),
    binDir: z.string().optional(),
    passEnv: z.array(envName).optional(),
    instance: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/)
      .optional(),
    pollIntervalMs: z.number().int().min(50).max(600_000).default(1000),
    nodePollIntervalMs: z.number().int().min(0).max(3_600_000).default(10_000),
    timeoutGraceSeconds: z.number().min(0).max(3600).default(30),
    orphans: z.enum(['cancel', 'report']).default('cancel'),
    submitConcurrency: z.number().int().min(1).max(64).default(4),
    extraSbatchArgs: z.array(z.string()).default([]),
    ...containerSettings,
    gpuPassthrough: z.enum(['devices', 'none']).default('devices'),
    /** Ports for sessions and services on the nodes (slurm/workload-port.ts); default 20000–29999. */
    workloadPorts: z
      .object({ from: z.number().int().min(1024).max(65535), to: z.number().int().min(1024).max(65535) })
      .strict()
      .refine((r) => r.from <= r.to, 'from must not exceed to')
      // A gang's rank 0 listens on its master port on the node's network, next to the workloads.
      .refine(
        (r) => r.to < MASTER_PORTS.from || r.from > MASTER_PORTS.to,
        `must not overlap the gangs' master ports ${MASTER_PORTS.from}-${MASTER_PORTS.to}`,
      )
      .optional(),
    /** Report each ended job's energy as sacct measured it (ConsumedEnergyRaw); needs an acct_gather_energy plugin. */
    measureEnergy: z.boolean().default(false),
    /** Report each ended job's Start and End as sacct has them, so its metered run time is corrected to what Slurm ran. */
    reportRunTime: z.boolean().default(false),
  })
  .strict();

export const KubernetesDriverConfigSchema = z
  .object({
    kind: z.literal('kubernetes'),
    /** API server URL, e.g. https://10.0.0.1:6443. */
    apiServer: z.url(),
    /** Bearer token file; default: the in-cluster service-account token, if present. */
    tokenFile: z.string().min(1).optional(),
    /** CA bundle for the API server; default: the in-cluster service-account CA, if present. */
    caFile: z.string().min(1).optional(),
    /** Pods of project P go to namespace <namespacePrefix>P (created when missing). */
    namespacePrefix: z
      .string()
      .regex(/^[a-z0-9-]*$/)
      .default('gigafab-'),
    /** Explicit gigafab node id → Kubernetes node name. */
    nodeMap: z.record(z.string(), z.string()).default({}),
    /** Rule for the nodes not in nodeMap, as for Slurm. */
    nodeNames: z
      .object({ pattern: z.string().min(1), replace: z.string() })
      .strict()
      .optional(),
    /** Image for jobs that give only a command. */
    defaultImage: z.string().min(1).optional(),
    instance: z
      .string()
      .regex(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/)
      .optional(),
    pollIntervalMs: z.number().int().min(50).max(600_000).default(1000),
    nodePollIntervalMs: z.number().int().min(0).max(3_600_000).default(10_000),
    timeoutGraceSeconds: z.number().min(0).max(3600).default(30),
    orphans: z.enum(['delete', 'report']).default('delete'),
    /** The cluster's DNS domain (kubelet clusterDomain), for the DNS names of a gang's pods. */
    clusterDomain: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
      .default('cluster.local'),
    /** Where every node stages datasets (hostPath volumes; see containerSettings.datasetRoot). */
    datasetRoot: containerSettings.datasetRoot,
  })
  .strict();

export const DriverConfigSchema = z.discriminatedUnion('kind', [
  SimDriverConfigSchema,
  LocalDriverConfigSchema,
  SlurmDriverConfigSchema,
  KubernetesDriverConfigSchema,
]);

export type DriverConfig = z.infer<typeof DriverConfigSchema>;
export type DriverConfigInput = z.input<typeof DriverConfigSchema>;

export interface SiteDriverInput {
  site: string;
  /** The site's gigafab node ids (to expand nodeNames and check nodeMap). */
  nodes: string[];
  driver?: DriverConfigInput;
}

/** slurmNodeMap: nodeMap plus the nodeNames rule applied to the site's other nodes. */
export function slurmNodeMap(
  cfg: Pick<z.infer<typeof SlurmDriverConfigSchema>, 'nodeMap' | 'nodeNames'>,
  site: string,
  nodes: string[],
): Record<string, string> {
  const map: Record<string, string> = {};
  const known = new Set(nodes);
  for (const [k, v] of Object.entries(cfg.nodeMap)) {
    if (!known.has(k)) throw new Error(`site ${site}: nodeMap names ${k}, which is not a node of this site`);
    map[k] = v;
  }
  if (cfg.nodeNames) {
    const re = new RegExp(cfg.nodeNames.pattern);
    for (const n of nodes) {
      if (map[n] !== undefined || !re.test(n)) continue;
      map[n] = n.replace(re, cfg.nodeNames.replace);
    }
  }
  return map;
}

/** createSiteDriver builds the driver one site's config asks for. */
/** SiteDriverOptions: what every driver may need from the composition root. */
export interface SiteDriverOptions {
  timeScale: number;
  /** A service's health checks by id, for drivers that probe replicas themselves (Kubernetes). */
  probesOf?: (serviceId: string) => WorkloadProbes | undefined;
}

export function createSiteDriver(input: SiteDriverInput, opts: SiteDriverOptions): ExecutionDriver {
  const cfg = DriverConfigSchema.parse(input.driver ?? { kind: 'sim' });
  switch (cfg.kind) {
    case 'sim':
      return new SimDriver(opts.timeScale);
    case 'local': {
      const node = cfg.node ?? (input.nodes.length === 1 ? input.nodes[0] : undefined);
      const strange = cfg.nodes?.find((n) => !input.nodes.includes(n));
      if (strange) throw new Error(`site ${input.site}: driver.nodes names ${strange}, which is not a node of this site`);
      if (!node && !cfg.nodes)
        throw new Error(
          `site ${input.site}: a local driver runs one node; set driver.node, or driver.nodes for several nodes on this one machine (the site has ${input.nodes.length})`,
        );
      return new LocalDriver({
        baseDir: cfg.baseDir,
        node,
        nodes: cfg.nodes,
        cudaDevices: cfg.cudaDevices,
        passEnv: cfg.passEnv,
        timeoutGraceSeconds: cfg.timeoutGraceSeconds,
        orphans: cfg.orphans,
        hostJobs: cfg.hostJobs,
        images: cfg.images,
        registries: cfg.registries,
        gpuPassthrough: cfg.gpuPassthrough,
        datasetRoot: cfg.datasetRoot,
        powerSampleSeconds: cfg.measureEnergy ? cfg.powerSampleSeconds : 0,
      });
    }
    case 'slurm':
      return new SlurmDriver({
        nodeMap: slurmNodeMap(cfg, input.site, input.nodes),
        jobDir: cfg.jobDir,
        partition: cfg.partition,
        account: cfg.account,
        qos: cfg.qos,
        shardsPerGpu: cfg.shardsPerGpu,
        slurmConf: cfg.slurmConf,
        binDir: cfg.binDir,
        passEnv: cfg.passEnv,
        instance: cfg.instance,
        pollIntervalMs: cfg.pollIntervalMs,
        nodePollIntervalMs: cfg.nodePollIntervalMs,
        timeoutGraceSeconds: cfg.timeoutGraceSeconds,
        orphans: cfg.orphans,
        submitConcurrency: cfg.submitConcurrency,
        extraSbatchArgs: cfg.extraSbatchArgs,
        hostJobs: cfg.hostJobs,
        images: cfg.images,
        registries: cfg.registries,
        gpuPassthrough: cfg.gpuPassthrough,
        datasetRoot: cfg.datasetRoot,
        workloadPorts: cfg.workloadPorts,
        measureEnergy: cfg.measureEnergy,
        reportRunTime: cfg.reportRunTime,
      });
    case 'kubernetes':
      return new KubernetesDriver({
        apiServer: cfg.apiServer,
        tokenFile: cfg.tokenFile,
        caFile: cfg.caFile,
        namespacePrefix: cfg.namespacePrefix,
        nodeMap: slurmNodeMap(cfg, input.site, input.nodes),
        defaultImage: cfg.defaultImage,
        instance: cfg.instance,
        pollIntervalMs: cfg.pollIntervalMs,
        nodePollIntervalMs: cfg.nodePollIntervalMs,
        timeoutGraceSeconds: cfg.timeoutGraceSeconds,
        orphans: cfg.orphans,
        clusterDomain: cfg.clusterDomain,
        datasetRoot: cfg.datasetRoot,
        probesOf: opts.probesOf,
      });
  }
}

/**
 * createSiteDrivers: one driver per site that configures one, a shared simulated driver for the
 * rest, and a router in front. With no site configured, it is just the simulated driver.
 */
export function createSiteDrivers(sites: SiteDriverInput[], opts: SiteDriverOptions): ExecutionDriver {
  const configured = sites.filter((s) => s.driver && s.driver.kind !== 'sim');
  const sim = new SimDriver(opts.timeScale);
  if (configured.length === 0) return sim;
  const map = new Map<string, ExecutionDriver>();
  for (const s of configured) map.set(s.site, createSiteDriver(s, opts));
  return new SiteRouterDriver(map, sites.length > configured.length ? sim : null);
}
