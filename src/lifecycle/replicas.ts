/**
 * The replica controller of an inference service: from the service's scaling spec and revision, its
 * live replicas and the load the proxy observed, decide how many replicas it wants, which to create
 * and which to stop. Pure: the caller passes `now` and keeps the returned memory for the next call
 * (the server every few seconds, the property tests at once).
 *
 * - Autoscaling: wanted = ceil((in flight + queued) / target per replica), clamped to min..max. A
 *   scale-up takes effect at once; a scale-down only after the load has stayed low for the
 *   scale-down delay (the largest wanted value of that window counts), so the count does not flap.
 * - Scale to zero (minReplicas 0): one replica stays while requests are queued or the last request
 *   is younger than scaleToZeroAfterSeconds.
 * - Rolling update (a new revision): surge one new replica, wait until it is ready, then stop one
 *   old one; never fewer ready replicas than wanted. A new revision that never gets ready stalls
 *   the rollout with the old replicas serving.
 * - A replica whose liveness failed (`unhealthy`) is stopped and replaced.
 */
import type { LoadObservation, ReplicaView, ServiceScaling } from '../model/service.js';

/** What the controller remembers between calls: the wanted counts of the scale-down window. */
export interface AutoscalerMemory {
  window: readonly { at: number; wanted: number }[];
}
export const EMPTY_AUTOSCALER_MEMORY: AutoscalerMemory = { window: [] };

export type StopReason = 'scale-down' | 'rollout' | 'unhealthy';

export interface ReplicaInput {
  revision: number;
  scaling: ServiceScaling;
  replicas: readonly ReplicaView[];
  load: LoadObservation;
  memory: AutoscalerMemory;
  /** ms */
  now: number;
}

export interface ReplicaDecision {
  /** Replicas the service wants now. */
  desired: number;
  /** New replicas to create, all of `revision`. */
  create: number;
  stop: { id: string; reason: StopReason }[];
  memory: AutoscalerMemory;
}

/** wantedByLoad: the replicas this load needs now, before the window and the bounds. */
export function wantedByLoad(scaling: ServiceScaling, load: LoadObservation, now: number): number {
  const byLoad = Math.ceil((load.inFlight + load.queued) / Math.max(1, scaling.targetInFlightPerReplica));
  // A queued request, or a recent one, keeps one replica (the cold-start floor of scale to zero).
  const recent = load.lastRequestAt !== null && now - load.lastRequestAt < scaling.scaleToZeroAfterSeconds * 1000;
  return Math.max(byLoad, load.queued > 0 || recent ? 1 : 0);
}

/** desiredReplicas: the stabilised, bounded replica count, and the memory to keep. */
export function desiredReplicas(
  scaling: ServiceScaling,
  load: LoadObservation,
  memory: AutoscalerMemory,
  now: number,
): { desired: number; memory: AutoscalerMemory } {
  const since = now - scaling.scaleDownDelaySeconds * 1000;
  const window = [
    ...memory.window.filter((w) => w.at > since && w.at <= now),
    { at: now, wanted: wantedByLoad(scaling, load, now) },
  ];
  const peak = Math.max(...window.map((w) => w.wanted));
  const desired = Math.min(scaling.maxReplicas, Math.max(scaling.minReplicas, peak));
  return { desired, memory: { window } };
}

const byAge = (a: ReplicaView, b: ReplicaView) => a.createdAt - b.createdAt || a.id.localeCompare(b.id);

/** decideReplicas: one step of the controller. */
export function decideReplicas(input: ReplicaInput): ReplicaDecision {
  const { revision, replicas } = input;
  const { desired, memory } = desiredReplicas(input.scaling, input.load, input.memory, input.now);
  const stop: ReplicaDecision['stop'] = [];
  const isOld = (r: ReplicaView) => r.revision !== revision;
  const isReady = (r: ReplicaView) => r.phase === 'ready';

  for (const r of replicas.filter((x) => x.phase === 'unhealthy').sort(byAge)) stop.push({ id: r.id, reason: 'unhealthy' });
  let live = replicas.filter((r) => r.phase === 'starting' || r.phase === 'ready');
  const readyCount = () => live.filter(isReady).length;
  const oldCount = () => live.filter(isOld).length;

  // Stop order: old not ready (serve nothing), old ready (oldest first), then new not ready and new
  // ready (newest first: the oldest have proven themselves longest).
  const candidates = [
    ...live.filter((r) => isOld(r) && !isReady(r)).sort(byAge),
    ...live.filter((r) => isOld(r) && isReady(r)).sort(byAge),
    ...live.filter((r) => !isOld(r) && !isReady(r)).sort((a, b) => byAge(b, a)),
    ...live.filter((r) => !isOld(r) && isReady(r)).sort((a, b) => byAge(b, a)),
  ];
  for (const r of candidates) {
    let go: boolean;
    if (isOld(r) && !isReady(r)) go = true;
    else if (isReady(r)) go = readyCount() - 1 >= desired && (isOld(r) || live.length > desired);
    else go = live.length > desired + (oldCount() > 0 ? 1 : 0);
    if (!go) continue;
    live = live.filter((x) => x.id !== r.id);
    stop.push({ id: r.id, reason: isOld(r) ? 'rollout' : 'scale-down' });
  }

  const deficit = Math.max(0, desired - live.length);
  // Surge: with old replicas left and no new one on its way, one new replica beyond the wanted count.
  const newStarting = live.some((r) => !isOld(r) && !isReady(r));
  const surge = deficit === 0 && oldCount() > 0 && !newStarting && live.length <= desired ? 1 : 0;
  return { desired, create: deficit + surge, stop, memory };
}
