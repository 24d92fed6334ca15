/**
 * Kubernetes gangs: how the ranks of a multi-node job find each other. A headless Service (no cluster
 * IP: DNS answers with the pods' own addresses, also before they are Ready) selects the job's pods, and
 * each pod sets `hostname: <pod name>` and `subdomain: <Service name>`, so rank i is reachable at
 * `<pod i>.<Service>.<namespace>.svc.<cluster domain>` as soon as it has an address. Rank 0's name is
 * every rank's MASTER_ADDR; the other variables come from rendezvous.ts, as on every driver.
 * A 1-node job gets no Service: its only rank is its own master (127.0.0.1, as on the local driver).
 */

import type { Placement } from '../../model/job.js';
import { masterPort, rendezvousEnv } from '../rendezvous.js';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef: { name: string; key: string } };
}

/** isGang: a job on more than one node, whose ranks must reach each other. */
export function isGang(placement: Placement): boolean {
  return placement.nodes.length > 1;
}

/** rankAddress: the DNS name of a gang's pod, through the gang's headless Service. */
export function rankAddress(pod: string, service: string, namespace: string, clusterDomain: string): string {
  return `${pod}.${service}.${namespace}.svc.${clusterDomain}`;
}

export interface HeadlessServiceInput {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Labels that exactly the job's pods carry. */
  selector: Record<string, string>;
  jobId: string;
}

/** headlessService: the core/v1 Service giving each of the gang's pods its DNS name. */
export function headlessService(s: HeadlessServiceInput) {
  const port = masterPort(s.jobId);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, labels: s.labels, annotations: s.annotations },
    spec: {
      clusterIP: 'None',
      selector: s.selector,
      // Ranks resolve each other while starting: no readiness gate on the DNS records.
      publishNotReadyAddresses: true,
      ports: [{ name: 'rendezvous', protocol: 'TCP', port, targetPort: port }],
    },
  };
}

/**
 * rankEnv: the container env of rank `index`: the job's own variables and secret references first,
 * then gigafab's (GIGAFAB_JOB_ID and the rendezvous), which a job's variable of the same name cannot
 * override (it is left out, so no name appears twice).
 */
export function rankEnv(
  jobId: string,
  placement: Placement,
  index: number,
  masterAddr: string,
  own: { env: Record<string, string>; secretNames: string[]; secretObject: string | null; ours?: Record<string, string> },
): EnvVar[] {
  const ours: Record<string, string> = {
    GIGAFAB_JOB_ID: jobId,
    ...rendezvousEnv(jobId, placement, index, masterAddr),
    ...own.ours,
  };
  const free = (name: string) => !Object.hasOwn(ours, name);
  return [
    ...Object.entries(own.env)
      .filter(([name]) => free(name))
      .map(([name, value]) => ({ name, value })),
    ...own.secretNames.filter(free).map((name) => ({
      name,
      valueFrom: { secretKeyRef: { name: own.secretObject ?? '', key: name } },
    })),
    ...Object.entries(ours).map(([name, value]) => ({ name, value })),
  ];
}
