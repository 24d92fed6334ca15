/**
 * LongTimer: setTimeout for any delay. Node's setTimeout takes at most 2^31-1 ms (~24.8 days) and
 * fires at once for longer delays (a TimeoutOverflowWarning is all it says); a simulated job of a
 * few days at `--time-scale 0.01` needs more. Longer delays are waited out in steps.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class LongTimer {
  private timer: NodeJS.Timeout | null = null;
  private cancelled = false;

  constructor(
    fn: () => void,
    delayMs: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.arm(fn, this.now() + Math.max(0, delayMs));
  }

  private arm(fn: () => void, at: number): void {
    if (this.cancelled) return;
    const left = at - this.now();
    if (left > MAX_TIMEOUT_MS) {
      this.timer = setTimeout(() => this.arm(fn, at), MAX_TIMEOUT_MS);
    } else {
      this.timer = setTimeout(fn, Math.max(0, left));
    }
    this.timer.unref();
  }

  clear(): void {
    this.cancelled = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
