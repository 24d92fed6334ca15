/**
 * Reserved capacity: an organisation's commitment to a number of GPUs of one type for a calendar
 * month (UTC) at a price per GPU per month, set by the operator. The invoice of that month bills
 * the commitment (GPUs × monthly price) and covers the organisation's own usage of the type up to
 * that many GPUs at every instant (billed at 0, shown in GPU-hours); the rest at the price book's
 * prices. Money is integer EUR cents. The API validates and documents with these schemas.
 */
import { z } from '@hono/zod-openapi';

/** The highest price of one GPU for one month: EUR 1,000,000 (a typo guard that keeps sums exact). */
export const MAX_CENTS_PER_GPU_MONTH = 100_000_000;
/** The most GPUs one commitment may reserve. */
export const MAX_RESERVED_GPUS = 100_000;

export const ReservedCapacityInputSchema = z
  .strictObject({
    org: z.string().min(1).max(128).openapi({ description: 'The organisation committing', example: 'public-anchor' }),
    gpuType: z.string().min(1).max(64).openapi({ description: 'A GPU type of the fleet', example: 'B200' }),
    month: z
      .string()
      .max(16)
      .openapi({ description: 'Calendar month (UTC), YYYY-MM; not one already invoiced', example: '2027-01' }),
    gpus: z
      .number()
      .int()
      .max(MAX_RESERVED_GPUS)
      .openapi({ description: 'Whole GPUs reserved for the whole month (at least 1)', example: 64 }),
    centsPerGpuMonth: z
      .number()
      .int()
      .min(0)
      .max(MAX_CENTS_PER_GPU_MONTH)
      .openapi({ description: 'EUR cents per GPU per month (integer)', example: 180_000 }),
  })
  .openapi('ReservedCapacityInput');
export type ReservedCapacityInput = z.infer<typeof ReservedCapacityInputSchema>;

export const ReservedCapacitySchema = z
  .object({
    org: z.string(),
    gpuType: z.string(),
    month: z.string(),
    gpus: z.number().int(),
    centsPerGpuMonth: z.number().int(),
    updatedAt: z.string(),
    updatedBy: z.string(),
  })
  .openapi('ReservedCapacity', {
    example: {
      org: 'public-anchor',
      gpuType: 'B200',
      month: '2027-01',
      gpus: 64,
      centsPerGpuMonth: 180_000,
      updatedAt: '2026-12-06T08:00:00.000Z',
      updatedBy: 'u-operator',
    },
  });
export type ReservedCapacity = z.infer<typeof ReservedCapacitySchema>;

export const ReservedCapacityListSchema = z
  .object({ items: z.array(ReservedCapacitySchema).openapi({ description: 'By organisation, month, then GPU type' }) })
  .openapi('ReservedCapacityList');
export type ReservedCapacityList = z.infer<typeof ReservedCapacityListSchema>;
