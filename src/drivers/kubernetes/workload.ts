/**
 * Sessions and service replicas (model/workloads.ts) on Kubernetes: the pod listens on a container
 * port (GIGAFAB_PORT and PORT), carries a readiness probe (the service's readiness path when the
 * driver knows it, else a TCP check of the port) and a liveness probe where one is declared, and gets
 * its own ClusterIP Service selecting exactly that pod (that attempt of that job). The control plane
 * reaches the run at the Service's DNS name, reported in the `started` observation once the pod is
 * Ready. One Service per replica, not one per gigafab service: the control plane balances the
 * replicas itself (it drains, probes and counts requests per replica), so it needs to address each.
 */

import type { JobSpec } from '../../model/schemas.js';
import { containerPort, type Endpoint, exposesPort } from '../../model/workloads.js';

/** The port a session or replica in an image listens on when its spec names none. */
export const DEFAULT_WORKLOAD_PORT = 8080;

/** A health check as a service declares it (model/service-schemas.ts ProbeSchema). */
export interface WorkloadProbe {
  path: string;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface WorkloadProbes {
  readiness?: WorkloadProbe;
  liveness?: WorkloadProbe;
}

/** workloadPortOf: the container port of a session or service replica, or null for a batch job. */
export function workloadPortOf(spec: JobSpec): number | null {
  if (!exposesPort(spec)) return null;
  return containerPort(spec) ?? DEFAULT_WORKLOAD_PORT;
}

/** The core/v1 Probe of a declared check (Kubernetes counts whole seconds, at least 1). */
function httpProbe(p: WorkloadProbe, port: number) {
  return {
    httpGet: { path: p.path, port, scheme: 'HTTP' },
    periodSeconds: Math.max(1, Math.ceil(p.periodSeconds)),
    timeoutSeconds: Math.max(1, Math.ceil(p.timeoutSeconds)),
    failureThreshold: p.failureThreshold,
  };
}

/**
 * containerWorkload: the container fields of a session or replica: its port, the readiness probe
 * (HTTP on the declared path, else TCP on the port: a session is ready once it accepts connections)
 * and a liveness probe only where one is declared (a failed one restarts nothing: restartPolicy
 * Never, so the pod fails and the job ends).
 */
export function containerWorkload(port: number, probes: WorkloadProbes | undefined) {
  return {
    ports: [{ name: 'workload', containerPort: port, protocol: 'TCP' }],
    readinessProbe: probes?.readiness
      ? httpProbe(probes.readiness, port)
      : { tcpSocket: { port }, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 1 },
    ...(probes?.liveness ? { livenessProbe: httpProbe(probes.liveness, port) } : {}),
  };
}

export interface WorkloadServiceInput {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Labels that exactly this run's pod carries (instance, job id, attempt). */
  selector: Record<string, string>;
  port: number;
}

/** workloadService: the ClusterIP Service of one session or replica (only its Ready pod gets traffic). */
export function workloadService(s: WorkloadServiceInput) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, labels: s.labels, annotations: s.annotations },
    spec: {
      type: 'ClusterIP',
      selector: s.selector,
      ports: [{ name: 'workload', protocol: 'TCP', port: s.port, targetPort: s.port }],
    },
  };
}

/** workloadEndpoint: where the control plane reaches the run: the Service's cluster DNS name. */
export function workloadEndpoint(service: string, namespace: string, clusterDomain: string, port: number): Endpoint {
  return { host: `${service}.${namespace}.svc.${clusterDomain}`, port };
}
