/**
 * FleetHistory: a fixed-size in-memory ring of utilisation samples (allocated GPUs per site and GPU
 * type, queue length, running jobs), taken every 10 s, for the console's charts. Memory only on
 * purpose: long-term history belongs to Prometheus (/metrics); this covers "what happened lately"
 * without a time-series database. 8,640 samples = 24 h at 10 s, ~1 MiB for the demo fleet.
 */
import type { FleetHistorySample } from '../model/fleet.js';
import type { ControlPlane } from './control-plane.js';

export interface FleetHistoryOptions {
  intervalMs?: number;
  capacity?: number;
  now?: () => number;
}

export interface HistorySeries {
  site: string;
  gpuType: string;
  total: number;
}

export class FleetHistory {
  readonly intervalMs: number;
  readonly series: readonly HistorySeries[];
  private readonly ring: (FleetHistorySample | undefined)[];
  /** Index the next sample is written to; `count` of the ring's slots are filled. */
  private head = 0;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(
    private readonly cp: ControlPlane,
    opts: FleetHistoryOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.ring = new Array(Math.max(1, opts.capacity ?? 8640));
    this.now = opts.now ?? (() => Date.now());
    // The fleet is fixed for a server's lifetime, so the series (and their order) are too.
    this.series = cp.cluster.siteTotals().map(({ site, gpuType, total }) => ({ site, gpuType, total }));
  }

  /** read takes a reading now without storing it. */
  read(): FleetHistorySample {
    const totals = this.cp.cluster.siteTotals();
    return {
      at: this.now(),
      allocated: totals.map((t) => t.allocated),
      queued: this.cp.queueLength(),
      running: this.cp.runningCount(),
    };
  }

  /** sample stores a reading, overwriting the oldest once the ring is full. */
  sample(): void {
    this.ring[this.head] = this.read();
    this.head = (this.head + 1) % this.ring.length;
    this.count = Math.min(this.count + 1, this.ring.length);
  }

  /** samples returns the stored samples taken after `since` (epoch ms), oldest first. */
  samples(since = -1): FleetHistorySample[] {
    const out: FleetHistorySample[] = [];
    const start = (this.head - this.count + this.ring.length) % this.ring.length;
    for (let k = 0; k < this.count; k++) {
      const s = this.ring[(start + k) % this.ring.length]!;
      if (s.at > since) out.push(s);
    }
    return out;
  }

  /** start samples at once and then every interval. The timer does not keep the process alive. */
  start(): this {
    if (this.timer) return this;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

// One history per control plane, so the API can find the sampler the composition root started
// without widening the app's options.
const histories = new WeakMap<ControlPlane, FleetHistory>();

/** startFleetHistory starts (once) and returns the sampler of `cp`. */
export function startFleetHistory(cp: ControlPlane, opts: FleetHistoryOptions = {}): FleetHistory {
  let h = histories.get(cp);
  if (!h) {
    h = new FleetHistory(cp, opts);
    histories.set(cp, h);
  }
  return h.start();
}

/** fleetHistoryOf returns the sampler of `cp`, starting one if the server did not. */
export function fleetHistoryOf(cp: ControlPlane): FleetHistory {
  return histories.get(cp) ?? startFleetHistory(cp);
}
