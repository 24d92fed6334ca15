/** Fleets with GPU sharing for the fractional-GPU tests: B200 with NVIDIA's MIG layout, sharing per site. */
import { expandFleet } from '../../src/fleet/load-fleet.js';
import type { Fleet } from '../../src/model/fleet.js';
import type { MigLayoutSpec } from '../../src/model/gpu-sharing.js';

/** The B200 MIG layout of fleets/demo.yaml (NVIDIA MIG user guide). */
export const B200_MIG: MigLayoutSpec = {
  computeSlices: 7,
  memorySlices: 8,
  profiles: [
    { name: '1g.23gb', computeSlices: 1, memorySlices: 1, memoryGiB: 23, maxInstances: 7 },
    { name: '1g.45gb', computeSlices: 1, memorySlices: 2, memoryGiB: 45, maxInstances: 4 },
    { name: '2g.45gb', computeSlices: 2, memorySlices: 2, memoryGiB: 45, maxInstances: 3 },
    { name: '3g.90gb', computeSlices: 3, memorySlices: 4, memoryGiB: 90, maxInstances: 2 },
    { name: '4g.90gb', computeSlices: 4, memorySlices: 4, memoryGiB: 90, maxInstances: 1 },
    { name: '7g.180gb', computeSlices: 7, memorySlices: 8, memoryGiB: 180, maxInstances: 1 },
  ],
};

/** shareFleet: site `a` (sharing on) and optionally site `b` (sharing off), `nodes` B200 nodes of `gpus` GPUs each. */
export function shareFleet(opts: { nodes?: number; gpus?: number; closedSite?: boolean } = {}): Fleet {
  const gpus = opts.gpus ?? 2;
  const site = (id: string, gpuSharing: boolean) => ({ id, name: id, city: id, country: 'DE', certifications: [], gpuSharing });
  return expandFleet({
    name: 'sharing',
    sites: opts.closedSite ? [site('a', true), site('b', false)] : [site('a', true)],
    nodeTypes: [
      {
        id: 'b200',
        gpuType: 'B200',
        gpusPerNode: gpus,
        gpuMemoryGiB: 180,
        interconnect: 'nvlink',
        cpus: 64,
        memoryGiB: 1024,
        mig: B200_MIG,
      },
    ],
    pools: [
      { site: 'a', nodeType: 'b200', count: opts.nodes ?? 1, unitSize: 4, namePrefix: 'a-b200' },
      ...(opts.closedSite ? [{ site: 'b', nodeType: 'b200', count: opts.nodes ?? 1, unitSize: 4, namePrefix: 'b-b200' }] : []),
    ],
  });
}
