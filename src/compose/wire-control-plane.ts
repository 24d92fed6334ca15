/**
 * The control plane and the sovereignty services around it, built in one explicit order from one
 * set of dependencies (no setters after construction, no hooks patched in later):
 *   1. SchedulingState (the live view; enqueues through the residency gate)
 *   2. sovereignty services, holding narrow ports over that state: tenancy (quotas), keys, secrets
 *      and restriction (restrictionCycle), residency (residencyCycle), dataset manifests
 *   3. ControlPlane (cycle runner, observations, job service) with the services' hooks
 *   4. erasure, which cancels jobs through the control plane's job service
 */

import type { ExecutionDriver } from '../drivers/driver.js';
import { SSH_KEYS_ENV } from '../drivers/session-command.js';
import type { Fleet } from '../model/fleet.js';
import type { Policy } from '../model/policy.js';
import { ControlPlane, stopGrace } from '../server/control-plane.js';
import { SchedulingState } from '../server/cycle/scheduling-state.js';
import { residencyCycle, restrictionCycle } from '../server/cycle/sovereignty-ports.js';
import { EventBus } from '../server/event-bus.js';
import type { Limits } from '../server/limits.js';
import { createMetrics, type Metrics } from '../server/metrics.js';
import type { OidcAuthenticator } from '../server/oidc.js';
import type { ControlPlaneHooks } from '../server/ports.js';
import { createInferenceServices, type InferenceServices } from '../server/services/index.js';
import { Tenancy, type TokenPolicy } from '../server/tenancy/index.js';
import { StateDirRemovals } from '../server/workloads/state-dirs.js';
import { type DatasetManifests, loadDatasetManifests } from '../sovereignty/dataset-manifests.js';
import { jobDatasets } from '../sovereignty/dataset-mounts.js';
import { erasureFor, type KeysServices, setupKeys } from '../sovereignty/keys/setup.js';
import { ResidencyService } from '../sovereignty/service.js';
import type { Store } from '../store/open-store.js';

export interface WiringInput {
  store: Store;
  fleet: Fleet;
  driver: ExecutionDriver;
  policy: Policy;
  limits: Limits;
  dataDir: string;
  tokenPolicy?: TokenPolicy;
  oidc?: OidcAuthenticator | null;
  now?: () => number;
  /** The scheduler lease's fencing token (several replicas on PostgreSQL): cycles cite it as their term. */
  schedulerTerm?: () => number;
}

export interface Wired {
  cp: ControlPlane;
  tenancy: Tenancy;
  keys: KeysServices;
  residency: ResidencyService;
  datasetManifests: DatasetManifests;
  metrics: Metrics;
  /** Inference services (replicas of a job template, autoscaled); their loop starts with the server. */
  services: InferenceServices;
}

export async function wireControlPlane(w: WiringInput): Promise<Wired> {
  const { store, fleet, driver, policy } = w;
  const now = w.now ?? (() => Date.now());
  const bus = new EventBus();
  // Deleted datasets' session state directories: removed by the drivers after the deletion commits.
  const stateDirs = new StateDirRemovals({ store, driver, now, bus });
  const residency = new ResidencyService(store, fleet, undefined, stateDirs);
  const state = new SchedulingState(fleet, driver, residency, now, w.schedulerTerm);
  const metrics = createMetrics(
    () => ({
      queueLength: () => state.queue.size,
      runningCount: () => state.running.size,
      gpuTotals: () => state.cluster.siteTotals(),
      projects: { running: () => state.running.values(), queued: () => state.queue.values() },
    }),
    { store: () => store, maxProjectLabelSets: w.limits.metrics.maxProjectLabelSets },
  );
  const grace = stopGrace({ policy });

  const tenancy = new Tenancy({
    store,
    quotas: state,
    tokenPolicy: w.tokenPolicy,
    oidc: w.oidc ?? null,
    // An imported organisation's datasets are registered in the residency service's registry.
    datasets: { refusal: (d) => residency.importRefusal(d), write: (trx, org, ds) => residency.writeImported(trx, org, ds) },
  });
  const sov = await setupKeys(store, restrictionCycle({ state, store, driver, bus, grace }), tenancy, w.dataDir);
  await residency.load(residencyCycle({ state, bus }));
  const datasetManifests = await loadDatasetManifests(store, sov.keys, residency);
  const hooks: ControlPlaneHooks = {
    admit: sov.hooks.admit,
    holdReason: sov.hooks.holdReason,
    // A job's driver receives its secrets and the manifests of the datasets it reads.
    // An ssh session also receives its owner's public keys (its sshd authorises exactly those).
    secretsFor: async (job) => {
      const secrets = await sov.hooks.secretsFor(job);
      const datasets = await datasetManifests.resolveForJob(job);
      const ssh = job.spec.kind === 'session' && job.spec.session?.preset === 'ssh';
      const keys = ssh ? { [SSH_KEYS_ENV]: (await tenancy.sshKeys.keysOfJobOwner(job.id)).join('\n') } : undefined;
      return secrets || datasets || keys ? { ...secrets, ...datasets, ...keys } : undefined;
    },
    datasetsFor: (job) => jobDatasets(job.spec, residency.datasetsOfOrg(job.org)),
  };

  const cp = new ControlPlane({
    state,
    store,
    driver,
    bus,
    metrics,
    policy,
    residency,
    hooks,
    maxQueuedJobsPerOrg: w.limits.queue.maxQueuedJobsPerOrg,
    stateDirs,
  });
  // Replica endpoints: what their drivers reported (workloads/endpoints.ts), kept on the running job.
  const services = createInferenceServices({
    store,
    cp,
    endpointOf: (jobId) => state.running.get(jobId)?.endpoint ?? null,
    now,
    registry: metrics.registry,
    labelKeys: () => new Set(fleet.nodes.flatMap((n) => Object.keys(n.labels))),
    fleet: () => fleet,
    onError: (what, err) => console.error(`${what}: ${err instanceof Error ? err.message : String(err)}`),
  });
  return { cp, tenancy, keys: erasureFor(store, cp, sov, stateDirs), residency, datasetManifests, metrics, services };
}
