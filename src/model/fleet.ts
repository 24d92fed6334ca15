/**
 * Fleet model: sites, node types, racks/scalable units and nodes.
 * Plain data shared by the scheduler, store, drivers and API. No I/O here.
 */

import type { MigLayoutSpec } from './gpu-sharing.js';

/** GpuType names a GPU model as users request it, e.g. `B200` or `RTX-PRO-6000`. */
export type GpuType = string;

/** Attestation: an audit report or certificate with its validity, e.g. BSI C5 Type 2, ISO/IEC 27001. */
export interface Attestation {
  name: string;
  /** ISO date or date-time; a date alone means the start of that day (UTC). */
  validFrom: string;
  /** ISO date or date-time; a date alone means valid through the end of that day (UTC). */
  validUntil: string;
  issuer?: string;
}

/** SiteOperator: the legal entity that runs the site, and the country it is established in. */
export interface SiteOperator {
  name: string;
  establishment: string;
}

/** SiteSpec is one data centre. Certifications are free-form ids such as `bsi-c5`, `iso27001`. */
export interface SiteSpec {
  id: string;
  name: string;
  city: string;
  country: string;
  certifications: string[];
  /** Residency facts (optional; see src/sovereignty): the operating entity and dated attestations. */
  operator?: SiteOperator;
  attestations?: Attestation[];
  /** Execution driver config (validated by the fleet schema; see src/drivers/config.ts). */
  driver?: unknown;
  /** Jobs may share GPUs here (time-sliced fractions and MIG instances); default false. */
  gpuSharing?: boolean;
}

/** NodeTypeSpec describes one server model and its GPUs. */
export interface NodeTypeSpec {
  id: string;
  gpuType: GpuType;
  gpusPerNode: number;
  gpuMemoryGiB: number;
  /** nvlink: all GPUs of the node share one NVLink domain; pcie: no NVLink between GPUs. */
  interconnect: 'nvlink' | 'pcie';
  cpus: number;
  memoryGiB: number;
  /** MIG geometry and profiles this node type's GPUs offer (model/gpu-sharing.ts); absent: no MIG. */
  mig?: MigLayoutSpec;
}

/** PoolSpec declares `count` identical nodes in a site, grouped into scalable units of `unitSize`. */
export interface PoolSpec {
  site: string;
  nodeType: string;
  count: number;
  /** Nodes per scalable unit (leaf-switch group). DGX SuperPOD: 32. */
  unitSize: number;
  /** Node names are `${namePrefix}-${nnnn}`; units are `${namePrefix}-su${nn}`. */
  namePrefix: string;
  labels?: Record<string, string>;
}

/** FleetSpec is the declarative fleet config (YAML on disk). */
export interface FleetSpec {
  name: string;
  sites: SiteSpec[];
  nodeTypes: NodeTypeSpec[];
  pools: PoolSpec[];
}

export type NodeState = 'up' | 'draining' | 'down';

/** FleetNode is one expanded node. `index` is dense (0..n-1) so hot paths can use arrays. */
export interface FleetNode {
  index: number;
  id: string;
  site: string;
  /** Scalable unit (leaf-switch group) id, unique across the fleet. */
  unit: string;
  nodeType: string;
  gpuType: GpuType;
  gpus: number;
  labels: Record<string, string>;
}

/** Fleet is the expanded, validated fleet. */
export interface Fleet {
  spec: FleetSpec;
  sites: SiteSpec[];
  nodeTypes: NodeTypeSpec[];
  nodes: FleetNode[];
  /** Node id -> dense index. */
  nodeIndex: Map<string, number>;
  gpuTypes: GpuType[];
  totalGpus: number;
}

/** One utilisation sample of the fleet, for the console's charts (the API's schema is checked against this type). */
export interface FleetHistorySample {
  /** Epoch milliseconds. */
  at: number;
  /** Allocated GPUs per series, in the order of `series`. */
  allocated: number[];
  queued: number;
  running: number;
}
