/** Best fit of one share among candidate GPUs: used by the live scheduler and the GPU-sharing simulator alike. */

/**
 * tightestFit: of `count` candidates with free capacities `free(k)`, the one with the least free
 * capacity that still holds `need` (ties: the lowest k), or -1. The best-fit GPU rule of FGD's
 * simulator (bestFitGpu below); the live scheduler places fractions with it too.
 */
export function tightestFit(count: number, free: (k: number) => number, need: number): number {
  let best = -1;
  let bestFree = Number.POSITIVE_INFINITY;
  for (let k = 0; k < count; k++) {
    const f = free(k);
    if (f >= need && f < bestFree) {
      best = k;
      bestFree = f;
    }
  }
  return best;
}
