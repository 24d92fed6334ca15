/** Object references (`job:812`, `jobs:*`) and the scopes of access requests built from them. */
import { DomainError, invalid } from '../../model/errors.js';
import { type AccessObjectKind, type AccessScope, type AccessVerb, OBJECT_REF } from '../../model/lockbox-schemas.js';

/** parseObjectRef splits `job:812` / `jobs:*` into a normalised kind and id. */
export function parseObjectRef(ref: string): { kind: AccessObjectKind; id: string } {
  const m = OBJECT_REF.exec(ref);
  if (!m) throw invalid('invalid_object_ref', `${ref} is not an object reference like job:812, job:* or dataset:weights`);
  return { kind: m[1] as AccessObjectKind, id: m[2]! };
}

/** scopeCovers: does a granted scope include this object and verb? */
export function scopeCovers(scope: AccessScope, object: string, verb: AccessVerb): boolean {
  if (!scope.verbs.includes(verb)) return false;
  const want = parseObjectRef(object);
  return scope.objects.some((o) => {
    const have = parseObjectRef(o);
    return have.kind === want.kind && (have.id === '*' || have.id === want.id);
  });
}

/** normaliseScope: `jobs:*` → `job:*`, duplicates dropped, so that what the tenant sees is what is enforced. */
export function normaliseScope(scope: AccessScope): AccessScope {
  const objects = [...new Set(scope.objects.map((o) => parseObjectRef(o)).map((r) => `${r.kind}:${r.id}`))];
  return { objects, verbs: [...new Set(scope.verbs)] };
}

export function lockboxRequired(org: string, object: string, verb: AccessVerb): DomainError {
  return new DomainError(
    'forbidden',
    'lockbox_approval_required',
    `operators cannot ${verb} ${object} of organisation ${org} without the tenant's consent: file a request with ` +
      `\`gigafab access request --org ${org} --object ${object} --verb ${verb} --cause "..." --country DE\` ` +
      `(POST /v1/access-requests) and ask an admin of ${org} to approve it; in an emergency use \`gigafab access break-glass\` (the tenant is notified)`,
  );
}
