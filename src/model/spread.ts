/**
 * Spread domains: what a service's replicas (a spread group) are kept apart by — the node, the
 * scalable unit (leaf-switch group), the site, or the value of a node label the fleet file declares
 * (`label:power-domain`: no two replicas on nodes with the same power domain). A node without the
 * label is a domain of its own: replicas are kept off it as off any node holding one.
 */
export type SpreadDomain = 'node' | 'unit' | 'site' | `label:${string}`;

/** The built-in domains; a label domain is `label:<key>`. */
export const SPREAD_DOMAINS_BUILT_IN = ['node', 'unit', 'site'] as const;

/** `label:` and a node-label key (as the fleet file's labels: 1–63 letters, digits, `.`, `_`, `/`, `-`). */
export const SPREAD_LABEL_PATTERN = /^label:[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

/** spreadLabelKey: the label key of a `label:<key>` domain; undefined for the built-in ones. */
export function spreadLabelKey(domain: SpreadDomain): string | undefined {
  return domain.startsWith('label:') ? domain.slice('label:'.length) : undefined;
}

/** spreadOverText: what replicas are kept apart over, in words ("nodes", "units", "values of power-domain"). */
export function spreadOverText(domain: SpreadDomain | undefined): string {
  const key = domain === undefined ? undefined : spreadLabelKey(domain);
  return key !== undefined ? `values of ${key}` : `${domain ?? 'node'}s`;
}

/** isSpreadDomain: `s` names a spread domain (a built-in one or `label:<key>`). */
export function isSpreadDomain(s: string): s is SpreadDomain {
  return (SPREAD_DOMAINS_BUILT_IN as readonly string[]).includes(s) || SPREAD_LABEL_PATTERN.test(s);
}
