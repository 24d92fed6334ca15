/**
 * Timers: the clock and one-shot timers a driver runs on. `realTimers` is the wall clock (with
 * LongTimer, so delays beyond setTimeout's 2^31-1 ms wait in steps); `VirtualClock` is a clock that
 * moves only when told to, so a test can run the server's code through days of simulated time in
 * milliseconds and with the same order of events every run.
 */
import { LongTimer } from './long-timer.js';

export interface TimerHandle {
  clear(): void;
}

export interface Timers {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `fn` once, `delayMs` from now (any delay, negative read as 0). */
  after(delayMs: number, fn: () => void): TimerHandle;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  after: (delayMs, fn) => new LongTimer(fn, delayMs),
};

interface Pending {
  at: number;
  /** Order of arming: timers due at the same instant fire in the order they were armed. */
  seq: number;
  fn: () => void;
  cleared: boolean;
}

/** VirtualClock: time stands still until `advanceTo`, which fires every timer due on the way, in order. */
export class VirtualClock implements Timers {
  private t: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  after(delayMs: number, fn: () => void): TimerHandle {
    const p: Pending = { at: this.t + Math.max(0, delayMs), seq: this.seq++, fn, cleared: false };
    this.pending.push(p);
    return {
      clear: () => {
        p.cleared = true;
      },
    };
  }

  /** nextDue: when the earliest live timer fires, or +Infinity when none is armed. */
  nextDue(): number {
    let best = Number.POSITIVE_INFINITY;
    for (const p of this.pending) if (!p.cleared && p.at < best) best = p.at;
    return best;
  }

  /**
   * advanceTo moves the clock to `ms` (never back), firing due timers in (time, arming) order; the
   * clock reads each timer's own time while it runs. Timers armed by a callback for a time not
   * later than `ms` fire in the same call.
   */
  advanceTo(ms: number): void {
    for (;;) {
      this.pending = this.pending.filter((p) => !p.cleared);
      let next: Pending | null = null;
      for (const p of this.pending)
        if (p.at <= ms && (!next || p.at < next.at || (p.at === next.at && p.seq < next.seq))) next = p;
      if (!next) break;
      next.cleared = true;
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = Math.max(this.t, ms);
  }
}
