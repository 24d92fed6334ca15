/**
 * ISO 3166-1 alpha-2 countries the platform knows jurisdictions for: EU membership, EEA membership
 * (EU + IS, LI, NO) and GDPR Art. 45 adequacy decisions. Sites derive their EU/EEA flags from this
 * table, never from a free flag in the fleet file. Sources: EU member states (europa.eu, 27 since
 * 2020-02-01), EEA Agreement parties, Commission adequacy decisions list (as of 2026).
 */
export interface CountryInfo {
  code: string;
  name: string;
  eu: boolean;
  eea: boolean;
  /** The Commission has decided the country's protection is adequate (GDPR Art. 45). */
  adequacy: boolean;
}

const EU: Record<string, string> = {
  AT: 'Austria',
  BE: 'Belgium',
  BG: 'Bulgaria',
  HR: 'Croatia',
  CY: 'Cyprus',
  CZ: 'Czechia',
  DK: 'Denmark',
  EE: 'Estonia',
  FI: 'Finland',
  FR: 'France',
  DE: 'Germany',
  GR: 'Greece',
  HU: 'Hungary',
  IE: 'Ireland',
  IT: 'Italy',
  LV: 'Latvia',
  LT: 'Lithuania',
  LU: 'Luxembourg',
  MT: 'Malta',
  NL: 'Netherlands',
  PL: 'Poland',
  PT: 'Portugal',
  RO: 'Romania',
  SK: 'Slovakia',
  SI: 'Slovenia',
  ES: 'Spain',
  SE: 'Sweden',
};
const EEA_ONLY: Record<string, string> = { IS: 'Iceland', LI: 'Liechtenstein', NO: 'Norway' };
const ADEQUATE: Record<string, string> = {
  AD: 'Andorra',
  AR: 'Argentina',
  CA: 'Canada',
  CH: 'Switzerland',
  FO: 'Faroe Islands',
  GB: 'United Kingdom',
  GG: 'Guernsey',
  IL: 'Israel',
  IM: 'Isle of Man',
  JE: 'Jersey',
  JP: 'Japan',
  KR: 'South Korea',
  NZ: 'New Zealand',
  UY: 'Uruguay',
  US: 'United States',
};
/** Third countries without a general adequacy decision (listed so sites there can be described). */
const OTHER: Record<string, string> = { AU: 'Australia', CN: 'China', IN: 'India', SG: 'Singapore', AE: 'United Arab Emirates' };

const TABLE = new Map<string, CountryInfo>();
for (const [code, name] of Object.entries(EU)) TABLE.set(code, { code, name, eu: true, eea: true, adequacy: false });
for (const [code, name] of Object.entries(EEA_ONLY)) TABLE.set(code, { code, name, eu: false, eea: true, adequacy: false });
// US adequacy covers only organisations certified under the EU-US Data Privacy Framework; the
// platform treats it as not adequate, because a site operator's certification is not modelled.
for (const [code, name] of Object.entries(ADEQUATE))
  TABLE.set(code, { code, name, eu: false, eea: false, adequacy: code !== 'US' });
for (const [code, name] of Object.entries(OTHER)) TABLE.set(code, { code, name, eu: false, eea: false, adequacy: false });

/** countryInfo: the table entry, or a conservative "third country" entry for codes not listed. */
export function countryInfo(code: string): CountryInfo {
  return TABLE.get(code) ?? { code, name: code, eu: false, eea: false, adequacy: false };
}

/** knownCountry: whether the table lists the code. */
export function knownCountry(code: string): boolean {
  return TABLE.has(code);
}

/** allCountries: every listed country code, sorted. */
export function allCountries(): string[] {
  return [...TABLE.keys()].sort();
}
