/**
 * The Node.js release lines gigafab supports. 24 is the documented default and runs the test suite in CI
 * (scripts/test-node24.sh) beside the machine's own Node. Node 20 reached its end of life on 2026-04-30
 * (nodejs.org/en/about/previous-releases): it still runs, with a warning, because a sovereign control plane
 * must not stay on a runtime that gets no security fixes.
 */
export const SUPPORTED_NODE_MAJORS: readonly number[] = [22, 24];

/** runtimeWarning: a sentence for the start banner when `version` is not a supported line, else null. */
export function runtimeWarning(version: string): string | null {
  const major = Number.parseInt(version.replace(/^v/, ''), 10);
  if (SUPPORTED_NODE_MAJORS.includes(major)) return null;
  if (Number.isFinite(major) && major < Math.min(...SUPPORTED_NODE_MAJORS)) {
    return `Node.js ${version} gets no security fixes any more; run gigafab on Node.js 24 (scripts/ensure-node24.sh installs it).`;
  }
  return `Node.js ${version} is not a release line gigafab is tested on (${SUPPORTED_NODE_MAJORS.join(', ')}).`;
}
