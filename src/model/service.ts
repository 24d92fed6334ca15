/**
 * Inference services (issue #14): the scaling part of a service's spec and the replica states the
 * replica controller (src/lifecycle/replicas.ts) reasons about. A replica is a job of kind
 * `service`; these types only describe what the controller needs to know about it.
 */

/** How many replicas a service wants and how it follows its load. */
export interface ServiceScaling {
  /** Lower bound; 0 allows scale to zero (see scaleToZeroAfterSeconds). */
  minReplicas: number;
  maxReplicas: number;
  /** Requests in flight (plus those held in the cold-start queue) one replica should carry. */
  targetInFlightPerReplica: number;
  /** A scale-down waits until the load has been low for this long (the stabilisation window). */
  scaleDownDelaySeconds: number;
  /** With minReplicas 0: the last replica goes after this long without any request. */
  scaleToZeroAfterSeconds: number;
}

export const SCALING_DEFAULTS = {
  targetInFlightPerReplica: 4,
  scaleDownDelaySeconds: 60,
  scaleToZeroAfterSeconds: 300,
} as const;

/**
 * ReplicaPhase: `starting` (queued in the scheduler, or running but not yet ready), `ready` (its
 * readiness probe passes: it gets traffic), `unhealthy` (its liveness probe failed: it must be
 * replaced), `draining` (being stopped; gets no new traffic).
 */
export const REPLICA_PHASES = ['starting', 'ready', 'unhealthy', 'draining'] as const;
export type ReplicaPhase = (typeof REPLICA_PHASES)[number];

/** ReplicaView: one live replica as the controller sees it. */
export interface ReplicaView {
  id: string;
  /** The service spec revision the replica runs. */
  revision: number;
  phase: ReplicaPhase;
  /** When it was created (ms); older replicas of the same kind are stopped first. */
  createdAt: number;
}

/** LoadObservation: the service's traffic now, as the proxy counts it. */
export interface LoadObservation {
  /** Requests being served by replicas now. */
  inFlight: number;
  /** Requests held in the cold-start queue, waiting for a ready replica. */
  queued: number;
  /** When the last request arrived (ms), or null if none ever did. */
  lastRequestAt: number | null;
}
