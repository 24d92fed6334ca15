/**
 * Service rows ↔ API views: the scaling a create or update asks for (replicas, or min/max with the
 * defaults), the replica JobSpec of a revision, and the stored spec (sealed under the org's key:
 * a template carries commands and environment values, which are tenant data).
 */
import { parseJson } from '../../model/json.js';
import type { JobSpec } from '../../model/schemas.js';
import { SCALING_DEFAULTS, type ServiceScaling } from '../../model/service.js';
import { ScalingSchema, type ServiceSpec, ServiceSpecSchema } from '../../model/service-schemas.js';
import type { ServicesTable } from '../../store/schema-services.js';
import type { FieldSealer } from '../../store/sealed-fields.js';

/** Label every replica job carries: which service it belongs to. */
export const SERVICE_LABEL = 'gigafab.io/service';
/** Label every replica job carries: which revision of the service's spec it runs. */
export const REVISION_LABEL = 'gigafab.io/revision';

export interface ScalingInput {
  replicas?: number;
  minReplicas?: number;
  maxReplicas?: number;
  targetInFlightPerReplica?: number;
  scaleDownDelaySeconds?: number;
  scaleToZeroAfterSeconds?: number;
}

/** scalingOf: the scaling an input asks for, on top of `base` (the current one, or the defaults). */
export function scalingOf(input: ScalingInput, base: ServiceScaling | null): ServiceScaling {
  const min = input.replicas ?? input.minReplicas ?? base?.minReplicas ?? 1;
  const max = input.replicas ?? input.maxReplicas ?? Math.max(min, base?.maxReplicas ?? 1);
  return {
    minReplicas: min,
    maxReplicas: Math.max(max, 1),
    targetInFlightPerReplica:
      input.targetInFlightPerReplica ?? base?.targetInFlightPerReplica ?? SCALING_DEFAULTS.targetInFlightPerReplica,
    scaleDownDelaySeconds: input.scaleDownDelaySeconds ?? base?.scaleDownDelaySeconds ?? SCALING_DEFAULTS.scaleDownDelaySeconds,
    scaleToZeroAfterSeconds:
      input.scaleToZeroAfterSeconds ?? base?.scaleToZeroAfterSeconds ?? SCALING_DEFAULTS.scaleToZeroAfterSeconds,
  };
}

/** replicaJobSpec: the job one replica of `revision` runs (a service runs until it is stopped). */
export function replicaJobSpec(
  row: Pick<ServicesTable, 'id' | 'name' | 'project_id'>,
  spec: ServiceSpec,
  revision: number,
): JobSpec {
  const t = spec.template;
  return {
    ...t,
    name: `${row.name}-r${revision}`,
    project: row.project_id,
    nodes: 1,
    kind: 'service',
    service: {
      id: row.id,
      ...(t.image && spec.port !== undefined ? { port: spec.port } : {}),
      ...(spec.spread !== 'none' ? { spread: spec.spread } : {}),
      ...(spec.spread !== 'none' && spec.spreadOver ? { spreadOver: spec.spreadOver } : {}),
    },
    maxRuntimeSeconds: 30 * 86400,
    labels: { [SERVICE_LABEL]: row.id, [REVISION_LABEL]: String(revision) },
    env: { ...t.env, GIGAFAB_SERVICE: row.id },
    // A simulated replica runs until it is stopped (the job default would end it after 10 minutes).
    simulation: t.simulation ?? { durationSeconds: 365 * 86400, exitCode: 0 },
  };
}

export const sealSpec = (f: FieldSealer, org: string, spec: ServiceSpec) => f.seal(org, 'service.spec', JSON.stringify(spec));

/** openSpec: the stored spec, or null when the organisation's keys were erased. */
export function openSpec(f: FieldSealer, row: Pick<ServicesTable, 'org_id' | 'spec'>): ServiceSpec | null {
  const text = f.open(row.org_id, 'service.spec', row.spec);
  return text === null ? null : parseJson(text, ServiceSpecSchema, 'service spec');
}

export const scalingOfRow = (row: Pick<ServicesTable, 'scaling'>): ServiceScaling =>
  parseJson(row.scaling, ScalingSchema, 'service scaling');

/** Template fields a tenant writes freely (commands, image, environment): withheld from operators. */
const TENANT_TEXT = ['command', 'args', 'image', 'env', 'secretEnv', 'workingDir', 'registryCredentials'] as const;

/** redactTemplate: the spec without the template's tenant-written fields, and their names. */
export function redactTemplate(spec: ServiceSpec): { spec: ServiceSpec; redacted: string[] } {
  const template = { ...spec.template };
  const redacted: string[] = [];
  for (const k of TENANT_TEXT) {
    if (template[k] === undefined) continue;
    delete template[k];
    redacted.push(`spec.template.${k}`);
  }
  return { spec: { ...spec, template }, redacted };
}
