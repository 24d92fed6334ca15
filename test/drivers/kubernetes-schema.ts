/**
 * The core/v1 objects the Kubernetes driver sends, as zod schemas. The repository has no copy of the
 * Kubernetes OpenAPI document (and none can be fetched here), so these are written by hand from the
 * Kubernetes API reference (v1.31: Namespace, Secret, Service, Pod, DeleteOptions) and its validation
 * rules (apimachinery's IsDNS1123Label / IsDNS1035Label / IsQualifiedName / IsValidLabelValue /
 * IsEnvVarName, resource.Quantity's format). Only the fields the driver uses are listed, and every
 * object is strict: a misspelt or misplaced field fails here, as it would with `fieldValidation=Strict`.
 */
import assert from 'node:assert/strict';
import { z } from 'zod';
import type { SeenRequest } from './kubernetes-replay.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;

const dnsLabel = z.string().max(63).regex(DNS1123_LABEL);
const dns1035Label = z.string().max(63).regex(DNS1035_LABEL);
const dnsSubdomain = z.string().max(253).regex(DNS1123_SUBDOMAIN);

/** A label or annotation key: optional DNS-subdomain prefix (≤253) + '/' + qualified name (≤63). */
const qualifiedKey = z.string().refine((k) => {
  const slash = k.lastIndexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : null;
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (prefix !== null && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}, 'not a qualified name');
const labelValue = z.string().max(63).regex(LABEL_VALUE);
const labels = z.record(qualifiedKey, labelValue);

const objectMeta = (name: z.ZodString) =>
  z
    .object({
      name,
      namespace: dnsLabel.optional(),
      labels: labels.optional(),
      annotations: z.record(qualifiedKey, z.string()).optional(),
    })
    .strict();

const quantity = z.string().regex(QUANTITY);

const envVar = z
  .object({
    name: z.string().regex(ENV_VAR_NAME),
    value: z.string().optional(),
    valueFrom: z
      .object({
        secretKeyRef: z.object({ name: dnsSubdomain, key: z.string().min(1), optional: z.boolean().optional() }).strict(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((e) => (e.value === undefined) !== (e.valueFrom === undefined), 'exactly one of value and valueFrom');

const container = z
  .object({
    name: dnsLabel,
    image: z.string().min(1),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    env: z
      .array(envVar)
      .optional()
      .refine((env) => new Set((env ?? []).map((e) => e.name)).size === (env ?? []).length, 'an env name appears twice'),
    resources: z
      .object({ limits: z.record(z.string(), quantity).optional(), requests: z.record(z.string(), quantity).optional() })
      .strict()
      .optional(),
    volumeMounts: z
      .array(z.object({ name: dnsLabel, mountPath: z.string().min(1), readOnly: z.boolean().optional() }).strict())
      .optional(),
    ports: z
      .array(
        z
          .object({
            name: dnsLabel.refine((n) => n.length <= 15, 'a port name is at most 15 characters').optional(),
            containerPort: z.number().int().min(1).max(65535),
            protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
          })
          .strict(),
      )
      .optional(),
    readinessProbe: z
      .object({
        tcpSocket: z
          .object({ port: z.union([z.number().int().min(1).max(65535), dnsLabel]) })
          .strict()
          .optional(),
        httpGet: z
          .object({ path: z.string(), port: z.union([z.number().int(), dnsLabel]) })
          .strict()
          .optional(),
        periodSeconds: z.number().int().min(1).optional(),
        failureThreshold: z.number().int().min(1).optional(),
        initialDelaySeconds: z.number().int().min(0).optional(),
      })
      .strict()
      .refine((p) => (p.tcpSocket === undefined) !== (p.httpGet === undefined), 'exactly one probe handler')
      .optional(),
  })
  .strict();

const volume = z
  .object({
    name: dnsLabel,
    emptyDir: z
      .object({ medium: z.enum(['', 'Memory']).optional(), sizeLimit: quantity.optional() })
      .strict()
      .optional(),
    hostPath: z
      .object({
        path: z.string().regex(/^\//, 'an absolute path'),
        type: z
          .enum(['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'])
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((v) => (v.emptyDir === undefined) !== (v.hostPath === undefined), 'exactly one volume source');

const podSpec = z
  .object({
    nodeName: dnsSubdomain.optional(),
    hostname: dnsLabel.optional(),
    subdomain: dnsLabel.optional(),
    restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
    activeDeadlineSeconds: z.number().int().min(1).optional(),
    terminationGracePeriodSeconds: z.number().int().min(0).optional(),
    automountServiceAccountToken: z.boolean().optional(),
    enableServiceLinks: z.boolean().optional(),
    containers: z.array(container).min(1),
    volumes: z.array(volume).optional(),
    imagePullSecrets: z.array(z.object({ name: dnsSubdomain }).strict()).optional(),
  })
  .strict()
  .refine(
    (s) => s.containers.every((c) => (c.volumeMounts ?? []).every((m) => (s.volumes ?? []).some((v) => v.name === m.name))),
    'a volumeMount names no volume of the pod',
  );

export const PodSchema = z
  .object({ apiVersion: z.literal('v1'), kind: z.literal('Pod'), metadata: objectMeta(dnsSubdomain), spec: podSpec })
  .strict();

const servicePort = z
  .object({
    name: dnsLabel.optional(),
    protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
    port: z.number().int().min(1).max(65535),
    targetPort: z.union([z.number().int().min(1).max(65535), dns1035Label.max(15)]).optional(),
  })
  .strict();

export const ServiceSchema = z
  .object({
    apiVersion: z.literal('v1'),
    kind: z.literal('Service'),
    // A Service name is a DNS-1035 label (it must start with a letter).
    metadata: objectMeta(dns1035Label),
    spec: z
      .object({
        type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).optional(),
        clusterIP: z.string().optional(),
        selector: z.record(qualifiedKey, labelValue).optional(),
        publishNotReadyAddresses: z.boolean().optional(),
        ports: z.array(servicePort).optional(),
      })
      .strict(),
  })
  .strict();

export const SecretSchema = z
  .object({
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata: objectMeta(dnsSubdomain),
    type: z.string().optional(),
    // Secret keys: [-._a-zA-Z0-9]+.
    stringData: z.record(z.string().regex(/^[-._a-zA-Z0-9]+$/), z.string()).optional(),
  })
  .strict();

export const NamespaceSchema = z
  .object({ apiVersion: z.literal('v1'), kind: z.literal('Namespace'), metadata: objectMeta(dnsLabel) })
  .strict();

export const DeleteOptionsSchema = z
  .object({
    apiVersion: z.literal('v1'),
    kind: z.literal('DeleteOptions'),
    gracePeriodSeconds: z.number().int().min(0).optional(),
    propagationPolicy: z.enum(['Orphan', 'Background', 'Foreground']).optional(),
  })
  .strict();

const BY_KIND: Record<string, z.ZodType> = {
  Pod: PodSchema,
  Service: ServiceSchema,
  Secret: SecretSchema,
  Namespace: NamespaceSchema,
  DeleteOptions: DeleteOptionsSchema,
};

/** The kind a request to `path` must carry (POST to a collection; DELETE of one object: DeleteOptions or none). */
function expectedKind(method: string, path: string): string | null {
  const last = path.split('/').filter(Boolean);
  const collection = method === 'POST' ? last[last.length - 1] : null;
  if (collection === 'pods') return 'Pod';
  if (collection === 'services') return 'Service';
  if (collection === 'secrets') return 'Secret';
  if (collection === 'namespaces') return 'Namespace';
  return method === 'DELETE' ? 'DeleteOptions' : null;
}

/**
 * assertValidKubeObjects: every body the driver sent is a valid object of the kind its path takes
 * (a DELETE may carry none). Returns how many objects were checked.
 */
export function assertValidKubeObjects(seen: readonly SeenRequest[]): number {
  let checked = 0;
  for (const r of seen) {
    if (r.method === 'GET') {
      assert.equal(r.body, undefined, `${r.method} ${r.path} carries no body`);
      continue;
    }
    const kind = expectedKind(r.method, r.path);
    assert.ok(kind, `${r.method} ${r.path}: a request the schema check does not know`);
    if (r.body === undefined && r.method === 'DELETE') continue;
    const schema = BY_KIND[kind];
    const got = schema.safeParse(r.body);
    assert.ok(got.success, `${r.method} ${r.path}: not a valid ${kind}: ${got.success ? '' : z.prettifyError(got.error)}`);
    checked++;
  }
  return checked;
}
