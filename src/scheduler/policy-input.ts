/**
 * policySettings: the scheduling policy (src/model/policy.ts, one schema for the server and the
 * simulator) as the cycle's static inputs. The live server and the simulator both build their
 * cycles from it, so a policy file means the same in both.
 */
import type { Policy } from '../model/policy.js';
import type { BackfillInput, BorrowingInput, LimitTable, PreemptionInput, PriorityWeights } from './types.js';

export interface PolicySettings {
  /** Fair share's static parts; the caller adds shares and the decayed usage it keeps. */
  fairShare?: {
    halfLifeSeconds: number;
    weights: PriorityWeights;
    maxAgeSeconds: number;
    gpuTypeWeights: ReadonlyMap<string, number>;
    orgShares: Readonly<Record<string, number>>;
    projectShares: Readonly<Record<string, number>>;
  };
  borrowing?: BorrowingInput;
  preemption?: PreemptionInput & { enabled: true };
  backfill?: BackfillInput;
  /** Seconds between the stop signal and the kill (cancel, preemption). */
  graceSeconds: number;
}

const limitTable = (l: Record<string, Record<string, number>> | undefined): LimitTable | undefined =>
  l ? new Map(Object.entries(l).map(([p, m]) => [p, new Map(Object.entries(m))])) : undefined;

export function policySettings(p: Policy): PolicySettings {
  const fs = p.fairShare;
  return {
    fairShare: fs.enabled
      ? {
          halfLifeSeconds: fs.halfLifeDays * 86400,
          weights: fs.weights,
          maxAgeSeconds: fs.maxAgeDays * 86400,
          gpuTypeWeights: new Map(Object.entries(fs.gpuTypeWeights)),
          orgShares: fs.orgShares,
          projectShares: fs.projectShares,
        }
      : undefined,
    borrowing: p.borrowing.enabled
      ? {
          enabled: true,
          borrowingLimit: limitTable(p.borrowing.borrowingLimit),
          lendingLimit: limitTable(p.borrowing.lendingLimit),
        }
      : undefined,
    preemption: p.preemption.enabled ? { ...p.preemption, enabled: true } : undefined,
    backfill: p.backfill.enabled ? { enabled: true, reservations: p.backfill.reservations } : undefined,
    graceSeconds: p.stopGraceSeconds,
  };
}
