/**
 * The price book: EUR cents per GPU-hour for each GPU type and usage class, with a billing
 * granularity, in versions that each take effect at an instant. Money is integer cents, never a
 * float; a version names every price it sets (a type or class it leaves out is unpriced while it is
 * in effect). The API validates and documents with these schemas; the CLI reads them.
 */
import { z } from '@hono/zod-openapi';
import { USAGE_CLASSES } from './usage.js';

/**
 * What a price version prices: each usage class (what run time costs), and `lent-credit`, what an
 * organisation with reserved capacity is credited per GPU-hour that other organisations' borrowed
 * jobs ran on its lent idle quota (its invoice: model/invoices.ts lentCredits).
 */
export const PRICE_CLASSES = [...USAGE_CLASSES, 'lent-credit'] as const;
export type PriceClass = (typeof PRICE_CLASSES)[number];
export const LENT_CREDIT: PriceClass = 'lent-credit';

/** How a run segment's duration is rounded up before it is priced. */
export const BILLING_GRANULARITIES = ['second', 'minute'] as const;
export type BillingGranularity = (typeof BILLING_GRANULARITIES)[number];
export const GRANULARITY_MS: Readonly<Record<BillingGranularity, number>> = { second: 1000, minute: 60_000 };

/** The highest price one GPU-hour may have: EUR 100,000 (a typo guard, and it keeps sums exact). */
export const MAX_CENTS_PER_GPU_HOUR = 10_000_000;

export const PriceSchema = z
  .strictObject({
    gpuType: z.string().min(1).max(64).openapi({ example: 'B200' }),
    class: z.enum(PRICE_CLASSES),
    centsPerGpuHour: z
      .number()
      .int()
      .min(0)
      .max(MAX_CENTS_PER_GPU_HOUR)
      .openapi({ description: 'EUR cents per GPU-hour (integer)', example: 450 }),
  })
  .openapi('Price');

/** A price as the operator sends it: the type and class are checked by the price book (422 with a code). */
export const PriceInputSchema = z
  .strictObject({
    gpuType: z.string().min(1).max(64).openapi({ description: 'A GPU type of the fleet', example: 'B200' }),
    class: z
      .string()
      .min(1)
      .max(32)
      .openapi({
        description: `One of ${PRICE_CLASSES.join(', ')} (lent-credit: the credit per GPU-hour of lent reserved capacity)`,
        example: 'on-demand',
      }),
    centsPerGpuHour: PriceSchema.shape.centsPerGpuHour,
  })
  .openapi('PriceInput');

export const PriceVersionInputSchema = z
  .strictObject({
    effectiveFrom: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: 'ISO 8601 instant, not in the past; default: now', example: '2027-01-01T00:00:00Z' }),
    granularity: z.enum(BILLING_GRANULARITIES).default('second'),
    prices: z.array(PriceInputSchema).min(1).max(1000),
  })
  .openapi('PriceVersionInput', {
    example: {
      effectiveFrom: '2027-01-01T00:00:00Z',
      granularity: 'minute',
      prices: [
        { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 450 },
        { gpuType: 'B200', class: 'preemptible', centsPerGpuHour: 180 },
        { gpuType: 'B200', class: 'borrowed', centsPerGpuHour: 300 },
      ],
    },
  });

export const PriceVersionSchema = z
  .object({
    version: z.number().int(),
    effectiveFrom: z.string(),
    granularity: z.enum(BILLING_GRANULARITIES),
    prices: z.array(PriceSchema),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .openapi('PriceVersion', {
    example: {
      version: 2,
      effectiveFrom: '2027-01-01T00:00:00.000Z',
      granularity: 'minute',
      prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 450 }],
      createdAt: '2026-12-05T08:00:00.000Z',
      createdBy: 'u-operator',
    },
  });

export type Price = z.infer<typeof PriceSchema>;
export type PriceVersionInput = z.infer<typeof PriceVersionInputSchema>;
export type PriceVersion = z.infer<typeof PriceVersionSchema>;

export const CostEstimateSchema = z
  .object({
    gpuType: z.string().openapi({ description: 'The type priced (for `any`: the dearest type the fleet has)' }),
    class: z.enum(USAGE_CLASSES),
    gpus: z.number().openapi({ description: 'GPU-equivalents (a 250 milli-GPU share is 0.25)' }),
    maxRuntimeSeconds: z.number().int(),
    centsPerGpuHour: z.number().int(),
    granularity: z.enum(BILLING_GRANULARITIES),
    priceVersion: z.number().int(),
    cost: z.number().int().openapi({ description: 'EUR cents if the job runs its whole time limit at the current price' }),
  })
  .openapi('CostEstimate', {
    example: {
      gpuType: 'B200',
      class: 'on-demand',
      gpus: 16,
      maxRuntimeSeconds: 7200,
      centsPerGpuHour: 450,
      granularity: 'minute',
      priceVersion: 2,
      cost: 14400,
    },
  });
export type CostEstimate = z.infer<typeof CostEstimateSchema>;

export const BUDGET_POLICIES = ['refuse', 'wait'] as const;
export type BudgetPolicy = (typeof BUDGET_POLICIES)[number];

export const BudgetInputSchema = z
  .strictObject({
    capCents: z
      .number()
      .int()
      .min(0)
      .max(1_000_000_000_000)
      .openapi({ description: 'Hard cap in EUR cents per calendar month (UTC)', example: 500_000 }),
    policy: z
      .enum(BUDGET_POLICIES)
      .optional()
      .openapi({
        description:
          'At the cap: `refuse` (admission answers 422 budget_exhausted) or `wait` (the job is queued and waits ' +
          'with pending reason budget_exhausted until budget frees). Default: the budget’s current policy, else refuse',
        example: 'wait',
      }),
    alertThresholds: z
      .array(z.number().int().min(1).max(100))
      .max(10)
      .refine((a) => new Set(a).size === a.length, 'each threshold once')
      .optional()
      .openapi({
        description:
          'Percents of the cap; crossing one (spent + committed) records an alert, once a month. Default: unchanged, else none',
        example: [50, 80, 100],
      }),
    webhookUrl: z.string().url().max(2048).nullable().optional().openapi({
      description:
        'Where alerts are POSTed, signed (gigafab-signature); https, and never to a private, link-local or loopback address. null: none',
      example: 'https://hooks.example.com/gigafab',
    }),
  })
  .openapi('BudgetInput');

export const BudgetSchema = z
  .object({
    org: z.string(),
    project: z.string().optional().openapi({ description: 'Set for a project’s budget, absent for the organisation’s' }),
    capCents: z.number().int(),
    policy: z.enum(BUDGET_POLICIES),
    alertThresholds: z.array(z.number().int()),
    webhookUrl: z.string().nullable(),
    month: z.string().openapi({ description: 'The calendar month (UTC) of the figures, YYYY-MM' }),
    spentCents: z.number().int().openapi({
      description:
        'Usage cost this month, running segments up to now; usage reserved capacity covered counts 0 (the commitment fee does not count)',
    }),
    committedCents: z
      .number()
      .int()
      .openapi({ description: 'Queued jobs to their time limits, running jobs for the rest of theirs, at current prices' }),
    remainingCents: z
      .number()
      .int()
      .openapi({ description: 'Cap less spent and committed; negative while jobs wait under a `wait` budget' }),
  })
  .openapi('Budget', {
    example: {
      org: 'robotics-gmbh',
      capCents: 500000,
      policy: 'refuse',
      alertThresholds: [50, 80, 100],
      webhookUrl: 'https://hooks.example.com/gigafab',
      month: '2026-12',
      spentCents: 120000,
      committedCents: 14400,
      remainingCents: 365600,
    },
  });
export type Budget = z.infer<typeof BudgetSchema>;

export const BudgetListSchema = z
  .object({
    org: z.string(),
    items: z.array(BudgetSchema).openapi({ description: 'The organisation’s budget (if any) first, then its projects’ by id' }),
  })
  .openapi('BudgetList');
export type BudgetList = z.infer<typeof BudgetListSchema>;

export const BudgetAlertSchema = z
  .object({
    id: z.number().int(),
    org: z.string(),
    project: z.string().optional(),
    month: z.string(),
    thresholdPct: z.number().int(),
    at: z.string().openapi({ description: 'When the crossing was noticed' }),
    capCents: z.number().int(),
    spentCents: z.number().int(),
    committedCents: z.number().int(),
    delivery: z.object({
      state: z.enum(['none', 'pending', 'delivered', 'failed']),
      url: z.string().nullable(),
      attempts: z.number().int(),
      nextAt: z.string().nullable(),
      lastError: z.string().nullable(),
      deliveredAt: z.string().nullable(),
    }),
  })
  .openapi('BudgetAlert');
export type BudgetAlert = z.infer<typeof BudgetAlertSchema>;

export const BudgetAlertListSchema = z.object({ items: z.array(BudgetAlertSchema) }).openapi('BudgetAlertList');
export type BudgetAlertList = z.infer<typeof BudgetAlertListSchema>;

export const WebhookSecretSchema = z
  .object({
    org: z.string(),
    secret: z.string().openapi({ description: 'Shown once: keep it to verify gigafab-signature; a new one replaces it' }),
  })
  .openapi('WebhookSecret');
export type WebhookSecret = z.infer<typeof WebhookSecretSchema>;
