/** Plain-language renderings of residency rules, shared by the residency view and the job detail. */
import type { ResidencyRules } from '../api/sovereignty-types.js';

const REGION_NAMES: Record<string, string> = {
  EU: 'the EU',
  EEA: 'the EEA',
  ADEQUATE: 'countries with an adequacy decision (GDPR Art. 45)',
};

/** ruleLines: one sentence per rule of a policy; an empty policy allows every site. */
export function ruleLines(r: ResidencyRules): string[] {
  const out: string[] = [];
  const where = [...(r.regions ?? []).map((x) => REGION_NAMES[x] ?? x), ...(r.countries ?? [])];
  out.push(where.length ? `Processing only in ${where.join(', ')}` : 'Processing in any location');
  if (r.attestations?.length) out.push(`Sites must hold a current ${r.attestations.join(' and ')}`);
  if (r.operatorEstablishment?.length) out.push(`Site operator established in ${r.operatorEstablishment.join(', ')}`);
  return out;
}

export const siteList = (sites: readonly string[]): string => (sites.length ? sites.join(', ') : 'none');

export const fmtBytes = (n: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
};
