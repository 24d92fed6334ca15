/**
 * An organisation's registry allow-list: the registry hosts its jobs' images may come from, on top
 * of each site's own list (drivers/runnable.ts). `registry.eu.example`, `localhost:5000`, or
 * `*.corp.example` for the subdomains of a domain; an empty list: no restriction of the org's own.
 */
import { z } from '@hono/zod-openapi';
import { invalid } from './errors.js';

export const MAX_ORG_REGISTRIES = 64;

export const OrgRegistriesInputSchema = z
  .strictObject({
    registries: z
      .array(z.string().max(260))
      .max(MAX_ORG_REGISTRIES)
      .openapi({
        description: 'Registry hosts (optionally :port), or *.domain for its subdomains; [] lifts the restriction',
        example: ['registry.eu.example', '*.corp.example'],
      }),
  })
  .openapi('OrgRegistriesInput');

export const OrgRegistriesSchema = z
  .object({
    org: z.string(),
    registries: z.array(z.string()).openapi({ description: 'Allowed registry hosts; empty: no organisation restriction' }),
  })
  .openapi('OrgRegistries', { example: { org: 'robotics-gmbh', registries: ['registry.eu.example', '*.corp.example'] } });
export type OrgRegistries = z.infer<typeof OrgRegistriesSchema>;

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST = new RegExp(`^${LABEL}(?:\\.${LABEL})*(?::(\\d{1,5}))?$`);
// A wildcard needs two labels after `*.`: `*.com` would allow half the internet.
const WILDCARD = new RegExp(`^\\*\\.${LABEL}(?:\\.${LABEL})+$`);

/** registryPatternError: why `pattern` is no registry host pattern, or null when it is one. */
export function registryPatternError(pattern: string): string | null {
  const p = pattern.toLowerCase();
  if (p.startsWith('*')) return WILDCARD.test(p) ? null : 'a wildcard is *. and a domain of two or more labels, without a port';
  const m = HOST.exec(p);
  if (!m || p.length > 253) return 'not a host name (letters, digits, hyphens, dots; optionally :port)';
  const port = m[1] === undefined ? null : Number(m[1]);
  if (port !== null && (port < 1 || port > 65535)) return 'the port is not between 1 and 65535';
  return null;
}

/** normaliseRegistries: the patterns lower-cased and deduplicated, or 422 registry_pattern_invalid naming each bad one. */
export function normaliseRegistries(patterns: readonly string[]): string[] {
  const errors = patterns.flatMap((p, i) => {
    const why = registryPatternError(p);
    return why ? [{ path: `registries.${i}`, message: `${JSON.stringify(p)}: ${why}` }] : [];
  });
  if (errors.length > 0)
    throw invalid('registry_pattern_invalid', `not a registry host pattern: ${errors.map((e) => e.message).join('; ')}`, errors);
  return [...new Set(patterns.map((p) => p.toLowerCase()))];
}
