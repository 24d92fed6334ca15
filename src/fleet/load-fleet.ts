/**
 * Fleet loading: YAML file (or the built-in demo fleet) -> validated, expanded Fleet.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { Fleet, FleetNode, FleetSpec } from '../model/fleet.js';
import { FleetSpecSchema } from './fleet-schema.js';

/** The built-in demo fleet ships as fleets/demo.yaml in the package. */
export const DEMO_FLEET_PATH = join(dirname(fileURLToPath(import.meta.url)), '../../../fleets/demo.yaml');

export class FleetError extends Error {}

/** loadFleetFile reads and expands a fleet YAML file; throws FleetError with a readable message. */
export function loadFleetFile(path: string = DEMO_FLEET_PATH): Fleet {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FleetError(`cannot read fleet file ${path}: ${(err as Error).message}`);
  }
  const parsed = FleetSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new FleetError(`invalid fleet file ${path}: ${first?.path.join('.')}: ${first?.message}`);
  }
  return expandFleet(parsed.data);
}

/** expandFleet turns pools into nodes, checks references, and scales pools by `scale` (capacity planning). */
export function expandFleet(spec: FleetSpec, scale = 1): Fleet {
  const siteIds = new Set(spec.sites.map((s) => s.id));
  const types = new Map(spec.nodeTypes.map((t) => [t.id, t]));
  const nodes: FleetNode[] = [];
  const nodeIndex = new Map<string, number>();
  const usedPrefixes = new Set<string>();
  for (const pool of spec.pools) {
    if (!siteIds.has(pool.site)) throw new FleetError(`pool ${pool.namePrefix}: unknown site ${pool.site}`);
    const type = types.get(pool.nodeType);
    if (!type) throw new FleetError(`pool ${pool.namePrefix}: unknown node type ${pool.nodeType}`);
    if (usedPrefixes.has(pool.namePrefix)) throw new FleetError(`duplicate pool namePrefix ${pool.namePrefix}`);
    usedPrefixes.add(pool.namePrefix);
    const count = Math.max(1, Math.round(pool.count * scale));
    const width = Math.max(4, String(count).length);
    for (let i = 0; i < count; i++) {
      const id = `${pool.namePrefix}-${String(i + 1).padStart(width, '0')}`;
      const unit = `${pool.namePrefix}-su${String(Math.floor(i / pool.unitSize) + 1).padStart(2, '0')}`;
      nodeIndex.set(id, nodes.length);
      nodes.push({
        index: nodes.length,
        id,
        site: pool.site,
        unit,
        nodeType: type.id,
        gpuType: type.gpuType,
        gpus: type.gpusPerNode,
        labels: { ...(pool.labels ?? {}) },
      });
    }
  }
  const gpuTypes = [...new Set(nodes.map((n) => n.gpuType))].sort();
  return {
    spec,
    sites: spec.sites,
    nodeTypes: spec.nodeTypes,
    nodes,
    nodeIndex,
    gpuTypes,
    totalGpus: nodes.reduce((a, n) => a + n.gpus, 0),
  };
}
