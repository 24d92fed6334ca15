/**
 * Scheduling policy: which scheduler policies are on and their parameters. One schema for the live
 * server (`gigafab server --policy FILE`) and the simulator (`gigafab simulate --policy FILE`; its
 * named policies are presets of this schema). Without a file these defaults apply.
 * Borrowing and preemption are opt-in: with them off a project never exceeds its quota and no job is
 * ever evicted, which is what most tenants expect from a quota until they ask for more.
 */
import { z } from 'zod';

const limits = z.record(z.string(), z.record(z.string(), z.number().int().min(0)));

export const PolicySchema = z.strictObject({
  fairShare: z
    .strictObject({
      enabled: z.boolean().default(true),
      halfLifeDays: z.number().positive().max(365).default(7),
      /** Multifactor weights (Slurm PriorityWeight*): the class dominates so that classes stay ordered. */
      weights: z
        .strictObject({
          fairShare: z.number().min(0).default(1000),
          age: z.number().min(0).default(500),
          priorityClass: z.number().min(0).default(10000),
          size: z.number().min(0).default(100),
        })
        .default({ fairShare: 1000, age: 500, priorityClass: 10000, size: 100 }),
      /** Age at which the age factor reaches 1 (bounded wait: aging overtakes fair share). */
      maxAgeDays: z.number().positive().default(7),
      orgShares: z.record(z.string(), z.number().positive()).default({}),
      projectShares: z.record(z.string(), z.number().positive()).default({}),
      gpuTypeWeights: z.record(z.string(), z.number().positive()).default({}),
    })
    .prefault({}),
  borrowing: z
    .strictObject({ enabled: z.boolean().default(false), borrowingLimit: limits.optional(), lendingLimit: limits.optional() })
    .prefault({}),
  preemption: z
    .strictObject({
      enabled: z.boolean().default(false),
      maxEvictedGpusPerRequestedGpu: z.number().positive().default(2),
      minRuntimeSeconds: z.number().int().min(0).default(600),
    })
    .prefault({}),
  backfill: z
    .strictObject({ enabled: z.boolean().default(true), reservations: z.number().int().min(0).max(64).default(1) })
    .prefault({}),
  /** How often (at most) a cycle also computes explanations, ETAs and counterfactuals. */
  explainIntervalSeconds: z.number().min(0).default(2),
  /** Grace period between the stop signal and the kill, for cancel and preemption. */
  stopGraceSeconds: z.number().int().min(0).max(3600).default(30),
  /** Budget alerts and their webhooks (src/server/budget-alerts.ts). */
  budgetAlerts: z
    .strictObject({
      /**
       * Allow webhook URLs on loopback addresses, over plain http too (tests, on-premises receivers on
       * the same host). Private, link-local and other special addresses are refused whatever this says.
       */
      allowLoopback: z.boolean().default(false),
      /** How often budgets are checked against their thresholds and due deliveries sent. */
      checkIntervalSeconds: z.number().min(0.05).max(3600).default(10),
      /** First retry after this many seconds, doubling each time (capped at an hour). */
      retryBaseSeconds: z.number().min(0.01).max(3600).default(10),
      /** Attempts before a delivery is given up (state failed). */
      maxAttempts: z.number().int().min(1).max(30).default(8),
    })
    .prefault({}),
});

export type Policy = z.infer<typeof PolicySchema>;
export type PolicyInput = z.input<typeof PolicySchema>;

export const DEFAULT_POLICY: Policy = PolicySchema.parse({});

export const toLimitTable = (l: Record<string, Record<string, number>> | undefined) =>
  l ? new Map(Object.entries(l).map(([p, m]) => [p, new Map(Object.entries(m))])) : undefined;
