/**
 * shareRefusal: the submission check of a GPU fraction or MIG instance against the fleet: the MIG
 * profile must be one the GPU type offers (`mig_profile_unknown`, naming the type's profiles), and
 * some site the job may use must have the GPU type and allow GPU sharing (`sharing_not_allowed`,
 * naming the sites that refuse it). The spec schema already holds gpusPerNode and nodes to 1.
 */
import { type DomainError, invalid } from '../../model/errors.js';
import type { Fleet } from '../../model/fleet.js';
import { migLayoutOf, siteAllowsSharing } from '../../model/gpu-sharing.js';
import type { JobSpec } from '../../model/schemas.js';

export function shareRefusal(
  fleet: Fleet,
  spec: Pick<JobSpec, 'gpuType' | 'gpuFraction' | 'migProfile' | 'constraints'>,
): DomainError | null {
  if (spec.gpuFraction === undefined && spec.migProfile === undefined) return null;
  let types = spec.gpuType === 'any' ? fleet.gpuTypes : [spec.gpuType];
  const profile = spec.migProfile;
  if (profile !== undefined) {
    const offering = types.filter((t) => migLayoutOf(fleet, t)?.profiles.some((p) => p.name === profile));
    if (offering.length === 0) {
      const offers = types
        .map((t) => {
          const names = migLayoutOf(fleet, t)?.profiles.map((p) => p.name) ?? [];
          return names.length > 0 ? `${t} offers ${names.join(', ')}` : `${t} has no MIG`;
        })
        .join('; ');
      return invalid('mig_profile_unknown', `MIG profile ${profile} is not offered here: ${offers}`, [
        { path: 'migProfile', message: 'not a profile of this GPU type' },
      ]);
    }
    types = offering;
  }
  const c = spec.constraints;
  const usable = fleet.sites.filter(
    (s) =>
      (!c?.requiredSites?.length || c.requiredSites.includes(s.id)) &&
      !(c?.forbiddenSites ?? []).includes(s.id) &&
      fleet.nodes.some((n) => n.site === s.id && types.includes(n.gpuType)),
  );
  if (usable.some(siteAllowsSharing)) return null;
  const refusing = usable.map((s) => s.id);
  const where =
    refusing.length > 0 ? `site ${refusing.join(', ')} does not allow GPU sharing` : 'no site the job may use has its GPU type';
  return invalid('sharing_not_allowed', `a ${profile ? `MIG ${profile} instance` : 'GPU fraction'} cannot run: ${where}`, [
    { path: profile ? 'migProfile' : 'gpuFraction', message: 'no site allows GPU sharing' },
  ]);
}
