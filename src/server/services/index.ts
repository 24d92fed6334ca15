/**
 * Inference services (issue #14): the registry (CRUD, audited), the replica loop (replicas follow
 * the replica controller), the load the proxy reports. Built once by the composition root.
 */

import type { Registry } from 'prom-client';
import type { Fleet } from '../../model/fleet.js';
import type { Store } from '../../store/open-store.js';
import type { ControlPlane } from '../control-plane.js';
import type { Endpoint } from './probes.js';
import { ReplicaLoop } from './replica-loop.js';
import { ServiceApiKeys } from './service-api-keys.js';
import { ServiceLoad } from './service-load.js';
import { registerServiceMetrics } from './service-metrics.js';
import { ServiceRegistry } from './service-registry.js';
import { ServiceTargets } from './service-targets.js';

export { ReplicaLoop } from './replica-loop.js';
export { ServiceLoad } from './service-load.js';
export { ServiceRegistry } from './service-registry.js';

export interface InferenceServices {
  registry: ServiceRegistry;
  loop: ReplicaLoop;
  load: ServiceLoad;
  /** The workload proxy's source for services. */
  targets: ServiceTargets;
  apiKeys: ServiceApiKeys;
}

export interface InferenceServicesDeps {
  store: Store;
  cp: Pick<ControlPlane, 'submitJob' | 'cancelJob'>;
  endpointOf: (jobId: string) => Endpoint | null;
  now?: () => number;
  intervalMs?: number;
  coldStartTimeoutMs?: number;
  /** /metrics: service metrics per org and project are registered here. */
  registry?: Registry;
  onError?: (what: string, err: unknown) => void;
  /** The fleet's node-label keys (services may spread over `label:<key>`). */
  labelKeys?: () => ReadonlySet<string>;
  /** The fleet (a template's GPU fraction or MIG profile is checked against it). */
  fleet?: () => Fleet;
}

export function createInferenceServices(d: InferenceServicesDeps): InferenceServices {
  const now = d.now ?? (() => Date.now());
  const load = new ServiceLoad(now);
  const loop = new ReplicaLoop({
    store: d.store,
    jobs: {
      submit: (p, spec, key, requestId) => d.cp.submitJob(p, spec, key, requestId),
      cancel: (p, id, requestId) => d.cp.cancelJob(p, id, requestId),
    },
    load,
    endpointOf: d.endpointOf,
    now,
    intervalMs: d.intervalMs,
    onError: d.onError,
  });
  if (d.registry) registerServiceMetrics(d.registry, { services: () => loop.metricsView() });
  const targets = new ServiceTargets({ store: d.store, loop, load, now, coldStartTimeoutMs: d.coldStartTimeoutMs });
  return {
    registry: new ServiceRegistry(d.store, loop, now, d.labelKeys, d.fleet),
    loop,
    load,
    targets,
    apiKeys: new ServiceApiKeys(d.store, now),
  };
}
