/**
 * Health probes of replicas, done by the control plane (not the driver): an HTTP GET of the probe's
 * path on the replica's endpoint; 200–399 within the timeout passes. The control plane reaches every
 * endpoint it proxies to anyway, and one prober works the same on every driver.
 *
 * Readiness: one pass makes a replica ready; `failureThreshold` failures in a row take it out of
 * the load balancer. Liveness counts only once a replica was ready (a model still loading is not
 * dead): `failureThreshold` failures in a row make it unhealthy, and it is replaced.
 */
import { type ClientRequest, get as httpGet } from 'node:http';
import type { ServiceSpec } from '../../model/service-schemas.js';

export interface Endpoint {
  host: string;
  port: number;
}

export interface ProbeState {
  ready: boolean;
  everReady: boolean;
  readyFailures: number;
  liveFailures: number;
  nextReadinessAt: number;
  nextLivenessAt: number;
  inFlight: boolean;
}

export const newProbeState = (): ProbeState => ({
  ready: false,
  everReady: false,
  readyFailures: 0,
  liveFailures: 0,
  nextReadinessAt: 0,
  nextLivenessAt: 0,
  inFlight: false,
});

/**
 * probeOnce: whether GET http://host:port/path answers 2xx/3xx within the timeout. A plain node:http
 * request on a connection of its own, not fetch(): fetch's streams, abort signal and timeout
 * machinery held the event loop for several milliseconds per probe, and the workload proxy shares
 * this loop (every proxied request waiting behind a probe showed in the proxy's p99).
 */
export function probeOnce(e: Endpoint, path: string, timeoutSeconds: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let req: ClientRequest | undefined;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req?.destroy();
      resolve(ok);
    };
    try {
      req = httpGet({ host: e.host, port: e.port, path, agent: false, headers: { connection: 'close' } }, (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        finish(status >= 200 && status < 400);
      });
      req.on('error', () => finish(false));
      timer = setTimeout(() => finish(false), timeoutSeconds * 1000);
    } catch {
      // A path node:http refuses (e.g. unescaped characters) fails the probe, as fetch's error did.
      finish(false);
    }
  });
}

/** probeDue: runs the readiness and liveness probes that are due (one at a time per replica) and updates `s`. */
export async function probeDue(
  s: ProbeState,
  e: Endpoint,
  spec: Pick<ServiceSpec, 'readiness' | 'liveness'>,
  now: number,
  probe: typeof probeOnce = probeOnce,
): Promise<void> {
  if (s.inFlight) return;
  s.inFlight = true;
  try {
    if (now >= s.nextReadinessAt) {
      s.nextReadinessAt = now + spec.readiness.periodSeconds * 1000;
      const ok = await probe(e, spec.readiness.path, spec.readiness.timeoutSeconds);
      s.readyFailures = ok ? 0 : s.readyFailures + 1;
      if (ok) s.ready = s.everReady = true;
      else if (s.readyFailures >= spec.readiness.failureThreshold) s.ready = false;
    }
    if (s.everReady && now >= s.nextLivenessAt) {
      s.nextLivenessAt = now + spec.liveness.periodSeconds * 1000;
      const ok = await probe(e, spec.liveness.path, spec.liveness.timeoutSeconds);
      s.liveFailures = ok ? 0 : s.liveFailures + 1;
    }
  } finally {
    s.inFlight = false;
  }
}

export const isUnhealthy = (s: ProbeState, spec: Pick<ServiceSpec, 'liveness'>) =>
  s.everReady && s.liveFailures >= spec.liveness.failureThreshold;
