/**
 * Waiting reasons of residency-bound jobs, evaluator and scheduler together on a three-site fleet
 * written for the purpose: us1 (US, first in fleet order, its C5 lapsed), de2 (DE, C5 lapsed, the
 * large German site, the only other one with RTX) and de1 (DE, C5 current, small). Each reason
 * names the rule that really keeps a site out, and a gang that only de2 could hold is told so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadFleetFile } from '../../src/fleet/load-fleet.js';
import { ClusterModel, type SchedJob, scheduleCycle } from '../../src/scheduler/index.js';
import { evaluateResidency, type PolicyVersion, type ResidencyEvaluation, siteFacts } from '../../src/sovereignty/residency.js';
import { job, quotas } from '../scheduler/fixtures.js';

const path = join(mkdtempSync(join(tmpdir(), 'gigafab-reasons-')), 'fleet.yaml');
writeFileSync(
  path,
  `name: reasons
sites:
  - id: us1
    name: Ashburn 1
    city: Ashburn
    country: US
    operator: { name: Cloud Inc, establishment: US }
    attestations: [{ name: BSI C5 Type 2, validFrom: 2025-01-01, validUntil: 2026-06-30 }]
  - id: de2
    name: Frankfurt 1
    city: Frankfurt am Main
    country: DE
    operator: { name: Cloud GmbH, establishment: DE }
    attestations: [{ name: BSI C5 Type 2, validFrom: 2025-10-02, validUntil: 2026-10-01 }]
  - id: de1
    name: Munich 1
    city: Munich
    country: DE
    operator: { name: Cloud GmbH, establishment: DE }
    attestations: [{ name: BSI C5 Type 2, validFrom: 2026-01-01, validUntil: 2099-12-31 }]
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: 8, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }
  - { id: rtx, gpuType: RTX, gpusPerNode: 8, gpuMemoryGiB: 96, interconnect: pcie, cpus: 64, memoryGiB: 1024 }
pools:
  - { site: us1, nodeType: dgx, count: 8, unitSize: 8, namePrefix: us1-b200 }
  - { site: us1, nodeType: rtx, count: 4, unitSize: 4, namePrefix: us1-rtx }
  - { site: de2, nodeType: dgx, count: 4, unitSize: 4, namePrefix: de2-b200 }
  - { site: de2, nodeType: rtx, count: 2, unitSize: 2, namePrefix: de2-rtx }
  - { site: de1, nodeType: dgx, count: 2, unitSize: 2, namePrefix: de1-b200 }
`,
);
const fleet = loadFleetFile(path);
const SITES = fleet.sites.map(siteFacts);
const NOW = Date.parse('2026-11-23T12:00:00Z');
const HEALTH = [{ id: 'd', name: 'scans', classification: 'health' as const }];

/** The scheduler constraint the residency service derives from an evaluation. */
function residencyOf(ev: ResidencyEvaluation): SchedJob['residency'] {
  return {
    allowedSites: ev.allowedSites,
    reason: ev.waitingReason ?? '',
    rule: ev.narrowingRule ?? ev.excluded.find((e) => ev.everAllowedSites.includes(e.site))?.rule ?? ev.excluded[0]?.rule ?? null,
    excludedSites: ev.excluded.map((e) => ({ ...e, renewable: ev.everAllowedSites.includes(e.site) })),
  };
}

function pendingOf(residency: SchedJob['residency'], over: Partial<SchedJob>) {
  const r = scheduleCycle(new ClusterModel(fleet), {
    queue: [job('j', { project: 'p1', gpusPerNode: 8, residency, ...over })],
    quotas: quotas({ p1: { B200: 1000, RTX: 1000 } }),
    now: NOW,
  });
  assert.deepEqual(r.starts, []);
  return r.pending.get('j');
}

const health = evaluateResidency({ sites: SITES, org: null, project: null, projectId: 'p1', datasets: HEALTH, now: NOW });

test('a gang only the lapsed site could hold is told residency (that site and its attestation rule), not topology', () => {
  assert.deepEqual([health.allowedSites, health.everAllowedSites], [['de1'], ['de2', 'de1']]);
  const why = pendingOf(residencyOf(health), { gpuType: 'B200', nodes: 4 });
  assert.equal(why?.code, 'residency');
  assert.equal(why?.details?.rule, 'class:health:attestation');
  assert.equal(
    why?.message,
    'waiting: no site your residency rules allow (de1) is large enough for 4 x 8 B200 (largest: de1); ' +
      "de2 is, but is excluded: de2's BSI C5 Type 2 expired 2026-10-01 [class:health:attestation]; " +
      "32 B200 free in de2, excluded: de2's BSI C5 Type 2 expired 2026-10-01 [class:health:attestation]; " +
      '64 B200 free in us1, excluded: us1 is in US, not in DE or the EU or the EEA or an adequacy country [class:health:location]',
  );
});

test('the reason names the rule of the site that could host the job, not of the first excluded site', () => {
  // RTX exists only in us1 (first in fleet order) and de2: de2's lapsed attestation is what keeps the job waiting.
  const why = pendingOf(residencyOf(health), { gpuType: 'RTX', nodes: 1 });
  assert.equal(why?.code, 'residency');
  assert.equal(why?.details?.rule, 'class:health:attestation');
  assert.equal(why?.details?.residencyExcluded, 'de2:class:health:attestation,us1:class:health:location');
  assert.match(
    why?.message ?? '',
    /^waiting: the sites your residency rules allow \(de1\) have no RTX nodes; 16 RTX free in de2/,
  );
});

test("a site's rule is the one that keeps it out for good, not a lapsed attestation it also fails", () => {
  const version = (scope: 'org' | 'project', name: string, rules: PolicyVersion['rules']): PolicyVersion => ({
    scope,
    scopeId: scope === 'org' ? 'acme' : 'p1',
    name,
    version: 1,
    rules,
    dataClasses: ['internal'],
  });
  const ev = evaluateResidency({
    sites: SITES,
    org: version('org', 'c5', { attestations: ['BSI C5 Type 2'] }),
    project: version('project', 'de', { countries: ['DE'] }),
    projectId: 'p1',
    datasets: [],
    now: NOW,
  });
  const us1 = ev.excluded.find((e) => e.site === 'us1');
  // us1 fails the organisation's (dated) C5 rule first, but renewing it would not help: it is in the US.
  assert.deepEqual(us1, { site: 'us1', rule: 'project:p1/de@1:location', reason: 'us1 is in US, not in DE' });
  const de2 = ev.excluded.find((e) => e.site === 'de2');
  assert.equal(de2?.rule, 'org:acme/c5@1:attestation:BSI C5 Type 2');
  assert.deepEqual(ev.everAllowedSites, ['de2', 'de1']);
});

test('with no site allowed now, the wait names every excluded site with its own rule', () => {
  const later = Date.parse('2100-01-02T00:00:00Z');
  const ev = evaluateResidency({ sites: SITES, org: null, project: null, projectId: 'p1', datasets: HEALTH, now: later });
  assert.deepEqual(ev.allowedSites, []);
  assert.equal(ev.narrowingRule, 'class:health:attestation');
  assert.match(ev.waitingReason ?? '', /de2's BSI C5 Type 2 expired 2026-10-01; de1's BSI C5 Type 2 expired 2099-12-31/);
  assert.match(
    ev.waitingReason ?? '',
    /; other sites: us1 is in US, not in DE or the EU or the EEA or an adequacy country \[class:health:location\]$/,
  );
});

test('a session state dataset pins the job to its home site, named by id in the reason (never by its name)', () => {
  const pinned = [{ id: 'ds_1', name: 'secret-notebooks', classification: 'internal' as const, pinnedTo: 'de2' }];
  const ev = evaluateResidency({ sites: SITES, org: null, project: null, projectId: 'p1', datasets: pinned, now: NOW });
  assert.deepEqual([ev.allowedSites, ev.everAllowedSites], [['de2'], ['de2']]);
  assert.deepEqual(
    ev.excluded.map((e) => [e.site, e.rule, e.reason]),
    [
      ['us1', 'dataset:ds_1:home-site', 'us1 does not hold dataset ds_1 (kept at de2)'],
      ['de1', 'dataset:ds_1:home-site', 'de1 does not hold dataset ds_1 (kept at de2)'],
    ],
  );
  assert.doesNotMatch(JSON.stringify(ev), /secret-notebooks/);
  // With health data too, the pin and the class rules both apply: de2's C5 lapsed, so it waits, naming that.
  const both = evaluateResidency({
    sites: SITES,
    org: null,
    project: null,
    projectId: 'p1',
    datasets: [{ ...pinned[0]!, classification: 'health' as const }],
    now: NOW,
  });
  assert.deepEqual([both.allowedSites, both.everAllowedSites], [[], ['de2']]);
  assert.match(both.waitingReason ?? '', /C5 Type 2/);
  // A state dataset kept at a site the class rules exclude can never be used: the job is refused.
  const never = evaluateResidency({
    sites: SITES,
    org: null,
    project: null,
    projectId: 'p1',
    datasets: [{ ...pinned[0]!, classification: 'health' as const, pinnedTo: 'us1' }],
    now: NOW,
  });
  assert.deepEqual(never.everAllowedSites, []);
});
