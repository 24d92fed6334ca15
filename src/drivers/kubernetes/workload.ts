/**
 * Sessions and services on Kubernetes: the pod of a job of kind `session` or `service` gets a
 * container port (the image's `session.port` / `service.port`, else 8080) named `workload`, given to
 * the process as GIGAFAB_PORT and PORT (GIGAFAB_BIND 0.0.0.0: the pod's own network namespace), and a
 * TCP readiness probe on it. The driver reports `started` only once the pod is Running and Ready, with
 * the endpoint `<pod IP>:<port>`: the control plane's proxy connects to each replica's pod directly
 * (it balances per replica itself, so no ClusterIP Service stands in between). The control plane must
 * therefore reach the pod network (run it in the cluster, or route the pod CIDR to it), and a
 * NetworkPolicy should admit only it to these ports.
 */
import type { JobSpec } from '../../model/schemas.js';
import { containerPort, exposesPort } from '../../model/workloads.js';
import type { Pod } from './api.js';

export const DEFAULT_WORKLOAD_PORT = 8080;
const WORKLOAD_ENV = ['GIGAFAB_PORT', 'PORT', 'GIGAFAB_BIND'];

/** workloadPortOf: the container port of a session or service, or null for a batch job. */
export function workloadPortOf(spec: JobSpec): number | null {
  if (!exposesPort(spec)) return null;
  return containerPort(spec) ?? DEFAULT_WORKLOAD_PORT;
}

/** workloadEnv: the port variables (replacing any of the job's own of the same name). */
export function withWorkloadEnv<E extends { name: string }>(
  env: E[],
  port: number | null,
): (E | { name: string; value: string })[] {
  if (port === null) return env;
  return [
    ...env.filter((e) => !WORKLOAD_ENV.includes(e.name)),
    { name: 'GIGAFAB_PORT', value: String(port) },
    { name: 'PORT', value: String(port) },
    { name: 'GIGAFAB_BIND', value: '0.0.0.0' },
  ];
}

/** The container fields of a workload's port: the named port and a TCP readiness probe on it. */
export function workloadContainerFields(port: number | null): Record<string, unknown> {
  if (port === null) return {};
  return {
    ports: [{ name: 'workload', containerPort: port, protocol: 'TCP' }],
    readinessProbe: { tcpSocket: { port }, periodSeconds: 2, failureThreshold: 1 },
  };
}

/** workloadReady: the pod's endpoint once it is Running and Ready with an IP; null before. */
export function workloadEndpoint(pod: Pod, port: number): { host: string; port: number } | null {
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  const ip = pod.status?.podIP;
  return pod.status?.phase === 'Running' && ready && ip ? { host: ip, port } : null;
}
