/**
 * The proxy's URL scheme: every workload has its own host, `<workload-id>.<base-domain>` (a session:
 * its job id). Its own origin keeps one workload's pages and cookies away from another's and from
 * the API's; `*.localhost` resolves to loopback in browsers, which makes it work without DNS.
 */

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** workloadIdOf: the workload a Host header names under baseDomain, or null (another host). */
export function workloadIdOf(hostHeader: string | undefined, baseDomain: string): string | null {
  if (!hostHeader) return null;
  const host = hostHeader.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  const suffix = `.${baseDomain.toLowerCase()}`;
  if (!host.endsWith(suffix)) return null;
  const label = host.slice(0, -suffix.length);
  return LABEL.test(label) ? label : null;
}

/** workloadOrigin: the origin of a workload's host, e.g. http://812.localhost:8081. */
export function workloadOrigin(workloadId: string, baseDomain: string, port: number, scheme = 'http'): string {
  const defaultPort = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
  return `${scheme}://${workloadId}.${baseDomain}${defaultPort ? '' : `:${port}`}`;
}
