/**
 * Choice lists for commander options. They restate ORG_KINDS / ORG_ROLES of src/model/schemas.ts so
 * that CLI start-up does not load zod (~150 ms per command); the type checks below stop the build
 * if the two ever drift apart in either direction.
 */
import type { OrgKind, Role } from '../model/schemas.js';

type OrgRole = Exclude<Role, 'operator'>;
type Covers<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : false;

export const ORG_KIND_CHOICES = ['enterprise', 'start-up', 'research', 'public-sector'] as const satisfies readonly OrgKind[];
export const ORG_ROLE_CHOICES = ['admin', 'member', 'viewer'] as const satisfies readonly OrgRole[];

export const ORG_KIND_CHOICES_COMPLETE: Covers<OrgKind, (typeof ORG_KIND_CHOICES)[number]> = true;
export const ORG_ROLE_CHOICES_COMPLETE: Covers<OrgRole, (typeof ORG_ROLE_CHOICES)[number]> = true;
