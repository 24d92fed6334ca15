/**
 * KubernetesDriver: a site backed by a Kubernetes cluster, through its REST API (./kubernetes/api.ts).
 * gigafab stays the scheduler of record: a job becomes one Pod per placed node, each bound with
 * `spec.nodeName` to the mapped Kubernetes node (kube-scheduler is not involved), with
 * `nvidia.com/gpu` limits = the GPUs placed on that node, `restartPolicy: Never`,
 * `activeDeadlineSeconds` = maxRuntimeSeconds and `terminationGracePeriodSeconds`. Pods live in one
 * namespace per project (`<namespacePrefix><project>`, created when missing); secrets go into a
 * Kubernetes Secret referenced by the container's env, never into the Pod spec or a message.
 * A gang (nodes > 1) also gets a headless Service, created before its pods, and each pod a stable DNS
 * name through it; every rank gets the rendezvous variables with rank 0's name as MASTER_ADDR
 * (./kubernetes/gang.ts). Service and Secrets are removed when the job ends; forget() removes its pods.
 * Every pod gets an emptyDir scratch volume at /scratch and, with datasetRoot, a hostPath volume per
 * declared dataset at /datasets/<id> (./kubernetes/mounts.ts).
 * A session or service replica gets a container port, readiness (and declared liveness) probes and a
 * ClusterIP Service of its own; it is `started` once its pod is Ready, with the Service's DNS name as
 * endpoint (./kubernetes/workload.ts). From attempt 2 a requeued job's names carry `-a<K>`, and only
 * the current attempt's pods (gigafab.dev/attempt) are followed.
 *
 * Following: the pods of each followed job are listed by label every pollIntervalMs. All Running →
 * `started`; all Succeeded → exited completed 0; a Failed pod → exited completed with its container's
 * exit code (the rest of the gang is deleted); DeadlineExceeded → timed-out; after stop() → cancelled
 * once the pods are gone or ended; pods that vanish otherwise → lost. Node states by listing nodes.
 *
 * Restart rule (reattach): pods carrying this driver's instance label are listed cluster-wide; pods of
 * known jobs are followed again, live pods of unknown jobs are deleted (or only reported with
 * `orphans: 'report'`), known jobs without pods are lost.
 *
 * Tested only against recorded API exchanges (test/drivers/recordings/), not against a live cluster.
 */
import { createHash } from 'node:crypto';
import type { NodeState } from '../model/fleet.js';
import { bytesOf, type NodeAllocation, REGISTRY_AUTH_SECRET } from '../model/job.js';
import type { Endpoint } from '../model/workloads.js';
import { checkJobId, DEFAULT_LOG_CHUNK, Listeners } from './common.js';
import type { DriverJob, ExecutionDriver, ExitOutcome, LogChunk, NodeStateObservation, Observation } from './driver.js';
import { shareEnv } from './gpu-share-env.js';
import { asList, KubeApiError, KubeClient, type KubeClientOptions, type KubeNode, type Pod } from './kubernetes/api.js';
import { DEFAULT_CLUSTER_DOMAIN, headlessService, isGang, rankAddress, rankEnv } from './kubernetes/gang.js';
import { podMounts } from './kubernetes/mounts.js';
import {
  containerWorkload,
  type WorkloadProbes,
  workloadEndpoint,
  workloadPortOf,
  workloadService,
} from './kubernetes/workload.js';
import { imageRegistry, type SiteRunPolicy } from './runnable.js';
import { sessionCommand } from './session-command.js';

export const LABEL = {
  jobId: 'gigafab.dev/job-id',
  project: 'gigafab.dev/project',
  org: 'gigafab.dev/org',
  nodeIndex: 'gigafab.dev/node-index',
  attempt: 'gigafab.dev/attempt',
  instance: 'gigafab.dev/instance',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/** Annotations hold what a label value cannot (job ids longer than 63 characters, node ids). */
export const ANNOTATION = { jobId: 'gigafab.dev/job-id', node: 'gigafab.dev/node', attempt: 'gigafab.dev/attempt' } as const;

export interface KubernetesDriverOptions extends KubeClientOptions {
  /** gigafab node id → Kubernetes node name. Jobs placed on nodes missing here are refused. */
  nodeMap: Record<string, string>;
  /** Namespace of a project's pods: prefix + project. Default 'gigafab-'. */
  namespacePrefix?: string;
  /** Value of the gigafab.dev/instance label: orphans are only taken from our own pods. Default 'default'. */
  instance?: string;
  /** Pod list poll interval while jobs are followed. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Node list poll interval; 0 turns it off. Default 10000 ms. */
  nodePollIntervalMs?: number;
  /** Grace for the pods deleted when a gang member fails. Default 30 s. */
  timeoutGraceSeconds?: number;
  /** Image for jobs that give only a command (spec.image absent). Without it such jobs are refused. */
  defaultImage?: string;
  /** Orphans (see above): 'delete' (default) or 'report'. */
  orphans?: 'delete' | 'report';
  /** DNS domain of the cluster, for the names of a gang's pods (kubelet's clusterDomain). Default 'cluster.local'. */
  clusterDomain?: string;
  /**
   * Where every node stages datasets, one directory per dataset id: declared datasets become hostPath
   * volumes at /datasets/<id> (./kubernetes/mounts.ts). Without it only the scratch volume is mounted.
   */
  datasetRoot?: string;
  /** The tenant org of a project, for the gigafab.dev/org label (DriverJob carries no org). */
  orgOf?: (project: string) => string | undefined;
  /**
   * The health checks of a gigafab service (by service id), for its replicas' readiness and liveness
   * probes (./kubernetes/workload.ts). Without it (or for sessions) readiness is a TCP check of the port.
   */
  probesOf?: (serviceId: string) => WorkloadProbes | undefined;
  now?: () => number;
}

interface PodRef {
  name: string;
  node: string;
  kubeNode: string;
}

interface Tracked {
  id: string;
  /** Which start of the job (DriverJob.attempt): only pods of this attempt are its own. */
  attempt: number;
  /** Where a session or replica is reached once Ready; null for a batch job. */
  endpoint: Endpoint | null;
  namespace: string;
  selector: string;
  pods: PodRef[];
  /** Secrets created for the job (its env secrets, its image pull secret), removed with it. */
  secretNames: string[];
  /** The headless Service of a gang (null for a 1-node job), removed with it. */
  service: string | null;
  startedReported: boolean;
  seenPods: boolean;
  missingPolls: number;
  stopping: { outcome: 'cancelled'; at: number } | null;
}

interface JobLog {
  namespace: string;
  pods: PodRef[];
  /** Bytes of each pod's log already appended to `combined`. */
  consumed: number[];
  combined: Buffer;
  ended: boolean;
  /** Read whole after the job ended: no more requests. */
  complete: boolean;
}

export interface KubernetesOrphan {
  jobId: string;
  namespace: string;
  pods: string[];
  action: 'deleted' | 'reported';
}

export interface KubernetesReconcileResult {
  orphans: KubernetesOrphan[];
  lost: string[];
}

const RESERVED_ENV = /^(GIGAFAB_|KUBERNETES_)/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const MISSING_POLLS_LOST = 3;
const MAX_ENDED_LOGS = 1000;

/** jobLabel: the job id as a label value, or a hash of it when the id cannot be one. */
export function jobLabel(id: string): string {
  return id.length <= 63 && LABEL_VALUE.test(id) ? id : `h-${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}

/**
 * podName: `gf-<id>-<index>` when the id is a DNS label already, else a hashed form; a requeued job's
 * later attempts get `-a<K>` before the index (`gf-<id>-a2-0`), so a new run never meets the ended
 * pods of an earlier one (left for inspection) under its own name.
 */
export function podName(id: string, index: number, attempt = 1): string {
  const base = `gf-${id}`;
  const plain = base.length <= 50 && DNS_LABEL.test(base);
  const stem = plain
    ? base
    : `gf-${id
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '-')
        .slice(0, 30)
        .replace(/-+$/, '')}-${createHash('sha256').update(id).digest('hex').slice(0, 10)}`;
  return attempt > 1 ? `${stem}-a${attempt}-${index}` : `${stem}-${index}`;
}

/** baseName: the name of a run's Service and the stem of its Secrets (`gf-<id>`, `gf-<id>-a<K>`). */
export function baseName(id: string, attempt = 1): string {
  return podName(id, 0, attempt).replace(/-0$/, '');
}

/** attemptOf: the attempt a pod belongs to (pods made before attempts were recorded are attempt 1). */
export function attemptOf(p: Pod): number {
  const a = Number(p.metadata.annotations?.[ANNOTATION.attempt] ?? '1');
  return Number.isInteger(a) && a >= 1 ? a : 1;
}

export class KubernetesDriver implements ExecutionDriver {
  readonly name = 'kubernetes';
  readonly client: KubeClient;
  private readonly listeners = new Listeners();
  private readonly jobs = new Map<string, Tracked>();
  private readonly logsByJob = new Map<string, JobLog>();
  private readonly reverseNodes = new Map<string, string>();
  private readonly nodeStates = new Map<string, NodeState>();
  private readonly namespaces = new Set<string>();
  private readonly now: () => number;
  private readonly instance: string;
  private pollTimer: NodeJS.Timeout | null = null;
  private nodeTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closed = false;
  lastPollError = '';
  lastForgetError = '';
  lastReconcile: KubernetesReconcileResult | null = null;

  constructor(private readonly opts: KubernetesDriverOptions) {
    this.client = new KubeClient(opts);
    this.now = opts.now ?? (() => Date.now());
    this.instance = opts.instance ?? 'default';
    if (!LABEL_VALUE.test(this.instance)) throw new Error(`instance is not a label value: ${this.instance}`);
    for (const [node, kubeNode] of Object.entries(opts.nodeMap)) {
      const other = this.reverseNodes.get(kubeNode);
      if (other) throw new Error(`Kubernetes node ${kubeNode} is mapped from both ${other} and ${node}`);
      this.reverseNodes.set(kubeNode, node);
    }
    if ((opts.nodePollIntervalMs ?? 10_000) > 0) this.scheduleNodePoll(0);
  }

  onObservation(listener: (o: Observation) => void): void {
    this.listeners.onObservation(listener);
  }

  onNodeState(listener: (o: NodeStateObservation) => void): void {
    this.listeners.onNodeState(listener);
  }

  /** Kubernetes runs images only; a job without one runs in the site's defaultImage, if it has one. */
  runPolicy(site: string): SiteRunPolicy {
    return { site, images: true, hostJobs: this.opts.defaultImage !== undefined };
  }

  namespaceOf(project: string): string {
    const ns = `${this.opts.namespacePrefix ?? 'gigafab-'}${project}`;
    if (ns.length > 63 || !DNS_LABEL.test(ns)) throw new Error(`namespace ${JSON.stringify(ns)} is not a valid DNS label`);
    return ns;
  }

  async start(job: DriverJob): Promise<void> {
    if (this.closed) throw new Error('Kubernetes driver is closed');
    checkJobId(job.id);
    if (this.jobs.has(job.id)) throw new Error(`job ${job.id} is already started`);
    if (job.spec.kind === 'session' && job.spec.session?.preset === 'ssh')
      throw new Error(`job ${job.id}: ssh sessions run on local and slurm sites (sshd on the node), not on Kubernetes yet`);
    const image = job.spec.image ?? this.opts.defaultImage;
    if (!image)
      throw new Error(
        `the Kubernetes driver runs container images; job ${job.id} has no spec.image and the site no defaultImage`,
      );
    const attempt = job.attempt ?? 1;
    const pods: PodRef[] = job.placement.nodes.map((a, i) => {
      const kubeNode = this.opts.nodeMap[a.node];
      if (!kubeNode) throw new Error(`node ${a.node} has no Kubernetes node name in this site's nodeMap`);
      return { name: podName(job.id, i, attempt), node: a.node, kubeNode };
    });
    if (pods.length === 0) throw new Error(`job ${job.id} has an empty placement`);
    // Registry credentials become an image pull secret, never part of the environment.
    const { [REGISTRY_AUTH_SECRET]: pullAuth, ...secrets } = job.secrets ?? {};
    const reserved = [...Object.keys(job.spec.env ?? {}), ...Object.keys(secrets)].filter((k) => RESERVED_ENV.test(k));
    if (reserved.length)
      throw new Error(`environment variables reserved by gigafab cannot be set by a job: ${reserved.join(', ')}`);

    // Before any API call: a dataset id that cannot name a directory refuses the job here.
    const mounts = podMounts(this.opts.datasetRoot, job.datasets);
    const namespace = this.namespaceOf(job.spec.project);
    await this.ensureNamespace(namespace);
    const labels: Record<string, string> = {
      [LABEL.managedBy]: 'gigafab',
      [LABEL.instance]: this.instance,
      [LABEL.jobId]: jobLabel(job.id),
      [LABEL.project]: job.spec.project,
      [LABEL.attempt]: String(attempt),
    };
    const org = this.opts.orgOf?.(job.spec.project);
    if (org && LABEL_VALUE.test(org) && org.length <= 63) labels[LABEL.org] = org;

    const base = baseName(job.id, attempt);
    const pullSecret = pullAuth ? `${base}-pull` : null;
    const secretName = Object.keys(secrets).length > 0 ? `${base}-env` : null;
    // A session or replica (always one node) listens on a port behind its own ClusterIP Service.
    const port = workloadPortOf(job.spec);
    const service = isGang(job.placement) || port !== null ? base : null;
    const selector = { [LABEL.instance]: this.instance, [LABEL.jobId]: jobLabel(job.id), [LABEL.attempt]: String(attempt) };
    const annotations = { [ANNOTATION.jobId]: job.id, [ANNOTATION.attempt]: String(attempt) };
    const domain = this.opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
    const endpoint = port !== null && service ? workloadEndpoint(service, namespace, domain, port) : null;
    const gang = isGang(job.placement);
    const masterAddr = gang && service ? rankAddress(pods[0].name, service, namespace, domain) : '127.0.0.1';
    // A pod is reached at its Service, from outside the pod: it listens on every address.
    const portEnv: Record<string, string> =
      port !== null ? { GIGAFAB_PORT: String(port), PORT: String(port), GIGAFAB_BIND: '0.0.0.0' } : {};
    const probes = job.spec.service ? this.opts.probesOf?.(job.spec.service.id) : undefined;
    const command = sessionCommand(job.spec);
    const jobSecrets: string[] = [];
    let serviceCreated: string | null = null;
    const created: string[] = [];
    try {
      if (pullSecret && pullAuth) {
        const dockerConfig = { auths: { [imageRegistry(image)]: { auth: Buffer.from(pullAuth).toString('base64') } } };
        await this.client.call(
          'POST',
          `/api/v1/namespaces/${namespace}/secrets`,
          {},
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: pullSecret, namespace, labels, annotations: { [ANNOTATION.jobId]: job.id } },
            type: 'kubernetes.io/dockerconfigjson',
            stringData: { '.dockerconfigjson': JSON.stringify(dockerConfig) },
          },
          [409],
        );
        jobSecrets.push(pullSecret);
      }
      if (secretName) {
        await this.client.call(
          'POST',
          `/api/v1/namespaces/${namespace}/secrets`,
          {},
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: secretName, namespace, labels, annotations: { [ANNOTATION.jobId]: job.id } },
            type: 'Opaque',
            stringData: secrets,
          },
          [409], // already there: a start retried after a crash
        );
        jobSecrets.push(secretName);
      }
      // A gang's Service exists before its pods, so their DNS names resolve from their first moment.
      if (service) {
        const svc =
          port !== null
            ? workloadService({ name: service, namespace, labels, annotations, selector, port })
            : headlessService({ name: service, namespace, labels, annotations, selector, jobId: job.id });
        await this.client.call('POST', `/api/v1/namespaces/${namespace}/services`, {}, svc, [409]);
        serviceCreated = service;
      }
      for (const [i, p] of pods.entries()) {
        const alloc = job.placement.nodes[i];
        const env = [
          ...rankEnv(job.id, job.placement, i, masterAddr, {
            env: job.spec.env ?? {},
            secretNames: Object.keys(secrets),
            secretObject: secretName,
            ours: portEnv,
          }),
          ...mounts.env,
          ...Object.entries(shareEnv(alloc)).map(([name, value]) => ({ name, value })),
        ];
        const r = job.spec.resources;
        const limits: Record<string, string> = gpuLimits(alloc);
        if (r?.memory) limits.memory = String(bytesOf(r.memory));
        if (r?.cpus) limits.cpu = String(r.cpus);
        // NCCL needs a /dev/shm larger than the container runtime's 64 MiB default: a memory-backed emptyDir.
        const shm = r?.shmSize ? { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: String(bytesOf(r.shmSize)) } } : null;
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: p.name,
            namespace,
            labels: { ...labels, [LABEL.nodeIndex]: String(i) },
            annotations: { ...annotations, [ANNOTATION.node]: p.node },
          },
          spec: {
            nodeName: p.kubeNode,
            // hostname + subdomain = the headless Service: this rank's stable DNS name (rankAddress).
            ...(gang && service ? { hostname: p.name, subdomain: service } : {}),
            restartPolicy: 'Never',
            activeDeadlineSeconds: job.spec.maxRuntimeSeconds,
            terminationGracePeriodSeconds: this.opts.timeoutGraceSeconds ?? 30,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            containers: [
              {
                name: 'main',
                image,
                ...(command?.length ? { command } : {}),
                ...(job.spec.args?.length ? { args: job.spec.args } : {}),
                ...(job.spec.workingDir ? { workingDir: job.spec.workingDir } : {}),
                env,
                resources: { limits },
                volumeMounts: [...(shm ? [{ name: shm.name, mountPath: '/dev/shm' }] : []), ...mounts.volumeMounts],
                ...(port !== null ? containerWorkload(port, probes) : {}),
              },
            ],
            volumes: [...(shm ? [shm] : []), ...mounts.volumes],
            ...(pullSecret ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
          },
        };
        await this.client.call('POST', `/api/v1/namespaces/${namespace}/pods`, {}, pod, [409]);
        created.push(p.name);
      }
    } catch (err) {
      // A gang starts whole or not at all: remove what was created.
      for (const name of created) await this.deletePod(namespace, name, 0).catch(() => {});
      await this.removeJobObjects(namespace, serviceCreated, jobSecrets);
      throw err;
    }
    this.track(job.id, attempt, endpoint, namespace, pods, jobSecrets, service);
    this.schedulePoll(this.pollInterval());
  }

  async stop(jobId: string, graceSeconds: number): Promise<void> {
    const t = this.jobs.get(jobId);
    if (!t) return;
    if (!t.stopping) t.stopping = { outcome: 'cancelled', at: this.now() };
    const grace = Math.max(0, Math.round(graceSeconds));
    for (const p of t.pods) await this.deletePod(t.namespace, p.name, grace);
    this.schedulePoll(0);
  }

  async reattach(jobs: DriverJob[]): Promise<void> {
    this.lastReconcile = await this.reconcile(jobs);
  }

  /** reconcile applies the restart rule (see the top of this file). Throws if the API server does not answer. */
  async reconcile(known: DriverJob[]): Promise<KubernetesReconcileResult> {
    const res = await this.client.call('GET', '/api/v1/pods', { labelSelector: `${LABEL.instance}=${this.instance}` });
    // Keyed by job and attempt: the live pods of an earlier attempt of a known job are orphans too.
    const runKey = (id: string, attempt: number) => `${attempt}/${id}`;
    const byJob = new Map<string, Pod[]>();
    for (const pod of asList<Pod>(res.json, 'Pod').items) {
      const id = pod.metadata.annotations?.[ANNOTATION.jobId];
      if (!id) continue;
      const key = runKey(id, attemptOf(pod));
      const list = byJob.get(key) ?? [];
      list.push(pod);
      byJob.set(key, list);
    }
    const out: KubernetesReconcileResult = { orphans: [], lost: [] };
    const knownRuns = new Set(known.map((j) => runKey(j.id, j.attempt ?? 1)));
    for (const job of known) {
      if (this.jobs.has(job.id)) continue;
      const attempt = job.attempt ?? 1;
      const pods = byJob.get(runKey(job.id, attempt));
      if (!pods || pods.length === 0) {
        out.lost.push(job.id);
        this.emitExit(job.id, 'lost', null, `no pods of job ${job.id} in the cluster`);
        continue;
      }
      const namespace = pods[0].metadata.namespace ?? this.namespaceOf(job.spec.project);
      const refs: PodRef[] = job.placement.nodes.map((a, i) => ({
        name: podName(job.id, i, attempt),
        node: a.node,
        kubeNode: this.opts.nodeMap[a.node] ?? '',
      }));
      const { [REGISTRY_AUTH_SECRET]: pullAuth, ...envSecrets } = job.secrets ?? {};
      const base = baseName(job.id, attempt);
      const names = [...(Object.keys(envSecrets).length > 0 ? [`${base}-env`] : []), ...(pullAuth ? [`${base}-pull`] : [])];
      const port = workloadPortOf(job.spec);
      const endpoint =
        port !== null ? workloadEndpoint(base, namespace, this.opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN, port) : null;
      const service = isGang(job.placement) || port !== null ? base : null;
      const t = this.track(job.id, attempt, endpoint, namespace, refs, names, service);
      t.seenPods = true;
      // A session or replica that was not Ready yet is reported (with its endpoint) once it is.
      t.startedReported =
        job.startedAt > 0 && pods.every((p) => p.status?.phase !== 'Pending') && (endpoint === null || pods.every(isReady));
    }
    for (const [key, pods] of byJob) {
      const id = key.slice(key.indexOf('/') + 1);
      const tracked = this.jobs.get(id);
      if (knownRuns.has(key) || (tracked && runKey(id, tracked.attempt) === key)) continue;
      const live = pods.filter((p) => !isEnded(p) && !p.metadata.deletionTimestamp);
      if (live.length === 0) continue;
      const namespace = live[0].metadata.namespace ?? '';
      if (this.opts.orphans === 'report') {
        out.orphans.push({ jobId: id, namespace, pods: live.map((p) => p.metadata.name), action: 'reported' });
        continue;
      }
      for (const p of live) await this.deletePod(p.metadata.namespace ?? namespace, p.metadata.name, 0);
      // An orphan gang's headless Service is the one its pods name as their subdomain; an orphan
      // session's or replica's Service (its pod has a container port) is named after its run.
      const services = new Set(live.map((p) => p.spec?.subdomain).filter((s) => s !== undefined));
      for (const p of live) if (p.spec?.containers?.some((c) => c.ports?.length)) services.add(baseName(id, attemptOf(p)));
      for (const svc of services) await this.deleteService(namespace, svc);
      out.orphans.push({ jobId: id, namespace, pods: live.map((p) => p.metadata.name), action: 'deleted' });
    }
    if (this.jobs.size > 0) this.schedulePoll(0);
    return out;
  }

  /**
   * logs: every pod's log, each line prefixed with `[<gigafab node>] `, appended to one buffer per job
   * as it is read (so offsets stay stable while a gang runs). eof once the job has ended.
   */
  async logs(jobId: string, offset: number, maxBytes = DEFAULT_LOG_CHUNK): Promise<LogChunk | null> {
    const log = this.logsByJob.get(jobId);
    if (!log) return null;
    const ended = log.ended;
    let all = true;
    for (const [i, p] of log.pods.entries()) {
      if (log.complete) break;
      const res = await this.client.request('GET', `/api/v1/namespaces/${log.namespace}/pods/${p.name}/log`, {
        container: 'main',
      });
      if (res.status !== 200) {
        all = false; // not started yet, or gone
        continue;
      }
      const bytes = Buffer.from(res.text, 'utf8');
      let upTo = bytes.length;
      if (!ended) {
        // Only whole lines while the pod may still write.
        const nl = bytes.lastIndexOf(0x0a);
        upTo = nl + 1;
      }
      if (upTo <= log.consumed[i]) continue;
      const fresh = bytes.subarray(log.consumed[i], upTo).toString('utf8');
      log.consumed[i] = upTo;
      const lines = fresh.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      const prefixed = lines.map((l) => `[${p.node}] ${l}\n`).join('');
      log.combined = Buffer.concat([log.combined, Buffer.from(prefixed, 'utf8')]);
    }
    // An ended job's logs were read whole: later calls are served from the buffer.
    if (ended && all) log.complete = true;
    const size = log.combined.length;
    const start = Math.max(0, Math.min(Math.floor(offset), size));
    const end = Math.min(size, start + Math.max(0, maxBytes));
    return {
      data: new Uint8Array(log.combined.subarray(start, end)),
      offset: start,
      nextOffset: end,
      eof: ended && end >= size,
    };
  }

  /**
   * forget removes what the cluster still holds of an ended job (an organisation's erasure): its ended
   * pods, whose logs are tenant output, and its Service and Secrets should their removal at the end have
   * failed. The pods are found by label cluster-wide (so this works after a restart too); the other
   * objects by their names in the pods' namespaces. A job still followed is left alone. Best effort: an
   * API server that does not answer must not fail an erasure or the observation loop (lastForgetError).
   */
  async forget(jobId: string): Promise<void> {
    if (this.jobs.has(jobId)) return;
    const known = this.logsByJob.get(jobId)?.namespace;
    this.logsByJob.delete(jobId);
    try {
      await this.removeEndedJob(jobId, known);
    } catch (err) {
      this.lastForgetError = `${jobId}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** removeEndedJob: the deletions of forget (pods by label cluster-wide; Service and Secrets by name). */
  private async removeEndedJob(jobId: string, known: string | undefined): Promise<void> {
    const res = await this.client.call('GET', '/api/v1/pods', {
      labelSelector: `${LABEL.instance}=${this.instance},${LABEL.jobId}=${jobLabel(jobId)}`,
    });
    // The annotation holds the full id: a hashed label value could be shared by another job.
    const pods = asList<Pod>(res.json, 'Pod').items.filter((p) => p.metadata.annotations?.[ANNOTATION.jobId] === jobId);
    const namespaces = new Set([...(known ? [known] : []), ...pods.map((p) => p.metadata.namespace ?? '').filter(Boolean)]);
    for (const p of pods) await this.deletePod(p.metadata.namespace ?? '', p.metadata.name, 0);
    // Every attempt's objects: attempt 1's names, and those of each attempt a pod was found of.
    const bases = new Set([baseName(jobId, 1), ...pods.map((p) => baseName(jobId, attemptOf(p)))]);
    for (const ns of namespaces) {
      for (const base of bases) {
        await this.deleteService(ns, base);
        for (const name of [`${base}-env`, `${base}-pull`]) await this.deleteSecret(ns, name);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.nodeTimer) clearTimeout(this.nodeTimer);
    this.pollTimer = null;
    this.nodeTimer = null;
    this.jobs.clear();
    if (this.polling) await this.polling.catch(() => {});
  }

  /** pollNow runs one poll of the followed jobs at once (tests). */
  async pollNow(): Promise<void> {
    if (this.polling) await this.polling.catch(() => {});
    await this.pollOnce();
  }

  /** pollNodesNow lists the nodes once and reports changed states. */
  async pollNodesNow(): Promise<void> {
    const res = await this.client.call('GET', '/api/v1/nodes');
    const seen = new Set<string>();
    for (const n of asList<KubeNode>(res.json, 'Node').items) {
      const id = this.reverseNodes.get(n.metadata.name);
      if (!id) continue;
      seen.add(id);
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True') {
        this.setNodeState(
          id,
          'down',
          `Kubernetes node ${n.metadata.name} not Ready${ready?.message ? `: ${ready.message}` : ''}`,
        );
      } else if (n.spec?.unschedulable) {
        this.setNodeState(id, 'draining', `Kubernetes node ${n.metadata.name} is cordoned (unschedulable)`);
      } else this.setNodeState(id, 'up', `Kubernetes node ${n.metadata.name} Ready`);
    }
    for (const [kubeNode, id] of this.reverseNodes) {
      if (!seen.has(id)) this.setNodeState(id, 'down', `Kubernetes node ${kubeNode} is not in the cluster`);
    }
  }

  // ---------------------------------------------------------------- internals

  private track(
    id: string,
    attempt: number,
    endpoint: Endpoint | null,
    namespace: string,
    pods: PodRef[],
    secretNames: string[],
    service: string | null,
  ): Tracked {
    const t: Tracked = {
      id,
      attempt,
      endpoint,
      namespace,
      selector: `${LABEL.jobId}=${jobLabel(id)}`,
      pods,
      secretNames,
      service,
      startedReported: false,
      seenPods: false,
      missingPolls: 0,
      stopping: null,
    };
    this.jobs.set(id, t);
    this.logsByJob.set(id, {
      namespace,
      pods,
      consumed: pods.map(() => 0),
      combined: Buffer.alloc(0),
      ended: false,
      complete: false,
    });
    return t;
  }

  private pollInterval(): number {
    return this.opts.pollIntervalMs ?? 1000;
  }

  private schedulePoll(ms: number): void {
    if (this.closed) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      if (this.polling) {
        this.schedulePoll(this.pollInterval());
        return;
      }
      this.polling = this.pollOnce()
        .catch((err: unknown) => {
          this.lastPollError = err instanceof Error ? err.message : String(err);
        })
        .finally(() => {
          this.polling = null;
          if (this.jobs.size > 0) this.schedulePoll(this.pollInterval());
        });
    }, ms);
  }

  private scheduleNodePoll(ms: number): void {
    if (this.closed) return;
    this.nodeTimer = setTimeout(() => {
      this.pollNodesNow()
        .catch((err: unknown) => {
          this.lastPollError = err instanceof Error ? err.message : String(err);
        })
        .finally(() => this.scheduleNodePoll(this.opts.nodePollIntervalMs ?? 10_000));
    }, ms);
  }

  private async pollOnce(): Promise<void> {
    let firstError: unknown = null;
    for (const t of [...this.jobs.values()]) {
      if (this.closed) return;
      try {
        const res = await this.client.call('GET', `/api/v1/namespaces/${t.namespace}/pods`, { labelSelector: t.selector });
        await this.apply(t, asList<Pod>(res.json, 'Pod').items);
      } catch (err) {
        firstError ??= err; // one job's failure does not hold up the others; retried next poll
      }
    }
    if (firstError) throw firstError;
  }

  private async apply(t: Tracked, pods: Pod[]): Promise<void> {
    if (this.jobs.get(t.id) !== t) return;
    // This run's pods only: an earlier attempt's ended pods stay in the namespace for inspection.
    const mine = pods.filter((p) => p.metadata.annotations?.[ANNOTATION.jobId] === t.id && attemptOf(p) === t.attempt);
    if (t.stopping) {
      if (mine.every(isEnded)) {
        this.finish(t, 'cancelled', exitCodeOf(mine), `stopped; ${mine.length ? 'pods ended' : 'pods deleted'}`);
      }
      return;
    }
    if (mine.length === 0) {
      t.missingPolls++;
      if (t.seenPods || t.missingPolls >= MISSING_POLLS_LOST)
        this.finish(t, 'lost', null, `the pods of job ${t.id} are gone from namespace ${t.namespace}`);
      return;
    }
    t.seenPods = true;
    t.missingPolls = 0;
    const deadline = mine.find((p) => p.status?.reason === 'DeadlineExceeded');
    if (deadline) {
      await this.deleteRest(t, mine);
      this.finish(t, 'timed-out', null, `pod ${deadline.metadata.name} passed activeDeadlineSeconds`);
      return;
    }
    const failed = mine.find((p) => p.status?.phase === 'Failed');
    if (failed) {
      await this.deleteRest(t, mine);
      const term = terminated(failed);
      const node = failed.metadata.annotations?.[ANNOTATION.node] ?? failed.spec?.nodeName ?? '?';
      if (term) {
        this.finish(
          t,
          'completed',
          term.exitCode,
          `pod ${failed.metadata.name} on ${node} exited ${term.exitCode}${term.reason ? ` (${term.reason})` : ''}`,
        );
      } else {
        const why = failed.status?.reason ?? 'Failed';
        this.finish(
          t,
          'lost',
          null,
          `pod ${failed.metadata.name} on ${node} failed before its container ran: ${why} ${failed.status?.message ?? ''}`.trim(),
        );
      }
      return;
    }
    const gang = t.pods.length;
    if (mine.length >= gang && mine.every((p) => p.status?.phase === 'Succeeded')) {
      this.reportStarted(t, false);
      this.finish(t, 'completed', 0, `all ${gang} pod(s) succeeded`);
      return;
    }
    if (
      !t.startedReported &&
      mine.length >= gang &&
      mine.every((p) => p.status?.phase === 'Running' || p.status?.phase === 'Succeeded') &&
      // A session or replica is started once its readiness probe passes: then its Service has an endpoint.
      (t.endpoint === null || mine.every(isReady))
    )
      this.reportStarted(t);
  }

  /** reportStarted; `serving` false: the run ended before it was seen Ready (no endpoint to give). */
  private reportStarted(t: Tracked, serving = true): void {
    if (t.startedReported) return;
    t.startedReported = true;
    const ep = serving ? t.endpoint : null;
    this.listeners.emit({
      type: 'started',
      jobId: t.id,
      at: this.now(),
      ...(ep ? { endpoint: ep } : {}),
      message: `running as ${t.pods.length} pod(s) in ${t.namespace} on ${t.pods.map((p) => p.kubeNode).join(', ')}${ep ? `, Ready, serving at ${ep.host}:${ep.port}` : ''}`,
    });
  }

  private finish(t: Tracked, outcome: ExitOutcome, exitCode: number | null, message: string): void {
    if (this.jobs.get(t.id) !== t) return;
    this.jobs.delete(t.id);
    const log = this.logsByJob.get(t.id);
    if (log) log.ended = true;
    // Logs of ended jobs are kept for the last MAX_ENDED_LOGS jobs (then read from the pods no more).
    if (this.logsByJob.size > MAX_ENDED_LOGS + this.jobs.size) {
      for (const [id, l] of this.logsByJob) {
        if (!l.ended || id === t.id) continue;
        this.logsByJob.delete(id);
        break;
      }
    }
    if (outcome === 'completed') this.reportStarted(t, false);
    this.emitExit(t.id, outcome, exitCode, message);
    void this.removeJobObjects(t.namespace, t.service, t.secretNames);
  }

  /** removeJobObjects deletes a job's Service and Secrets one after the other (a failure is left to forget). */
  private async removeJobObjects(namespace: string, service: string | null, secretNames: string[]): Promise<void> {
    if (service) await this.deleteService(namespace, service).catch(() => {});
    for (const name of secretNames) await this.deleteSecret(namespace, name).catch(() => {});
  }

  private emitExit(jobId: string, outcome: ExitOutcome, exitCode: number | null, message: string): void {
    this.listeners.emit({ type: 'exited', jobId, at: this.now(), outcome, exitCode, message });
  }

  private async deleteRest(t: Tracked, pods: Pod[]): Promise<void> {
    const grace = this.opts.timeoutGraceSeconds ?? 30;
    for (const p of pods) {
      if (isEnded(p) || p.metadata.deletionTimestamp) continue;
      await this.deletePod(t.namespace, p.metadata.name, grace).catch(() => {});
    }
  }

  private async deletePod(namespace: string, name: string, graceSeconds: number): Promise<void> {
    await this.client.call(
      'DELETE',
      `/api/v1/namespaces/${namespace}/pods/${name}`,
      {},
      { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: graceSeconds, propagationPolicy: 'Background' },
      [404],
    );
  }

  private async deleteSecret(namespace: string, name: string): Promise<void> {
    await this.client.call('DELETE', `/api/v1/namespaces/${namespace}/secrets/${name}`, {}, undefined, [404]);
  }

  private async deleteService(namespace: string, name: string): Promise<void> {
    await this.client.call('DELETE', `/api/v1/namespaces/${namespace}/services/${name}`, {}, undefined, [404]);
  }

  private async ensureNamespace(ns: string): Promise<void> {
    if (this.namespaces.has(ns)) return;
    const got = await this.client.call('GET', `/api/v1/namespaces/${ns}`, {}, undefined, [404]);
    if (got.status === 404) {
      await this.client.call(
        'POST',
        '/api/v1/namespaces',
        {},
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [LABEL.managedBy]: 'gigafab' } } },
        [409],
      );
    }
    this.namespaces.add(ns);
  }

  private setNodeState(node: string, state: NodeState, reason: string): void {
    if (this.nodeStates.get(node) === state) return;
    this.nodeStates.set(node, state);
    this.listeners.emitNodeState({ type: 'node-state', node, state, reason, at: this.now() });
  }
}

function terminated(p: Pod) {
  return (
    p.status?.containerStatuses?.find((c) => c.name === 'main')?.state?.terminated ??
    p.status?.containerStatuses?.[0]?.state?.terminated
  );
}

/** isReady: the pod's Ready condition is True (every container's readiness probe passes). */
function isReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function isEnded(p: Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

function exitCodeOf(pods: Pod[]): number | null {
  for (const p of pods) {
    const code = terminated(p)?.exitCode;
    if (code !== undefined && code !== 0) return code;
  }
  return null;
}

export { KubeApiError };

/**
 * gpuLimits: the pod's GPU resource. Whole GPUs are `nvidia.com/gpu`; a MIG instance is the NVIDIA
 * device plugin's mixed-strategy resource `nvidia.com/mig-<profile>` (e.g. nvidia.com/mig-1g.23gb);
 * a time-sliced share is one replica of the device plugin's time-slicing (`nvidia.com/gpu.shared`,
 * its renameByDefault name), the share itself in GIGAFAB_GPU_MILLI and the MPS variables.
 */
export function gpuLimits(alloc: NodeAllocation): Record<string, string> {
  if (alloc.migProfile !== undefined) return { [`nvidia.com/mig-${alloc.migProfile}`]: '1' };
  if (alloc.milli !== undefined) return { 'nvidia.com/gpu.shared': '1' };
  return { 'nvidia.com/gpu': String(alloc.gpus.length) };
}
