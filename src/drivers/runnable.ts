/**
 * whyNotRunnable: whether a site's driver can run a job as its spec asks, and if not, a typed reason.
 * A job with an image runs only in a container runtime (never on the host instead); a job without one
 * runs as a host process only where the site allows host jobs. Pure: no I/O.
 */
import type { JobSpec } from '../model/schemas.js';
import { sessionCommand } from './session-command.js';

/** What a site's driver can do, and what the site allows. */
export interface SiteRunPolicy {
  site: string;
  /** The driver runs OCI images (local/slurm: podman; kubernetes: always). */
  images: boolean;
  /** Jobs without an image may run as host processes here. Default on local, slurm and sim: allowed. */
  hostJobs: boolean;
  /** Registries images may come from (host names, e.g. `registry.eu.example`); absent: any. */
  registries?: readonly string[];
}

export type NotRunnableCode = 'host_jobs_denied' | 'image_unsupported' | 'registry_not_allowed' | 'no_command';

export interface NotRunnable {
  code: NotRunnableCode;
  site: string;
  message: string;
}

/**
 * imageRegistry: the registry host of an OCI reference, as podman resolves it: the first path part
 * when it looks like a host (has a dot or colon, or is `localhost`), else Docker Hub.
 */
export function imageRegistry(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
}

/** registryAllowed: `host` is in `allowed` (an entry `*.example.eu` matches its subdomains). */
export function registryAllowed(host: string, allowed: readonly string[] | undefined): boolean {
  if (!allowed) return true;
  const name = host.toLowerCase();
  return allowed.some((a) => {
    const entry = a.toLowerCase();
    return entry.startsWith('*.') ? name.endsWith(entry.slice(1)) : name === entry;
  });
}

/** whyNotRunnable: null when `site` can run `spec`; orgRegistries is the organisation's own allow-list. */
export function whyNotRunnable(spec: JobSpec, site: SiteRunPolicy, orgRegistries?: readonly string[]): NotRunnable | null {
  const refuse = (code: NotRunnableCode, message: string): NotRunnable => ({ code, site: site.site, message });
  if (!spec.image) {
    // A Jupyter session without a command runs the preset's (session-command.ts).
    if (!sessionCommand(spec)?.length) return refuse('no_command', 'the job has neither an image nor a command');
    if (!site.hostJobs) return refuse('host_jobs_denied', `site ${site.site} runs only container images; give the job an image`);
    return null;
  }
  if (!site.images) return refuse('image_unsupported', `the driver of site ${site.site} cannot run container images`);
  const host = imageRegistry(spec.image);
  if (!registryAllowed(host, site.registries))
    return refuse(
      'registry_not_allowed',
      `site ${site.site} does not pull from ${host} (allowed: ${site.registries?.join(', ')})`,
    );
  return whyOrgRefuses(spec, site.site, orgRegistries);
}

/** whyOrgRefuses: the organisation's own allow-list refuses the job's image (reported against `site`). */
function whyOrgRefuses(spec: JobSpec, site: string, orgRegistries: readonly string[] | undefined): NotRunnable | null {
  if (!spec.image) return null;
  const host = imageRegistry(spec.image);
  if (registryAllowed(host, orgRegistries)) return null;
  return {
    code: 'registry_not_allowed',
    site,
    message: `your organisation does not allow pulls from ${host} (allowed: ${orgRegistries?.join(', ')})`,
  };
}

/**
 * whyNotRunnableAnywhere: null when at least one of `sites` can run the job; else the refusal of the
 * first site (they usually agree). No sites known (the simulated fleet): only the organisation's list refuses.
 */
export function whyNotRunnableAnywhere(
  spec: JobSpec,
  sites: readonly SiteRunPolicy[],
  orgRegistries?: readonly string[],
): NotRunnable | null {
  // No sites known (the simulated fleet): the organisation's own list still applies.
  if (sites.length === 0) return whyOrgRefuses(spec, 'any', orgRegistries);
  let first: NotRunnable | null = null;
  for (const s of sites) {
    const why = whyNotRunnable(spec, s, orgRegistries);
    if (!why) return null;
    first ??= why;
  }
  return first;
}

/** withoutUnrunnableSites: the job with the sites that cannot run it added to its forbidden sites (at enqueue). */
export function withoutUnrunnableSites<J extends { forbiddenSites?: readonly string[] }>(
  job: J,
  spec: JobSpec,
  sites: readonly SiteRunPolicy[],
  orgRegistries?: readonly string[],
): J {
  const cannot = sites.filter((s) => whyNotRunnable(spec, s, orgRegistries)).map((s) => s.site);
  if (cannot.length === 0) return job;
  return { ...job, forbiddenSites: [...new Set([...(job.forbiddenSites ?? []), ...cannot])] };
}
