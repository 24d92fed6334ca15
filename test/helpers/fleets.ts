/** Small fleet files shared by tests that need a fleet other than the default demo fleet. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One site (s1, Munich) with four 8-GPU B200 nodes in units of four (and, with h200, four 8-GPU H200
 * nodes beside them); returns the file's path.
 */
export function writeSmallFleet(dir: string, opts: { h200?: boolean; labels?: Record<string, string> } = {}): string {
  const path = join(dir, 'fleet.yaml');
  const h200 = opts.h200 === true;
  writeFileSync(
    path,
    `name: small
sites:
  - { id: s1, name: S1, city: Munich, country: DE, certifications: [] }
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: 8, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }
${h200 ? '  - { id: hgx, gpuType: H200, gpusPerNode: 8, gpuMemoryGiB: 141, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }\n' : ''}pools:
  - { site: s1, nodeType: dgx, count: 4, unitSize: 4, namePrefix: s1-dgx${opts.labels ? `, labels: ${JSON.stringify(opts.labels)}` : ''} }
${h200 ? '  - { site: s1, nodeType: hgx, count: 4, unitSize: 4, namePrefix: s1-hgx }\n' : ''}`,
  );
  return path;
}

/** Two sites: s1 allows GPU sharing, s2 does not; B200 with two MIG profiles of NVIDIA's B200 table. */
export function writeSharingFleet(dir: string): string {
  const path = join(dir, 'fleet.yaml');
  writeFileSync(
    path,
    `name: sharing
sites:
  - { id: s1, name: S1, city: Munich, country: DE, certifications: [], gpuSharing: true }
  - { id: s2, name: S2, city: Vienna, country: AT, certifications: [] }
nodeTypes:
  - id: dgx
    gpuType: B200
    gpusPerNode: 8
    gpuMemoryGiB: 180
    interconnect: nvlink
    cpus: 112
    memoryGiB: 2048
    mig:
      computeSlices: 7
      memorySlices: 8
      profiles:
        - { name: 1g.23gb, computeSlices: 1, memorySlices: 1, memoryGiB: 23, maxInstances: 7 }
        - { name: 3g.90gb, computeSlices: 3, memorySlices: 4, memoryGiB: 90, maxInstances: 2 }
pools:
  - { site: s1, nodeType: dgx, count: 2, unitSize: 4, namePrefix: s1-dgx }
  - { site: s2, nodeType: dgx, count: 2, unitSize: 4, namePrefix: s2-dgx }
`,
  );
  return path;
}
