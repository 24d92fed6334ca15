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
