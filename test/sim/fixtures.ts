/** Small fleets and jobs for the simulator tests. */
import { expandFleet } from '../../src/fleet/load-fleet.js';
import type { Fleet } from '../../src/model/fleet.js';
import type { SimJob } from '../../src/sim/types.js';

/** tinyFleet: `nodes` nodes of `gpus` GPUs of type X in one site, one unit. */
export function tinyFleet(nodes: number, gpus = 8): Fleet {
  return expandFleet({
    name: 'tiny',
    sites: [{ id: 's1', name: 'Site 1', city: 'Munich', country: 'DE', certifications: [] }],
    nodeTypes: [
      { id: 'n8', gpuType: 'X', gpusPerNode: gpus, gpuMemoryGiB: 80, interconnect: 'nvlink', cpus: 64, memoryGiB: 512 },
    ],
    pools: [{ site: 's1', nodeType: 'n8', count: nodes, unitSize: 32, namePrefix: 's1-x' }],
  });
}

export function job(
  id: string,
  submitTime: number,
  gpusPerNode: number,
  nodes: number,
  duration: number,
  extra: Partial<SimJob> = {},
): SimJob {
  return { id, submitTime, org: 'o', project: 'p', gpuType: null, gpusPerNode, nodes, duration, wallLimit: duration, ...extra };
}
