/**
 * The port of a session or service (model/workloads.ts) on a driver that runs it on this machine:
 * a free loopback port per run, given to the job as GIGAFAB_PORT and PORT, published from a
 * container on 127.0.0.1 only (never on the machine's other interfaces: the proxy is the one way in),
 * and reported as the run's endpoint in its `started` observation.
 */
import { createServer } from 'node:net';
import type { JobSpec } from '../model/schemas.js';
import { containerPort, type Endpoint, exposesPort } from '../model/workloads.js';

export const LOOPBACK = '127.0.0.1';

/** A run's port: where the control plane reaches it, and the port its process listens on. */
export interface WorkloadPort {
  endpoint: Endpoint;
  /** The port the process binds (inside its container, or on the host: then endpoint.port). */
  listenPort: number;
  /** For podman: `-p 127.0.0.1:<host>:<container>`; absent for host processes. */
  publish?: { hostPort: number; containerPort: number };
  env: { GIGAFAB_PORT: string; PORT: string };
}

/** freeLoopbackPort: a port nobody listens on at 127.0.0.1 now (the kernel's pick). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, LOOPBACK, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free loopback port'))));
    });
  });
}

/** workloadPort: the port plan of a run, or null for a batch job (no port). */
export async function workloadPort(spec: JobSpec): Promise<WorkloadPort | null> {
  if (!exposesPort(spec)) return null;
  const hostPort = await freeLoopbackPort();
  const inImage = spec.image ? (containerPort(spec) ?? hostPort) : null;
  const listenPort = inImage ?? hostPort;
  return {
    endpoint: { host: LOOPBACK, port: hostPort },
    listenPort,
    ...(inImage !== null ? { publish: { hostPort, containerPort: inImage } } : {}),
    env: { GIGAFAB_PORT: String(listenPort), PORT: String(listenPort) },
  };
}
