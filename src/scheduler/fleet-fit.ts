/**
 * Static fit: can a job shape ever run on this fleet, even when the fleet is empty? The API calls
 * validateJobFitsFleet at submission; the cycle calls it too, so a job that slipped through (fleet
 * shrank, bad import) is reported as `unsatisfiable` instead of waiting forever for capacity.
 */
import type { Fleet, GpuType } from '../model/fleet.js';
import type { PendingReason } from '../model/job.js';
import { formatCount, REASON } from './reasons.js';

/** JobShape is the part of a job that decides where it can run. */
export interface JobShape {
  gpuType: GpuType | null;
  gpusPerNode: number;
  nodes: number;
}

/** TypeFacts: static capacity of one GPU type: largest node, and node sizes per site. */
interface TypeFacts {
  maxGpusPerNode: number;
  /** site -> (GPUs per node -> node count), sites in fleet order. */
  sites: Map<string, Map<number, number>>;
  /** largestSite's answers by GPUs per node (the facts never change: computed once each). */
  largest: Map<number, { readonly site: string; readonly nodes: number }>;
}

const factsCache = new WeakMap<Fleet, Map<GpuType, TypeFacts>>();

function factsOf(fleet: Fleet): Map<GpuType, TypeFacts> {
  let facts = factsCache.get(fleet);
  if (facts) return facts;
  facts = new Map();
  for (const node of fleet.nodes) {
    let t = facts.get(node.gpuType);
    if (!t) {
      t = { maxGpusPerNode: 0, sites: new Map(), largest: new Map() };
      facts.set(node.gpuType, t);
    }
    t.maxGpusPerNode = Math.max(t.maxGpusPerNode, node.gpus);
    let sizes = t.sites.get(node.site);
    if (!sizes) {
      sizes = new Map();
      t.sites.set(node.site, sizes);
    }
    sizes.set(node.gpus, (sizes.get(node.gpus) ?? 0) + 1);
  }
  factsCache.set(fleet, facts);
  return facts;
}

/** largestSite returns the site with most nodes of `facts` that have at least `gpus` GPUs. */
function largestSite(facts: TypeFacts, gpus: number): { readonly site: string; readonly nodes: number } {
  const known = facts.largest.get(gpus);
  if (known) return known;
  let best = { site: '', nodes: 0 };
  for (const [site, sizes] of facts.sites) {
    let n = 0;
    for (const [size, count] of sizes) if (size >= gpus) n += count;
    if (n > best.nodes) best = { site, nodes: n };
  }
  facts.largest.set(gpus, best);
  return best;
}

function fitsType(fleet: Fleet, type: GpuType, job: JobShape): PendingReason | null {
  const facts = factsOf(fleet).get(type);
  if (!facts) {
    return REASON.unsatisfiable(`unknown GPU type ${type} (fleet has ${fleet.gpuTypes.join(', ') || 'none'})`, {
      rule: 'unknown_gpu_type',
      gpuType: type,
    });
  }
  if (job.gpusPerNode > facts.maxGpusPerNode) {
    return REASON.unsatisfiable(`no ${type} node has ${job.gpusPerNode} GPUs (largest has ${facts.maxGpusPerNode})`, {
      rule: 'gpus_per_node',
      gpuType: type,
      gpusPerNode: job.gpusPerNode,
      maxGpusPerNode: facts.maxGpusPerNode,
    });
  }
  const site = largestSite(facts, job.gpusPerNode);
  if (job.nodes > site.nodes) {
    return REASON.unsatisfiable(
      `job needs ${formatCount(job.nodes)} ${type} nodes with ${job.gpusPerNode} GPUs in one site, ` +
        `the largest site (${site.site}) has ${formatCount(site.nodes)}`,
      {
        rule: 'nodes_per_site',
        gpuType: type,
        nodes: job.nodes,
        largestSite: site.site,
        largestSiteNodes: site.nodes,
      },
    );
  }
  return null;
}

/**
 * validateJobFitsFleet returns an `unsatisfiable` reason if the job could never run on `fleet`,
 * even with every node up and idle: invalid shape, unknown GPU type, more GPUs per node than any
 * node of the type has, or more nodes than the largest site has of the type. null means it fits.
 * For gpuType null it fits if any GPU type fits.
 */
export function validateJobFitsFleet(fleet: Fleet, job: JobShape): PendingReason | null {
  if (!Number.isInteger(job.gpusPerNode) || job.gpusPerNode < 1 || !Number.isInteger(job.nodes) || job.nodes < 1) {
    return REASON.unsatisfiable(
      `invalid shape: gpusPerNode (${job.gpusPerNode}) and nodes (${job.nodes}) must be positive integers`,
      { rule: 'invalid_shape' },
    );
  }
  if (job.gpuType !== null) return fitsType(fleet, job.gpuType, job);
  if (fleet.gpuTypes.length === 0) return REASON.unsatisfiable('the fleet has no GPUs', { rule: 'empty_fleet' });
  let first: PendingReason | null = null;
  for (const type of fleet.gpuTypes) {
    const reason = fitsType(fleet, type, job);
    if (!reason) return null;
    first ??= reason;
  }
  return REASON.unsatisfiable(
    `no GPU type fits ${formatCount(job.nodes)} x ${job.gpusPerNode} GPUs in one site (${first?.message ?? ''})`,
    { rule: 'no_gpu_type_fits', nodes: job.nodes, gpusPerNode: job.gpusPerNode },
  );
}
