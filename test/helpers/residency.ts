/** A three-site fleet with residency facts for the residency tests, and a job helper. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** de1: C5 Type 2 current; de2: its C5 expired 2026-10-01; at1: Austrian operator, ISO only. */
export function residencyFleet(c5Until = '2099-12-31'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gigafab-residency-')), 'fleet.yaml');
  writeFileSync(
    path,
    `name: residency
sites:
  - id: de1
    name: Munich 1
    city: Munich
    country: DE
    operator: { name: Cloud GmbH, establishment: DE }
    attestations:
      - { name: BSI C5 Type 2, validFrom: 2026-01-01, validUntil: "${c5Until}" }
      - { name: ISO/IEC 27001, validFrom: 2025-01-01, validUntil: 2099-12-31 }
  - id: de2
    name: Frankfurt 1
    city: Frankfurt am Main
    country: DE
    operator: { name: Cloud GmbH, establishment: DE }
    attestations:
      - { name: BSI C5 Type 2, validFrom: 2025-10-02, validUntil: 2026-10-01 }
      - { name: ISO/IEC 27001, validFrom: 2025-01-01, validUntil: 2099-12-31 }
  - id: at1
    name: Vienna 1
    city: Vienna
    country: AT
    operator: { name: Cloud Austria GmbH, establishment: AT }
    attestations:
      - { name: ISO/IEC 27001, validFrom: 2025-01-01, validUntil: 2099-12-31 }
nodeTypes:
  - { id: rtx, gpuType: RTX, gpusPerNode: 8, gpuMemoryGiB: 96, interconnect: pcie, cpus: 64, memoryGiB: 1024 }
pools:
  - { site: de1, nodeType: rtx, count: 2, unitSize: 32, namePrefix: de1-rtx }
  - { site: de2, nodeType: rtx, count: 2, unitSize: 32, namePrefix: de2-rtx }
  - { site: at1, nodeType: rtx, count: 2, unitSize: 32, namePrefix: at1-rtx }
`,
  );
  return path;
}

export const rtxJob = (project: string, name: string, datasets: string[] = []) => ({
  name,
  project,
  gpuType: 'RTX',
  gpusPerNode: 8,
  simulation: { durationSeconds: 3600 },
  ...(datasets.length ? { datasets: { reads: datasets } } : {}),
});
