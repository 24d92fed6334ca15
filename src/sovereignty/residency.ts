/**
 * The residency evaluator: pure (no I/O, `now` is an input). From site facts, the organisation's and
 * the project's residency policy and the classes of the data a job reads or writes, it computes the
 * sites the job may run on and, for every other site, the first rule that excludes it. The control
 * plane feeds the result to the scheduler as a placement constraint and records it as evidence.
 */
import type { Attestation, SiteSpec } from '../model/fleet.js';
import { allCountries, countryInfo } from './countries.js';

export const DATA_CLASSES = ['public', 'internal', 'confidential', 'personal', 'health'] as const;
export type DataClass = (typeof DATA_CLASSES)[number];
/** Regions a policy may allow: the EU, the EEA, or the countries with a GDPR Art. 45 adequacy decision. */
export const REGIONS = ['EU', 'EEA', 'ADEQUATE'] as const;
export type Region = (typeof REGIONS)[number];

/** ResidencyRules: a policy's placement rules, as data. Absent or empty fields restrict nothing. */
export interface ResidencyRules {
  /** Allowed countries (ISO 3166-1 alpha-2); together with `regions` they form the allowed locations. */
  countries?: string[];
  regions?: Region[];
  /** Attestations every site must hold, current at the time of placement. */
  attestations?: string[];
  /** The site's operator must be established in one of these countries. */
  operatorEstablishment?: string[];
}

/** PolicyVersion: one version of an organisation's or project's residency policy. */
export interface PolicyVersion {
  scope: 'org' | 'project';
  scopeId: string;
  name: string;
  version: number;
  rules: ResidencyRules;
  /** Data classes the organisation or project may process (a dataset of another class is refused). */
  dataClasses: DataClass[];
}

/** SiteFacts: a site's jurisdiction (derived from the ISO table), operator and attestations. */
export interface SiteFacts {
  id: string;
  name: string;
  city: string;
  country: string;
  countryName: string;
  eu: boolean;
  eea: boolean;
  adequacy: boolean;
  operator: { name: string; establishment: string } | null;
  attestations: Attestation[];
}

export function siteFacts(s: SiteSpec): SiteFacts {
  const c = countryInfo(s.country);
  return {
    id: s.id,
    name: s.name,
    city: s.city,
    country: s.country,
    countryName: c.name,
    eu: c.eu,
    eea: c.eea,
    adequacy: c.adequacy,
    operator: s.operator ? { ...s.operator } : null,
    attestations: (s.attestations ?? []).map((a) => ({ ...a })),
  };
}

// ------------------------------------------------------------------ attestation validity

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
/** validFromMs: a date alone means the start of that day (UTC). */
export function validFromMs(a: Attestation): number {
  return Date.parse(DATE_ONLY.test(a.validFrom) ? `${a.validFrom}T00:00:00Z` : a.validFrom);
}
/** validUntilMs: the first instant the attestation is no longer valid (a date alone: the next midnight UTC). */
export function validUntilMs(a: Attestation): number {
  return DATE_ONLY.test(a.validUntil) ? Date.parse(`${a.validUntil}T00:00:00Z`) + 86_400_000 : Date.parse(a.validUntil);
}
export function isCurrent(a: Attestation, now: number): boolean {
  return validFromMs(a) <= now && now < validUntilMs(a);
}
/** currentAttestations: the names of the site's attestations valid at `now`. */
export function currentAttestations(site: SiteFacts, now: number): string[] {
  return site.attestations.filter((a) => isCurrent(a, now)).map((a) => a.name);
}

/** nextValidityChange: the earliest attestation start or end after `now` in the fleet (null: none). */
export function nextValidityChange(sites: readonly SiteFacts[], now: number): number | null {
  let next: number | null = null;
  for (const s of sites)
    for (const a of s.attestations)
      for (const t of [validFromMs(a), validUntilMs(a)]) if (t > now && (next === null || t < next)) next = t;
  return next;
}

// ------------------------------------------------------------------ rules

/** A rule a site must pass; `check` returns why the site fails it, or null. */
export interface Rule {
  /** Stable id, e.g. `org:acme/eu-only@3:location` or `class:health:attestation`. */
  id: string;
  /** Where the rule comes from, e.g. `organisation acme policy eu-only v3`, `data class health (§ 393 SGB V)`. */
  source: string;
  /** What the rule demands, as a sentence fragment: "a site in DE or the EU". */
  requirement: string;
  /** Whether the rule depends on attestation dates (it may pass later, or stop passing). */
  timed: boolean;
  /** ignoreDates: count an attestation held at any time (used for "could this ever be placed?"). */
  check(site: SiteFacts, now: number, ignoreDates: boolean): string | null;
}

function describeLocations(r: ResidencyRules): string {
  const parts = [...(r.countries ?? [])];
  for (const reg of r.regions ?? []) parts.push(reg === 'ADEQUATE' ? 'an adequacy country' : `the ${reg}`);
  return parts.join(' or ');
}

function locationAllows(r: ResidencyRules, country: string): boolean {
  const countries = r.countries ?? [];
  const regions = r.regions ?? [];
  if (countries.length === 0 && regions.length === 0) return true;
  if (countries.includes(country)) return true;
  const c = countryInfo(country);
  return (regions.includes('EU') && c.eu) || (regions.includes('EEA') && c.eea) || (regions.includes('ADEQUATE') && c.adequacy);
}

function attestationFailure(site: SiteFacts, anyOf: readonly string[], now: number, ignoreDates: boolean): string | null {
  const held = site.attestations.filter((a) => anyOf.includes(a.name));
  if (held.some((a) => ignoreDates || isCurrent(a, now))) return null;
  const want = anyOf.join(' or ');
  if (held.length === 0) return `${site.id} holds no ${want} attestation`;
  const future = held.filter((a) => validFromMs(a) > now).sort((a, b) => validFromMs(a) - validFromMs(b))[0];
  if (future) return `${site.id}'s ${future.name} is valid only from ${future.validFrom}`;
  const last = [...held].sort((a, b) => validUntilMs(b) - validUntilMs(a))[0]!;
  return `${site.id}'s ${last.name} expired ${last.validUntil}`;
}

/** rulesOf turns one policy version into rules (location, operator, attestations). */
export function rulesOf(p: PolicyVersion): Rule[] {
  const source = `${p.scope === 'org' ? 'organisation' : 'project'} ${p.scopeId} policy ${p.name} v${p.version}`;
  const prefix = `${p.scope}:${p.scopeId}/${p.name}@${p.version}`;
  return rulesFromData(p.rules, prefix, source);
}

function rulesFromData(r: ResidencyRules, prefix: string, source: string): Rule[] {
  const rules: Rule[] = [];
  if ((r.countries?.length ?? 0) + (r.regions?.length ?? 0) > 0) {
    const where = describeLocations(r);
    rules.push({
      id: `${prefix}:location`,
      source,
      requirement: `a site in ${where}`,
      timed: false,
      check: (s) => (locationAllows(r, s.country) ? null : `${s.id} is in ${s.country}, not in ${where}`),
    });
  }
  const est = r.operatorEstablishment ?? [];
  if (est.length > 0) {
    rules.push({
      id: `${prefix}:operator`,
      source,
      requirement: `a site run by an operator established in ${est.join(' or ')}`,
      timed: false,
      check: (s) =>
        s.operator && est.includes(s.operator.establishment)
          ? null
          : `${s.id}'s operator ${s.operator ? `is established in ${s.operator.establishment}` : 'is not declared'}, not in ${est.join(' or ')}`,
    });
  }
  for (const name of r.attestations ?? []) {
    rules.push({
      id: `${prefix}:attestation:${name}`,
      source,
      requirement: `a site with a current ${name} attestation`,
      timed: true,
      check: (s, now, ignore) => attestationFailure(s, [name], now, ignore),
    });
  }
  return rules;
}

/**
 * The built-in rules per data class (documented in docs/sovereignty-residency.md with sources).
 * health: § 393 SGB V (2)-(4): processing in DE, the EU/EEA or an adequacy country, by a processor
 * with an establishment in Germany and a current C5 Type 2 attestation (Type 1 sufficed until
 * 2025-06-30). personal: GDPR Chapter V (Arts. 44-45): no transfer outside the EEA without an
 * adequacy decision. confidential: the platform's default (C5 PSS-12 contracted region): EU/EEA and
 * a current ISO/IEC 27001 certificate. public and internal: no rule.
 */
export const C5_TYPE2 = 'BSI C5 Type 2';
export const C5_TYPE1 = 'BSI C5 Type 1';
export const ISO27001 = 'ISO/IEC 27001';
const C5_TYPE1_ACCEPTED_UNTIL = Date.parse('2025-07-01T00:00:00Z');

export const CLASS_RULE_TABLE: Record<DataClass, { source: string; rules: ResidencyRules; anyOfAttestations?: string[] }> = {
  public: { source: 'no rule', rules: {} },
  internal: { source: 'no rule', rules: {} },
  confidential: {
    source: 'platform default for confidential data (C5 PSS-12: contracted region)',
    rules: { regions: ['EU', 'EEA'], attestations: [ISO27001] },
  },
  personal: {
    source: 'GDPR Arts. 44-45 (no transfer outside the EEA without adequacy)',
    rules: { regions: ['EEA', 'ADEQUATE'] },
  },
  health: {
    source: '§ 393 SGB V (2)-(4)',
    rules: { countries: ['DE'], regions: ['EU', 'EEA', 'ADEQUATE'], operatorEstablishment: ['DE'] },
    anyOfAttestations: [C5_TYPE2],
  },
};

function classRules(cls: DataClass, who: string, now: number): Rule[] {
  const entry = CLASS_RULE_TABLE[cls];
  const source = `data class ${cls} (${entry.source})`;
  const rules = rulesFromData(entry.rules, `class:${cls}`, source);
  if (entry.anyOfAttestations) {
    // The transitional C5 Type 1 acceptance ended 2025-06-30 (§ 393 (3) SGB V).
    const anyOf = now < C5_TYPE1_ACCEPTED_UNTIL ? [C5_TYPE2, C5_TYPE1] : entry.anyOfAttestations;
    rules.push({
      id: `class:${cls}:attestation`,
      source,
      requirement: `a site with a current ${anyOf.join(' or ')} attestation`,
      timed: true,
      check: (s, at, ignore) => attestationFailure(s, anyOf, at, ignore),
    });
  }
  for (const r of rules) r.requirement = `${cls} data of ${who} needs ${r.requirement}`;
  return rules;
}

// ------------------------------------------------------------------ evaluation

export interface DatasetRef {
  id: string;
  name: string;
  classification: DataClass;
  /** The job uses this dataset in place: only its home site may host the job (a session's state dataset). */
  pinnedTo?: string;
}

export interface ResidencyInput {
  sites: readonly SiteFacts[];
  org: PolicyVersion | null;
  project: PolicyVersion | null;
  projectId: string;
  datasets: readonly DatasetRef[];
  now: number;
}

export interface Exclusion {
  site: string;
  rule: string;
  reason: string;
}

export interface ResidencyEvaluation {
  /** Sites the job may be placed on now, in fleet order. */
  allowedSites: string[];
  /** Every other site with the first rule that excludes it. */
  excluded: Exclusion[];
  /** Sites that would pass with every attestation counted regardless of dates (fleet as configured). */
  everAllowedSites: string[];
  rules: { id: string; source: string; requirement: string }[];
  policyVersions: { org: { name: string; version: number } | null; project: { name: string; version: number } | null };
  dataClasses: DataClass[];
  /** When no site is allowed now: a sentence naming the rule that narrows the job; else null. */
  waitingReason: string | null;
  /** The rule the waiting reason names (null when none). */
  narrowingRule: string | null;
  /** Why the other sites are excluded, one clause per site with its rule (null when none is). */
  narrowing: string | null;
}

/** rulesFor: every rule in force for a job: organisation, project, then each data class. */
export function rulesFor(input: Omit<ResidencyInput, 'sites'>): Rule[] {
  const rules: Rule[] = [];
  if (input.org) rules.push(...rulesOf(input.org));
  if (input.project) rules.push(...rulesOf(input.project));
  for (const cls of classesOf(input.datasets)) rules.push(...classRules(cls, `project ${input.projectId}`, input.now));
  for (const d of input.datasets) if (d.pinnedTo) rules.push(homeSiteRule(d.id, d.pinnedTo));
  return rules;
}

/**
 * homeSiteRule: a dataset used in place (a session's working directory) is on its home site's storage
 * only, so the job runs there. Names the dataset by id: its name is tenant-written and reasons reach operators.
 */
function homeSiteRule(id: string, home: string): Rule {
  return {
    id: `dataset:${id}:home-site`,
    source: `session state dataset ${id}`,
    requirement: `site ${home}, where dataset ${id} is kept`,
    timed: false,
    check: (s) => (s.id === home ? null : `${s.id} does not hold dataset ${id} (kept at ${home})`),
  };
}

function classesOf(datasets: readonly DatasetRef[]): DataClass[] {
  const present = new Set(datasets.map((d) => d.classification));
  return DATA_CLASSES.filter((c) => present.has(c));
}

export function evaluateResidency(input: ResidencyInput): ResidencyEvaluation {
  const rules = rulesFor(input);
  const allowedSites: string[] = [];
  const everAllowedSites: string[] = [];
  const excluded: Exclusion[] = [];
  for (const site of input.sites) {
    // The rule named for a site is the one that really keeps it out: one it fails even with every
    // attestation renewed, if any (an expiry is not the reason a site abroad is excluded), else
    // the first it fails now.
    let failed: Exclusion | null = null;
    let permanent: Exclusion | null = null;
    for (const rule of rules) {
      const why = rule.check(site, input.now, false);
      if (!why) continue;
      failed ??= { site: site.id, rule: rule.id, reason: why };
      if (!rule.timed || rule.check(site, input.now, true)) {
        permanent = { site: site.id, rule: rule.id, reason: why };
        break;
      }
    }
    if (failed) excluded.push(permanent ?? failed);
    else allowedSites.push(site.id);
    if (!permanent) everAllowedSites.push(site.id);
  }
  let waitingReason: string | null = null;
  let narrowingRule: string | null = null;
  if (allowedSites.length === 0) {
    // Name the rule that shuts out the sites that could otherwise host the job (time-dependent
    // rules first: those are the ones that change), then the reasons per site.
    const byRule = new Map<string, Exclusion[]>();
    for (const e of excluded) byRule.set(e.rule, [...(byRule.get(e.rule) ?? []), e]);
    const ever = new Set(everAllowedSites);
    const pick =
      excluded.find((e) => ever.has(e.site)) ?? excluded.find((e) => rules.find((r) => r.id === e.rule)?.timed) ?? excluded[0];
    if (pick) {
      const rule = rules.find((r) => r.id === pick.rule)!;
      narrowingRule = rule.id;
      const sameRule = byRule.get(rule.id) ?? [pick];
      // Every other site too, each with its own rule: none may look merely forgotten.
      const others = excluded.filter((e) => e.rule !== rule.id);
      waitingReason =
        `waiting: ${rule.requirement} (${rule.source}); ${sameRule.map((e) => e.reason).join('; ')}` +
        (others.length ? `; other sites: ${others.map((e) => `${e.reason} [${e.rule}]`).join('; ')}` : '');
    } else waitingReason = 'waiting: the fleet has no sites';
  }
  return {
    allowedSites,
    excluded,
    everAllowedSites,
    rules: rules.map((r) => ({ id: r.id, source: r.source, requirement: r.requirement })),
    policyVersions: {
      org: input.org ? { name: input.org.name, version: input.org.version } : null,
      project: input.project ? { name: input.project.name, version: input.project.version } : null,
    },
    dataClasses: classesOf(input.datasets),
    waitingReason,
    narrowingRule,
    narrowing: excluded.length ? excluded.map((e) => `${e.reason} [${e.rule}]`).join('; ') : null,
  };
}

/** neverReason: why no site could ever host the job (null when some site could). */
export function neverReason(ev: ResidencyEvaluation): { rule: string; message: string } | null {
  if (ev.everAllowedSites.length > 0) return null;
  const first = ev.excluded[0];
  const rule = first ? ev.rules.find((r) => r.id === first.rule) : undefined;
  if (!first || !rule) return { rule: 'fleet', message: 'the fleet has no sites' };
  const reasons = ev.excluded.map((e) => `${e.reason} [${e.rule}]`).join('; ');
  return {
    rule: rule.id,
    message: `no site of the fleet can ever satisfy the residency rules: ${reasons}`,
  };
}

// ------------------------------------------------------------------ "only stricter"

/** allowedLocations: the countries a policy's location rule allows (null: any). */
function allowedLocations(r: ResidencyRules, extra: readonly string[]): Set<string> | null {
  if ((r.countries?.length ?? 0) + (r.regions?.length ?? 0) === 0) return null;
  const all = new Set([...allCountries(), ...extra]);
  return new Set([...all].filter((c) => locationAllows(r, c)));
}

/**
 * looserThan: the first way a project policy would allow more than its organisation's, or null when
 * the project's policy is at least as strict (locations a subset, attestations a superset, operator
 * establishments a subset, data classes a subset).
 */
export function looserThan(project: Omit<PolicyVersion, 'version'>, org: Omit<PolicyVersion, 'version'> | null): string | null {
  if (!org) return null;
  const extra = [...(project.rules.countries ?? []), ...(org.rules.countries ?? [])];
  const orgLoc = allowedLocations(org.rules, extra);
  const projLoc = allowedLocations(project.rules, extra);
  if (orgLoc) {
    if (!projLoc)
      return `location: the project allows any location, the organisation only ${describeLocations(org.rules) || 'none'}`;
    const outside = [...projLoc].filter((c) => !orgLoc.has(c)).sort();
    if (outside.length > 0)
      return `location: the project allows ${outside.join(', ')}, outside the organisation's ${describeLocations(org.rules)}`;
  }
  const missing = (org.rules.attestations ?? []).filter((a) => !(project.rules.attestations ?? []).includes(a));
  if (missing.length > 0) return `attestations: the project drops ${missing.join(', ')}, which the organisation requires`;
  const orgEst = org.rules.operatorEstablishment ?? [];
  if (orgEst.length > 0) {
    const projEst = project.rules.operatorEstablishment ?? [];
    if (projEst.length === 0)
      return `operatorEstablishment: the project allows any operator, the organisation only ${orgEst.join(', ')}`;
    const outside = projEst.filter((c) => !orgEst.includes(c));
    if (outside.length > 0) return `operatorEstablishment: the project allows ${outside.join(', ')}, the organisation does not`;
  }
  const extraClasses = project.dataClasses.filter((c) => !org.dataClasses.includes(c));
  if (extraClasses.length > 0)
    return `dataClasses: the project declares ${extraClasses.join(', ')}, which the organisation does not process`;
  return null;
}

/** allowedSitesOf: the sites one policy alone allows at `now` (for the policy version history). */
export function allowedSitesOf(p: PolicyVersion | null, sites: readonly SiteFacts[], now: number): string[] {
  if (!p) return sites.map((s) => s.id);
  const rules = rulesOf(p);
  return sites.filter((s) => rules.every((r) => r.check(s, now, false) === null)).map((s) => s.id);
}
