/**
 * The residency evaluator and its scheduler constraint, on the demo fleet (muc1 Munich DE,
 * fra1 Frankfurt DE with an expired C5 Type 2, vie1 Vienna AT), checked against an oracle written
 * out by hand from the site facts and the rule table in docs/sovereignty-residency.md.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadFleetFile } from '../../src/fleet/load-fleet.js';
import { ClusterModel, type SchedJob, scheduleCycle } from '../../src/scheduler/index.js';
import { countryInfo } from '../../src/sovereignty/countries.js';
import {
  type DataClass,
  evaluateResidency,
  looserThan,
  neverReason,
  nextValidityChange,
  type PolicyVersion,
  type ResidencyRules,
  siteFacts,
} from '../../src/sovereignty/residency.js';
import { job, quotas } from '../scheduler/fixtures.js';

const demo = loadFleetFile();
const SITES = demo.sites.map(siteFacts);
const NOW = Date.parse('2026-11-23T12:00:00Z');

/** Hand-written facts of the demo fleet at NOW. */
const FACTS: Record<string, { country: string; eu: boolean; opDE: boolean; c5t2: boolean; iso: boolean }> = {
  muc1: { country: 'DE', eu: true, opDE: true, c5t2: true, iso: true },
  fra1: { country: 'DE', eu: true, opDE: true, c5t2: false, iso: true },
  vie1: { country: 'AT', eu: true, opDE: false, c5t2: false, iso: true },
};

type Named = { name: string; rules: ResidencyRules; ok: (s: string) => boolean; classes?: DataClass[] };
const ALL: DataClass[] = ['public', 'internal', 'confidential', 'personal', 'health'];
const ORG_POLICIES: (Named | null)[] = [
  null,
  { name: 'eu-only', rules: { regions: ['EU'] }, ok: (s) => FACTS[s]!.eu },
  { name: 'de-only', rules: { countries: ['DE'] }, ok: (s) => FACTS[s]!.country === 'DE' },
  { name: 'certified', rules: { attestations: ['ISO/IEC 27001'] }, ok: (s) => FACTS[s]!.iso },
  { name: 'c5-only', rules: { attestations: ['BSI C5 Type 2'] }, ok: (s) => FACTS[s]!.c5t2 },
];
const PROJECT_POLICIES: (Named | null)[] = [
  null,
  { name: 'de-only', rules: { countries: ['DE'] }, ok: (s) => FACTS[s]!.country === 'DE' },
  { name: 'at-only', rules: { countries: ['AT'] }, ok: (s) => FACTS[s]!.country === 'AT' },
  {
    name: 'c5-de-operator',
    rules: { operatorEstablishment: ['DE'], attestations: ['BSI C5 Type 2'] },
    ok: (s) => FACTS[s]!.opDE && FACTS[s]!.c5t2,
  },
  {
    name: 'eu-certified',
    rules: { regions: ['EU'], attestations: ['ISO/IEC 27001', 'BSI C5 Type 2'] },
    ok: (s) => FACTS[s]!.eu && FACTS[s]!.iso && FACTS[s]!.c5t2,
  },
];
const CLASS_OK: Record<DataClass, (s: string) => boolean> = {
  public: () => true,
  internal: () => true,
  confidential: (s) => FACTS[s]!.eu && FACTS[s]!.iso,
  personal: (s) => FACTS[s]!.eu,
  health: (s) => FACTS[s]!.opDE && FACTS[s]!.c5t2,
};

/** Whether the project policy is looser than the org's, by hand: location, attestations. */
function expectLooser(org: Named | null, proj: Named | null): boolean {
  if (!org) return false;
  const orgAtt = org.rules.attestations ?? [];
  const projAtt = proj?.rules.attestations ?? [];
  if (orgAtt.some((a) => !projAtt.includes(a))) return true;
  if (org.name === 'eu-only') return !proj || (!proj.rules.countries && !proj.rules.regions);
  if (org.name === 'de-only') return proj?.name !== 'de-only';
  return false;
}

const version = (scope: 'org' | 'project', n: Named, v = 1): PolicyVersion => ({
  scope,
  scopeId: scope === 'org' ? 'acme' : 'imaging',
  name: n.name,
  version: v,
  rules: n.rules,
  dataClasses: ALL,
});

function sched(residency: SchedJob['residency'], id: string, over: Partial<SchedJob> = {}): SchedJob {
  return job(id, { project: 'p1', gpuType: null, gpusPerNode: 8, ...(residency ? { residency } : {}), ...over });
}

test('policy matrix: org policy x project policy x data class x site, evaluator and scheduler agree with the oracle', () => {
  const q = quotas({ p1: { B200: 100_000, 'RTX-PRO-6000': 100_000 } });
  let combos = 0;
  let rejected = 0;
  for (const org of ORG_POLICIES) {
    for (const proj of PROJECT_POLICIES) {
      const looser = proj ? looserThan(version('project', proj), org ? version('org', org) : null) : null;
      // A project with no policy of its own inherits the organisation's: never looser.
      assert.equal(looser !== null, proj !== null && expectLooser(org, proj), `looser ${org?.name} / ${proj?.name}: ${looser}`);
      if (looser) {
        rejected++;
        continue;
      }
      for (const cls of [null, ...ALL] as (DataClass | null)[]) {
        combos++;
        const ev = evaluateResidency({
          sites: SITES,
          org: org ? version('org', org) : null,
          project: proj ? version('project', proj) : null,
          projectId: 'imaging',
          datasets: cls ? [{ id: 'ds1', name: 'd', classification: cls }] : [],
          now: NOW,
        });
        const expected = ['muc1', 'fra1', 'vie1'].filter(
          (s) => (!org || org.ok(s)) && (!proj || proj.ok(s)) && (!cls || CLASS_OK[cls](s)),
        );
        const what = `${org?.name ?? '-'} / ${proj?.name ?? '-'} / ${cls ?? '-'}`;
        assert.deepEqual(ev.allowedSites, expected, what);
        for (const e of ev.excluded) assert.ok(!expected.includes(e.site) && e.rule && e.reason, what);
        assert.equal(ev.excluded.length, 3 - expected.length, what);

        // The scheduler: one job free to go anywhere, one pinned to each site.
        const residency = ev.rules.length
          ? { allowedSites: ev.allowedSites, reason: ev.waitingReason ?? '', rule: ev.narrowingRule }
          : undefined;
        const queue = [
          sched(residency, 'any'),
          ...['muc1', 'fra1', 'vie1'].map((s) => sched(residency, `at-${s}`, { requiredSites: [s] })),
        ];
        const r = scheduleCycle(new ClusterModel(demo), { queue, quotas: q, now: NOW });
        const started = new Map(r.starts.map((s) => [s.jobId, s.placement.site]));
        if (expected.length === 0) {
          assert.equal(r.starts.length, 0, what);
          assert.equal(r.pending.get('any')?.code, 'residency', what);
        } else assert.ok(expected.includes(started.get('any')!), `${what}: any -> ${started.get('any')}`);
        for (const s of ['muc1', 'fra1', 'vie1']) {
          assert.equal(started.get(`at-${s}`) === s, expected.includes(s), `${what}: pinned to ${s}`);
        }
      }
    }
  }
  assert.ok(combos >= 80 && rejected >= 5, `${combos} combinations, ${rejected} rejected`);
});

test('jurisdiction comes from the ISO table: DE and AT are EU and EEA, NO is EEA only, CH is adequate', () => {
  assert.deepEqual(
    SITES.map((s) => [s.id, s.country, s.eu, s.eea]),
    [
      ['muc1', 'DE', true, true],
      ['fra1', 'DE', true, true],
      ['vie1', 'AT', true, true],
    ],
  );
  assert.equal(countryInfo('NO').eu, false);
  assert.equal(countryInfo('NO').eea, true);
  assert.equal(countryInfo('CH').adequacy, true);
  assert.equal(countryInfo('ZZ').eea, false);
});

test('attestation expiry: fra1 C5 Type 2 valid through 2026-10-01, muc1 through 2027-03-31', () => {
  const health = (now: number) =>
    evaluateResidency({
      sites: SITES,
      org: null,
      project: null,
      projectId: 'imaging',
      datasets: [{ id: 'd', name: 'scans', classification: 'health' }],
      now,
    });
  assert.deepEqual(health(Date.parse('2026-10-01T23:59:59Z')).allowedSites, ['muc1', 'fra1']);
  const after = health(Date.parse('2026-10-02T00:00:00Z'));
  assert.deepEqual(after.allowedSites, ['muc1']);
  assert.match(after.excluded.find((e) => e.site === 'fra1')!.reason, /fra1's BSI C5 Type 2 expired 2026-10-01/);
  assert.match(after.excluded.find((e) => e.site === 'vie1')!.reason, /vie1's operator is established in AT/);

  // Once muc1's expires too, nothing is allowed: the job waits with the narrowing rule and every expiry.
  const none = health(Date.parse('2027-04-01T00:00:00Z'));
  assert.deepEqual(none.allowedSites, []);
  assert.equal(none.narrowingRule, 'class:health:attestation');
  assert.match(
    none.waitingReason ?? '',
    /^waiting: health data of project imaging needs a site with a current BSI C5 Type 2 attestation/,
  );
  assert.match(none.waitingReason ?? '', /muc1's BSI C5 Type 2 expired 2027-03-31; fra1's BSI C5 Type 2 expired 2026-10-01/);
  // ...but it is not forbidden for ever: the attestations can be renewed.
  assert.deepEqual(none.everAllowedSites, ['muc1', 'fra1']);
  assert.equal(neverReason(none), null);

  // Before muc1's attestation started, only fra1 qualified.
  assert.deepEqual(health(Date.parse('2026-03-15T00:00:00Z')).allowedSites, ['fra1']);
  // The next validity boundary after NOW is muc1's end (2027-03-31 end of day).
  assert.equal(nextValidityChange(SITES, NOW), Date.parse('2027-04-01T00:00:00Z'));
});

test('health data: C5 Type 1 sufficed until 2025-06-30 (§ 393 (3) SGB V)', () => {
  const site = siteFacts({
    id: 'x1',
    name: 'X',
    city: 'Berlin',
    country: 'DE',
    certifications: [],
    operator: { name: 'X GmbH', establishment: 'DE' },
    attestations: [{ name: 'BSI C5 Type 1', validFrom: '2024-01-01', validUntil: '2026-12-31' }],
  });
  const ev = (now: string) =>
    evaluateResidency({
      sites: [site],
      org: null,
      project: null,
      projectId: 'p',
      datasets: [{ id: 'd', name: 'd', classification: 'health' }],
      now: Date.parse(now),
    }).allowedSites;
  assert.deepEqual(ev('2025-06-30T12:00:00Z'), ['x1']);
  assert.deepEqual(ev('2025-07-01T00:00:00Z'), []);
});

test('never placeable: a project allowing only AT with health data is forbidden, naming the rule', () => {
  const ev = evaluateResidency({
    sites: SITES,
    org: null,
    project: version('project', { name: 'at-only', rules: { countries: ['AT'] }, ok: () => true }),
    projectId: 'imaging',
    datasets: [{ id: 'd', name: 'd', classification: 'health' }],
    now: NOW,
  });
  const never = neverReason(ev);
  assert.ok(never);
  assert.match(never.message, /no site of the fleet can ever satisfy/);
  assert.match(never.message, /muc1 is in DE, not in AT \[project:imaging\/at-only@1:location\]/);
  assert.match(never.message, /vie1's operator is established in AT, not in DE \[class:health:operator\]/);
});

test('looserThan names the rule a project would relax', () => {
  const org = version('org', { name: 'eu-c5', rules: { regions: ['EU'], attestations: ['BSI C5 Type 2'] }, ok: () => true });
  const p = (rules: ResidencyRules, dataClasses: DataClass[] = ALL) => ({
    scope: 'project' as const,
    scopeId: 'x',
    name: 'p',
    rules,
    dataClasses,
  });
  assert.match(
    looserThan(p({ countries: ['CH'], attestations: ['BSI C5 Type 2'] }), org) ?? '',
    /^location: the project allows CH/,
  );
  assert.match(looserThan(p({ countries: ['DE'] }), org) ?? '', /^attestations: the project drops BSI C5 Type 2/);
  assert.equal(looserThan(p({ countries: ['DE'], attestations: ['BSI C5 Type 2', 'ISO/IEC 27001'] }), org), null);
  const narrowOrg = { ...org, dataClasses: ['public'] as DataClass[] };
  assert.match(looserThan(p({ regions: ['EU'], attestations: ['BSI C5 Type 2'] }, ['health']), narrowOrg) ?? '', /^dataClasses/);
});

test('a wait names the residency rule even when the allowed sites lack the GPU type', () => {
  const ev = evaluateResidency({
    sites: SITES,
    org: null,
    project: null,
    projectId: 'imaging',
    datasets: [{ id: 'd', name: 'scans', classification: 'health' }],
    now: NOW,
  });
  // Only muc1 (B200) qualifies; an RTX job could run on fra1 once its C5 is renewed: it waits.
  assert.deepEqual([ev.allowedSites, ev.everAllowedSites], [['muc1'], ['muc1', 'fra1']]);
  const residency = {
    allowedSites: ev.allowedSites,
    reason: ev.waitingReason ?? '',
    rule: ev.narrowingRule,
    excluded: ev.narrowing ?? '',
    excludedSites: ev.excluded.map((e) => ({ ...e, renewable: ev.everAllowedSites.includes(e.site) })),
  };
  const r = scheduleCycle(new ClusterModel(demo), {
    queue: [sched(residency, 'rtx', { gpuType: 'RTX-PRO-6000' }), sched(residency, 'b200', { gpuType: 'B200' })],
    quotas: quotas({ p1: { B200: 1000, 'RTX-PRO-6000': 1000 } }),
    now: NOW,
  });
  assert.deepEqual(
    r.starts.map((s) => [s.jobId, s.placement.site]),
    [['b200', 'muc1']],
  );
  const why = r.pending.get('rtx');
  assert.equal(why?.code, 'residency');
  // Counted honestly: what the excluded sites have free, each with the rule that excludes it; the
  // reason's rule is the one keeping out the larger site that could host the job (fra1, renewable).
  assert.equal(
    why?.message,
    'waiting: the sites your residency rules allow (muc1) have no RTX-PRO-6000 nodes; ' +
      "1,280 RTX-PRO-6000 free in fra1, excluded: fra1's BSI C5 Type 2 expired 2026-10-01 [class:health:attestation]; " +
      "768 RTX-PRO-6000 free in vie1, excluded: vie1's operator is established in AT, not in DE [class:health:operator]",
  );
  assert.equal(why?.details?.rule, 'class:health:attestation');
  assert.equal(why?.details?.freeInExcluded, 2048);
});
