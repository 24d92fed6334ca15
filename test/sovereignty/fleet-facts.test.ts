/** Fleet files: residency facts are optional (old files load unchanged) and validated when given. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FleetError, loadFleetFile } from '../../src/fleet/load-fleet.js';
import { evaluateResidency, siteFacts } from '../../src/sovereignty/residency.js';

const dir = mkdtempSync(join(tmpdir(), 'gigafab-fleet-facts-'));
function fleet(site: string): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    path,
    `name: t
sites:
  - ${site}
nodeTypes:
  - { id: n, gpuType: B200, gpusPerNode: 8, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }
pools:
  - { site: s1, nodeType: n, count: 1, unitSize: 1, namePrefix: s1-n }
`,
  );
  return path;
}

test('an old fleet file without operator or attestations still loads; its site fails operator and attestation rules', () => {
  const f = loadFleetFile(fleet('{ id: s1, name: S1, city: Oslo, country: "NO", certifications: [bsi-c5] }'));
  const s = siteFacts(f.sites[0]!);
  assert.deepEqual([s.eu, s.eea, s.operator, s.attestations], [false, true, null, []]);
  const ev = evaluateResidency({
    sites: [s],
    org: null,
    project: null,
    projectId: 'p',
    datasets: [{ id: 'd', name: 'd', classification: 'health' }],
    now: Date.parse('2026-11-23T00:00:00Z'),
  });
  assert.deepEqual(ev.allowedSites, []);
  assert.match(ev.excluded[0]!.reason, /s1's operator is not declared, not in DE/);
  const personal = evaluateResidency({
    ...{ sites: [s], org: null, project: null, projectId: 'p', now: 0 },
    datasets: [{ id: 'd', name: 'd', classification: 'personal' }],
  });
  assert.deepEqual(personal.allowedSites, ['s1'], 'Norway is in the EEA');
});

test('attestations and operator are validated', () => {
  assert.throws(
    () =>
      loadFleetFile(
        fleet(
          '{ id: s1, name: S1, city: B, country: DE, attestations: [{ name: C5, validFrom: 2027-01-01, validUntil: 2026-01-01 }] }',
        ),
      ),
    (e: Error) => e instanceof FleetError && /validFrom must be before validUntil/.test(e.message),
  );
  assert.throws(
    () =>
      loadFleetFile(
        fleet(
          '{ id: s1, name: S1, city: B, country: DE, attestations: [{ name: C5, validFrom: soon, validUntil: 2026-01-01 }] }',
        ),
      ),
    /ISO 8601 date/,
  );
  assert.throws(
    () => loadFleetFile(fleet('{ id: s1, name: S1, city: B, country: DE, operator: { name: X, establishment: Germany } }')),
    /ISO 3166-1/,
  );
});
